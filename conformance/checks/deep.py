"""The ``deep`` check: chains of 100,000+ nodes (a RecursionError or a hang is an error)."""

from __future__ import annotations

import time
from typing import Any

from hypothesis import strategies as st

from conformance.checks.base import CheckContext, Outcome, ProgramCheck
from conformance.program import Program
from conformance.strategies import deep_programs

__all__ = ["DEEP", "DEEP_DEPTH", "SHRINK_SECONDS", "DeepCheck"]

SHRINK_SECONDS = 20.0
"""At most this many seconds searching for the shortest failing prefix."""

DEEP_DEPTH = {"quick": 100_000, "default": 100_000, "thorough": 200_000}


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
        stop = time.perf_counter() + min(SHRINK_SECONDS, ctx.shrink_seconds)
        best, best_outcome = program, outcome

        def fails(k: int) -> bool:
            nonlocal best, best_outcome
            prefix = program.prefix(op_nodes[k])
            result = self.evaluate(ctx, prefix, ctx.timeout)
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


DEEP = DeepCheck(
    "deep",
    "chains of 100,000+ nodes (RecursionError or a hang is an error)",
    {"quick": 1, "default": 2, "thorough": 10},
    timeout_factor=4.0,
    hypothesis_shrinks=False,
    cost=1000.0,
)
