"""A failing program -> a standalone, runnable Python script that shows the failure.

The script imports the target, rebuilds the program on it (straight-line code for small programs,
a compact loop for long chains), calls backward(), and prints expected vs got for every value
and input gradient, marking those beyond tolerance. Expected numbers are embedded, so the script
needs neither torch nor this harness (except for backends that are not Python classes/adapters).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from conformance.backends.adapter import AdapterBackend
from conformance.backends.base import Backend, Evaluation
from conformance.backends.python import PythonValueBackend
from conformance.backends.subprocess import SubprocessBackend
from conformance.ops import OPS
from conformance.program import Program, format_float
from conformance.tolerance import scales

__all__ = ["render", "segments"]

STRAIGHT_LINE_LIMIT = 300
"""Programs with more nodes are rendered as a compact loop."""

SHOW_LIMIT = 60
"""Programs with more numbers print only the mismatches."""


def _literal(x: float) -> str:
    if math.isnan(x):
        return "NAN"
    if math.isinf(x):
        return "INF" if x > 0 else "-INF"
    return repr(float(x))


def _import_lines(target: str) -> list[str]:
    module_part, _, attr = target.rpartition(":") if ":" in target else (target, "", "Value")
    attr = attr or "Value"
    if module_part.endswith(".py") or "/" in module_part:
        import os

        path = os.path.abspath(module_part)
        return [
            "import importlib.util",
            "import sys",
            "",
            f"_PATH = {path!r}",
            "sys.path.insert(0, _PATH.rsplit('/', 1)[0])",
            "_spec = importlib.util.spec_from_file_location('conformance_target', _PATH)",
            "_module = importlib.util.module_from_spec(_spec)",
            "sys.modules[_spec.name] = _module  # dataclasses in the file look their module up",
            "_spec.loader.exec_module(_module)",
            f"TARGET = _module.{attr}",
        ]
    head, _, rest = attr.partition(".")
    line = f"from {module_part} import {head} as TARGET"
    return [line] + ([f"TARGET = TARGET.{rest}"] if rest else [])


def segments(program: Program) -> list[tuple[list[tuple[str, list[int], float | None]], int]]:
    """Compress nodes into (block, times) runs; args are offsets back, so chains repeat."""
    rows = [
        (n.op, [i - j for j in n.args], n.value if n.op in ("input", "const") else None)
        for i, n in enumerate(program.nodes)
    ]
    out: list[tuple[list[tuple[str, list[int], float | None]], int]] = []
    i = 0
    while i < len(rows):
        best_period, best_times = 1, 1
        for period in range(1, 9):
            block = rows[i : i + period]
            if len(block) < period:
                break
            times = 1
            while rows[i + times * period : i + (times + 1) * period] == block:
                times += 1
            if period * times > best_period * best_times:
                best_period, best_times = period, times
        out.append((rows[i : i + best_period], best_times))
        i += best_period * best_times
    return out


def _build_lines(program: Program, backend: Backend) -> list[str]:
    adapter = isinstance(backend, AdapterBackend)
    if len(program.nodes) <= STRAIGHT_LINE_LIMIT and not adapter:
        lines = program.to_python("TARGET")
        lines.append(f"out = v{program.output}")
        return lines
    used = sorted({n.op for n in program.nodes if n.op not in ("input", "const")})
    lines = ["import operator", "", "def _inplace(f):", "    def g(a, b):", "        t = a"]
    lines += ["        t = f(t, b)", "        return t", "    return g", "", "CALL = {"]
    for name in used:
        op = OPS[name]
        if op.inplace:
            fn = {"iadd": "iadd", "isub": "isub", "imul": "imul", "idiv": "itruediv"}[name]
            lines.append(f"    {name!r}: _inplace(operator.{fn}),")
        elif name == "neg":
            lines.append("    'neg': operator.neg,")
        elif op.arity == 1:
            lines.append(f"    {name!r}: lambda a: a.{name}(),")
        else:
            fn = {"add": "add", "sub": "sub", "mul": "mul", "div": "truediv", "pow": "pow"}[name]
            lines.append(f"    {name!r}: operator.{fn},")
    lines.append("}")
    if adapter:
        lines += [
            "",
            "def call(name, *args):",
            "    apply = getattr(TARGET, 'apply', None)",
            "    result = apply(name, *args) if apply else NotImplemented",
            "    return CALL[name](*args) if result is NotImplemented else result",
            "",
            "leaf = TARGET.leaf",
        ]
    else:
        lines += ["", "def call(name, *args):", "    return CALL[name](*args)", "", "leaf = TARGET"]
    lines += ["", "# (block of [op, offsets back to operands, number], times repeated)"]
    lines.append("SEGMENTS = [")
    for block, times in segments(program):
        cells = ", ".join(
            f"({op!r}, {args!r}, {format_float(v) if v is not None else None})"
            for op, args, v in block
        )
        lines.append(f"    ([{cells}], {times}),")
    lines += [
        "]",
        "v = []",
        "for block, times in SEGMENTS:",
        "    for _ in range(times):",
        "        for op, back, number in block:",
        "            if op == 'input':",
        "                v.append(leaf(number))",
        "            elif op == 'const':",
        "                v.append(number)",
        "            else:",
        "                n = len(v)",
        "                v.append(call(op, *[v[n - k] for k in back]))",
        f"out = v[{program.output}]",
    ]
    return lines


def render(
    program: Program,
    expected: Evaluation,
    backend: Backend,
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
    focus = set(mismatches)
    custom = getattr(backend, "reproducer_source", None)
    if callable(custom):
        text = custom(program, expected, replay)
        if isinstance(text, str):
            return text
    target = getattr(backend, "target", None)
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
    if isinstance(backend, (PythonValueBackend, AdapterBackend)) and target:
        header += _import_lines(target)
        if isinstance(backend, AdapterBackend):
            header += ["if isinstance(TARGET, type):", "    TARGET = TARGET()"]
        body = _build_lines(program, backend)
        passes = program.backward_passes
        if isinstance(backend, AdapterBackend):
            body += [f"for _ in range({passes}):", "    TARGET.backward(out)"]
            read_value = "TARGET.data(v{i})"
            read_grad = "TARGET.grad(v{i})"
        else:
            body += [f"for _ in range({passes}):", "    out.backward()"]
            read_value = "v{i}.data"
            read_grad = "v{i}.grad"
        straight = len(program.nodes) <= STRAIGHT_LINE_LIMIT and not isinstance(
            backend, AdapterBackend
        )
        if not straight:
            read_value = read_value.replace("v{i}", "v[{i}]")
            read_grad = read_grad.replace("v{i}", "v[{i}]")
        return (
            "\n".join(
                [
                    *header,
                    "",
                    *body,
                    "",
                    *_compare_lines(program, expected, read_value, read_grad, focus),
                ]
            )
            + "\n"
        )
    # Any other backend: rebuild it through the harness itself.
    if isinstance(backend, SubprocessBackend):
        load = [
            "from conformance.backends.subprocess import SubprocessBackend",
            "from conformance.program import Program",
            "",
            f"backend = SubprocessBackend({backend.command!r}, timeout={backend.timeout!r})",
        ]
    else:
        load = [
            "from conformance.backends import load_backend",
            "from conformance.program import Program",
            "",
            f"backend = load_backend({target or '<TARGET>'!r})",
        ]
    body = [
        *load,
        f"program = Program.from_json({program.to_json()!r})",
        "got = backend.run(program)",
    ]
    return (
        "\n".join(
            [
                *header,
                *body,
                "",
                *_compare_lines(program, expected, "got.values[{i}]", "got.grads[{i}]", focus),
            ]
        )
        + "\n"
    )


def _compare_lines(
    program: Program,
    expected: Evaluation,
    read_value: str,
    read_grad: str,
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
        rows.append(f"    ('value', {i}, {_literal(e)}, {t}, lambda: {read_value.format(i=i)}),")
    for i, e in expected.grads.items():
        t = _literal(tol.grad_tolerance(i))
        rows.append(f"    ('grad', {i}, {_literal(e)}, {t}, lambda: {read_grad.format(i=i)}),")
    return [
        "# (kind, node, expected from torch float64, tolerance, how to read the backend's number)",
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
        "    got = float(read())",
        "    wrong = _differs(expected, got, tolerance)",
        "    bad += wrong",
        "    if wrong or SHOW_ALL:",
        "        mark = '  <-- MISMATCH' if wrong else ''",
        "        print(f'{kind:5} of v{node:<4} expected {expected!r:24} got {got!r:24}{mark}')",
        "print(f'{bad} of {len(CHECKS)} numbers differ beyond tolerance')",
        "raise SystemExit(1 if bad else 0)",
    ]
