"""A failing program -> a standalone, runnable Python script that shows the failure.

The script loads the target the way its backend's recipe says (for a micrograd-style class: it
imports it and rebuilds the program with its own operators, straight-line code for small programs,
a compact loop for long chains), calls backward(), and prints expected vs got for every value and
input gradient, marking those beyond tolerance. Expected numbers are embedded, so the script needs
neither torch nor this harness (except for backends that are not Python classes or adapters).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from conformance.backends.base import BackendBase, Evaluation
from conformance.program import Program
from conformance.tolerance import scales

__all__ = ["SHOW_LIMIT", "render"]

SHOW_LIMIT = 60
"""Programs with more numbers print only the mismatches."""


def _literal(x: float) -> str:
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INF" if x > 0 else "-INF"
    return repr(float(x))


def render(
    program: Program,
    expected: Evaluation,
    backend: BackendBase,
    *,
    check: str = "",
    replay: str = "",
    summary: str = "",
    mismatches: Iterable[tuple[str, int]] = (),
) -> str:
    """The standalone reproducer script for ``program`` failing on ``backend``.

    ``mismatches`` names the (kind, node) numbers that differed; long programs embed only
    those, the output's value and the input gradients.
    """
    recipe = backend.recipe()
    header = [
        '"""Conformance failure' + (f" in check {check!r}" if check else "") + ".",
        "",
        *(f"    {line}" for line in summary.splitlines()[:8]),
        "",
        f"Replay: {replay}" if replay else "",
        '"""',
        "",
        "INF, NAN = float('inf'), float('nan')",
    ]
    body = [
        *recipe.setup(),
        "",
        *recipe.build(program),
        *recipe.backward(program.backward_passes),
    ]
    compare = _compare_lines(program, expected, recipe.value, recipe.grad, set(mismatches))
    return "\n".join([*header, *body, "", *compare]) + "\n"


def _compare_lines(
    program: Program,
    expected: Evaluation,
    read_value: Callable[[Program, int], str],
    read_grad: Callable[[Program, int], str],
    focus: set[tuple[str, int]],
) -> list[str]:
    tol = scales(program, expected)
    rows: list[str] = []
    numbers = len(expected.values) + len(expected.grads)
    keep_all = numbers <= SHOW_LIMIT
    for i, e in expected.values.items():
        if not keep_all and i != program.output and ("value", i) not in focus:
            continue
        t = _literal(tol.value_tolerance(i))
        rows.append(f"    ('value', {i}, {_literal(e)}, {t}, lambda: {read_value(program, i)}),")
    for i, e in expected.grads.items():
        t = _literal(tol.grad_tolerance(i))
        rows.append(f"    ('grad', {i}, {_literal(e)}, {t}, lambda: {read_grad(program, i)}),")
    return [
        "# (kind, node, expected from the oracle, tolerance, how to read the backend's number)",
        "CHECKS = [",
        *rows,
        "]",
        "",
        "",
        "def _differs(expected, got, tolerance):",
        "    if expected != expected or abs(expected) == INF:",
        "        return not (got == expected or (got != got and expected != expected))",
        "    return not (abs(got - expected) <= tolerance)",
        "",
        "",
        f"SHOW_ALL = {keep_all!r}",
        "bad = 0",
        "for kind, node, expected, tolerance, read in CHECKS:",
        "    got = read()",
        "    # .grad left None: backward() never reached it (torch's convention): a gradient of 0",
        "    got = 0.0 if got is None and kind == 'grad' else float(got)",
        "    wrong = _differs(expected, got, tolerance)",
        "    bad += wrong",
        "    if wrong or SHOW_ALL:",
        "        mark = '  <-- MISMATCH' if wrong else ''",
        "        print(f'{kind:5} of v{node:<4} expected {expected!r:24} got {got!r:24}{mark}')",
        "print(f'{bad} of {len(CHECKS)} numbers differ beyond tolerance')",
        "raise SystemExit(1 if bad else 0)",
    ]
