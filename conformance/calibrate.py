"""Measure the tolerance on a backend: false positives and the worst difference seen.

    python -m conformance.calibrate micrograd.engine:Value --random 100000 --others 20000
    python -m conformance.calibrate micrograd.engine:Value --oracle mpmath --random 5000

runs the error-verdict program checks with the given example counts and prints, per check, the
verdict and the largest |got - expected| seen, in units of the error scale's ulp
(``2**-53 * scale``). The tolerance allows ``REL / 2**-53 = 131072`` such units.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Sequence

from conformance.backends import load_backend
from conformance.backends.base import Evaluation
from conformance.checks import CheckContext, ProgramCheck, get_check
from conformance.checks.base import Outcome
from conformance.probe import probe
from conformance.program import Program
from conformance.runner import run_check
from conformance.tolerance import ABS, scales

__all__ = ["main", "worst_ratio"]

ULP = 2.0**-53
CHECKS = ("random", "reuse", "reflected", "kinks", "inplace")


def worst_ratio(program: Program, expected: Evaluation, got: Evaluation) -> float:
    """Largest difference of any value or gradient, in ulps of its error scale."""
    s = scales(program, expected)
    worst = 0.0
    pairs = [(expected.values, got.values, s.values), (expected.grads, got.grads, s.grads)]
    for exp_map, got_map, scale_map in pairs:
        for i, e in exp_map.items():
            diff = abs(got_map.get(i, math.nan) - e)
            if diff <= ABS:
                continue
            scale = scale_map[i]
            worst = max(worst, diff / (scale * ULP) if scale > 0 else math.inf)
    return worst


@dataclasses.dataclass
class _Measured(ProgramCheck):
    """A program check judged as in a run, that also keeps the worst passing difference."""

    worst: float = 0.0

    def _judge_run(
        self, ctx: CheckContext, program: Program, expected: Evaluation, timeout: float | None
    ) -> Outcome:
        outcome = super()._judge_run(ctx, program, expected, timeout)
        if outcome.got is not None and outcome.verdict.status == "pass":
            self.worst = max(self.worst, worst_ratio(program, expected, outcome.got))
        return outcome


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement; exit 1 if any program failed."""
    parser = argparse.ArgumentParser(prog="python -m conformance.calibrate")
    parser.add_argument("target")
    parser.add_argument("--random", type=int, default=10_000, help="examples of the random check")
    parser.add_argument("--others", type=int, default=2_000, help="examples of each other check")
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--oracle", choices=("auto", "torch", "mpmath"), default="auto")
    parser.add_argument(
        "--check", action="append", choices=CHECKS, help="only these checks (repeatable)"
    )
    args = parser.parse_args(argv)
    from conformance.oracles import load_oracle

    backend = load_backend(args.target)
    oracle = load_oracle(args.oracle)
    print(f"oracle: {oracle.description or oracle.name}", flush=True)
    found = probe(backend)
    supported, fatal = found.supported, found.fatal
    if fatal:
        print(fatal, file=sys.stderr)
        return 2
    ctx = CheckContext(backend, oracle, supported, "thorough", timeout=30.0)
    total, failed, started = 0, 0, time.perf_counter()
    for name in args.check or CHECKS:
        base = get_check(name)
        assert isinstance(base, ProgramCheck)
        check = _Measured(**{f.name: getattr(base, f.name) for f in dataclasses.fields(base)})
        count = args.random if name == "random" else args.others
        result = run_check(check, ctx, seed_value=args.seed, budget=None, count=count)
        worst = check.worst
        total += result.examples
        failed += result.status == "failed"
        print(
            f"{name:10} {result.status:7} examples={result.examples:<7} "
            f"unchecked={result.unchecked:<5} worst={worst:.3g} ulps of scale",
            flush=True,
        )
        for failure in result.failures:
            print(failure.summary)
            if failure.program is not None:
                print(f"program: {failure.program.to_json()}")
    elapsed = time.perf_counter() - started
    print(
        f"{args.target} ({args.oracle}, seed {args.seed}): {total} programs, "
        f"{failed} failing checks, {elapsed:.0f}s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
