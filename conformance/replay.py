"""``--replay FILE``: run reproducer lines (docs/PROTOCOL.md, "Reproducer lines") on an engine.

A reproducer line is a wire-protocol ``run`` request with an ``expect`` field: the oracle's
values and gradients and the allowed difference for each. ``python -m conformance --replay
problem-01.wire --exec ./my-driver`` (or with a Python TARGET) runs each line of FILE on the
engine and says, number by number, what still differs: exit 0 when every line passes, 1 when one
does not. No oracle is needed: the expected numbers travel with the line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.backends.base import BackendBase, BackendError
from conformance.checks.base import run_guarded
from conformance.program import Program, ProgramError
from conformance.protocol import ProtocolError, decode_number, decode_request

__all__ = ["Expectation", "LineResult", "parse_line", "program_source", "render", "replay_lines"]


@dataclass
class Expectation:
    """What a reproducer line expects: per node, the number and the allowed difference."""

    values: dict[int, tuple[float, float]] = field(default_factory=dict)
    grads: dict[int, tuple[float, float]] = field(default_factory=dict)


@dataclass
class LineResult:
    """The outcome of one line: what differs (empty: it passes), or why it could not run."""

    number: int
    program: Program | None = None
    differences: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def passed(self) -> bool:
        """True when the engine ran the line and every expected number matched."""
        return not self.error and not self.differences


def _expected(raw: Any, key: str, n: int) -> dict[int, tuple[float, float]]:
    numbers, tolerances = raw.get(key), raw.get(f"{key[:-1]}_tolerances")
    if numbers is None:
        return {}
    if not isinstance(numbers, list) or len(numbers) != n:
        raise ProtocolError(f"expect.{key} must be a list of {n} entries (one per node)")
    if not isinstance(tolerances, list) or len(tolerances) != n:
        tolerances = [0.0] * n
    out: dict[int, tuple[float, float]] = {}
    for i, (x, t) in enumerate(zip(numbers, tolerances, strict=True)):
        if x is None:
            continue
        number = decode_number(x, f"expect.{key}[{i}]")
        tolerance = 0.0 if t is None else decode_number(t, f"expect tolerance [{i}]")
        out[i] = (number, tolerance)
    return out


def parse_line(text: str) -> tuple[Program, Expectation | None]:
    """The program of a reproducer line and its expectation (None without ``expect``)."""
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or message.get("type") != "run":
        raise ProtocolError("expected a wire-protocol run request ({'type': 'run', ...})")
    program = decode_request(message)
    raw = message.get("expect")
    if raw is None:
        return program, None
    if not isinstance(raw, dict):
        raise ProtocolError("'expect' must be an object")
    n = len(program.nodes)
    return program, Expectation(_expected(raw, "values", n), _expected(raw, "grads", n))


def _differs(expected: float, got: float | None, tolerance: float) -> bool:
    if got is None:
        return True
    if math.isnan(expected):
        return not math.isnan(got)
    if math.isinf(expected):
        return got != expected
    return not (math.isfinite(got) and abs(got - expected) <= tolerance)


def replay_lines(
    backend: BackendBase, lines: Iterable[str], timeout: float | None = None
) -> list[LineResult]:
    """Run each non-blank line on ``backend`` and compare with what it expects."""
    results: list[LineResult] = []
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        result = LineResult(number)
        results.append(result)
        try:
            program, expect = parse_line(text)
        except (ProtocolError, ProgramError) as exc:
            result.error = f"line {number} is not a reproducer line: {exc}"
            continue
        result.program = program
        try:
            got = run_guarded(backend, program, timeout)
        except BackendError as exc:
            result.error = f"the engine failed: {str(exc).splitlines()[0]}"
            continue
        if expect is None:  # no expectations: it must run and give finite numbers
            for kind, numbers in (("value", got.values), ("grad", got.grads)):
                result.differences += [
                    f"{kind} of v{i}: {x!r}, not finite"
                    for i, x in sorted(numbers.items())
                    if not math.isfinite(x)
                ]
            continue
        for kind, wanted, have in (
            ("value", expect.values, got.values),
            ("grad", expect.grads, got.grads),
        ):
            for i, (e, tolerance) in sorted(wanted.items()):
                g = have.get(i)
                if _differs(e, g, tolerance):
                    result.differences.append(_difference(kind, i, e, g, tolerance))
    return results


def _difference(kind: str, i: int, expected: float, got: float | None, tolerance: float) -> str:
    # Worded as the Rust crate's assert_replay words it, so one line reads the same everywhere.
    head = f"{kind} of v{i}: expected {expected!r}, got {got!r}"
    if got is None:
        return f"{kind} of v{i}: expected {expected!r}, the engine gave none"
    if math.isfinite(expected) and math.isfinite(got):
        return f"{head} (|diff| {abs(got - expected):.3g} > tolerance {tolerance:.3g})"
    return head


def render(results: list[LineResult], source: str, engine: str) -> tuple[str, bool]:
    """The replay report for a terminal, and whether every line passed."""
    failing = [r for r in results if not r.passed]
    noun = "line" if len(results) == 1 else "lines"
    lines = [f"replaying {len(results)} {noun} of {source} on {engine}"]
    for r in results:
        if r.passed:
            lines.append(f"  line {r.number}: passes")
            continue
        if r.error:
            lines.append(f"  line {r.number}: {r.error}")
        else:
            count = len(r.differences)
            lines.append(f"  line {r.number}: {count} difference{'s' if count != 1 else ''}")
            lines += [f"    {d}" for d in r.differences]
        if r.program is not None:
            lines.append("    the program:")
            lines += [f"      {statement}" for statement in program_source(r.program)]
    if not results:
        lines.append("  no reproducer lines in it (blank input)")
    elif failing:
        verb = "fails" if len(failing) == 1 else "fail"
        lines.append(f"{len(failing)} of {len(results)} {noun} {verb}")
    else:
        lines.append("the line passes" if len(results) == 1 else f"all {len(results)} lines pass")
    return "\n".join(lines), bool(results) and not failing


def program_source(program: Program) -> list[str]:
    """The program as Python statements, its backward passes included."""
    passes = [f"v{program.output}.backward()"] * program.backward_passes
    return [*program.to_python(), *passes]
