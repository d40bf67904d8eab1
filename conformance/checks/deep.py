"""The ``deep`` check: chains that grow from ten thousand nodes to a million (or more).

Recursion (a recursive topological sort, a recursive teardown of the graph), quadratic work and
hangs show only on long graphs, and where they start depends on the engine's language: a Python
port overflows near a thousand levels, a Rust port with an 8 MB stack near 130,000. So the check
grows its chains (10**4, 10**5, 10**6 nodes under the default profile) while the time budget
allows the next one, and stops at the first that fails; a failure is then shrunk to the shortest
failing prefix. Chains up to ORACLE_NODES long are judged against the run's oracle, longer ones
against the op table's float64 evaluation (what matters there is that the engine survives them
and stays within the error bound). Each chain's graph is released inside its run, so an engine
that dies tearing down a long graph fails that chain.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from conformance.backends.base import BackendBase
from conformance.backends.subprocess import SubprocessBackend
from conformance.checks.base import CheckContext, Outcome, ProgramCheck
from conformance.oracles.table import TableOracle
from conformance.program import Program
from conformance.strategies import deep_chain, deep_programs

__all__ = ["DEEP", "DEPTHS", "ORACLE_NODES", "SHRINK_SECONDS", "DeepCheck"]

SHRINK_SECONDS = 20.0
"""At most this many seconds searching for the shortest failing prefix."""

DEPTHS = {
    "quick": (10_000, 100_000),
    "default": (10_000, 100_000, 1_000_000),
    "thorough": (10_000, 100_000, 1_000_000, 3_000_000),
}
"""The chain lengths (op nodes) tried in turn, per profile."""

ORACLE_NODES = 100_000
"""Chains longer than this are judged against the op table's float64 evaluation."""

NODES_PER_TIMEOUT = 25_000
"""A chain gets one per-program timeout per this many nodes (at least one)."""


@contextlib.contextmanager
def _each_release_verified(backend: BackendBase) -> Iterator[None]:
    """A process backend confirms that it lived through releasing each chain before the next.

    A process found dead or hung at a chain might have died releasing the chain before, so it
    would run the chain again on a fresh process to tell: a second wait of a timeout that grows
    with the chain (minutes for a million nodes). Verified releases make the first wait the
    only one; they cost one one-node request a chain."""
    if not isinstance(backend, SubprocessBackend):
        yield  # an in-process backend: nothing outlives a program
        return
    before, backend.verify_release = backend.verify_release, True
    try:
        yield
    finally:
        backend.verify_release = before


@dataclasses.dataclass
class DeepRun:
    """What the deep check did: the chains it ran and where it stopped."""

    lengths: list[int] = dataclasses.field(default_factory=list)
    stopped: str = ""
    failure: tuple[Program, Outcome] | None = None


class DeepCheck(ProgramCheck):
    """Chains of growing length; a failure is shrunk to the shortest failing prefix."""

    def strategy(self, ctx: CheckContext) -> st.SearchStrategy[Any] | str:
        """Deep chains over the supported unary and with-constant ops (for ``run_check``)."""
        usable = self._usable(ctx)
        if not usable:
            return "the backend supports no op that can be chained"
        return deep_programs(ops=usable, depth=DEPTHS.get(ctx.profile, DEPTHS["default"])[0])

    @staticmethod
    def _usable(ctx: CheckContext) -> list[tuple[str, str]]:
        return [(n, f) for n, f in ctx.supported if f in ("v", "vc", "vv")]

    def grow(self, ctx: CheckContext, deadline: float) -> DeepRun:
        """Run chains of growing length until one fails or the next would overrun ``deadline``."""
        run = DeepRun()
        rng = random.Random(ctx.seed)
        usable = self._usable(ctx)
        previous: tuple[int, float] | None = None
        for depth in DEPTHS.get(ctx.profile, DEPTHS["default"]):
            if previous is not None:
                length, seconds = previous
                estimate = seconds * depth / length
                if time.perf_counter() + estimate > deadline:
                    run.stopped = (
                        f"stopped before {depth:,} nodes: about {estimate:.0f} s, beyond the "
                        "time budget"
                    )
                    break
            program = deep_chain(ops=usable, depth=depth, rng=rng)
            started = time.perf_counter()
            outcome = self.evaluate(ctx, program, self._timeout(ctx, program))
            previous = (depth, time.perf_counter() - started)
            run.lengths.append(depth)
            if outcome.failed:
                run.failure = (program, outcome)
                break
        return run

    def evaluate(self, ctx: CheckContext, program: Program, timeout: float | None) -> Outcome:
        """Judge ``program`` against the oracle, or the table's evaluation if it is long."""
        with _each_release_verified(ctx.backend):
            return ProgramCheck.evaluate(self, self._for(ctx, program), program, timeout)

    @staticmethod
    def _for(ctx: CheckContext, program: Program) -> CheckContext:
        ops = sum(1 for n in program.nodes if n.op not in ("input", "const"))
        if ops <= ORACLE_NODES:
            return ctx
        return dataclasses.replace(ctx, oracle=TableOracle())

    @staticmethod
    def _timeout(ctx: CheckContext, program: Program) -> float | None:
        if ctx.timeout is None:
            return None
        return ctx.timeout * max(1.0, len(program.nodes) / NODES_PER_TIMEOUT)

    def shrink(self, ctx: CheckContext, example: Any, outcome: Outcome) -> tuple[Any, Outcome]:
        """The shortest failing prefix of the chain: gallop up from one op, then bisect.

        Galloping keeps the cost near twice the failing length (a RecursionError fails at a
        few thousand nodes); prefixes run with their own timeouts, and the search stops,
        keeping the best so far, after ``ctx.shrink_seconds`` (at most SHRINK_SECONDS).
        """
        program: Program = example
        op_nodes = [i for i, n in enumerate(program.nodes) if n.op not in ("input", "const")]
        stop = time.perf_counter() + min(SHRINK_SECONDS, ctx.shrink_seconds)
        best, best_outcome = program, outcome

        def fails(k: int) -> bool:
            nonlocal best, best_outcome
            prefix = program.prefix(op_nodes[k])
            result = self.evaluate(ctx, prefix, self._timeout(ctx, prefix))
            if result.failed:
                best, best_outcome = prefix, result
            return result.failed

        lo, hi, k = 0, len(op_nodes) - 1, 0
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
    "chains of 10,000 to 1,000,000+ nodes (a RecursionError, a crash or a hang is an error)",
    {"quick": 2, "default": 3, "thorough": 4},
    hypothesis_shrinks=False,
    cost=12_000.0,
)
