"""Whether a failing program fails the same way in every run of the engine.

An engine that iterates a set of Values (``_prev = set(children)``, as micrograd itself does)
visits them in the order of their memory addresses, which changes from run to run. A correct
engine does not care; one whose backward pass depends on the order (a node's rule run once per
path to it) fails a program in some runs and passes it in others, or fails it with other numbers.
Its author should hear that before rerunning a reproducer that passes, or that prints another
number than the report: so a new problem's failing program runs a few more times, and what
moved is said in words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.backends.base import Evaluation
from conformance.checks.base import Outcome

__all__ = ["RUNS", "Variation", "until_it_fails", "variation"]

RUNS = 10
"""Runs of a failing program, its first included."""

SHOWN = 3
"""Numbers named, and distinct values named per number."""


@dataclass
class Variation:
    """How the runs of one failing program differed."""

    failed: int
    runs: int
    """Runs judged (a run the judge left open is not counted), the failing ones among them."""
    numbers: dict[str, list[float]] = field(default_factory=dict)
    """Per number that differed from torch's (``grad of v0``), the distinct values it took, in
    the order they were seen: values within its tolerance of one another count as one."""

    @property
    def some_runs_pass(self) -> bool:
        """Whether the program passed in some runs."""
        return self.failed < self.runs

    def in_words(self) -> str:
        """One line: how often it failed, what moved, and why that happens."""
        if self.some_runs_pass:
            head = f"fails in {self.failed} of {self.runs} runs of this same program"
        else:
            head = f"fails in every one of {self.runs} runs, with other numbers from run to run"
        moved = [
            f"{name} {' or '.join(repr(x) for x in seen[:SHOWN])}"
            for name, seen in self.numbers.items()
            if len(seen) > 1
        ][:SHOWN]
        if moved:
            head += f" ({'; '.join(moved)})"
        return (
            f"{head}: the engine's result changes from run to run, most likely because it "
            "iterates a set of Values (`_prev = set(children)`), whose order follows their "
            "memory addresses, and its result depends on that order"
        )


def until_it_fails(outcome: Outcome, again: Callable[[Outcome], Outcome], runs: int) -> Outcome:
    """``outcome``, or the first of up to ``runs`` more runs of its program (``again``) that
    failed."""
    for _ in range(runs):
        rerun = again(outcome)
        if rerun.failed:
            return rerun
    return outcome


def _number(got: Evaluation | None, kind: str, node: int) -> float | None:
    if got is None:
        return None
    return (got.values if kind == "value" else got.grads).get(node)


def variation(
    first: Outcome, again: Callable[[Outcome], Outcome], runs: int = RUNS
) -> Variation | None:
    """How ``first``, a failing outcome with wrong numbers, varies over ``runs`` runs of its
    program (``again`` runs it once more and judges it as ``first`` was judged); None where
    every run failed with the same numbers, to within their tolerances."""
    mismatches = first.verdict.mismatches
    seen: dict[str, list[float]] = {}
    failed = judged = 0
    for outcome in [first, *(again(first) for _ in range(runs - 1))]:
        if outcome.verdict.status == "unchecked":
            continue  # a run the judge left open is no pass
        judged += 1
        failed += outcome.failed
        for m in mismatches:
            name = f"{m.kind} of v{m.node}"
            x = _number(outcome.got, m.kind, m.node)
            values = seen.setdefault(name, [])
            if x is not None and not any(_same(x, y, m.tolerance) for y in values):
                values.append(x)
    found = Variation(failed, judged, seen)
    if found.some_runs_pass or any(len(values) > 1 for values in seen.values()):
        return found
    return None


def _same(x: float, y: float, tolerance: float) -> bool:
    """Equal, both nan, or within ``tolerance`` of each other."""
    return x == y or (x != x and y != y) or abs(x - y) <= tolerance
