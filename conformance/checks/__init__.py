"""The named checks, in report order; ``register`` adds more (the nn checks do)."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import strategies as st

from conformance.checks.base import Check, CheckContext, Outcome, ProgramCheck, run_guarded
from conformance.ops import OPS
from conformance.program import Program
from conformance.strategies import deep_programs, programs
from conformance.tolerance import compare_semantics

__all__ = [
    "CHECKS",
    "Check",
    "CheckContext",
    "DeepCheck",
    "Outcome",
    "ProgramCheck",
    "get_check",
    "register",
    "run_guarded",
]

KINK_VALUES = (0.0, 1.0, 0.0, -1.0, 2.0, 0.0, 0.5, -2.0, 3.0)
NONFINITE_VALUES = (0.0, -1.0, 1.0, 2.0, 1000.0, -1000.0, 1e300, -1e300, 0.5)


def _random(ctx: CheckContext) -> st.SearchStrategy[Program] | str:
    return programs(ops=ctx.supported)


def _reuse(ctx: CheckContext) -> st.SearchStrategy[Program] | str:
    if not any(form == "vv" for _, form in ctx.supported):
        return "the backend supports no op on two Values"
    return programs(ops=ctx.supported, max_inputs=2, reuse=1.0, constants=0.1, max_nodes=16)


def _reflected(ctx: CheckContext) -> st.SearchStrategy[Program] | str:
    variants = [(n, f) for n, f in ctx.supported if f in ("vc", "cv", "v")]
    if not any(f in ("vc", "cv") for _, f in variants):
        return "the backend supports no op with a constant operand"
    return programs(ops=variants, constants=0.9, max_nodes=16)


def _kinks(ctx: CheckContext) -> st.SearchStrategy[Program] | str:
    if not any(OPS[n].has_kinks for n, _ in ctx.supported):
        return "the backend supports no op with a kink (relu, pow)"
    # Mostly kinked ops, with a few simple ones to make zeros (a - a) and route gradients.
    variants = [(n, f) for n, f in ctx.supported if OPS[n].has_kinks or n in ("add", "sub", "neg")]
    return programs(
        ops=variants,
        kinks=True,
        max_nodes=8,
        max_inputs=3,
        value_strategy=st.sampled_from(KINK_VALUES),
    )


def _inplace(ctx: CheckContext) -> st.SearchStrategy[Program] | str:
    variants = [(n, f) for n, f in ctx.supported if OPS[n].inplace or f == "v"]
    if not any(OPS[n].inplace for n, _ in variants):
        return "the backend supports no augmented assignment (+=, -=, *=, /=)"
    return programs(ops=variants, reuse=0.3, constants=0.3, max_inputs=3, max_nodes=16)


def _repeated_backward(ctx: CheckContext) -> st.SearchStrategy[Program] | str:
    return programs(ops=ctx.supported, backward_passes=2, max_nodes=12)


def _nonfinite(ctx: CheckContext) -> st.SearchStrategy[Program] | str:
    return programs(
        ops=ctx.supported,
        nonfinite=True,
        max_nodes=8,
        value_strategy=st.sampled_from(NONFINITE_VALUES),
    )


class DeepCheck(ProgramCheck):
    """Chains of at least 100,000 nodes; a failure is shrunk to the shortest failing prefix."""

    def strategy(self, ctx: CheckContext) -> st.SearchStrategy[Any] | str:
        """Deep chains over the supported unary and with-constant ops."""
        usable = [(n, f) for n, f in ctx.supported if f in ("v", "vc", "vv")]
        if not usable:
            return "the backend supports no op that can be chained"
        return deep_programs(ops=usable, depth=DEEP_DEPTH.get(ctx.profile, 100_000))

    def shrink(self, ctx: CheckContext, example: Any, outcome: Outcome) -> tuple[Any, Outcome]:
        """The shortest failing prefix of the chain: gallop up from 64 nodes, then bisect.

        Galloping keeps the cost near twice the failing length (a RecursionError fails at a
        few thousand nodes); prefixes run with the plain per-program timeout, and the search
        stops, keeping the best so far, after ``ctx.shrink_seconds`` (at most SHRINK_SECONDS).
        """
        program: Program = example
        op_nodes = [i for i, n in enumerate(program.nodes) if n.op not in ("input", "const")]
        small = CheckContext(
            ctx.backend, ctx.oracle, ctx.supported, ctx.profile, ctx.timeout, ctx.strict
        )
        stop = time.perf_counter() + min(SHRINK_SECONDS, ctx.shrink_seconds)
        best, best_outcome = program, outcome

        def fails(k: int) -> bool:
            nonlocal best, best_outcome
            prefix = program.prefix(op_nodes[k])
            result = ProgramCheck.run_example(self._plain, small, prefix)
            if result.failed:
                best, best_outcome = prefix, result
            return result.failed

        lo, hi, k = 0, len(op_nodes) - 1, 63
        while k < hi and time.perf_counter() < stop:
            if fails(k):
                hi = k
                break
            lo, k = k + 1, 2 * k + 1
        while lo < hi and time.perf_counter() < stop:
            mid = (lo + hi) // 2
            if fails(mid):
                hi = mid
            else:
                lo = mid + 1
        if "RecursionError" in (best_outcome.verdict.error or "") and 2 * hi + 1 < len(op_nodes):
            # The recursion limit bites at a depth that depends on the caller's stack: double
            # the chain so the reproducer, run from a fresh interpreter, overflows too.
            fails(2 * hi + 1)
        return best, best_outcome

    @property
    def _plain(self) -> ProgramCheck:
        return ProgramCheck(self.name, self.description, self.examples, make_strategy=_random)


SHRINK_SECONDS = 20.0

DEEP_DEPTH = {"quick": 100_000, "default": 100_000, "thorough": 200_000}

CHECKS: list[Check] = [
    ProgramCheck(
        "random",
        "random expression DAGs over every supported op",
        {"quick": 150, "default": 4000, "thorough": 50_000},
        make_strategy=_random,
    ),
    ProgramCheck(
        "reuse",
        "node reuse: a+a, a*a, a/a, one node feeding many",
        {"quick": 60, "default": 1000, "thorough": 10_000},
        make_strategy=_reuse,
    ),
    ProgramCheck(
        "reflected",
        "constants on either side: 2 - a, 2 / a, 2 ** a, a ** 2",
        {"quick": 60, "default": 1000, "thorough": 10_000},
        make_strategy=_reflected,
    ),
    DeepCheck(
        "deep",
        "chains of 100,000+ nodes (RecursionError or a hang is an error)",
        {"quick": 1, "default": 2, "thorough": 10},
        timeout_factor=4.0,
        hypothesis_shrinks=False,
        make_strategy=lambda ctx: "unused",
    ),
    ProgramCheck(
        "kinks",
        "relu(0), 0 ** n, x ** 0, 0 ** Value: torch's conventions",
        {"quick": 60, "default": 1000, "thorough": 10_000},
        make_strategy=_kinks,
    ),
    ProgramCheck(
        "inplace",
        "augmented assignment t = a; t += b must not change a",
        {"quick": 60, "default": 1000, "thorough": 10_000},
        make_strategy=_inplace,
    ),
    ProgramCheck(
        "repeated-backward",
        "calling backward() twice accumulates leaf gradients like torch",
        {"quick": 30, "default": 300, "thorough": 3000},
        semantics=True,
        make_strategy=_repeated_backward,
    ),
    ProgramCheck(
        "nonfinite",
        "inf and nan where torch produces them (log(0), 1/0, exp(1000))",
        {"quick": 30, "default": 300, "thorough": 3000},
        semantics=True,
        make_strategy=_nonfinite,
        judge=compare_semantics,
    ),
]
"""Every check, in report order."""


def register(check: Check) -> None:
    """Add a check (replacing one of the same name)."""
    for i, existing in enumerate(CHECKS):
        if existing.name == check.name:
            CHECKS[i] = check
            return
    CHECKS.append(check)


def get_check(name: str) -> Check:
    """The check called ``name``; KeyError listing the known names otherwise."""
    for check in CHECKS:
        if check.name == name:
            return check
    raise KeyError(f"unknown check {name!r}; known checks: {', '.join(c.name for c in CHECKS)}")


from conformance.checks import nn as _nn  # noqa: E402, F401  (registers "nn" and "training")
