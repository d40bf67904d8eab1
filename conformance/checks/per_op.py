"""The ``ops`` check: every supported op variant alone, over its whole domain.

One test per function, as array-api-tests has: ``v.tanh()``, ``2.0 - v``, ``v ** w``,
``t = a; t *= b`` each run on a grid of operands (signed zeros, subnormals, tiny and huge
magnitudes, the edges of exp's range, the op's own kinks and special points) plus ordinary random
ones, and each quantity judged on its own: the op's value, the gradient of each Value operand, and
whether the operands kept their values. A quantity that fails somewhere is described by the
regions where it fails (their edges found by bisection for unary ops) and what the engine did
there; the variants that failed are left out of the composition checks, so that what those report
is a bug of the graph machinery.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import random
import struct
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from conformance.backends.base import BackendError, Evaluation
from conformance.checks.base import Check, CheckContext, run_guarded
from conformance.diagnosis.regions import (
    Finding,
    Refine,
    Tag,
    describe_1d,
    describe_2d,
    extremeness,
    finite,
    ordinary,
    tag_of,
)
from conformance.ops import OPS, Op, Variant, family
from conformance.program import Node, Program
from conformance.tolerance import ABS, REL, scales

__all__ = [
    "BINARY_GRID",
    "GRID",
    "NONFINITE",
    "NONFINITE_PARTNERS",
    "PER_OP",
    "PerOpCheck",
    "PerOpRun",
    "VariantResult",
    "points",
    "quantity_nodes",
    "single_op_program",
]

GRID = (
    0.0,
    5e-324,
    1e-310,
    1e-300,
    1e-200,
    1.5e-154,
    1e-100,
    1e-30,
    1e-16,
    1e-10,
    1e-5,
    0.1,
    0.5,
    1.0,
    1.5,
    2.0,
    3.0,
    10.0,
    20.0,
    36.8,
    100.0,
    355.0,
    709.5,
    710.0,
    1000.0,
    1e5,
    1e10,
    1e22,
    1e100,
    1e154,
    1e200,
    1e300,
    1.7e308,
)
"""Magnitudes a unary op is tried on, each with both signs."""

BINARY_GRID = (
    0.0,
    5e-324,
    1e-300,
    1.5e-154,
    1e-30,
    1e-8,
    0.5,
    1.0,
    2.0,
    3.0,
    10.0,
    1e8,
    1e154,
    1e300,
)
"""Magnitudes each operand of a binary op is tried on, each with both signs."""

NONFINITE = (math.inf, -math.inf, math.nan)
"""Operands every op is also tried on, where torch's results are IEEE's (``relu(nan)`` is nan,
``tanh(inf)`` is 1). A difference there weighs as a semantics difference (it fails only with
--strict), and a gradient at a nan operand is not judged: torch's (``relu'(nan) = 1``) is a
convention of its kernels, not a derivative."""

NONFINITE_PARTNERS = (0.0, -0.0, 0.5, 1.0, -1.0, 2.0, -2.0, 10.0)
"""The finite operands a binary op pairs with each of NONFINITE (both ways round): the zeros
and ones where IEEE has special cases (``nan ** 0``, ``1 ** nan``, ``inf * 0``)."""

RANDOM_POINTS = {"quick": 8, "default": 24, "thorough": 200}
"""Ordinary random operands (in [-10, 10]) per variant, on top of the grid."""

MAX_BATCH_ROWS = 512
"""At most this many points per oracle batch (the first batch of a check has 8)."""

BATCH_SECONDS = 0.25
"""Batches are sized to take about this long: the deadline is checked between them."""

BISECTION_STEPS = 48
"""At most this many evaluations to place one edge of a failing region."""

QUANTITIES = ("value", "grad a", "grad b", "a", "b")
"""What is judged at a point: the op's value, each Value operand's gradient, and whether each
input operand still holds its value afterwards."""


def single_op_program(name: str, form: str, a: float, b: float) -> Program:
    """The program of one op alone: its operands are inputs (``v``) or constants (``c``)."""
    kinds = {"v": "input", "c": "const"}
    if form == "v":
        return Program((Node("input", value=a), Node(name, (0,))), 1)
    nodes = (Node(kinds[form[0]], value=a), Node(kinds[form[1]], value=b), Node(name, (0, 1)))
    return Program(nodes, 2)


def _signed(magnitudes: Sequence[float]) -> list[float]:
    return [s * m for m in magnitudes for s in (1.0, -1.0)]


def points(name: str, form: str, rng: random.Random, count: int) -> list[tuple[float, float]]:
    """The operand points (a, b) a variant is tried on: the grid, the op's specials, random ones,
    and inf and nan (NONFINITE)."""
    op = OPS[name]
    specials = [x for x in op.specials if math.isfinite(x)]
    ordinary = [rng.uniform(-10.0, 10.0) for _ in range(2 * count)]
    if form == "v":
        xs = _signed(GRID) + _signed(specials) + ordinary[:count] + list(NONFINITE)
        return [(x, 0.0) for x in dict.fromkeys(xs)]
    grid = _signed(BINARY_GRID)
    pairs = [(a, b) for a in grid for b in grid]
    pairs += [(a, s) for a in grid for s in specials] + [(s, b) for s in specials for b in grid]
    pairs += list(zip(ordinary[:count], ordinary[count:], strict=True))
    pairs += [(x, p) for x in NONFINITE for p in NONFINITE_PARTNERS]
    pairs += [(p, x) for x in NONFINITE for p in NONFINITE_PARTNERS]
    pairs += [(x, y) for x in NONFINITE for y in NONFINITE]
    return list(dict.fromkeys(pairs))


def quantity_nodes(form: str) -> dict[str, int]:
    """Which node holds each quantity in a single-op program of ``form``."""
    if form == "v":
        return {"value": 1, "grad a": 0, "a": 0}
    nodes = {"value": 2}
    if form[0] == "v":
        nodes.update({"grad a": 0, "a": 0})
    if form[1] == "v":
        nodes.update({"grad b": 1, "b": 1})
    return nodes


def _same(expected: float, got: float) -> bool:
    return got == expected or (math.isnan(got) and math.isnan(expected))


def judge_point(
    program: Program,
    form: str,
    expected: Evaluation | BackendError,
    got: Evaluation | BackendError,
    *,
    nonfinite_gradients: bool = True,
) -> dict[str, Finding]:
    """Each quantity's finding at one point (oracle's evaluation against the backend's).

    Where the oracle's number is inf or nan although the op's definition in float64 is finite
    there (torch's ``c / v`` is ``reciprocal(v) * c``, which overflows for v = 1e-310 while the
    quotient does not), the number is an artefact of torch's evaluation: not judged; nor are
    non-finite gradients of an oracle that does not determine them (``nonfinite_gradients``),
    nor points where the op is float64-fragile. A raise is judged even there: torch never
    raises, so it differs at least in semantics.

    At an inf or nan operand (NONFINITE) a difference weighs as semantics, a hang or a dead
    process aside; a gradient at a nan operand is judged only if the engine raised.
    """
    if isinstance(expected, BackendError) or _fragile(program):
        return {q: Finding("unchecked") for q in quantity_nodes(form)}
    ieee = _ieee(program)
    _, a, b = _operands(program)
    nonfinite_operand = not finite((a, b))
    nan_operand = math.isnan(a) or math.isnan(b)
    try:
        sc = scales(program, expected)
        value_scale, grad_scale = sc.values, sc.grads
    except (ArithmeticError, ValueError):
        value_scale, grad_scale = {}, {}
    findings: dict[str, Finding] = {}
    for quantity, node in quantity_nodes(form).items():
        if quantity in ("a", "b"):
            e = float(program.nodes[node].value)  # type: ignore[arg-type]
            findings[quantity] = _judge_operand(e, got, node)
            continue
        is_value = quantity == "value"
        e = expected.values[node] if is_value else expected.grads[node]
        if isinstance(got, BackendError):
            # Judged even where the oracle leaves the number open (inf or nan in float64, or
            # not settled): torch never raises, so a raise there still differs (semantics).
            grads_finite = all(math.isfinite(x) for x in expected.grads.values())
            findings[quantity] = _judge_error(e, got, is_value, grads_finite, nonfinite_operand)
            continue
        if nan_operand and not is_value:
            findings[quantity] = Finding("unchecked", e)
            continue
        if not math.isfinite(e) and (
            math.isfinite(ieee[quantity]) or not (is_value or nonfinite_gradients)
        ):
            findings[quantity] = Finding("unchecked", e)
            continue
        scale = (value_scale if is_value else grad_scale).get(node, math.nan)
        # An infinite scale (0 ** 0's gradient, whose second derivative is) bounds nothing
        # finite, but still settles that a nan or inf is wrong where torch's number is finite.
        tolerance = REL * scale + ABS if not math.isnan(scale) else math.nan
        g = (got.values if is_value else got.grads).get(node)
        finding = _judge_number(e, g, tolerance)
        if nonfinite_operand and finding.status == "wrong":
            finding = dataclasses.replace(finding, status="semantics")
        findings[quantity] = finding
    return findings


def _operands(program: Program) -> tuple[Op, float, float]:
    node = program.nodes[program.output]
    op = OPS[node.op]
    a = float(program.nodes[node.args[0]].value)  # type: ignore[arg-type]
    b = float(program.nodes[node.args[1]].value) if op.arity == 2 else 0.0  # type: ignore[arg-type]
    return op, a, b


def _fragile(program: Program) -> bool:
    op, a, b = _operands(program)
    return op.fragile(a, b)


def _ieee(program: Program) -> dict[str, float]:
    """Per quantity, the op's float64 definition (the table's IEEE value and partials): where it
    is not finite, the oracle's inf or nan is a fact to reproduce."""
    op, a, b = _operands(program)
    y = op.ieee(a, b)
    pa, pb = op.partials_at(a, b, y)
    return {"value": y, "grad a": pa, "grad b": pb}


def _judge_operand(original: float, got: Evaluation | BackendError, node: int) -> Finding:
    if isinstance(got, BackendError):
        return Finding("unchecked")
    g = got.values.get(node)
    if g is None or _same(original, g):
        return Finding("ok", original, g)
    return Finding("wrong", original, g)


def _judge_error(
    e: float, error: BackendError, is_value: bool, grads_finite: bool, convention: bool
) -> Finding:
    """A quantity the backend could not deliver because it raised.

    A raise in the forward pass is judged on the value; one in the backward pass on the
    gradients, and as an error only where torch's gradients are all finite (else an engine that
    raises where torch's backward meets a nan differs only in semantics) and the point is not
    one of conventions (``convention``: an inf or nan operand); a hang or a dead process is an
    error wherever it happens."""
    phase = error.phase
    if (is_value and phase in ("backward", "read", "release")) or (
        not is_value and phase == "forward"
    ):
        return Finding("unchecked", prevented=True)  # reported on the quantity it prevented
    settled = math.isfinite(e) and (is_value or grads_finite) and not convention
    status = "wrong" if settled or error.fatal else "semantics"  # a hang is never a convention
    if error.not_a_number == "NotImplementedType":
        # float.__add__(a Value) and its kind return NotImplemented; an op that calls one
        # directly (self.data.__add__(other)) keeps it as its number.
        what = "NotImplemented, not a float (what float's own methods return for a Value operand)"
        return Finding(status, e, None, error=what)
    if error.not_a_number:
        return Finding(status, e, None, error=f"a {error.not_a_number}, not a float")
    text = error.brief or (str(error).splitlines()[0] if str(error) else error.kind)
    if error.exception_type and not text.startswith(error.exception_type):
        text = f"{error.exception_type}: {text}"
    if error.kind == "protocol" and error.where:  # an op that returned None (backends.build)
        return Finding(status, e, None, error=text, no_value=error.where)
    return Finding(status, e, None, error=text, raised=(error.exception_type, error.where))


def _judge_number(e: float, g: float | None, tolerance: float) -> Finding:
    if g is None:
        return Finding("wrong" if math.isfinite(e) else "semantics", e, None, error="no number")
    if not math.isfinite(e):
        return Finding("ok" if _same(e, g) else "semantics", e, g)
    if math.isnan(tolerance) or (math.isinf(tolerance) and math.isfinite(g)):
        return Finding("unchecked", e, g)
    if math.isfinite(g) and abs(g - e) <= tolerance:
        return Finding("ok", e, g, tolerance=tolerance)
    return Finding("wrong", e, g, tolerance=tolerance)


@dataclass
class VariantResult:
    """Everything the ``ops`` check found about one op variant."""

    variant: Variant
    findings: dict[str, list[tuple[tuple[float, float], Finding, Tag | None]]] = field(
        default_factory=dict
    )
    regions: dict[str, list[str]] = field(default_factory=dict)
    """For each failing quantity, its phrases (``nan for x >= 355``)."""

    def status(self, quantity: str) -> str:
        """``ok``, ``WRONG``, ``warn`` (differs only where torch is inf/nan) or ``-``."""
        found = self.findings.get(quantity)
        if found is None:
            return "-"
        statuses = {f.status for _, f, _ in found}
        if "wrong" in statuses:
            return "WRONG"
        if "semantics" in statuses:
            return "warn"
        return "ok" if "ok" in statuses else "?"

    def failing(self, quantity: str, severity: str = "wrong") -> list[tuple[float, float]]:
        """The points where ``quantity`` has a finding of this severity."""
        return [p for p, f, _ in self.findings.get(quantity, []) if f.status == severity]

    @property
    def wrong(self) -> bool:
        """Whether some quantity is wrong somewhere (an error, not a semantics difference)."""
        return any(self.status(q) == "WRONG" for q in self.findings)

    @property
    def wrong_only_far_out(self) -> bool:
        """Whether it is wrong somewhere, but never where every operand is an ordinary number
        (``regions.ordinary``): only at a kink such as 0 ** 0, or far out, such as a divisor of
        1e-300. Compositions keep such a variant (see conformance.runner)."""
        return any(map(self.failing, self.findings)) and not any(
            map(self.wrong_at_ordinary_operands, self.findings)
        )

    def wrong_at_ordinary_operands(self, quantity: str) -> bool:
        """Whether ``quantity`` is wrong where every operand is ordinary (``regions.ordinary``)."""
        arity = OPS[self.variant[0]].arity
        return any(ordinary(point[:arity]) for point in self.failing(quantity))

    def witness(self, quantity: str, severity: str = "wrong") -> tuple[float, float] | None:
        """The least extreme failing point: toward ordinary magnitudes."""
        candidates = self.failing(quantity, severity)
        if not candidates:
            return None
        return min(
            candidates,
            key=lambda p: (
                max(extremeness(p[0]), extremeness(p[1])),
                extremeness(p[0]) + extremeness(p[1]),
                abs(p[0]) + abs(p[1]),
                p,
            ),
        )


def _ordered(x: float) -> int:
    """Doubles as integers that sort like the doubles (for bisection in representable steps)."""
    bits: int = struct.unpack("<q", struct.pack("<d", x))[0]
    return bits if bits >= 0 else -(bits & 0x7FFFFFFFFFFFFFFF)


def _from_ordered(n: int) -> float:
    bits = n if n >= 0 else (-n) | -0x8000000000000000
    value: float = struct.unpack("<d", struct.pack("<q", bits))[0]
    return value


class _Evaluator:
    """Runs single-op programs on the oracle and the backend, within the check's deadline."""

    def __init__(self, ctx: CheckContext, deadline: float) -> None:
        self.ctx = ctx
        self.deadline = deadline
        self.evaluated = 0
        self.rows = 8
        """Points in the next oracle batch (see _resize)."""

    @property
    def out_of_time(self) -> bool:
        """Whether the deadline has passed."""
        return time.perf_counter() > self.deadline

    def batch(
        self, name: str, form: str, pairs: Sequence[tuple[float, float]]
    ) -> list[tuple[tuple[float, float], dict[str, Finding]]]:
        """Judge every point: the oracle on rows grouped by constant, the backend per point."""
        results: list[tuple[tuple[float, float], dict[str, Finding]]] = []
        const_at = form.find("c")
        groups: dict[float | None, list[tuple[float, float]]] = {}
        for pair in pairs:
            key = None if const_at < 0 else pair[const_at]
            groups.setdefault(key, []).append(pair)
        for group in groups.values():
            start = 0
            while start < len(group) and not self.out_of_time:
                chunk = group[start : start + self.rows]
                start += len(chunk)
                a0, b0 = chunk[0]
                template = single_op_program(name, form, a0, b0)
                rows = [[p[k] for k in range(len(form)) if form[k] == "v"] for p in chunk]
                began = time.perf_counter()
                expected = self.ctx.oracle.run_batch(template, rows)
                for pair, row, exp in zip(chunk, rows, expected, strict=True):
                    results.append((pair, self.one(template.with_inputs(row), form, exp)))
                self._resize(len(chunk), time.perf_counter() - began)
        return results

    def _resize(self, rows: int, seconds: float) -> None:
        """Size the next batch to take about BATCH_SECONDS: a fast oracle gets big batches, a
        slow one small ones, so the deadline (checked between batches) is overrun by little."""
        per_row = seconds / rows if seconds > 0 else 0.0
        wanted = int(BATCH_SECONDS / per_row) if per_row > 0 else MAX_BATCH_ROWS
        self.rows = max(1, min(MAX_BATCH_ROWS, wanted))

    def one(
        self, program: Program, form: str, expected: Evaluation | BackendError | None = None
    ) -> dict[str, Finding]:
        """Judge one single-op program."""
        ctx = self.ctx
        if expected is None:
            try:
                expected = ctx.oracle.run(program)
            except BackendError as exc:
                expected = exc
        try:
            got: Evaluation | BackendError = run_guarded(ctx.backend, program, ctx.timeout)
        except BackendError as exc:
            got = exc
        self.evaluated += 1
        nonfinite = ctx.oracle.determines_nonfinite_gradients
        return judge_point(program, form, expected, got, nonfinite_gradients=nonfinite)

    def refiner(self, name: str, quantity: str, rank: Counter[str] | None = None) -> Refine:
        """Bisection between a passing x and a failing x of a unary op: the failing x nearest
        the passing one (to within BISECTION_STEPS halvings of their distance in doubles)."""

        def refine(good: float, bad: float, category: str) -> float:
            lo, hi = _ordered(good), _ordered(bad)
            for _ in range(BISECTION_STEPS):
                if abs(hi - lo) <= 1 or self.out_of_time:
                    break
                mid = (lo + hi) // 2
                x = _from_ordered(mid)
                if math.isnan(x):
                    break
                finding = self.one(single_op_program(name, "v", x, 0.0), "v")[quantity]
                tag = _tag(OPS[name], "v", quantity, (x, 0.0), finding, rank)
                if tag is not None and tag.category == category:
                    hi = mid
                else:
                    lo = mid
            return _from_ordered(hi)

        return refine


def _tags(
    name: str,
    form: str,
    judged: list[tuple[tuple[float, float], dict[str, Finding]]],
    rank: dict[str, Counter[str]],
) -> dict[str, list[tuple[tuple[float, float], Finding, Tag | None]]]:
    op = OPS[name]
    out: dict[str, list[tuple[tuple[float, float], Finding, Tag | None]]] = {}
    for point, findings in judged:
        for quantity, finding in findings.items():
            out.setdefault(quantity, []).append(
                (point, finding, _tag(op, form, quantity, point, finding, rank.get(quantity)))
            )
    return out


def _slip_rank(
    op: Op, form: str, judged: list[tuple[tuple[float, float], dict[str, Finding]]]
) -> dict[str, Counter[str]]:
    """Per failing quantity, at how many failing points each slip fits: where several fit one
    point (relu computed as abs: abs(x) and -x alike below 0), the one that fits most is named.
    A slip that fits one point of several is a coincidence (a leaky relu's 0.01 * x is
    tanh(x) at x = -100), not what the engine does: it is left out, and never named."""
    fits: dict[str, Counter[str]] = {}
    failing: Counter[str] = Counter()
    for (a, b), findings in judged:
        for quantity, finding in findings.items():
            if not finding.failing or quantity in ("a", "b"):
                continue
            failing[quantity] += 1
            counts = fits.setdefault(quantity, Counter())
            for slip in _slips(op, form, quantity, a, b):
                if tag_of(finding, slips=[slip]).category == slip[0]:
                    counts[slip[0]] += 1
    least = {quantity: min(2, n) for quantity, n in failing.items()}
    return {
        quantity: Counter({slip: n for slip, n in counts.items() if n >= least[quantity]})
        for quantity, counts in fits.items()
    }


def _axes(form: str) -> tuple[str, str]:
    """The operands' names in the variant's spelling: ``a - b``, ``v - c``, ``c - v``."""
    return {"vv": ("a", "b"), "vc": ("v", "c"), "cv": ("c", "v")}[form]


def _tag(
    op: Op,
    form: str,
    quantity: str,
    point: tuple[float, float],
    finding: Finding,
    rank: Counter[str] | None = None,
) -> Tag | None:
    """What the engine did at a failing point (None where it did not fail); of the slips that
    fit it, the one ``rank`` counts most often (with ``rank``, only those it counts)."""
    if not finding.failing:
        return None
    a, b = point
    if quantity in ("a", "b"):
        holds_result = finding.got is not None and finding.got == op.ieee(a, b)
        return Tag("left holding the result" if holds_result else "its data changed")
    slips = _slips(op, form, quantity, a, b)
    if rank is not None:
        slips = [slip for slip in slips if rank[slip[0]]]
        slips.sort(key=lambda slip: -rank[slip[0]])  # stable: the table's order breaks ties
    return tag_of(finding, slips=slips)


def _slips(op: Op, form: str, quantity: str, a: float, b: float) -> list[tuple[str, float]]:
    """What a slip in the engine's formula would give at (a, b), labelled: the operands swapped
    (``c / v`` as ``v / c``), a unary op at -x (``sigmoid(-x)``), for the value another op of
    the table (``a + b`` for ``a - b``, ``tanh(x)`` for relu), for a gradient x and the result
    mixed up in the rule (``exp'`` as x)."""
    slips = []
    swapped = _swapped(op, quantity, a, b)
    if swapped is not None:
        slips.append(("operands swapped", swapped))
    mirrored = _mirrored(op, quantity, a)
    if mirrored is not None:
        slips.append(mirrored)
    if quantity == "value":
        slips += _other_ops(op, form, a, b)
    else:
        slips += _result_for_operand(op, a)
    return slips


def _result_for_operand(op: Op, x: float) -> list[tuple[str, float]]:
    """A unary op's derivative with x and its result mixed up, labelled: ``exp'`` as x
    (``self.data`` for ``out.data``), ``tanh'`` as 1 - x**2, ``log'`` as 1 / log(x). Where the
    table's rule uses only the other one, the slip is the rule itself and explains nothing.
    Nothing for an op with kinks, whose rule is a sign (abs' from |x| is "sign flipped")."""
    if op.arity != 1 or op.has_kinks or not math.isfinite(x):
        return []
    y = op.ieee(x, 0.0)
    slips = [("x used where its rule needs the result", op.partials_at(x, 0.0, x)[0])]
    if math.isfinite(y):
        slips.append(("the result used where its rule needs x", op.partials_at(y, 0.0, y)[0]))
    return slips


def _other_ops(op: Op, form: str, a: float, b: float) -> list[tuple[str, float]]:
    """The values of the table's other ops of the same arity at (a, b), each labelled as the
    variant names its operands: ``c + v`` beside ``c - v``, ``tanh(x)`` beside ``v.relu()``."""
    first, second = ("x", "") if op.arity == 1 else _axes(form)
    values = []
    for other in OPS.values():
        if other.arity != op.arity or other.inplace or family(other.name) == family(op.name):
            continue
        if other.arity == 1 and other.method:
            label = f"{other.method}({first})"
        else:
            label = other.source.format(out="t", a=first, b=second).removeprefix("t = ")
        values.append((label, other.ieee(a, b)))
    return values


def _swapped(op: Op, quantity: str, a: float, b: float) -> float | None:
    """What ``quantity`` would be with the operands swapped, ``op(b, a)`` (None for a unary op):
    ``c / v`` computed as ``v / c`` gives ``v / c`` and, for v, the gradient ``1 / c``."""
    if op.arity != 2:
        return None
    y = op.ieee(b, a)  # IEEE: never raises
    if quantity == "value":
        return y
    partial_b, partial_a = op.partials_at(b, a, y)  # of op(b, a): a is its second operand now
    swapped = partial_a if quantity == "grad a" else partial_b
    # Where swapping only flips the sign (a - b), "sign flipped" says it without guessing why.
    own_a, own_b = op.partials_at(a, b, op.ieee(a, b))
    return None if swapped == -(own_a if quantity == "grad a" else own_b) else swapped


def _mirrored(op: Op, quantity: str, x: float) -> tuple[str, float] | None:
    """What ``quantity`` of a unary op is at -x, with its label (``sigmoid(-x)``): a formula
    that flips its operand's sign. None where the quantity is odd (``tanh``: "sign flipped"
    says it) or even (``cos``, ``sigmoid'``: the same number), or for an op with kinks, whose
    pieces meet there other slips (relu(-x) is the |x| or the 0 of a relu wrong otherwise)."""
    if op.arity != 1 or op.has_kinks or not math.isfinite(x) or x == 0.0:
        return None
    if _symmetric(op, quantity):
        return None
    there = _unary_at(op, quantity, -x)
    if not math.isfinite(there):
        return None
    return (f"{op.method or op.name}(-x)" if quantity == "value" else "the gradient at -x"), there


def _unary_at(op: Op, quantity: str, x: float) -> float:
    """A unary op's value (``quantity`` "value") or derivative at x, as float64 computes it."""
    y = op.ieee(x, 0.0)
    return y if quantity == "value" else op.partials_at(x, 0.0, y)[0]


@functools.cache
def _symmetric(op: Op, quantity: str) -> bool:
    """Whether ``quantity`` of a unary op is even or odd, as seen at ordinary operands (where
    float64 computes both sides alike: far out, a cancellation may tell them apart)."""
    for x in (0.5, 1.25, 3.0):
        here, there = _unary_at(op, quantity, x), _unary_at(op, quantity, -x)
        if not any(math.isclose(here, s * there, rel_tol=1e-9) for s in (1.0, -1.0)):
            return False
    return True


@dataclass
class PerOpRun:
    """The ``ops`` check's findings: per variant, and how much it evaluated."""

    results: dict[Variant, VariantResult] = field(default_factory=dict)
    evaluated: int = 0
    unfinished: list[Variant] = field(default_factory=list)
    """Variants left out because the check's time ran out."""


@dataclass
class PerOpCheck(Check):
    """Every supported op variant alone, over its whole domain; see the module docstring."""

    def run_all(self, ctx: CheckContext, deadline: float) -> PerOpRun:
        """Evaluate every supported variant (until ``deadline``)."""
        evaluator = _Evaluator(ctx, deadline)
        rng = random.Random(ctx.seed)
        count = RANDOM_POINTS.get(ctx.profile, RANDOM_POINTS["default"])
        run = PerOpRun()
        results = run.results
        for name, form in ctx.supported:
            if evaluator.out_of_time:
                run.unfinished.append((name, form))
                continue
            judged = evaluator.batch(name, form, points(name, form, rng, count))
            if evaluator.out_of_time:
                run.unfinished.append((name, form))
                if not judged:
                    continue
            rank = _slip_rank(OPS[name], form, judged)
            result = VariantResult((name, form), _tags(name, form, judged, rank))
            for quantity, found in result.findings.items():
                if not any(f.failing for _, f, _ in found):
                    continue
                if form == "v":
                    line = [(p[0], f, t) for p, f, t in found]
                    refine = evaluator.refiner(name, quantity, rank.get(quantity))
                    result.regions[quantity] = describe_1d(line, "x", refine)
                else:
                    result.regions[quantity] = describe_2d(found, _axes(form))
            results[(name, form)] = result
        run.evaluated = evaluator.evaluated
        return run


PER_OP = PerOpCheck(
    "ops",
    "every op variant alone over its whole domain: values, gradients, operands left intact",
    {"quick": 1, "default": 1, "thorough": 1},
    hypothesis_shrinks=False,
    cost=16_000.0,
)
