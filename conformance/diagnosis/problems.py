"""Problems: the distinct bugs of a run, each named once, with the checks that saw it.

A problem is identified by its ``Signature``: what makes two failures the same bug. They print
as colon-separated strings, which is also how an xfail file names a problem:

* ``op:tanh:gradient`` (``value``, ``gradient``, ``operand``): an op wrong alone, per quantity;
  ``op:log:value:semantics`` where only torch's inf/nan differ;
* ``api:sub:cv``: a number form the engine lacks (``2.0 - v``); ``leaf:value``: ``Value(x)``
  does not hold x; ``leaf:gradient``: ``backward()`` does not seed the gradient with 1;
* ``raises:RecursionError:visit``: an exception, by type and the engine function that raised it;
  ``hang``, ``crash:<what kind of death>``, ``protocol`` (a driver broke the wire protocol),
  ``protocol:pow`` (an op returned None, not a Value);
* ``graph:mul``: compositions through one op family go wrong (its backward assigns instead of
  accumulating, say, or, in a run without the ops check, its rule is wrong even on its own);
  ``graph:any-op``: they go wrong whatever the ops (the topological sort or
  the accumulation); ``graph:equal-values``: nodes are merged by value; ``graph:no-gradient``:
  every op alone leaves its operands' gradients at 0 (``backward()`` runs no rule);
* ``semantics:repeated-backward``: a second backward() does not accumulate as torch's does;
* ``graph:<quantity>:<families>:<shapes>``: what a failure that the textbook programs do not
  explain needs once shrunk (``graph:grad:mul+tanh:shared-leaf``);
* ``wrong:nn``, ``wrong:training``: a network or trajectory check, where there is no program.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from conformance.ops import OPS, family
from conformance.program import Program

__all__ = ["SEVERITIES", "Problem", "Problems", "Signature", "small_program"]

SEVERITIES = ("error", "semantics")
"""``error`` fails the run; ``semantics`` (a difference where torch itself is inf/nan, or in
repeated-backward accumulation) fails it only with --strict."""


@dataclass(frozen=True)
class Signature:
    """What makes a failure a particular bug: a kind and the facts that tell bugs of it apart."""

    kind: str
    key: tuple[str, ...] = ()

    def __str__(self) -> str:
        return ":".join((self.kind, *self.key))

    @classmethod
    def parse(cls, text: str) -> Signature:
        """The signature a string names (as printed in reports and xfail files)."""
        kind, *key = text.strip().split(":")
        return cls(kind, tuple(key))


@dataclass
class Problem:
    """One distinct bug: a one-line diagnosis, where it shows, and how to see it."""

    signature: Signature
    summary: str
    severity: str = "error"
    ops: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    """A few more lines: the regions where it shows, the numbers that differ."""
    short: list[str] = field(default_factory=list)
    """A few lines of code that show it, with the expected and actual numbers as comments."""
    reproducer: str = ""
    """A standalone script that shows it (exits 1 while the bug is there)."""
    wire: str = ""
    """The failing program as one wire-protocol request line (with the expected numbers)."""
    replay: str = ""
    program: Program | None = None
    expected: bool = False
    """Listed in the xfail file: reported, but does not fail the run."""
    seen: int = 1
    """How many failing examples were this problem."""
    aliases: list[Signature] = field(default_factory=list)
    """Other signatures the same bug shows under (a raise in ``tanh`` found alone by the ops
    check, and found again in a composition as ``raises:OverflowError:tanh``)."""

    @property
    def fails_run(self) -> bool:
        """Whether this problem alone makes the run not conformant (``strict`` aside)."""
        return self.severity == "error" and not self.expected

    def saw(self, check: str) -> None:
        """Note that ``check`` found this problem (again)."""
        self.seen += 1
        if check not in self.checks:
            self.checks.append(check)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "signature": str(self.signature),
            "summary": self.summary,
            "severity": self.severity,
            "expected_failure": self.expected,
            "ops": list(self.ops),
            "checks": list(self.checks),
            "details": list(self.details),
            "short": list(self.short),
            "reproducer": self.reproducer if len(self.reproducer) <= JSON_WIRE_CHARS else None,
            "wire": self.wire if len(self.wire) <= JSON_WIRE_CHARS else None,
            "replay": self.replay,
            "program": small_program(self.program),
            "program_nodes": len(self.program.nodes) if self.program is not None else 0,
        }


JSON_PROGRAM_NODES = 2_000
"""Longer programs (a deep chain) are left out of the JSON report: its reproducer has them in
loop form, and ``--repro-dir`` writes their wire line to a file."""

JSON_WIRE_CHARS = 100_000
"""The same for the wire line, and for a reproducer script whose program does not fold into a
loop (``--repro-dir`` writes both whole)."""


def small_program(program: Program | None) -> dict[str, Any] | None:
    """The program as a JSON dict, or None when it has more than JSON_PROGRAM_NODES nodes."""
    if program is None or len(program.nodes) > JSON_PROGRAM_NODES:
        return None
    return program.to_dict()


def _families(variants: Iterable[str]) -> set[str]:
    """The ops whose methods ``variants`` run (``div:cv`` and ``idiv:vv`` both run ``div``'s)."""
    names = {v.split(":", 1)[0] for v in variants}
    return {family(n) if n in OPS else n for n in names}


class Problems:
    """The run's problems, in the order they were found; one per signature."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self._by_signature: dict[Signature, Problem] = {}

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, signature: Signature, ops: Iterable[str] | None = None) -> Problem | None:
        """The problem with this signature, if one was found. With ``ops`` (the variants of the
        failure, ``pow:vc``), one known by it only as an alias must be about one of their ops:
        every op's closure is ``_backward`` in micrograd, so ``raises:ZeroDivisionError:_backward``
        from pow is not div's, whose own raise it is too."""
        known = self._by_signature.get(signature)
        if known is None or ops is None or known.signature == signature or not known.ops:
            return known
        return known if _families(ops) & _families(known.ops) else None

    def add(self, problem: Problem) -> Problem:
        """Record ``problem``, or merge it into the one already found with its signature."""
        known = self.get(problem.signature, problem.ops or None)
        for alias in problem.aliases if known is None and problem.ops else ():
            # Found first under what this one also shows as (an op's raise in a program), if
            # about the same ops.
            seen = self._by_signature.get(alias)
            # Two op problems are two: pow's rule wrong everywhere and pow overflowing at 1e-30
            # raise OverflowError in one `_backward` alike.
            mergeable = (
                seen is not None
                and seen.severity == problem.severity
                and seen.signature.kind != problem.signature.kind
            )
            if seen is not None and mergeable and _families(seen.ops) & _families(problem.ops):
                known = seen
                break
        if known is None:
            self.items.append(problem)
            self._by_signature[problem.signature] = problem
            for signature in problem.aliases:
                self._by_signature.setdefault(signature, problem)
            return problem
        for check in problem.checks:
            known.saw(check)
        if problem.severity == "error":
            known.severity = "error"
        for op in problem.ops:
            if op not in known.ops:
                known.ops.append(op)
        return known

    def of_kind(self, *kinds: str) -> list[Problem]:
        """The problems whose signature is of one of ``kinds``."""
        return [p for p in self.items if p.signature.kind in kinds]
