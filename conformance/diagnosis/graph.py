"""Signatures of failures found by the composition checks: when are two failures one bug?

An exception is keyed by its type and the engine function that raised it (a RecursionError in
``visit`` is one bug, whichever program overflowed). A hang is one bug; so is a crash of a driver
process with the same description.

A wrong number needs more care: the ops of a composition all passed alone, so the bug is in how
the engine combines them, and one bug shows in endless programs. So once per run the engine gets
a *battery* of textbook programs, each shape for each op family: the op alone (``a * b``: a
check run without the ops check still composes broken ops), the same Value on both sides
(``a * a``), a leaf used by two ops (``c = a * b; c * a``; ``exp(a) + a`` for a one-operand op,
whose rule must add to the gradient the sum gave its operand), an intermediate result on both sides
and at two depths, a result fed to another op (an upstream gradient that is not 1), the op on an
intermediate result (``exp(a + b)``: an op that records no operand still reaches a leaf, never a
computed operand's own rule), two distinct nodes holding equal values, and backward() called
twice. What fails there names the bugs:

* a shape that fails for every op family is the graph machinery's (accumulation, topological
  order): one bug, ``graph:any-op``;
* a shape that fails for some families only is those families' rules: ``graph:mul``; a family
  that fails alone explains every failing program it is in (a textbook program that needs a
  second op, ``exp(a) * 2``, tells nothing about ``exp`` when that op fails alone);
* the equal-values case failing is nodes compared by value: ``graph:equal-values``;
* two backward passes failing while one passes is torch's accumulation (a semantics difference):
  ``semantics:repeated-backward``.

An op that micrograd builds from others (``a - b`` is ``a + (-b)``, ``a / b`` is
``a * b ** -1``, ``-a`` is ``a * -1``: the table's ``built_as``) has no rule of its own, and
meets the bugs of the ops it is built of in shapes of its own: ``c - c`` holds ``c`` at two
depths where ``c + c`` does not, and ``a / a`` shares ``a`` between ``*`` and ``**``. Where the
engine gets every failing textbook program of such a family exactly as wrong as the same program
built that way (the same numbers, or for an engine whose results vary, failing too), the family
is built so: programs using it are classified as built, and name the machinery or the ops it is
built of. One that fails a program differently from its build (``a - b`` alone) has a rule of
its own, and its name.

Each textbook program that passes runs again (``BATTERY_RUNS``; the engine only, against the
same oracle numbers) and counts as failing if any run failed: an engine that iterates a set of
Values (``_prev = set(children)``, whose order follows memory addresses) may fail a program in one
run and pass it in the next, and one family's lucky run must not make a machinery bug look like
the other families' own.

A failing program, shrunk or not, gets the signature of the battery result it shows (its shapes
and families); only a failure the battery does not explain falls back to its own shrunk shape and
families, which is what keeps the search going: a fresh failure that the battery explains as a
known bug is counted, not shrunk again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from conformance.checks.base import Outcome
from conformance.diagnosis.problems import Signature
from conformance.diagnosis.variation import until_it_fails
from conformance.ops import OPS, Op, Variant, family
from conformance.oracles.table import TableOracle
from conformance.program import Node, Program

__all__ = [
    "EQUAL_VALUES",
    "EQUAL_VALUES_WORDS",
    "Battery",
    "as_built",
    "error_signature",
    "exception_name",
    "features",
    "holds_equal_values",
    "in_words",
    "op_alone",
    "quantity_of",
    "run_battery",
    "shape_of",
    "signature_of",
]

Evaluate = Callable[[Program], Outcome]

A, B = 0.75, 1.25
"""The battery's operands: ordinary, unequal, off every kink."""


def quantity_of(outcome: Outcome) -> str:
    """``value`` if some value is wrong, else ``grad``."""
    kinds = {m.kind for m in outcome.verdict.mismatches}
    return "value" if "value" in kinds else "grad"


def features(program: Program) -> set[tuple[str, str]]:
    """The shapes graph bugs depend on, each with the op family that meets it: the op with the
    same Value on both sides, the ops that consume a shared Value, the op whose result feeds
    another op (so its upstream gradient is not 1), the op whose operand is a result."""
    nodes = program.nodes
    consumers: dict[int, list[int]] = {}
    found: set[tuple[str, str]] = set()
    for k, node in enumerate(nodes):
        if node.op in ("input", "const"):
            continue
        f = family(node.op)
        if len(node.args) == 2 and node.args[0] == node.args[1]:
            found.add(("same-operand", f))
        for j in node.args:
            consumers.setdefault(j, []).append(k)
            if nodes[j].op not in ("input", "const"):
                found.add(("upstream", family(nodes[j].op)))
                found.add(("on-result", f))
    for j, users in consumers.items():
        if len(users) < 2:
            continue
        shape = "shared-leaf" if nodes[j].op == "input" else "shared-node"
        found |= {(shape, family(nodes[k].op)) for k in users}
        if shape == "shared-node":
            found |= {("shared-node-twice", family(nodes[k].op)) for k in users}
    if program.backward_passes > 1:
        found |= {("repeated-backward", f) for f in _families(program)}
    return found


def shape_of(program: Program) -> set[str]:
    """The shapes of ``program`` that graph bugs depend on (the battery's names)."""
    twice = {"repeated-backward"} if program.backward_passes > 1 else set()
    return {shape for shape, _ in features(program)} | twice  # (a leaf alone has no family)


def holds_equal_values(program: Program) -> bool:
    """Whether two distinct nodes of ``program`` hold the same number (torch's)."""
    return _equal_values(program, None)


def _equal_values(program: Program, values: dict[int, float] | None) -> bool:
    """Whether two distinct nodes (inputs, constants, results) hold the same number."""
    if values is None:
        values = dict(enumerate(TableOracle().evaluate(program)[0]))
    numbers = [
        float(values.get(i, n.value if n.value is not None else math.nan))
        for i, n in enumerate(program.nodes)
    ]
    known = [x for x in numbers if not math.isnan(x)]
    return len(known) != len(set(known))


def _families(program: Program) -> set[str]:
    return {family(n.op) for n in program.nodes if n.op not in ("input", "const")}


def as_built(program: Program, families: Iterable[str] | None = None) -> Program:
    """``program`` with each op that the table says micrograd builds from others (``built_as``:
    ``a - b`` as ``a + (-b)``, ``-a`` as ``a * -1``) replaced by the nodes it builds, and those
    in turn; only ops of ``families`` if given. A number operand becomes a leaf of its own, as
    micrograd lifts it (``Value(2.0)``)."""
    only = None if families is None else set(families)
    while True:
        built = _build_once(program, only)
        if built is None:
            return program
        program = built


def _build_once(program: Program, only: set[str] | None) -> Program | None:
    """One round of ``as_built``: None where no op of ``program`` is to be built."""
    nodes: list[Node] = []
    moved: list[int] = []  # where each node of ``program`` went
    changed = False
    for node in program.nodes:
        args = tuple(moved[j] for j in node.args)
        row = OPS.get(node.op)  # None for an input or a constant
        asked = row is not None and (only is None or family(node.op) in only)
        recipe = row.built_as if row is not None and asked else ()
        if not recipe:
            nodes.append(Node(node.op, args, node.value))
            moved.append(len(nodes) - 1)
            continue
        changed = True
        lifted = []
        for j in args:
            if nodes[j].op == "const":
                nodes.append(Node("input", value=nodes[j].value))
                j = len(nodes) - 1
            lifted.append(j)
        operands = dict(zip("ab", lifted, strict=False))
        built: list[int] = []
        for op, recipe_args in recipe:
            indices = []
            for x in recipe_args:
                if isinstance(x, str):
                    indices.append(operands[x])
                elif isinstance(x, int):
                    indices.append(built[x])
                else:
                    nodes.append(Node("const", value=x))
                    indices.append(len(nodes) - 1)
            nodes.append(Node(op, tuple(indices)))
            built.append(len(nodes) - 1)
        moved.append(built[-1])
    if not changed:
        return None
    return Program(tuple(nodes), moved[program.output], program.backward_passes)


def built_in_words(name: str) -> str:
    """How micrograd builds op ``name`` from others, as Python: ``a + (-b)`` for ``a - b``."""
    words: list[str] = []
    for op, recipe_args in OPS[name].built_as:
        operands = [
            x if isinstance(x, str) else f"({words[x]})" if isinstance(x, int) else repr(x)
            for x in recipe_args
        ]
        source = OPS[op].source.replace("{out} = ", "", 1)
        words.append(source.format(a=operands[0], b=operands[1] if len(operands) > 1 else ""))
    return words[-1] if words else ""


# --- the battery -------------------------------------------------------------------------------


def _pick(usable: set[Variant], form: str, fact: Callable[[Op], bool]) -> str | None:
    """A plain (not in-place) op with ``form`` and the row fact (the table decides, not names)."""
    return next(
        (n for n, op in OPS.items() if not op.inplace and fact(op) and (n, form) in usable), None
    )


def _scale(usable: set[Variant], form: str) -> str | None:
    """The product: the op whose operands' errors multiply (``a * b``)."""
    return _pick(usable, form, lambda op: op.bilinear)


def product_op(usable: Iterable[Variant], form: str) -> str | None:
    """The product op with ``form`` among ``usable`` (``mul``), by the table's facts."""
    return _scale(set(usable), form)


def _shift(usable: set[Variant], form: str) -> str | None:
    """The sum: a binary op linear in its operands that takes numbers on either side."""
    return _pick(usable, form, lambda op: op.linear and op.arity == 2 and op.either_side)


def _textbook(
    name: str, shape: str, usable: set[Variant], *, equal_values: bool = False
) -> Program | None:
    """The textbook program of ``shape`` for op ``name`` (None where its forms are missing)."""
    a, b = Node("input", value=A), Node("input", value=B)
    if shape == "alone":
        if OPS[name].arity == 1:
            return Program((a, Node(name, (0,))), 1)
        return Program((a, b, Node(name, (0, 1))), 2) if (name, "vv") in usable else None
    if OPS[name].arity == 1:
        return _unary_textbook(name, shape, usable, equal_values=equal_values)
    if (name, "vv") not in usable:
        # `a ** 2` where `a ** b` is refused: a one-operand op of a, as far as the graph goes.
        if (name, "vc") not in usable or shape not in _UNARY_SHAPES:
            return None
        return _unary_textbook(name, shape, usable, equal_values=equal_values, constant=B)
    programs: dict[str, tuple[tuple[Node, ...], int]] = {
        "same-operand": ((a, Node(name, (0, 0))), 1),
        "shared-leaf": ((a, b, Node(name, (0, 1)), Node(name, (2, 0))), 3),
        "shared-node": ((a, b, Node(name, (0, 1)), Node(name, (2, 2))), 3),
        # c at depths 1 and 3 of the output: c, x = c f a, d = x f b, e = d f c
        "shared-node-twice": (
            (
                a,
                b,
                Node(name, (0, 1)),
                Node(name, (2, 0)),
                Node(name, (3, 1)),
                Node(name, (4, 2)),
            ),
            5,
        ),
        "upstream": ((a, b, Node(name, (0, 1)), Node(name, (2, 1))), 3),
        "repeated-backward": ((a, b, Node(name, (0, 1)), Node(name, (2, 1))), 3),
    }
    if shape == "on-result":
        return _on_result(name, usable, "vv")
    if shape not in programs:
        return None
    nodes, output = programs[shape]
    return Program(nodes, output, 2 if shape == "repeated-backward" else 1)


_UNARY_SHAPES = ("upstream", "shared-leaf", "on-result", "repeated-backward")


def _textbooks(
    name: str, shape: str, usable: set[Variant], *, equal_values: bool = False
) -> list[Program]:
    """The textbook programs of ``shape`` for op ``name``: ``_textbook``'s; for an intermediate
    result at two depths, also with the top op's operands swapped; and for an op that takes
    Values on both sides but whose number form micrograd does not lift to a Value (not
    ``either_side``: ``a ** 2`` is its own code, ``a ** b`` another), also the one-operand
    program of its number form, ``a ** 1.25``."""
    first = _textbook(name, shape, usable, equal_values=equal_values)
    programs = [first] if first is not None else []
    if shape == "shared-node-twice" and first is not None:
        # e = d f c, and e = c f d: an order that follows the operands (a pre-order list, say)
        # runs c before x = c f a has sent it everything through one side only.
        *head, top = first.nodes
        programs.append(Program((*head, Node(top.op, top.args[::-1])), first.output))
    op = OPS[name]
    number_form = op.arity == 2 and not op.either_side and shape in _UNARY_SHAPES
    if number_form and (name, "vv") in usable and (name, "vc") in usable:
        other = _unary_textbook(name, shape, usable, equal_values=equal_values, constant=B)
        programs += [other] if other is not None else []
    return programs


def _on_result(name: str, usable: set[Variant], form: str) -> Program | None:
    """The op on sums: ``f(a + b)``, ``(a + b) f constant``, ``(a + b) f (c + d)`` (``form``
    v, vc, vv): a sum's own rule runs only if the op records it. Four leaves, no node used twice
    and no two equal numbers, so that only this shape is in it."""
    shift = _shift(usable, "vv")
    if shift is None:
        return None
    nodes = [Node("input", value=A), Node("input", value=B), Node(shift, (0, 1))]
    if form == "vc":
        nodes.append(Node("const", value=B))
    elif form == "vv":
        nodes += [Node("input", value=0.375), Node("input", value=0.125), Node(shift, (3, 4))]
    return Program((*nodes, Node(name, (2, len(nodes) - 1)[: len(form)])), len(nodes))


def _unary_textbook(
    name: str,
    shape: str,
    usable: set[Variant],
    *,
    equal_values: bool = False,
    constant: float | None = None,
) -> Program | None:
    """A one-operand op's textbook program: ``f(a) * 2`` (upstream); ``f(a) + a`` (shared-leaf)
    and ``f(a)`` with backward() twice (repeated-backward), where the rule must add to a gradient
    already there, as ``self.grad = ...`` does not. ``equal_values``: the engine keeps equal
    numbers apart, so ``f(a)`` may equal ``a``. With a ``constant``, ``f(a)`` is the binary op
    ``a <name> constant``."""
    head: tuple[Node, ...] = (
        (Node(name, (0,)),)
        if constant is None
        else (Node("const", value=constant), Node(name, (0, 1)))
    )
    f = len(head)  # the index of f(a)
    if shape == "on-result":
        return _on_result(name, usable, "v" if constant is None else "vc")
    if shape == "upstream":
        scale = _scale(usable, "vc")
        if scale is None:
            return None
        a = Node("input", value=A)
        return Program((a, *head, Node("const", value=2.0), Node(scale, (f, f + 1))), f + 2)
    shift = _shift(usable, "vv")
    if shape == "repeated-backward":
        tail: tuple[Node, ...] = ()
    elif shape == "shared-leaf" and shift is not None:
        tail = (Node(shift, (f, 0)),)
    else:
        return None
    passes = 2 if shape == "repeated-backward" else 1
    # At -A where f(A) is A (abs): equal values would make it the equal-values shape too. relu
    # passes a gradient only where relu(a) is a, so it has one only where that shape is ruled out.
    fallback = None
    for x in (A, -A):
        program = Program((Node("input", value=x), *head, *tail), f + len(tail), passes)
        values = TableOracle().evaluate(program)[0]
        if not all(math.isfinite(v) for v in values) or _blocks_gradient(head, x):
            continue
        if not _equal_values(program, dict(enumerate(values))):
            return program
        fallback = fallback or (program if equal_values else None)
    return fallback


BATTERY_SHAPES = (
    "alone",  # first: a family that fails alone makes the others' programs that use it moot
    "same-operand",
    "shared-leaf",
    "shared-node",
    "shared-node-twice",
    "upstream",
    "on-result",
    "repeated-backward",
)


@dataclass
class Battery:
    """What the textbook programs showed about the engine's graph machinery."""

    failing: dict[str, set[str]] = field(default_factory=dict)
    """Per op family, the shapes whose textbook program failed."""
    agnostic: set[str] = field(default_factory=set)
    """Shapes that failed for every family tried (at least two, leaving out the degenerate
    ones whose gradients are all 0, like ``c - c``): the machinery's, not an op's."""
    one_operand: set[str] = field(default_factory=set)
    """Families whose textbook programs have one input (``exp(a) + a``, ``a ** 2 + a``): an
    accumulation bug there shows wherever their operand is shared, leaf or not."""
    merges_equal: bool = False
    """The engine fails ``(a * 3) * (a + 4)`` at a = 2 and not ``(a * 3) * (a + 5)``."""
    varies: bool = False
    """Some program failed in one run and passed in another (see the module docstring): a
    passing run then proves less, and shrinking runs a candidate more than once."""
    built: set[str] = field(default_factory=set)
    """Families the engine builds from other ops as micrograd does (``a - b`` as ``a + (-b)``):
    each failing textbook program of theirs failed as that program built so did."""
    alone_at: dict[str, Program] = field(default_factory=dict)
    """Per op family found failing on its own, the one-op program that showed it (the battery's,
    or a failing program's node tried alone at the operands it met there)."""

    def learn_alone(self, name: str, witness: Program) -> None:
        """Record that op family ``name`` fails on its own, as the one-op ``witness`` shows."""
        self.failing.setdefault(name, set()).add("alone")
        self.alone_at.setdefault(name, witness)

    def classify(self, program: Program, values: dict[int, float] | None) -> list[Signature]:
        """The signatures a failing ``program`` may have by the battery, likeliest first (an
        op family's own bug before the machinery's); empty where it explains nothing."""
        if self.merges_equal and (
            _equal_values(program, values) or holds_equal_values(self._as_micrograd(program))
        ):
            return [EQUAL_VALUES]
        built = as_built(program, self.built) if self.built else program
        met = features(built)
        shapes = shape_of(built)
        if "repeated-backward" in shapes and "repeated-backward" in self.agnostic:
            return [Signature("semantics", ("repeated-backward",))]
        alone = self.fails_alone()
        families = _families(program) | _families(built)
        specific = sorted(
            families & alone
            | {
                f
                for shape, f in met
                if _fails(shape, self.failing.get(f, set()) - self.agnostic, f in self.one_operand)
            }
        )
        found = [Signature("graph", (f,)) for f in specific]
        if (self.agnostic - {"repeated-backward"}) & (shapes | {"alone"}):
            found.append(Signature("graph", ("any-op",)))
        return found

    def _as_micrograd(self, program: Program) -> Program:
        """``program`` with the ops micrograd builds of others built so, but those that fail
        alone (a rule of their own): for an engine that merges equal numbers, whose probes
        cannot always show a build (two leaves merged, ``t * Value(-1)``, change nothing),
        equal numbers there are the likeliest cause, the merging being proven."""
        alone = self.fails_alone()
        return as_built(program, {n for n, op in OPS.items() if op.built_as} - alone)

    def fails_alone(self) -> set[str]:
        """The op families whose textbook program fails with nothing else around the op (and
        not every family alike, which is the machinery's): their own rules are wrong."""
        if "alone" in self.agnostic:
            return set()
        return {f for f, shapes in self.failing.items() if "alone" in shapes}


def _fails(shape: str, failing: set[str], one_operand: bool) -> bool:
    """Whether an op family is known to fail programs of ``shape``: the shape's textbook program
    failed, or for a family tried as a one-operand op (``one_operand``) a shared operand of any
    kind (its battery tries a shared leaf only: a rule that assigns its operand's gradient does
    so to a node as well)."""
    shared = ("shared-node", "shared-node-twice")
    return shape in failing or (one_operand and shape in shared and "shared-leaf" in failing)


BATTERY_RUNS = 4
"""Runs of each textbook program that passed its first run (see the module docstring)."""

VARYING_RUNS = 24
"""Runs of each textbook program that passed, once some program failed in one run and passed in
another: one the engine fails in one run of two is then missed once in 16 million."""

BATTERY_MAX_HANGS = 2
"""The battery stops after this many textbook programs hang: each waits out the timeout, and
the checks report the hang itself."""


def run_battery(
    evaluate: Evaluate,
    supported: Iterable[Variant],
    *,
    deadline: float = math.inf,
    again: Callable[[Outcome], Outcome] | None = None,
) -> Battery:
    """Run the textbook programs on the engine (see the module docstring), until ``deadline``
    (``time.perf_counter()``): what is left untried explains nothing. A program that passes
    runs again with ``again``, up to ``BATTERY_RUNS`` runs in all (``VARYING_RUNS`` once some
    program failed in one run and passed in another), until one fails."""
    usable = set(supported)
    battery = Battery()
    tried: dict[str, set[str]] = {}
    failed_at: dict[tuple[str, str], Outcome] = {}
    passed: list[tuple[str, str, Outcome]] = []
    hangs = 0
    families = sorted({family(n) for n, _ in usable})
    # First: whether a textbook program may hold equal numbers without being about them.
    in_time = time.perf_counter() <= deadline
    battery.merges_equal = in_time and _merges_equal(evaluate, usable, again)
    equal_values = in_time and not battery.merges_equal
    for shape in BATTERY_SHAPES:
        for name in families:
            for program in _textbooks(name, shape, usable, equal_values=equal_values):
                if hangs >= BATTERY_MAX_HANGS or time.perf_counter() > deadline:
                    continue
                if (_families(program) - {name}) & battery.fails_alone():
                    continue  # exp(a) * 2 with a broken product says nothing about exp
                outcome = evaluate(program)
                hangs += outcome.verdict.error_kind == "timeout"
                if again is not None and outcome.verdict.status == "pass":
                    outcome = until_it_fails(outcome, again, BATTERY_RUNS - 1)
                    battery.varies |= outcome.failed
                    if not outcome.failed:
                        passed.append((shape, name, outcome))
                expected = outcome.expected
                if outcome.verdict.status == "unchecked" or expected is None:
                    continue
                if outcome.failed:
                    failed_at[name, shape] = outcome
                if outcome.failed and shape == "alone":
                    battery.learn_alone(name, program)
                elif outcome.failed:
                    battery.failing.setdefault(name, set()).add(shape)
                elif _degenerate(program):
                    continue  # c - c: its gradient is 0 whatever the machinery does
                if program.inputs == [0] and shape != "alone":
                    battery.one_operand.add(name)
                    if shape == "repeated-backward":
                        # f(a) twice has no interior node: micrograd's backward(), which keeps the
                        # gradients of interior nodes from one pass to the next, passes it and fails
                        # (a * b) * b twice. Only the two-operand programs say what the passes do.
                        continue
                tried.setdefault(shape, set()).add(name)
    if battery.varies and again is not None:
        # An engine seen failing in some runs only: what passed a few runs may fail the next.
        for shape, name, outcome in passed:
            if time.perf_counter() > deadline or outcome.program is None:
                break
            program = outcome.program
            outcome = until_it_fails(outcome, again, VARYING_RUNS - BATTERY_RUNS)
            if not outcome.failed:
                continue
            failed_at[name, shape] = outcome
            if shape == "alone":
                battery.learn_alone(name, program)
            else:
                battery.failing.setdefault(name, set()).add(shape)
    for shape, names in tried.items():
        if len(names) >= 2 and all(shape in battery.failing.get(n, set()) for n in names):
            battery.agnostic.add(shape)
    for name, shapes in sorted(battery.failing.items()):
        own = [failed_at.get((name, shape)) for shape in sorted(shapes - battery.agnostic)]
        if not OPS[name].built_as or not own or time.perf_counter() > deadline:
            continue
        if all(o and _fails_as_built(name, o, evaluate, again, battery.varies) for o in own):
            battery.built.add(name)
    for name in families if battery.merges_equal else ():
        if name in battery.built or time.perf_counter() > deadline:
            continue
        if _built_where_equal(name, usable, evaluate, again, battery.varies):
            battery.built.add(name)
    return battery


_EQUAL_PROBES = (0.5, 2.0, -0.5, -2.0, 0.75, -0.75, -1.5)
"""Operands among which an op built of others holds two equal numbers: ``a + (-b)`` at
b = -a, ``a * b ** -1`` at b = 1 / a, ``t * -1`` at t = 0.5 + -1.5."""


def _built_where_equal(
    name: str,
    usable: set[Variant],
    evaluate: Evaluate,
    again: Callable[[Outcome], Outcome] | None,
    varies: bool,
) -> bool:
    """For an engine that merges nodes holding equal numbers, whether it builds op ``name`` as
    micrograd does: it fails the op alone (a one-operand op on a sum) where the op built so
    holds two equal numbers (``a - b`` at b = -a: ``-b`` is ``a``), as it fails that program
    built so. Its textbook programs, kept free of equal numbers, cannot tell."""
    op, shift = OPS[name], _shift(usable, "vv")
    if not op.built_as or (name, "vv" if op.arity == 2 else "v") not in usable:
        return False
    if op.arity == 1 and shift is None:
        return False
    for a in _EQUAL_PROBES:
        for b in _EQUAL_PROBES:
            nodes: tuple[Node, ...] = (Node("input", value=a), Node("input", value=b))
            if op.arity == 2:
                nodes += (Node(name, (0, 1)),)
            elif shift is not None:  # on a sum: two leaves merged are harmless, a lost rule not
                nodes += (Node(shift, (0, 1)), Node(name, (2,)))
            alone = Program(nodes, len(nodes) - 1)
            if holds_equal_values(alone) or not holds_equal_values(as_built(alone, {name})):
                continue
            outcome = evaluate(alone)
            return outcome.failed and _fails_as_built(name, outcome, evaluate, again, varies)
    return False


def _fails_as_built(
    name: str,
    failed: Outcome,
    evaluate: Evaluate,
    again: Callable[[Outcome], Outcome] | None,
    varies: bool,
) -> bool:
    """Whether the engine gets ``failed``'s program, with op ``name`` built as micrograd builds
    it, as wrong: with the same numbers (the same exception), or for an engine whose results
    vary from run to run (``varies``), failing in one of ``VARYING_RUNS`` runs. Only ``name``
    is built: ``a - b`` as ``a + (-b)`` where ``-b`` may have a rule of its own."""
    if failed.program is None:
        return False
    built = evaluate(as_built(failed.program, {name}))
    if varies and not built.failed and again is not None:
        built = until_it_fails(built, again, VARYING_RUNS - 1)
    if not built.failed:
        return False
    if failed.verdict.error is not None or built.verdict.error is not None:
        return (failed.verdict.error_type, failed.verdict.error_where) == (
            built.verdict.error_type,
            built.verdict.error_where,
        )
    return varies or _numbers(failed) == _numbers(built)


def _numbers(outcome: Outcome) -> list[str] | None:
    """The output's value and the inputs' gradients in input order (what a build keeps), as
    text (so that nan is nan)."""
    program, got = outcome.program, outcome.got
    if program is None or got is None:
        return None
    numbers = [got.values.get(program.output, math.nan)]
    numbers += [got.grads.get(i, math.nan) for i in program.inputs]
    return [repr(x) for x in numbers]


def _blocks_gradient(head: tuple[Node, ...], x: float) -> bool:
    """Whether ``f(a)``, the nodes ``head`` after the input a, passes no gradient back to a at
    ``x`` (relu below 0)."""
    program = Program((Node("input", value=x), *head), len(head))
    adjoint = TableOracle().evaluate(program)[1]
    return adjoint[0] == 0.0


def _degenerate(program: Program) -> bool:
    """Whether the textbook's first result gets no gradient (``c - c``, ``c / c``): then the
    machinery can mishandle it without a trace."""
    _, adjoint = TableOracle().evaluate(program)
    node = 2 if len(program.nodes) > 2 else 1
    return adjoint[node] == 0.0 or all(adjoint[i] == 0.0 for i in program.inputs)


def _merges_equal(
    evaluate: Evaluate, usable: set[Variant], again: Callable[[Outcome], Outcome] | None
) -> bool:
    """Whether the engine fails ``(a * 3) * (a + 4)`` at a = 2 and passes ``(a * 3) * (a + 5)``:
    in every run (``again``), since an engine that fails in some runs only would pass the one
    and fail the other by chance."""
    scale, scale_vv, shift = _scale(usable, "vc"), _scale(usable, "vv"), _shift(usable, "vc")
    if scale is None or scale_vv is None or shift is None:
        return False

    def program(c: float) -> Program:
        nodes = (
            Node("input", value=2.0),
            Node("const", value=3.0),
            Node(scale, (0, 1)),
            Node("const", value=c),
            Node(shift, (0, 3)),
            Node(scale_vv, (2, 4)),
        )
        return Program(nodes, 5)

    if not evaluate(program(4.0)).failed:
        return False
    unequal = evaluate(program(5.0))
    if unequal.failed:
        return False
    return again is None or not until_it_fails(unequal, again, VARYING_RUNS - 1).failed


# --- signatures --------------------------------------------------------------------------------


def signature_of(
    outcome: Outcome, battery: Battery, *, check: str, known: Callable[[Signature], bool]
) -> Signature:
    """The signature of a failure (see the module docstring); of the battery's candidates, the
    first one ``known`` already, else the first."""
    verdict = outcome.verdict
    if verdict.error is not None:
        return error_signature(outcome)
    program = outcome.program
    if program is None:
        return Signature("wrong", (check,))
    values = outcome.expected.values if outcome.expected is not None else None
    candidates = battery.classify(program, values)
    if candidates:
        return next((s for s in candidates if known(s)), candidates[0])
    kind = "semantics" if verdict.severity == "semantics" else "graph"
    shape = sorted(shape_of(program) - {"upstream", "shared-node-twice"})
    return Signature(
        kind,
        (
            quantity_of(outcome),
            "+".join(sorted(_families(program))),
            "+".join(shape) or "plain",
        ),
    )


def error_signature(outcome: Outcome) -> Signature:
    """The signature of a failure where the backend raised, hung or crashed."""
    verdict = outcome.verdict
    # Dying or hanging while a program is released (after its answer) is a bug of its own.
    release = ("release",) if verdict.error_phase == "release" else ()
    if verdict.error_kind == "timeout":
        return Signature("hang", release)
    if verdict.error_kind == "protocol":
        # An op that answered no Value names itself; the other answers are the process's.
        return Signature("protocol", (verdict.error_where,) if verdict.error_where else ())
    error = verdict.error or ""
    exception = verdict.error_type or exception_name(error)
    if exception:
        return Signature("raises", (exception, verdict.error_where))
    return Signature("crash", (*release, _gist(error)))


def exception_name(error: str) -> str:
    """``ValueError`` in "ValueError: math domain error" (or in a driver's error message)."""
    head = error.split(":", 1)[0].strip().split()[-1:] if ":" in error else []
    name = head[0] if head else ""
    return name if name.isidentifier() and name[:1].isupper() else ""


def _gist(error: str) -> str:
    """A crash's description without its numbers and its stderr: what kind of death it was."""
    first = error.splitlines()[0] if error else "crashed"
    words = [w for w in first.replace(";", " ").split() if not any(c.isdigit() for c in w)]
    return " ".join(words[:8])


SHAPES = {
    "alone": "nothing else (the op on its own)",
    "same-operand": "the same Value on both sides (a * a)",
    "shared-leaf": "a leaf used by two ops",
    "shared-node": "an intermediate result on both sides of an op",
    "shared-node-twice": "an intermediate result used at two depths",
    "upstream": "a result fed to another op (an upstream gradient other than 1)",
    "on-result": "an intermediate result as its operand",
    "repeated-backward": "backward() called twice",
}
"""The battery's shapes, in words."""


def _alone_example(name: str, battery: Battery) -> str:
    """The program of op ``name`` on its own that failed, in words."""
    if name in battery.alone_at:
        return in_words(battery.alone_at[name])
    return f"{name} alone"


def op_alone(
    program: Program,
    index: int,
    values: dict[int, float],
    *,
    same_value: bool = False,
    nonfinite: bool = False,
) -> Program | None:
    """Node ``index`` of ``program`` on its own, at the operands it met there: an input where it
    met a Value, a constant where it met a number. None where an operand is unknown or (unless
    ``nonfinite``: the ops check tries inf and nan too) not finite, or where two Value operands
    are equal (that would test the engine's nodes, not the op; a Value and a number may be
    equal). With ``same_value``, for an engine known to keep equal numbers apart, two equal
    Values are allowed, and a node with the same Value on both sides is tried so (``v / v``):
    what it met, not its op's rule on its own."""
    node = program.nodes[index]
    if same_value and len(node.args) == 2 and node.args[0] == node.args[1]:
        source = program.nodes[node.args[0]]
        x = source.value if source.op == "input" else values.get(node.args[0])
        if x is None or not (nonfinite or math.isfinite(x)):
            return None
        return Program((Node("input", value=float(x)), Node(node.op, (0, 0))), 1)
    leaves: list[Node] = []
    for j in node.args:
        source = program.nodes[j]
        x = source.value if source.op in ("input", "const") else values.get(j)
        if x is None or not (nonfinite or math.isfinite(x)):
            return None
        leaves.append(Node("const" if source.op == "const" else "input", value=float(x)))
    if len(leaves) == 2 and leaves[0] == leaves[1] and not same_value:  # not `0 ** 0.0`
        return None
    return Program((*leaves, Node(node.op, tuple(range(len(leaves))))), len(leaves))


def in_words(program: Program) -> str:
    """A one-op program as Python: ``Value(-0.5).relu()``, ``2.0 ** Value(0.5)``."""
    *leaves, node = program.nodes
    args = [f"Value({leaf.value!r})" if leaf.op == "input" else repr(leaf.value) for leaf in leaves]
    a, b = args[0], args[1] if len(args) > 1 else ""
    source = OPS[node.op].source.replace("{out} = ", "", 1)
    if "{out}" in source:  # an augmented assignment: t = a; t *= b
        return f"t = {a}; " + source.split("\n", 1)[1].replace("{out}", "t").format(b=b)
    return source.format(a=a, b=b)


def _built_note(outcome: Outcome, battery: Battery) -> str:
    """Where the witness uses ops the engine builds from others: which, and how."""
    used = _families(outcome.program) & battery.built if outcome.program is not None else set()
    builds = [f"{OPS[f].description} as {built_in_words(f)}" for f in OPS if f in used]
    if not builds:
        return ""
    return f"; the engine builds {' and '.join(builds)}, as micrograd does"


EQUAL_VALUES = Signature("graph", ("equal-values",))
"""The signature of an engine that merges distinct nodes holding equal numbers."""

EQUAL_VALUES_WORDS = (
    "gradients wrong where two distinct nodes hold equal values: nodes are compared (or hashed) "
    "by value, so one stands for the other"
)


def _shapes(names: Iterable[str]) -> str:
    ordered = [SHAPES[s] for s in SHAPES if s in set(names)]
    return " or ".join(ordered) if ordered else "a composition"


def describe(signature: Signature, outcome: Outcome, battery: Battery) -> str:
    """The one-line diagnosis of a composition problem."""
    verdict = outcome.verdict
    kind, key = signature.kind, signature.key
    if kind == "raises":
        where = f" in {key[1]}()" if key[1] else ""
        first = (verdict.error or "").splitlines()[0][:160]
        return f"raises {key[0]}{where}: {first}"
    if kind == "hang":
        return f"hangs: {(verdict.error or '').splitlines()[0][:160]}"
    if kind in ("crash", "protocol"):
        return (verdict.error or kind).splitlines()[0][:200]
    if key == ("equal-values",):
        return EQUAL_VALUES_WORDS + _built_note(outcome, battery)
    if key == ("repeated-backward",):
        return (
            "backward() twice does not accumulate into the leaves as torch does "
            "(retain_graph=True: each pass adds its gradient once)"
        )
    if key == ("any-op",):
        return (
            "gradients wrong whatever the ops, in programs with "
            f"{_shapes(battery.agnostic - {'repeated-backward'})}: the graph machinery "
            f"(accumulation or topological order){_built_note(outcome, battery)}"
        )
    if kind == "graph" and len(key) >= 1 and all(k in OPS for k in key):
        shapes = set().union(*(battery.failing.get(f, set()) for f in key))
        if set(key) & battery.fails_alone():
            # (A run without the ops check: its composition checks meet the broken op itself.)
            return (
                f"{' and '.join(key)}: {quantity_of(outcome).replace('grad', 'gradient')} wrong "
                f"even with the op on its own ({_alone_example(key[0], battery)}), so in every "
                "program using it: its own rule (`--check ops` says where it fails)"
            )
        return (
            f"{' and '.join(key)}: gradient wrong in programs with {_shapes(shapes)}"
            f"{_built_note(outcome, battery)}"
        )
    quantity = "a value" if key[0] == "value" else "a gradient"
    ops = key[1].replace("+", ", ") or "no op (a leaf on its own)"
    text = f"{quantity} wrong with {ops}"
    if key[2] != "plain":
        text += f", in programs with {_shapes(key[2].split('+'))}"
    if kind == "semantics" and "repeated-backward" in key[2].split("+"):
        text += " (a convention: torch's retain_graph=True)"
    elif kind == "semantics":
        text += " (only where torch gives inf or nan)"
    return text
