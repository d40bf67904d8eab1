"""Hypothesis strategies for programs, built node by node from earlier nodes.

Programs are valid by construction: the float64 value of every node is computed while it is
drawn, and an op is only offered on operands inside its checkable domain (``log`` on a positive
value, ``/`` on a nonzero denominator, ``**`` where the result and its partials are finite...), so
there is no ``assume`` and no filtering. Choices shrink towards simple programs: unary ops, the
most recent node, special values (0, 1, -1, 2, ...).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from conformance.ops import FORMS, OPS, Op, Variant, all_variants, py_value, variant_is_valid
from conformance.program import Node, Program

__all__ = [
    "LARGE_VALUES",
    "SPECIAL_VALUES",
    "ProgramBatch",
    "deep_chain",
    "deep_programs",
    "normalize_variants",
    "program_batches",
    "programs",
]

SPECIAL_VALUES = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 10.0)
"""Exact values that break sloppy engines (0, +-1) and make exact results likely."""

LARGE_VALUES = (20.0, -20.0, 50.0, -50.0, 400.0, -400.0, 1000.0, -1000.0, 1e5, -1e5, 1e10, -1e10)
"""Large magnitudes: tanh(400), sigmoid(-1000), exp(-400) must stay finite on a correct engine."""

_FINITE = st.floats(-8.0, 8.0, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def normalize_variants(
    ops: Iterable[str | Sequence[str]] | None, *, argument: str = "ops"
) -> list[Variant]:
    """Turn op names and (name, form) pairs into a list of variants, in table order.

    A bare name means every form of that op. Raises InvalidArgument naming a bad entry.
    """
    if ops is None:
        return all_variants()
    if isinstance(ops, str):
        raise InvalidArgument(f"{argument}={ops!r} must be a collection of op names, not a string")
    wanted: set[Variant] = set()
    for entry in ops:
        if isinstance(entry, str):
            if entry not in OPS:
                raise InvalidArgument(
                    f"{argument} contains unknown op {entry!r}; expected names from {list(OPS)}"
                )
            wanted.update(OPS[entry].variants())
            continue
        try:
            name, form = entry
        except (TypeError, ValueError):
            raise InvalidArgument(
                f"{argument} entry {entry!r} is neither an op name nor an (op, form) pair"
            ) from None
        if name not in OPS or form not in OPS[name].forms:
            raise InvalidArgument(
                f"{argument} entry {entry!r} is not a known (op, form) pair; "
                f"forms of {name!r}: {OPS[name].forms if name in OPS else 'unknown op'}"
            )
        wanted.add((name, form))
    return [v for v in all_variants() if v in wanted]


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be an integer >= {minimum}")
    return value


def _check_probability(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InvalidArgument(f"{name}={value!r} must be a probability between 0 and 1")
    return float(value)


def programs(
    *,
    ops: Iterable[str | Sequence[str]] | None = None,
    min_inputs: int = 1,
    max_inputs: int = 4,
    max_nodes: int = 24,
    constants: float = 0.35,
    reuse: float = 0.2,
    kinks: bool = False,
    nonfinite: bool = False,
    combine: int = 4,
    backward_passes: int = 1,
    value_strategy: st.SearchStrategy[float] | None = None,
) -> st.SearchStrategy[Program]:
    """Random programs over the given ops (names or (name, form) pairs; default: all).

    ``max_nodes`` caps the node count (inputs and constants included); ``constants`` is the
    probability that a binary op takes a constant operand (left or right); ``reuse`` the
    probability that its two operands are the same node. ``kinks`` lets ops sit on their kinks
    (relu(0), 0 ** b); ``nonfinite`` drops the domain rules so that torch produces inf/nan.
    Up to ``combine`` dangling intermediate results are combined into the output.
    """
    return _programs(
        _shape(
            ops=ops,
            min_inputs=min_inputs,
            max_inputs=max_inputs,
            max_nodes=max_nodes,
            constants=constants,
            reuse=reuse,
            kinks=kinks,
            nonfinite=nonfinite,
            combine=combine,
            backward_passes=backward_passes,
            value_strategy=value_strategy,
        )
    )


@dataclass(frozen=True)
class ProgramBatch:
    """One program and the input rows it runs on; the first row is the program's own inputs."""

    program: Program
    rows: tuple[tuple[float, ...], ...]

    def programs(self) -> Iterator[Program]:
        """The program with each row in its input nodes, in turn (first: the program itself)."""
        yield self.program
        for row in self.rows[1:]:
            yield self.program.with_inputs(row)

    def __len__(self) -> int:
        return len(self.rows)


def program_batches(*, rows: int = 8, **options: Any) -> st.SearchStrategy[ProgramBatch]:
    """Programs as ``programs(**options)`` draws them, each with up to ``rows`` input rows.

    Drawing a program costs Hypothesis some 80 choices; a row costs one or two per input. So a
    batch is one program drawn as ``programs`` draws it plus ``rows - 1`` more rows of inputs
    drawn the same way, each kept only where every node of the program stays in its checkable
    domain (the rule ``programs`` builds by): as many programs, each as valid, for a fraction of
    the draws. The oracle can evaluate a batch at once (``OracleBase.run_batch``).
    """
    rows = _check_int("rows", rows, 1)
    try:
        shape = _shape(**options)
    except TypeError as exc:
        raise InvalidArgument(f"program_batches() takes the options of programs(): {exc}") from None
    return _program_batches(shape, rows)


def _shape(
    *,
    ops: Iterable[str | Sequence[str]] | None = None,
    min_inputs: int = 1,
    max_inputs: int = 4,
    max_nodes: int = 24,
    constants: float = 0.35,
    reuse: float = 0.2,
    kinks: bool = False,
    nonfinite: bool = False,
    combine: int = 4,
    backward_passes: int = 1,
    value_strategy: st.SearchStrategy[float] | None = None,
) -> _Shape:
    """The validated options of ``programs`` (InvalidArgument naming a bad one)."""
    variants = normalize_variants(ops)
    if not variants:
        raise InvalidArgument(f"ops={ops!r} selects no op variant")
    min_inputs = _check_int("min_inputs", min_inputs, 1)
    max_inputs = _check_int("max_inputs", max_inputs, 1)
    if max_inputs < min_inputs:
        raise InvalidArgument(f"max_inputs={max_inputs} must be >= min_inputs={min_inputs}")
    max_nodes = _check_int("max_nodes", max_nodes, 1)
    if max_nodes < min_inputs:
        raise InvalidArgument(f"max_nodes={max_nodes} must be >= min_inputs={min_inputs}")
    constants = _check_probability("constants", constants)
    reuse = _check_probability("reuse", reuse)
    combine = _check_int("combine", combine, 0)
    backward_passes = _check_int("backward_passes", backward_passes, 1)
    if value_strategy is not None and not isinstance(value_strategy, st.SearchStrategy):
        raise InvalidArgument(f"value_strategy={value_strategy!r} must be a SearchStrategy")
    by_form: dict[str, list[tuple[str, str, Op]]] = {form: [] for form in FORMS}
    for name, form in variants:
        by_form[form].append((name, form, OPS[name]))
    return _Shape(
        by_form,
        min_inputs,
        max_inputs,
        max_nodes,
        round(constants * 100),
        round(reuse * 100),
        kinks,
        nonfinite,
        combine,
        backward_passes,
        value_strategy,
    )


class _Chooser:
    """The choices of one program, drawn through Hypothesis's public ``draw``.

    Integer strategies are made once per range and reused: a program takes ~80 choices.
    """

    def __init__(self, draw: Any, value_strategy: st.SearchStrategy[float] | None) -> None:
        self.draw = draw
        self.value_strategy = value_strategy
        self.pool: list[float] = []

    def using(self, draw: Any) -> _Chooser:
        """The same choices (and pool of values) through another ``draw`` (a nested span)."""
        other = _Chooser(draw, self.value_strategy)
        other.pool = self.pool
        return other

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high], shrinking towards low."""
        if high <= low:
            return low
        return int(self.draw(_integers(low, high)))

    def percent(self) -> int:
        """0..99, shrinking towards 0."""
        return self.integer(0, 99)

    def value(self) -> float:
        """An input or constant value; equal values in distinct nodes come from the pool."""
        if self.value_strategy is not None:
            x = float(self.draw(self.value_strategy))
        else:
            kind = self.integer(0, 7)
            if kind <= 2:
                x = _TABLE[self.integer(0, len(_TABLE) - 1)]
            elif kind <= 6 or not self.pool:
                x = float(self.draw(_FINITE))
            else:
                x = self.pool[self.integer(0, len(self.pool) - 1)]
        self.pool.append(x)
        return x


@functools.lru_cache(maxsize=4096)
def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


_TABLE = SPECIAL_VALUES + LARGE_VALUES
Candidate = tuple[str, str, Op]


@dataclass
class _Shape:
    """The validated options of one ``programs()`` strategy."""

    by_form: dict[str, list[Candidate]]
    min_inputs: int
    max_inputs: int
    max_nodes: int
    const_percent: int
    reuse_percent: int
    kinks: bool
    nonfinite: bool
    combine: int
    backward_passes: int
    value_strategy: st.SearchStrategy[float] | None
    const_forms: list[str] = field(default_factory=list)
    plain_shapes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.max_inputs = min(self.max_inputs, self.max_nodes)
        self.const_forms = [form for form in ("vc", "cv") if self.by_form[form]]
        self.plain_shapes = [form for form in ("v", "vv") if self.by_form[form]]

    def offer(self, candidates: list[Candidate], a: float, b: float) -> list[Candidate]:
        """The candidates valid on (a, b) (all of them for nonfinite programs)."""
        if self.nonfinite:
            return candidates
        kinks = self.kinks
        return [c for c in candidates if variant_is_valid(c[2], c[1], a, b, kinks=kinks)]


class _Draft:
    """A program under construction: nodes, their float64 values, which are used."""

    def __init__(self, shape: _Shape, choose: _Chooser) -> None:
        self.shape = shape
        self.choose = choose
        self.nodes: list[Node] = []
        self.vals: list[float] = []
        self.value_nodes: list[int] = []
        self.used: set[int] = set()

    def leaf(self, op: str, x: float) -> int:
        """Append an input or a constant."""
        if op == "input":
            self.value_nodes.append(len(self.nodes))
        self.nodes.append(Node(op, value=x))
        self.vals.append(x)
        return len(self.nodes) - 1

    def apply(self, name: str, op: Op, args: tuple[int, ...], a: float, b: float) -> int:
        """Append an op node on earlier nodes."""
        self.used.update(args)
        self.value_nodes.append(len(self.nodes))
        self.nodes.append(Node(name, args))
        self.vals.append(py_value(op, a, b))
        return len(self.nodes) - 1


@st.composite
def _op_node(draw: Any, draft: _Draft) -> bool:
    """Draw one op node (and maybe a constant) onto ``draft``; False when nothing valid was drawn.

    One ``draw`` per node, so Hypothesis's shrinker can delete a node as a whole.
    """
    shape = draft.shape
    choose = draft.choose.using(draw)
    integer = choose.integer
    nodes, vals, value_nodes = draft.nodes, draft.vals, draft.value_nodes
    # One choice picks the shape: constants on either side, else unary or Value-Value.
    roll = choose.percent()
    if shape.const_forms and roll < shape.const_percent and len(nodes) + 2 <= shape.max_nodes:
        form = shape.const_forms[roll % len(shape.const_forms)]
    elif shape.plain_shapes:
        form = shape.plain_shapes[roll % len(shape.plain_shapes)]
    else:
        return False
    # Operands are offsets back from the most recent node: recent results get reused.
    ia = value_nodes[-1 - integer(0, len(value_nodes) - 1)]
    a = vals[ia]
    const_value: float | None = None
    if form == "v":
        b = 0.0
        args: tuple[int, ...] = (ia,)
    elif form == "vv":
        pick = integer(0, len(value_nodes) - 1 + shape.reuse_percent // 10)
        ib = value_nodes[-1 - pick] if pick < len(value_nodes) else ia
        b = vals[ib]
        args = (ia, ib)
    else:
        const_value = choose.value()
        if form == "vc":
            b = const_value
            args = (ia, len(nodes))
        else:
            a, b = const_value, a
            args = (len(nodes), ia)
    candidates = shape.offer(shape.by_form[form], a, b)
    if shape.kinks:
        # On a kink point, take the kinked op: that is what the kinks check is for.
        candidates = [c for c in candidates if c[2].kink(a, b)] or candidates
    if not candidates:
        return False
    name, _, op = candidates[integer(0, len(candidates) - 1)]
    if const_value is not None:
        draft.leaf("const", const_value)
    draft.apply(name, op, args, a, b)
    return True


@st.composite
def _programs(draw: Any, shape: _Shape) -> Program:
    """The strategy behind programs(): one pass, node by node, values computed as drawn."""
    return _draw_program(draw, shape, 1)[0]


def _draw_program(draw: Any, shape: _Shape, rows: int) -> tuple[Program, list[tuple[float, ...]]]:
    """A program and ``rows - 1`` more rows of input values, drawn right after its inputs: ahead
    of the ops, so that the shrinker deleting an op node leaves every row as it was."""
    choose = _Chooser(draw, shape.value_strategy)
    draft = _Draft(shape, choose)
    count = choose.integer(shape.min_inputs, shape.max_inputs)
    for _ in range(count):
        draft.leaf("input", choose.value())
    extra = [draw(_row(choose, count)) for _ in range(rows - 1)]
    room = shape.max_nodes - len(draft.nodes)
    for _ in range(choose.integer(min(1, room), room)):
        if len(draft.nodes) >= shape.max_nodes:
            break
        draw(_op_node(draft))

    # Several intermediate results combined into the output, so all their gradients flow.
    nodes, vals = draft.nodes, draft.vals
    binary_vv = shape.by_form["vv"]
    sinks = [i for i in draft.value_nodes if i not in draft.used and nodes[i].op != "input"]
    output = draft.value_nodes[-1]
    if shape.combine and binary_vv and len(sinks) > 1:
        acc = sinks[-1]
        for other in reversed(sinks[-shape.combine : -1]):
            a, b = vals[other], vals[acc]
            candidates = shape.offer(binary_vv, a, b)
            if not candidates:
                continue
            name, _, op = candidates[choose.integer(0, len(candidates) - 1)]
            acc = draft.apply(name, op, (other, acc), a, b)
        output = acc
    return Program(tuple(nodes), output, shape.backward_passes), extra


@st.composite
def _row(draw: Any, choose: _Chooser, n: int) -> tuple[float, ...]:
    """One row of ``n`` input values, drawn as a program's inputs are (one span per row)."""
    choose = choose.using(draw)
    return tuple(choose.value() for _ in range(n))


@st.composite
def _program_batches(draw: Any, shape: _Shape, rows: int) -> ProgramBatch:
    """The strategy behind program_batches()."""
    program, extra = _draw_program(draw, shape, rows)
    own = tuple(program.nodes[i].value or 0.0 for i in program.inputs)
    kept = [own]
    for row in extra:
        if row not in kept and _row_is_valid(shape, program, row):
            kept.append(row)
    return ProgramBatch(program, tuple(kept))


def _row_is_valid(shape: _Shape, program: Program, row: tuple[float, ...]) -> bool:
    """Whether every op node of ``program`` on ``row`` is in its checkable domain (as drawn)."""
    if shape.nonfinite:
        return True
    values: list[float] = []
    given = iter(row)
    for index, node in enumerate(program.nodes):
        if node.op == "input":
            values.append(next(given))
            continue
        if node.op == "const":
            values.append(node.value or 0.0)
            continue
        op = OPS[node.op]
        a = values[node.args[0]]
        b = values[node.args[1]] if len(node.args) > 1 else 0.0
        if not variant_is_valid(op, program.form(index), a, b, kinks=shape.kinks):
            return False
        values.append(py_value(op, a, b))
    return True


def deep_programs(
    *,
    ops: Iterable[str | Sequence[str]] | None = None,
    depth: int = 100_000,
    max_pattern: int = 6,
) -> st.SearchStrategy[Program]:
    """Chains of ``depth`` op nodes, each applied to the previous one (and maybe an input).

    Hypothesis draws a short repeating pattern of steps (unary ops, ops with a constant, ops on the
    previous node and itself or an input); the pattern is unrolled ``depth`` times, replacing a
    step by a damping step (a bounded function such as tanh, or x * 0.5) wherever it would leave
    its domain or make the gradient overflow, so values and gradients stay finite all the way.
    """
    depth = _check_int("depth", depth, 1)
    max_pattern = _check_int("max_pattern", max_pattern, 1)
    usable, dampers = _chain_steps(ops)
    return _deep(usable, dampers, depth, max_pattern)


def _chain_steps(
    ops: Iterable[str | Sequence[str]] | None,
) -> tuple[list[tuple[str, str, Op]], list[tuple[str, str, Op]]]:
    """The variants a chain may step through, and its damping steps."""
    variants = normalize_variants(ops)
    usable = [(n, f, OPS[n]) for n, f in variants if f in ("v", "vc", "vv")]
    if not usable:
        raise InvalidArgument(f"ops={ops!r} has no unary, v-const or v-v op to chain")
    # Steps that keep a chain finite: bounded functions (tanh), halving by a constant (x * 0.5).
    dampers = [
        (n, f, OPS[n])
        for n, f in variants
        if (f == "v" and OPS[n].bounded) or (f == "vc" and OPS[n].contraction is not None)
    ]
    return usable, dampers


PATTERN_TRIES = 32
"""Patterns drawn at most, looking for one that needs no damping (see deep_chain)."""

PERIODIC_TRIAL = 4096
"""Steps a pattern is tried on before it is unrolled to its full length."""


def deep_chain(
    *,
    ops: Iterable[str | Sequence[str]] | None = None,
    depth: int = 100_000,
    rng: random.Random,
    max_pattern: int = 6,
) -> Program:
    """One chain as ``deep_programs`` draws it, its pattern drawn from ``rng`` (no Hypothesis:
    for the deep check, which grows its chains from one length to the next).

    Each period of the pattern ends with a bounded step where the table has one, and patterns
    are drawn until one needs no damping step within its first PERIODIC_TRIAL steps: then the
    chain is periodic, and its reproducer a loop of a few lines whatever its length."""
    depth = _check_int("depth", depth, 1)
    usable, dampers = _chain_steps(ops)
    bounded = [_Step(n, f, op, 0.0, False) for n, f, op in dampers if f == "v"]
    best: tuple[int, list[_Step], float, float] | None = None
    for _ in range(PATTERN_TRIES):
        start, second = rng.choice(_TABLE), rng.uniform(-8.0, 8.0)
        pattern = []
        for _ in range(rng.randint(1, max_pattern)):
            name, form, op = usable[rng.randrange(len(usable))]
            const = 0.5 + rng.randint(0, 7) * 0.25 if form == "vc" else 0.0
            pattern.append(_Step(name, form, op, const, form == "vv" and rng.random() < 0.5))
        if bounded:
            pattern.append(bounded[rng.randrange(len(bounded))])
        _, damped = _unroll(pattern, dampers, start, second, min(depth, PERIODIC_TRIAL))
        if best is None or damped < best[0]:
            best = (damped, pattern, start, second)
        if damped == 0:
            break
    assert best is not None
    _, pattern, start, second = best
    return _unroll(pattern, dampers, start, second, depth)[0]


@st.composite
def _deep(
    draw: Any,
    usable: list[tuple[str, str, Op]],
    dampers: list[tuple[str, str, Op]],
    depth: int,
    max_pattern: int,
) -> Program:
    choose = _Chooser(draw, None)
    start = choose.value()
    second = choose.value()
    pattern: list[_Step] = []
    for _ in range(draw(st.integers(1, max_pattern))):
        name, form, op = usable[draw(st.integers(0, len(usable) - 1))]
        const = 0.5 + draw(st.integers(0, 7)) * 0.25 if form == "vc" else 0.0
        with_input = form == "vv" and draw(st.booleans())
        pattern.append(_Step(name, form, op, const, with_input))
    return _unroll(pattern, dampers, start, second, depth)[0]


def _unroll(
    pattern: list[_Step],
    dampers: list[tuple[str, str, Op]],
    start: float,
    second: float,
    depth: int,
) -> tuple[Program, int]:
    """The pattern repeated ``depth`` times from inputs (start, second), damped where needed;
    with how many steps had to be damped."""
    fallbacks = [_Step(name, form, op, op.contraction or 0.0, False) for name, form, op in dampers]
    nodes = [Node("input", value=start), Node("input", value=second)]
    current, y = 0, start
    log_grad = min_prefix = 0.0
    damped = 0
    for k in range(depth):
        planned = pattern[k % len(pattern)]
        for step in (planned, *fallbacks):
            outcome = step.apply(y, second, log_grad - min_prefix)
            if outcome is not None:
                break
        else:
            break
        damped += step is not planned
        y, log_p = outcome
        if step.form == "vc":
            nodes.append(Node("const", value=step.const))
            args: tuple[int, ...] = (current, len(nodes) - 1)
        elif step.form == "vv":
            args = (current, 1) if step.with_input else (current, current)
        else:
            args = (current,)
        nodes.append(Node(step.name, args))
        current = len(nodes) - 1
        log_grad += log_p
        min_prefix = min(min_prefix, log_grad)
    return Program(tuple(nodes), current), damped


class _Step:
    """One step of a deep chain's repeating pattern."""

    def __init__(self, name: str, form: str, op: Op, const: float, with_input: bool) -> None:
        self.name, self.form, self.op, self.const, self.with_input = (
            name,
            form,
            op,
            const,
            with_input,
        )

    def apply(self, y: float, second: float, log_headroom: float) -> tuple[float, float] | None:
        """(new value, log2 |partial along the chain|) if the step stays checkable, else None."""
        if self.form == "vc":
            a, b = y, self.const
        elif self.form == "vv":
            a, b = y, (second if self.with_input else y)
        else:
            a, b = y, 0.0
        if not variant_is_valid(self.op, self.form, a, b):
            return None
        y_next = py_value(self.op, a, b)
        if abs(y_next) > 1e100:
            return None
        pa, pb = self.op.partials_at(a, b, y_next)
        p = abs(pa + pb) if self.form == "vv" and not self.with_input else abs(pa)
        log_p = math.log2(p) if p > 0 else -1100.0
        # Every gradient contribution is a product of consecutive partials: keep all < 2**900.
        if log_headroom + log_p > 900:
            return None
        return y_next, log_p
