"""The program checks: random DAGs and the shapes of program where ports go wrong."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from conformance.checks.base import CheckContext, Judge, ProgramCheck
from conformance.ops import OPS
from conformance.profiles import PROFILES
from conformance.strategies import ProgramBatch, program_batches
from conformance.tolerance import compare, compare_settled

__all__ = [
    "INPLACE",
    "KINKS",
    "KINK_VALUES",
    "NONFINITE",
    "NONFINITE_VALUES",
    "PROGRAM_CHECKS",
    "RANDOM",
    "REFLECTED",
    "REPEATED_BACKWARD",
    "REUSE",
]

Strategy = Callable[[CheckContext], st.SearchStrategy[ProgramBatch] | str]

ROWS = 8
"""Input rows per drawn program: a program costs Hypothesis ~80 choices, a row of inputs a few,
so each example runs the program on up to this many rows (strategies.program_batches)."""

KINK_VALUES = (0.0, 1.0, 0.0, -1.0, 2.0, 0.0, 0.5, -2.0, 3.0)
NONFINITE_VALUES = (0.0, -1.0, 1.0, 2.0, 1000.0, -1000.0, 1e300, -1e300, 0.5)


def _random(ctx: CheckContext) -> st.SearchStrategy[ProgramBatch] | str:
    return program_batches(rows=ROWS, ops=ctx.supported)


def _reuse(ctx: CheckContext) -> st.SearchStrategy[ProgramBatch] | str:
    if not any(form == "vv" for _, form in ctx.supported):
        return "the backend supports no op on two Values"
    return program_batches(
        rows=ROWS, ops=ctx.supported, max_inputs=2, reuse=1.0, constants=0.1, max_nodes=16
    )


def _reflected(ctx: CheckContext) -> st.SearchStrategy[ProgramBatch] | str:
    variants = [(n, f) for n, f in ctx.supported if f in ("vc", "cv", "v")]
    if not any(f in ("vc", "cv") for _, f in variants):
        return "the backend supports no op with a constant operand"
    return program_batches(rows=ROWS, ops=variants, constants=0.9, max_nodes=16)


def _kinks(ctx: CheckContext) -> st.SearchStrategy[ProgramBatch] | str:
    if not any(OPS[n].has_kinks for n, _ in ctx.supported):
        return "the backend supports no op with a kink (relu, pow)"
    # Mostly kinked ops, with a few linear ones to make zeros (a - a) and route gradients.
    variants = [(n, f) for n, f in ctx.supported if OPS[n].has_kinks or OPS[n].linear]
    return program_batches(
        rows=ROWS,
        ops=variants,
        kinks=True,
        max_nodes=8,
        max_inputs=3,
        value_strategy=st.sampled_from(KINK_VALUES),
    )


def _inplace(ctx: CheckContext) -> st.SearchStrategy[ProgramBatch] | str:
    variants = [(n, f) for n, f in ctx.supported if OPS[n].inplace or f == "v"]
    if not any(OPS[n].inplace for n, _ in variants):
        return "the backend supports no augmented assignment (+=, -=, *=, /=)"
    return program_batches(
        rows=ROWS, ops=variants, reuse=0.3, constants=0.3, max_inputs=3, max_nodes=16
    )


def _repeated_backward(ctx: CheckContext) -> st.SearchStrategy[ProgramBatch] | str:
    return program_batches(rows=ROWS, ops=ctx.supported, backward_passes=2, max_nodes=12)


def _nonfinite(ctx: CheckContext) -> st.SearchStrategy[ProgramBatch] | str:
    return program_batches(
        rows=ROWS,
        ops=ctx.supported,
        nonfinite=True,
        max_nodes=8,
        value_strategy=st.sampled_from(NONFINITE_VALUES),
    )


# name, what it draws, programs (quick, default, thorough), strategy, semantics-only, judge
_TABLE: tuple[tuple[str, str, tuple[int, int, int], Strategy, bool, Judge], ...] = (
    ("random", "random expression DAGs over every supported op", (600, 16_000, 200_000), _random,
     False, compare),
    ("reuse", "node reuse: a+a, a*a, a/a, one node feeding many", (240, 4000, 40_000), _reuse,
     False, compare),
    ("reflected", "constants on either side: 2 - a, 2 / a, 2 ** a, a ** 2", (240, 4000, 40_000),
     _reflected, False, compare),
    ("kinks", "relu(0), 0 ** n, x ** 0, 0 ** Value: torch's conventions", (240, 4000, 40_000),
     _kinks, False, compare),
    ("inplace", "augmented assignment t = a; t += b must not change a", (240, 4000, 40_000),
     _inplace, False, compare),
    ("repeated-backward", "calling backward() twice accumulates leaf gradients like torch",
     (120, 1200, 12_000), _repeated_backward, True, compare),
    ("nonfinite", "inf and nan where torch produces them (log(0), 1/0, exp(1000))",
     (120, 1200, 12_000), _nonfinite, True, compare_settled),
)  # fmt: skip

RANDOM, REUSE, REFLECTED, KINKS, INPLACE, REPEATED_BACKWARD, NONFINITE = PROGRAM_CHECKS = tuple(
    ProgramCheck(
        name,
        description,
        dict(zip(PROFILES, counts, strict=True)),
        semantics=semantics,
        make_strategy=strategy,
        judge=judge,
        rows=ROWS,
    )
    for name, description, counts, strategy, semantics, judge in _TABLE
)
"""The program checks, in report order."""
