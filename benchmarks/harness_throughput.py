"""How many programs per second the harness checks: ``python benchmarks/harness_throughput.py``.

Runs ``conformance.runner.measure_throughput`` (the ``random`` check under the default profile's
settings on the bundled engine: drawing, the oracle, the engine and the judgement; probing
excluded) ``--repeats`` times with the same seed, and prints the median and the spread by wall
clock and by CPU time, with what was measured: the oracle, the programs' size, the interpreter and
the machine. The README's and docs/BENCHMARKS.md's harness figures come from this command.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from collections.abc import Sequence

from conformance.backends import load_backend
from conformance.oracles import OracleUnavailable, load_oracle
from conformance.runner import Throughput, measure_throughput

TARGET = "micrograd.engine:Value"


def _spread(figures: list[float]) -> str:
    """The median, min and max of some figures, in words."""
    low, high = min(figures), max(figures)
    return f"median {statistics.median(figures):,.0f} (min {low:,.0f}, max {high:,.0f})"


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print; exit 2 when the oracle cannot be loaded."""
    parser = argparse.ArgumentParser(prog="python benchmarks/harness_throughput.py")
    parser.add_argument("--oracle", choices=("torch", "mpmath"), default="torch")
    parser.add_argument("--programs", type=int, default=3000, help="programs per run")
    parser.add_argument("--repeats", type=int, default=5, help="runs (after one warm-up)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        oracle = load_oracle(args.oracle)
    except OracleUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    backend = load_backend(TARGET)
    measure_throughput(backend, oracle, examples=min(args.programs, 300), seed_value=args.seed)
    runs: list[Throughput] = []
    for _ in range(args.repeats):
        runs.append(
            measure_throughput(backend, oracle, examples=args.programs, seed_value=args.seed)
        )
    nodes = statistics.median(r.nodes / r.programs for r in runs)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"harness throughput: the random check (default profile's settings, seed {args.seed}), "
        f"{runs[0].programs:,} programs a run, {nodes:.1f} nodes each on average"
    )
    print(f"engine {TARGET}, oracle {oracle.description or oracle.name}")
    print(
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.2f} at the end"
    )
    print(f"{len(runs)} runs, programs per second:")
    print(f"  by wall clock: {_spread([r.per_second for r in runs])}")
    print(f"  by CPU time:   {_spread([r.per_cpu_second for r in runs])}")
    if any(r.verdict != "passed" for r in runs):
        print("warning: a run did not pass: the figure is not a conformant engine's")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
