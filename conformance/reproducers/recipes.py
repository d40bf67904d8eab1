"""How a standalone script drives a backend: load it, build a program on it, read its numbers.

Each backend returns its ``Recipe`` (``BackendBase.recipe()``); the renderers of reproducers ask
the recipe for lines and never ask what kind of backend they face:

* ``ValueClassRecipe``: a micrograd-style class, driven with its own operators and methods
  (``v2 = v0 * 2.0``), so the script reads like the user's own code and needs no harness;
* ``AdapterRecipe``: an adapter object, driven through ``leaf``/``apply``/``backward``;
* ``HarnessRecipe``: anything else (a process speaking the wire protocol), run through the
  harness's own backend classes.
"""

from __future__ import annotations

from collections.abc import Mapping

from conformance.config import API_NAMES, spelling
from conformance.ops import OPS
from conformance.program import Program, format_float
from conformance.targets import is_path, locate_file, split_target

__all__ = [
    "STRAIGHT_LINE_LIMIT",
    "AdapterRecipe",
    "HarnessRecipe",
    "Recipe",
    "ValueClassRecipe",
    "import_lines",
    "segments",
]

STRAIGHT_LINE_LIMIT = 300
"""Programs with more nodes are built by a compact loop over repeated blocks."""


def import_lines(target: str) -> list[str]:
    """Lines binding ``TARGET`` to the object a TARGET string names, imported as the harness
    imported it (a file inside a package by its dotted name from the package's root)."""
    module_part, attr = split_target(target)
    head, _, rest = attr.partition(".")
    tail = [f"TARGET = TARGET.{rest}"] if rest else []
    if not is_path(module_part):
        return [f"from {module_part} import {head} as TARGET", *tail]
    located = locate_file(module_part)
    if located.module:
        return [
            "import sys",
            "",
            f"sys.path.insert(0, {str(located.root)!r})",
            f"from {located.module} import {head} as TARGET",
            *tail,
        ]
    return [
        "import importlib.util",
        "import sys",
        "",
        f"_PATH = {str(located.path)!r}",
        f"sys.path.insert(0, {str(located.path.parent)!r})",
        "_spec = importlib.util.spec_from_file_location('conformance_target', _PATH)",
        "_module = importlib.util.module_from_spec(_spec)",
        "sys.modules[_spec.name] = _module  # dataclasses in the file look their module up",
        "_spec.loader.exec_module(_module)",
        f"TARGET = _module.{head}",
        *tail,
    ]


Row = tuple[str, list[int], float | None]


def segments(program: Program) -> list[tuple[list[Row], int]]:
    """Compress nodes into (block, times) runs. An operand is an offset back (``k`` > 0), or
    ``~j`` for input node j: a chain that keeps reusing one input still repeats."""
    nodes = program.nodes
    rows = [
        (
            n.op,
            [~j if nodes[j].op == "input" else i - j for j in n.args],
            n.value if n.op in ("input", "const") else None,
        )
        for i, n in enumerate(nodes)
    ]
    out: list[tuple[list[Row], int]] = []
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


def _call_table(program: Program, aliases: Mapping[str, str] | None = None) -> list[str]:
    """``CALL``: op name -> a function applying it the micrograd way, from the op table."""
    used = sorted({n.op for n in program.nodes if n.op not in ("input", "const")})
    lines: list[str] = []
    for name in used:
        op = OPS[name]
        params = "a, b" if op.arity == 2 else "a"
        source = op.source
        if aliases and op.method in aliases:
            source = source.replace(f".{op.method}()", f".{aliases[op.method]}()")
        body = source.format(out="out", a="a", b="b").split("\n")
        lines += [
            f"def _{name}({params}):",
            *(f"    {line}" for line in body),
            "    return out",
            "",
        ]
    entries = ", ".join(f"{name!r}: _{name}" for name in used)
    return [*lines, f"CALL = {{{entries}}}"]


def _loop_lines(program: Program, leaf: str, call: str) -> list[str]:
    """Build a long program with a loop over its repeated blocks: a few lines, whatever its size."""
    lines = [
        "# (block of [op, operands: k nodes back, or ~j for input j, number], times repeated)",
        "SEGMENTS = [",
    ]
    for block, times in segments(program):
        cells = ", ".join(
            f"({op!r}, {args!r}, {format_float(v) if v is not None else None})"
            for op, args, v in block
        )
        lines.append(f"    ([{cells}], {times}),")
    return [
        *lines,
        "]",
        "v = []",
        "for block, times in SEGMENTS:",
        "    for _ in range(times):",
        "        for op, back, number in block:",
        "            if op == 'input':",
        f"                v.append({leaf}(number))",
        "            elif op == 'const':",
        "                v.append(number)",
        "            else:",
        "                n = len(v)",
        f"                v.append({call}(op, *[v[n - k] if k > 0 else v[~k] for k in back]))",
        f"out = v[{program.output}]",
    ]


def _function(
    body: list[str], program: Program, n_params: int, backward: str, value: str, grad: str
) -> list[str]:
    """``def loss_and_grads(P)`` around ``body`` (which binds v0, v1, ...): backward from the
    output, return its value and the gradients of the first ``n_params`` inputs."""
    params = ", ".join(f"v{i}" for i in range(n_params))
    return [
        "def loss_and_grads(P):",
        *(f"    {line}" for line in body),
        f"    out = v{program.output}",
        f"    {backward}",
        f"    grads = [{grad.format('p')} for p in ({params},)]",
        "    # .grad left None: backward() never reached it (torch's convention): a gradient of 0",
        f"    return float({value.format('out')}), [0.0 if g is None else float(g) for g in grads]",
    ]


class Recipe:
    """How a script loads a backend (``setup``), builds a program (``build``, which binds
    ``out``), runs backward (``backward``) and reads node ``i``'s numbers (``value``, ``grad``)."""

    needs_harness: bool = False
    """The script imports this package (else it runs with the target alone)."""

    def setup(self) -> list[str]:
        """Lines that load the backend."""
        raise NotImplementedError

    def build(self, program: Program) -> list[str]:
        """Lines that build ``program`` and bind ``out``."""
        raise NotImplementedError

    def backward(self, passes: int) -> list[str]:
        """Lines that run the backward pass(es) from ``out``."""
        raise NotImplementedError

    def value(self, program: Program, i: int) -> str:
        """An expression for the value of node ``i`` after ``build`` and ``backward``."""
        raise NotImplementedError

    def grad(self, program: Program, i: int) -> str:
        """An expression for the gradient of input ``i`` after ``backward``."""
        raise NotImplementedError

    def loss_function(self, program: Program, n_params: int) -> list[str]:
        """``def loss_and_grads(P)``: the program with inputs ``0..n_params-1`` set from ``P``;
        returns the output's value and those inputs' gradients."""
        raise NotImplementedError


class _PythonRecipe(Recipe):
    """Shared by recipes that drive Python objects directly (no harness in the script)."""

    def __init__(self, target: str, aliases: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.aliases = dict(aliases or {})

    def _straight(self, program: Program) -> bool:
        return len(program.nodes) <= STRAIGHT_LINE_LIMIT

    def _node(self, program: Program, i: int) -> str:
        return f"v{i}" if self._straight(program) else f"v[{i}]"


class ValueClassRecipe(_PythonRecipe):
    """A micrograd-style class: ``TARGET(x)``, its operators and methods, ``.data``, ``.grad``."""

    def setup(self) -> list[str]:
        """Import the class as TARGET."""
        return import_lines(self.target)

    def build(self, program: Program) -> list[str]:
        """Straight-line code in the user's own spelling (a loop for long programs)."""
        if self._straight(program):
            return [*program.to_python("TARGET", aliases=self.aliases), f"out = v{program.output}"]
        return [
            *_call_table(program, self.aliases),
            "",
            "",
            "def _call(name, *args):",
            "    return CALL[name](*args)",
            "",
            *_loop_lines(program, "TARGET", "_call"),
        ]

    def backward(self, passes: int) -> list[str]:
        """``out.backward()``, as often as the program says."""
        call = "out" + spelling("backward", self.aliases)
        return [call] * passes if passes <= 3 else [f"for _ in range({passes}):", f"    {call}"]

    def value(self, program: Program, i: int) -> str:
        """``v3.data``."""
        return self._node(program, i) + spelling("data", self.aliases)

    def grad(self, program: Program, i: int) -> str:
        """``v0.grad``."""
        return self._node(program, i) + spelling("grad", self.aliases)

    def loss_function(self, program: Program, n_params: int) -> list[str]:
        """Straight-line code on TARGET Values with the parameters from P."""
        body = program.to_python("TARGET", inputs="P[{i}]", aliases=self.aliases)
        backward, data, grad = (spelling(name, self.aliases) for name in API_NAMES)
        return _function(body, program, n_params, f"out{backward}", "{}" + data, "{}" + grad)


class AdapterRecipe(_PythonRecipe):
    """An adapter: ``TARGET.leaf(x)``, ``TARGET.apply(op, ...)`` (or the op's operator),
    ``TARGET.backward(out)``, ``TARGET.data(v)``, ``TARGET.grad(v)``."""

    def setup(self) -> list[str]:
        """Import the adapter (instantiating an adapter class) and its call helper."""
        return [
            *import_lines(self.target),
            "if isinstance(TARGET, type):",
            "    TARGET = TARGET()",
        ]

    def _helpers(self, program: Program) -> list[str]:
        return [
            *_call_table(program),
            "",
            "",
            "def call(name, *args):",
            "    apply = getattr(TARGET, 'apply', None)",
            "    result = apply(name, *args) if apply else NotImplemented",
            "    return CALL[name](*args) if result is NotImplemented else result",
            "",
        ]

    def build(self, program: Program) -> list[str]:
        """Code through the adapter (a loop for long programs)."""
        if not self._straight(program):
            return [*self._helpers(program), *_loop_lines(program, "TARGET.leaf", "call")]
        lines = self._helpers(program)
        for i, node in enumerate(program.nodes):
            if node.op == "input":
                lines.append(f"v{i} = TARGET.leaf({format_float(node.value, argument=True)})")
            elif node.op != "const":
                lines.append(self._call_line(program, i))
        return [*lines, f"out = v{program.output}"]

    def backward(self, passes: int) -> list[str]:
        """``TARGET.backward(out)``, as often as the program says."""
        return [f"for _ in range({passes}):", "    TARGET.backward(out)"]

    def value(self, program: Program, i: int) -> str:
        """``TARGET.data(v3)``."""
        return f"TARGET.data({self._node(program, i)})"

    def grad(self, program: Program, i: int) -> str:
        """``TARGET.grad(v0)``."""
        return f"TARGET.grad({self._node(program, i)})"

    def loss_function(self, program: Program, n_params: int) -> list[str]:
        """The program through the adapter with the parameters from P."""
        body = [
            f"v{i} = TARGET.leaf(P[{i}])" if node.op == "input" else self._call_line(program, i)
            for i, node in enumerate(program.nodes)
            if node.op != "const"
        ]
        return [
            *self._helpers(program),
            *_function(
                body,
                program,
                n_params,
                "TARGET.backward(out)",
                "TARGET.data({})",
                "TARGET.grad({})",
            ),
        ]

    @staticmethod
    def _call_line(program: Program, i: int) -> str:
        operands = ", ".join(program.operand_source(j) for j in program.nodes[i].args)
        return f"v{i} = call({program.nodes[i].op!r}, {operands})"


class HarnessRecipe(Recipe):
    """Anything else: ``setup`` lines bind ``backend`` (a harness Backend); the harness runs it."""

    needs_harness = True

    def __init__(self, setup_lines: list[str]) -> None:
        self.setup_lines = setup_lines

    def setup(self) -> list[str]:
        """The given lines that bind ``backend``."""
        return ["from conformance.program import Node, Program", *self.setup_lines]

    def build(self, program: Program) -> list[str]:
        """The program as JSON, run by the backend (backward passes included)."""
        return [f"program = Program.from_json({program.to_json()!r})", "got = backend.run(program)"]

    def backward(self, passes: int) -> list[str]:
        """Nothing: ``backend.run`` ran them."""
        return []

    def value(self, program: Program, i: int) -> str:
        """``got.values[3]``."""
        return f"got.values[{i}]"

    def grad(self, program: Program, i: int) -> str:
        """``got.grads[0]``."""
        return f"got.grads[{i}]"

    def loss_function(self, program: Program, n_params: int) -> list[str]:
        """The program through the backend, with inputs ``0..n_params-1`` replaced from P."""
        return [
            f"PROGRAM = Program.from_json({program.to_json()!r})",
            "",
            "",
            "def loss_and_grads(P):",
            "    nodes = list(PROGRAM.nodes)",
            f"    for i in range({n_params}):",
            "        nodes[i] = Node('input', value=P[i])",
            "    got = backend.run(Program(tuple(nodes), PROGRAM.output))",
            f"    return got.values[PROGRAM.output], [got.grads[i] for i in range({n_params})]",
        ]
