"""Side-by-side comparison with micrograd 0.1.0: speed, peak memory and the loss trajectory.

    python benchmarks/compare_micrograd010.py            # the README's table (0.1.0 takes minutes)
    python benchmarks/compare_micrograd010.py --steps 5  # a quick run

micrograd 0.1.0 is also named ``micrograd``, so it lives in its own virtualenv
(``benchmarks/.venv-micrograd010``, created and filled from PyPI on first use with the same
interpreter that runs this script). Each engine runs the demo loop in its own fresh subprocess
(``benchmarks/demo_child.py``) on the same 100 moons points from ``micrograd.data.make_moons`` and
from the same initial weights, copied across as plain floats; the child reports wall time, peak RSS
(``ru_maxrss``) and the loss at every step. The garbage collector stays on in every engine.

Exit status: 0 when every trajectory agrees with 0.1.0's within 1e-9 relative at every step (and,
with ``--require-targets``, ours is >= 100x faster with <= 1/5 of the peak memory); 1 otherwise;
2 when the environment cannot be set up.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHILD = HERE / "demo_child.py"
DEFAULT_VENV = HERE / ".venv-micrograd010"
DEFAULT_OUT = HERE / "results"
PIN = "micrograd==0.1.0"
SEED = 1337
HIDDEN = [16, 16]
ALPHA = 1e-4
REL_TOL = 1e-9
SPEED_TARGET = 100.0
MEMORY_TARGET = 5.0


class SetupError(Exception):
    """The comparison cannot run (no virtualenv, wrong package, a child crashed)."""


@dataclass(frozen=True)
class Row:
    """One engine/loop combination: its runs and their medians."""

    label: str
    runs: list[dict[str, Any]]

    @property
    def wall(self) -> float:
        """Median wall time of the loop, seconds."""
        return float(statistics.median(r["wall_s"] for r in self.runs))

    @property
    def cpu(self) -> float:
        """Median CPU time of the loop (less sensitive than wall time to other processes)."""
        return float(statistics.median(r["cpu_s"] for r in self.runs))

    @property
    def peak_mib(self) -> float:
        """Median peak RSS of the child process, MiB."""
        return float(statistics.median(r["peak_rss_kib"] for r in self.runs)) / 1024.0

    @property
    def growth_mib(self) -> float:
        """Median growth of peak RSS during the loop (the graph and its garbage), MiB."""
        growth = statistics.median(r["peak_rss_kib"] - r["rss_before_kib"] for r in self.runs)
        return float(growth) / 1024.0

    @property
    def losses(self) -> list[float]:
        """The loss trajectory of the first run (every run of an engine computes the same)."""
        return list(self.runs[0]["losses"])


def venv_python(venv_dir: Path) -> Path:
    """The interpreter inside ``venv_dir``."""
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return venv_dir / sub


def ensure_venv(venv_dir: Path, log: Any = print) -> Path:
    """Create ``venv_dir`` with micrograd 0.1.0 from PyPI unless it is already there; check it."""
    python = venv_python(venv_dir)
    if not python.exists():
        log(f"creating {venv_dir} with {PIN} (one-off)")
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PIN]
        proc = subprocess.run(pip, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SetupError(f"could not install {PIN} into {venv_dir}:\n{proc.stderr}")
    probe = (
        "import importlib.metadata as m, sys, micrograd.engine as e; "
        "print(m.version('micrograd'), sys.version_info[:2], e.__file__)"
    )
    proc = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, env=_clean_env(), check=False
    )
    if proc.returncode != 0:
        raise SetupError(f"{python} cannot import micrograd 0.1.0:\n{proc.stderr}")
    version, _, rest = proc.stdout.strip().partition(" ")
    if version != "0.1.0":
        raise SetupError(f"{venv_dir} holds micrograd {version}, expected 0.1.0")
    if f"({sys.version_info[0]}, {sys.version_info[1]})" not in rest:
        raise SetupError(
            f"{venv_dir} runs Python {rest.split(' ')[0]}, this script "
            f"{sys.version_info[0]}.{sys.version_info[1]}: delete it so it is rebuilt"
        )
    return python


def _clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH, so 0.1.0's interpreter cannot see our package."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def make_spec(loop: str, steps: int) -> dict[str, Any]:
    """The shared inputs: our moons data and our seeded initial weights, as plain numbers."""
    from micrograd.data import make_moons
    from micrograd.nn import MLP

    X, y = make_moons(100, 0.1, SEED)
    weights = [p.data for p in MLP(2, [*HIDDEN, 1], seed=SEED).parameters()]
    return {
        "loop": loop,
        "X": X,
        "y": y,
        "weights": weights,
        "steps": steps,
        "alpha": ALPHA,
        "hidden": HIDDEN,
    }


def run_child(python: Path | str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one loop in a fresh interpreter and return its report."""
    proc = subprocess.run(
        [str(python), str(CHILD)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SetupError(f"{python} {CHILD.name} ({spec['loop']}) failed:\n{proc.stderr}")
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def max_rel_diff(a: Sequence[float], b: Sequence[float]) -> float:
    """The largest relative difference between two trajectories of equal length."""
    if len(a) != len(b):
        raise ValueError(f"trajectories of different lengths: {len(a)} and {len(b)}")
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        scale = max(abs(x), abs(y))
        if scale > 0.0:
            worst = max(worst, abs(x - y) / scale)
    return worst


def table(rows: list[Row], ref: Row, steps: int) -> str:
    """The markdown table the README shows."""
    lines = [
        f"| engine (loop) | {steps} steps, wall | per step | speed-up, wall (CPU) | peak RSS "
        f"| RSS growth in loop | peak RSS vs 0.1.0 | gc runs (gen 0/1/2) | max rel. loss diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        gc_runs = "/".join(str(n) for n in row.runs[0]["gc_collections"])
        lines.append(
            f"| {row.label} | {row.wall:.2f} s | {row.wall / steps * 1000:.1f} ms "
            f"| {ref.wall / row.wall:.1f}x ({ref.cpu / row.cpu:.1f}x) "
            f"| {row.peak_mib:.1f} MiB | {row.growth_mib:.1f} MiB "
            f"| {row.peak_mib / ref.peak_mib:.2f} | {gc_runs} "
            f"| {max_rel_diff(row.losses, ref.losses):.1e} |"
        )
    return "\n".join(lines)


def compare(
    steps: int, venv_dir: Path, repeats: int, log: Any = print
) -> tuple[list[Row], Row, dict[str, Any]]:
    """Run ours (demo and notebook loops, ``repeats`` times each) and 0.1.0 (once)."""
    old_python = ensure_venv(venv_dir, log)
    ours_env = dict(os.environ)
    demo_spec = make_spec("demo", steps)
    notebook_spec = make_spec("notebook", steps)
    demo_runs: list[dict[str, Any]] = []
    notebook_runs: list[dict[str, Any]] = []
    # Half of our runs before 0.1.0 and half after, so a drift in machine load hits both sides.
    before = (repeats + 1) // 2
    for i in range(repeats):
        if i == before:
            log(f"micrograd 0.1.0: {steps} steps (this is the slow one)")
            old = run_child(old_python, notebook_spec, _clean_env())
            log(f"  {old['wall_s']:.2f} s")
        demo_runs.append(run_child(sys.executable, demo_spec, ours_env))
        notebook_runs.append(run_child(sys.executable, notebook_spec, ours_env))
        log(
            f"ours, run {i + 1}/{repeats}: demo.train {demo_runs[-1]['wall_s']:.3f} s, "
            f"notebook loop {notebook_runs[-1]['wall_s']:.3f} s"
        )
    if repeats == before:
        log(f"micrograd 0.1.0: {steps} steps (this is the slow one)")
        old = run_child(old_python, notebook_spec, _clean_env())
    ref = Row("micrograd 0.1.0 (notebook loop)", [old])
    rows = [
        Row("ours (`micrograd.demo.train`)", demo_runs),
        Row("ours (0.1.0's notebook loop, unchanged)", notebook_runs),
        ref,
    ]
    return rows, ref, old


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print the table; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/compare_micrograd010.py",
        description="Compare our engine with micrograd 0.1.0 on the moons demo loop.",
    )
    parser.add_argument("--steps", type=int, default=100, help="SGD steps (default 100)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of our engine; the medians are shown"
    )
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="0.1.0's virtualenv")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder for the .md and .json results"
    )
    parser.add_argument(
        "--require-targets",
        action="store_true",
        help="also fail unless ours is >= 100x faster with <= 1/5 of the peak memory",
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error(f"--steps and --repeats must be >= 1, got {args.steps} and {args.repeats}")
    try:
        rows, ref, old = compare(args.steps, args.venv, args.repeats)
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = "python benchmarks/compare_micrograd010.py" + (
        "" if argv is None and len(sys.argv) == 1 else " " + shlex.join(sys.argv[1:])
    )
    fused, dropin = rows[0], rows[1]
    speedup = ref.wall / fused.wall
    memory = ref.peak_mib / fused.peak_mib
    worst = max(max_rel_diff(r.losses, ref.losses) for r in rows[:2])
    text = "\n".join(
        [
            table(rows, ref, args.steps),
            "",
            f"Made by `{command}` (Python {old['python']}, gc enabled in every engine: "
            f"{all(r['gc_enabled'] for row in rows for r in row.runs)}; ours: median of "
            f"{args.repeats} runs, 0.1.0: one run; 100 moons points, MLP(2, [16, 16, 1]), "
            f"SVM loss + 1e-4 L2, same initial weights).",
        ]
    )
    print()
    print(text)
    verdicts = [
        (worst <= REL_TOL, f"loss trajectories agree with 0.1.0 within {worst:.1e} (need 1e-9)"),
        (speedup >= SPEED_TARGET, f"demo.train is {speedup:.1f}x faster (target 100x)"),
        (memory >= MEMORY_TARGET, f"0.1.0's peak RSS is {memory:.2f}x ours (target 5x)"),
    ]
    print()
    for ok, message in verdicts:
        print(f"{'ok  ' if ok else 'MISS'} {message}")
    print(f"     (0.1.0's notebook loop on our engine, unchanged: {ref.wall / dropin.wall:.1f}x)")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "micrograd010.md").write_text(text + "\n")
    (args.out / "micrograd010.json").write_text(
        json.dumps({"command": command, "rows": [r.__dict__ for r in rows]}, indent=1) + "\n"
    )
    print(f"\nwrote {args.out / 'micrograd010.md'} and {args.out / 'micrograd010.json'}")
    failed = not verdicts[0][0] or (args.require_targets and not all(ok for ok, _ in verdicts))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
