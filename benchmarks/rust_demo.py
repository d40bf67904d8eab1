"""The moons demo on the Rust reference engine, side by side with the Python engine.

    python benchmarks/rust_demo.py              # build, run both 3 times, print the markdown rows
    python benchmarks/rust_demo.py --steps 5    # a quick look

Builds ``polyglot/rust``'s ``demo`` binary (``cargo build --release --offline``), then runs
micrograd's notebook loop (MLP(2, [16, 16, 1]), SVM hinge loss + 1e-4 L2, 100 full-batch SGD
steps, lr = 1 - 0.9 k / steps) from the same spec (``make_spec`` of
``benchmarks/compare_micrograd010.py``: the same moons points and initial weights) on the Rust
engine and, through ``benchmarks/demo_child.py``, on this repository's Python engine. Each run is
a fresh process; the rows show medians. The loss trajectories must agree within 1e-9 relative at
every step.

Exit status: 0 when they agree, 1 when they do not, 2 when the demo cannot be built or run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's micrograd and benchmarks, not an installed copy
    sys.path.insert(0, str(ROOT))

from benchmarks.compare_micrograd010 import (  # noqa: E402
    REL_TOL,
    SetupError,
    make_spec,
    max_rel_diff,
    run_child,
)

WORKSPACE = ROOT / "polyglot" / "rust"
DEMO = WORKSPACE / "target" / "release" / "demo"


def find_cargo() -> str | None:
    """``cargo`` on PATH, or where rustup puts it."""
    found = shutil.which("cargo")
    if found is not None:
        return found
    fallback = Path.home() / ".cargo" / "bin" / "cargo"
    return str(fallback) if fallback.exists() else None


def build_demo() -> Path:
    """Build the demo binary (a no-op when it is up to date) and return its path."""
    cargo = find_cargo()
    if cargo is None:
        raise SetupError("cargo is not installed: cannot build polyglot/rust (install Rust 1.85+)")
    command = [cargo, "build", "--release", "--offline", "-p", "micrograd-rs", "--bin", "demo"]
    proc = subprocess.run(command, cwd=WORKSPACE, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SetupError(f"{' '.join(command)} failed:\n{proc.stderr}")
    return DEMO


def run_rust(demo: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """One run of the Rust demo in a fresh process."""
    proc = subprocess.run(
        [str(demo)], input=json.dumps(spec), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SetupError(f"{demo} failed (status {proc.returncode}):\n{proc.stderr}")
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def row(label: str, runs: list[dict[str, Any]], reference: list[float], steps: int) -> str:
    """One markdown row: medians of wall, CPU and peak RSS, and the worst loss difference."""
    wall = statistics.median(r["wall_s"] for r in runs)
    cpu = statistics.median(r["cpu_s"] for r in runs)
    peak = statistics.median(r["peak_rss_kib"] for r in runs) / 1024.0
    diff = max(max_rel_diff(r["losses"], reference) for r in runs)
    return (
        f"| {label} | {wall:.2f} s | {wall / steps * 1000:.1f} ms | {cpu:.2f} s "
        f"| {peak:.1f} MiB | {diff:.1e} |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="SGD steps (default 100)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per engine (median shown)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error("--steps and --repeats must be >= 1")
    try:
        demo = build_demo()
        spec = make_spec("notebook", args.steps)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        python_runs, rust_runs = [], []
        for _ in range(args.repeats):  # interleaved, so a drift in machine load hits both
            python_runs.append(run_child(sys.executable, spec, env))
            rust_runs.append(run_rust(demo, spec))
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    reference = python_runs[0]["losses"]
    worst = max(max_rel_diff(r["losses"], reference) for r in rust_runs)
    print(
        f"| engine (notebook loop, {args.steps} steps) | wall | per step | CPU | peak RSS "
        f"| max rel. loss diff vs Python |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    python = python_runs[0]["python"]
    print(
        row(
            f"Python engine (`micrograd.engine`, CPython {python})",
            python_runs,
            reference,
            args.steps,
        )
    )
    print(
        row(
            f"Rust reference engine (`micrograd-rs`, {rust_runs[0]['python']})",
            rust_runs,
            reference,
            args.steps,
        )
    )
    final = rust_runs[0]
    print(
        f"\nfinal loss {final['losses'][-1]:.6f}, accuracy {final['accuracies'][-1]:.2f}; "
        f"medians of {args.repeats} runs each"
    )
    if worst > REL_TOL:
        print(f"error: the trajectories differ by {worst:.1e} relative (> {REL_TOL:g})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
