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

__all__ = ["SHOW_LIMIT", "render", "runs_to_see"]

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
    runs: tuple[int, int] | None = None,
) -> str:
    """The standalone reproducer script for ``program`` failing on ``backend``.

    ``mismatches`` names the (kind, node) numbers that differed; long programs embed only
    those, the output's value and the input gradients. ``runs`` (failed, tried) says the
    program failed in some runs only: the script then runs it until it fails, up to
    ``runs_to_see`` times.
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
    checks, judge, verdict = _compare_lines(
        program, expected, recipe.value, recipe.grad, set(mismatches)
    )
    steps = [*recipe.build(program), *recipe.backward(program.backward_passes)]
    if runs is None:
        lines = [*header, *recipe.setup(), "", *steps, "", *checks, *judge, *verdict]
    else:
        # The table first: each run builds the program anew and judges it, until one fails.
        failed, tried = runs
        loop = [
            f"# The engine failed this program in {failed} of {tried} runs: run until it fails.",
            f"RUNS = {runs_to_see(failed, tried)}",
            "for run in range(1, RUNS + 1):",
            *(f"    {line}" if line else "" for line in [*steps, "", *judge]),
            "    if bad:",
            "        break",
            "print(f'run {run} of up to {RUNS}')",
        ]
        lines = [*header, *recipe.setup(), "", *checks, *loop, *verdict]
    return "\n".join(lines) + "\n"


def runs_to_see(failed: int, tried: int, miss: float = 1e-3) -> int:
    """How many runs see, but for odds ``miss``, a failure seen in ``failed`` of ``tried``."""
    rate = min(max(failed, 1) / tried, 0.999)
    return max(tried, min(10_000, math.ceil(math.log(miss) / math.log1p(-rate))))


def _compare_lines(
    program: Program,
    expected: Evaluation,
    read_value: Callable[[Program, int], str],
    read_grad: Callable[[Program, int], str],
    focus: set[tuple[str, int]],
) -> tuple[list[str], list[str], list[str]]:
    """The script's table of numbers to check and how to judge one (set up before the program
    runs), the lines that judge a run (after it), and those that print the verdict."""
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
    checks = [
        "# (kind, node, expected from the oracle, tolerance, how to read the backend's number)",
        "CHECKS = [",
        *rows,
        "]",
        f"SHOW_ALL = {keep_all!r}",
        "",
        "",
        "def _differs(expected, got, tolerance):",
        "    if expected != expected or abs(expected) == INF:",
        "        return not (got == expected or (got != got and expected != expected))",
        "    return not (abs(got - expected) <= tolerance)",
        "",
        "",
        "def _judged():",
        '    """(kind, node, expected, got, wrong) for each number of CHECKS; got says why',
        '    where a number could not be read, so the other rows still print."""',
        "    rows = []",
        "    for kind, node, expected, tolerance, read in CHECKS:",
        "        try:",
        "            raw = read()",
        "        except Exception as error:",
        "            rows.append((kind, node, expected, f'reading it raised {error!r}', True))",
        "            continue",
        "        # .grad left None: backward() never reached it (torch's convention): gradient 0",
        "        if raw is None and kind == 'grad':",
        "            raw = 0.0",
        "        try:",
        "            got = float(raw)",
        "        except Exception as error:",
        "            shown = f'{raw!r:.60}, not a number ({error})'",
        "            rows.append((kind, node, expected, shown, True))",
        "            continue",
        "        rows.append((kind, node, expected, got, _differs(expected, got, tolerance)))",
        "    return rows",
        "",
        "",
    ]
    judge = ["rows = _judged()", "bad = sum(wrong for *_, wrong in rows)"]
    verdict = [
        "for kind, node, expected, got, wrong in rows:",
        "    if wrong or SHOW_ALL:",
        "        mark = '  <-- MISMATCH' if wrong else ''",
        "        shown = got if isinstance(got, str) else repr(got)",
        "        print(f'{kind:5} of v{node:<4} expected {expected!r:24} got {shown:24}{mark}')",
        "print(f'{bad} of {len(CHECKS)} numbers differ beyond tolerance')",
        "raise SystemExit(1 if bad else 0)",
    ]
    return checks, judge, verdict
