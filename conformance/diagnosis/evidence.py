"""How a problem is shown: a few lines of code, a standalone script, a wire-protocol line."""

from __future__ import annotations

import math
from dataclasses import dataclass

from conformance.backends.base import BackendBase, Evaluation
from conformance.config import API_NAMES, spelling
from conformance.diagnosis.graph import exception_name
from conformance.program import Program
from conformance.protocol import reproducer_line
from conformance.reproducers.program import render
from conformance.reproducers.recipes import segments
from conformance.tolerance import Mismatch, scales

__all__ = ["SHORT_PROGRAM_LINES", "Evidence", "evidence"]

SHORT_PROGRAM_LINES = 10
"""A short reproducer shows at most this many lines of the program."""


@dataclass(frozen=True)
class Evidence:
    """The three ways a failing program is shown."""

    short: list[str]
    reproducer: str
    wire: str


def _number(x: float) -> str:
    return repr(float(x))


def evidence(
    backend: BackendBase,
    program: Program,
    expected: Evaluation,
    *,
    mismatches: list[Mismatch],
    error: str | None,
    check: str,
    replay: str,
    summary: str,
    aliases: dict[str, str] | None = None,
) -> Evidence:
    """The short reproducer, the full script and the wire line of ``program`` failing."""
    lines = program.to_python("Value", aliases=aliases)
    out = f"v{program.output}"
    if len(lines) > SHORT_PROGRAM_LINES:
        lines, out = _loop(program, aliases), "v[-1]"
    if len(lines) > SHORT_PROGRAM_LINES:
        skipped = len(lines) - SHORT_PROGRAM_LINES + 1
        lines = [
            *lines[: SHORT_PROGRAM_LINES - 1],
            f"... ({skipped} more lines: the reproducer, -v or --repro-dir, has them)",
        ]
    backward, data, grad = (spelling(name, aliases) for name in API_NAMES)
    lines.append(out + backward + ("  # twice" if program.backward_passes > 1 else ""))
    if error is not None:
        first = _clip(error.splitlines()[0], 150)
        # "raises" only for an exception; a hang, a death or a non-Value answer says itself.
        lines.append(f"# raises {first}" if exception_name(first) else f"# {first}")
    for m in mismatches[:3]:
        what = f"v{m.node}{data if m.kind == 'value' else grad}"
        got = "nothing" if m.got is None else _number(m.got)
        lines.append(f"# {what}: torch {_number(m.expected)}, got {got}")
    if len(mismatches) > 3:
        lines.append(f"# ... and {len(mismatches) - 3} more numbers differ")
    script = render(
        program,
        expected,
        backend,
        check=check,
        replay=replay,
        summary=summary,
        mismatches=[(m.kind, m.node) for m in mismatches],
    )
    return Evidence(lines, script, wire_line(program, expected))


def _loop(program: Program, aliases: dict[str, str] | None) -> list[str]:
    """A long program as a list grown by loops over its repeated blocks (a chain in 4 lines)."""
    lines = ["v = []"]
    for block, times in segments(program):
        body: list[str] = []
        for op, back, number in block:
            if op == "input":
                body.append(f"v.append(Value({number!r}))")
            elif op == "const":
                body.append(f"v.append({number!r})")
            else:
                operands = (f"v[-{k}]" if k > 0 else f"v[{~k}]" for k in back)
                text = Program.op_source(op, "t", *operands, aliases=aliases)
                body += [*text, "v.append(t)"]
        if times == 1:
            lines += body
        else:
            lines += [f"for _ in range({times}):", *(f"    {line}" for line in body)]
    return lines


def wire_line(program: Program, expected: Evaluation) -> str:
    """The program as one wire-protocol request with the oracle's numbers and tolerances."""
    try:
        sc = scales(program, expected)
        value_tol = {i: sc.value_tolerance(i) for i in expected.values}
        grad_tol = {i: sc.grad_tolerance(i) for i in expected.grads}
    except (ArithmeticError, ValueError):
        value_tol, grad_tol = {}, {}
    value_tol = {i: t if math.isfinite(t) else 0.0 for i, t in value_tol.items()}
    grad_tol = {i: t if math.isfinite(t) else 0.0 for i, t in grad_tol.items()}
    return reproducer_line(program, expected.values, expected.grads, value_tol, grad_tol)


def _clip(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters at a word boundary, marked "..." if cut."""
    if len(text) <= width:
        return text
    return text[: width - 3].rsplit(" ", 1)[0].rstrip(" ,;:(") + "..."
