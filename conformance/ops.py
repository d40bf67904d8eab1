"""THE op table: every fact the harness knows about an op, one row per op.

A row says how the op is called on a backend (plain Python operators and methods, so any
micrograd-style class works) and how it reads in a reproducer; its float64 value with IEEE
semantics as torch computes it; its torch and mpmath references; its partial derivatives with
torch's conventions at kinks (written once over a number namespace, so the same formula serves
float64 and high precision); the error model the tolerance uses; where its kinks are; and the
inputs worth probing it on. Nothing else in the harness branches on an op's name.

This module never imports ``micrograd``: the harness must not check an engine against itself.

Forms name the operand kinds, in order: ``v`` is a Value node, ``c`` a plain-float constant.
Unary ops have the single form ``"v"``; binary ops a subset of ``"vv"``, ``"vc"``, ``"cv"``
(``"cv"`` is a reflected op such as ``2.0 - v``).

Adding an op is one row here (and the op in the engine and in the independent reference engine
of the meta-tests): see docs/ARCHITECTURE.md, "Adding an op".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AMBIGUOUS",
    "FIRST_ORDER_LIMIT",
    "FLOAT64",
    "FORMS",
    "MPMATH",
    "OPS",
    "PARTIAL_UNDERFLOW",
    "REL",
    "SIGN_RESOLUTION",
    "Numbers",
    "Op",
    "Variant",
    "all_variants",
    "ambiguous_zero",
    "family",
    "py_value",
    "variant_is_valid",
]

Variant = tuple[str, str]
"""An (op name, form) pair: the unit in which support is probed and programs are generated."""

FORMS = ("v", "vv", "vc", "cv")

REL = 2.0**-36
"""The tolerance's relative factor: a number passes within ``REL * scale`` (see tolerance.py)."""

AMBIGUOUS = 2.0**64
"""Partial-error scale of a partial whose value depends on a sign nobody can resolve in float64.

``relu`` of a computed value that is zero within its own rounding error may legitimately see
either side of the kink; this scale makes the tolerance cover the whole adjoint there."""

PARTIAL_UNDERFLOW = 2.0**-1038
"""Partial-error scale per unit of a factor applied after a possibly underflowed intermediate.

Scales are in units of the tolerance's REL (2**-36); 2**-1038 of them are 2**-1074 absolute,
twice the 2**-1075 an intermediate that underflows can lose."""

SIGN_RESOLUTION = 2.0**-30
"""A computed operand within this fraction of its error scale of zero has an unresolvable sign:
relu may see either side of its kink, and a division by it may give any value (or inf)."""

FIRST_ORDER_LIMIT = 2.0**-20
"""Operand error (absolute or relative, as the row says) beyond which the first-order error
bound is no longer an upper bound: the result's scale is then infinite."""


def ambiguous_zero(x: float, scale: float) -> bool:
    """Whether a computed operand ``x`` with error scale ``scale`` may be zero (either sign)."""
    return scale > 0.0 and abs(x) <= SIGN_RESOLUTION * scale


# --- number namespaces: the same partial formula in float64 and in high precision -------------


class Numbers(Protocol):
    """The functions a partial derivative formula may call (float64 or mpmath flavoured)."""

    nan: Any

    def exp(self, x: Any) -> Any:
        """e ** x."""
        ...

    def log(self, x: Any) -> Any:
        """The natural logarithm."""
        ...

    def pow(self, x: Any, y: Any) -> Any:
        """x ** y."""
        ...

    def sin(self, x: Any) -> Any:
        """The sine."""
        ...

    def cos(self, x: Any) -> Any:
        """The cosine."""
        ...


class _Float64:
    """Numbers in float64 with IEEE results (inf and nan where Python's math raises)."""

    nan = math.nan

    @staticmethod
    def exp(x: float) -> float:
        """exp overflowing to inf."""
        return _ieee_exp(x)

    @staticmethod
    def log(x: float) -> float:
        """log: -inf at 0, nan below."""
        return _ieee_log(x)

    @staticmethod
    def pow(x: float, y: float) -> float:
        """C's pow."""
        return _ieee_pow(x, y)

    @staticmethod
    def sin(x: float) -> float:
        """sin: nan at +-inf."""
        return _ieee_sin(x)

    @staticmethod
    def cos(x: float) -> float:
        """cos: nan at +-inf."""
        return _ieee_cos(x)


FLOAT64: Numbers = _Float64()
"""The float64 namespace for partial derivative formulas."""


class _Mpmath:
    """Numbers in mpmath at its current working precision (imported on first use)."""

    nan: Any = math.nan

    @staticmethod
    def exp(x: Any) -> Any:
        """mpmath's exp."""
        return _mp().exp(x)

    @staticmethod
    def log(x: Any) -> Any:
        """mpmath's log (complex below 0)."""
        return _mp().log(x)

    @staticmethod
    def pow(x: Any, y: Any) -> Any:
        """mpmath's power (complex for a negative base and a fractional exponent)."""
        return _mp().power(x, y)

    @staticmethod
    def sin(x: Any) -> Any:
        """mpmath's sin."""
        return _mp().sin(x)

    @staticmethod
    def cos(x: Any) -> Any:
        """mpmath's cos."""
        return _mp().cos(x)


MPMATH: Numbers = _Mpmath()
"""The high-precision namespace for partial derivative formulas (mpmath's working precision)."""

Binary = Callable[[float, float], float]
Partials = Callable[[Any, Any, Any, Numbers], tuple[Any, Any]]
PartialScales = Callable[[float, float, float, float, float], tuple[float, float]]
FirstOrder = Callable[[float, float, float, float], bool]
Factor = Callable[[Any, Any, Any], Any]


def _no_kink(a: float, b: float) -> bool:
    return False


def _no_scale(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (0.0, 0.0)


def _linear_everywhere(a: float, b: float, da: float, db: float) -> bool:
    return False


def _no_amplification(a: float, b: float) -> tuple[float, float]:
    return (0.0, 0.0)


@dataclass(frozen=True)
class Op:
    """One row of the op table."""

    name: str
    arity: int
    forms: tuple[str, ...]
    call: Callable[..., Any]
    """How the backend is driven: operands are backend Values or plain floats."""
    source: str
    """Python rendering for reproducers; ``{out}``, ``{a}``, ``{b}`` are substituted."""
    ieee: Binary
    """The float64 value as torch computes it, inf and nan included (b is ignored if unary)."""
    torch: Callable[..., Any]
    """torch reference on float64 tensors (or plain floats for constant operands)."""
    mpmath: Callable[..., Any]
    """mpmath reference on mpf numbers at the working precision (b is ignored if unary)."""
    exact: bool
    """True when ``mpmath`` never rounds (sums, negation, relu, abs): the result keeps every bit."""
    partials: Partials
    """(a, b, y, numbers) -> (dy/da, dy/db), with torch's conventions at kinks."""
    partial_scales: PartialScales = _no_scale
    """(a, b, y, Sa, Sb) -> how far each partial may move when a and b are off by REL * Sa and
    REL * Sb, plus the magnitude of the terms it is computed from (cancellation inside it)."""
    first_order_breaks: FirstOrder = _linear_everywhere
    """(a, b, da, db) -> whether operand errors da, db are too large for a first-order bound."""
    ambiguous_operands: tuple[int, ...] = ()
    """Operands whose zero is a pole or a domain edge: a computed operand that may be zero
    (within its error) leaves the result undetermined (a / b, log a, sqrt a)."""
    bilinear: bool = False
    """The product of the operands' errors is a second-order term of the result (a * b)."""
    amplification: Callable[[float, float], tuple[float, float]] = _no_amplification
    """How much torch's backward may scale an underflowed ``adjoint * first factor`` product,
    per operand (``c / v``: 1/v**2)."""
    kink: Callable[[float, float], bool] = _no_kink
    """True where the op sits on a point where derivative conventions differ (relu at 0, 0**b)."""
    fragile: Callable[[float, float], bool] = _no_kink
    """True where correct float64 evaluations may differ even in finiteness (torch's ``c / v``
    is ``reciprocal(v) * c``, which overflows for subnormal v while the quotient may not)."""
    linear: bool = False
    """Linear in its operands (add, sub, neg): makes zeros (a - a) and routes gradients."""
    bounded_partials: bool = False
    """Its partials are at most 1 in magnitude whatever the operands (1, -1 or 0 for sums,
    negation, relu and abs; 1 - y*y, y*(1 - y), cos a, -sin a): float64 computes them without
    overflow, so no operand's magnitude makes backpropagating through the op fragile."""
    partial_factors: tuple[Factor | None, Factor | None] = (None, None)
    """Per operand, (a, b, y) -> the one quantity its partial is a moderate multiple of (at most
    2**10 times it) that float64 computes in one rounding: ``1 / b`` for a / b's a, ``y`` for exp,
    ``1 / y`` for sqrt. Where that quantity is a normal float64 number, the gradient through this
    operand does not depend on the formula an engine uses, however extreme the operands (the
    mpmath oracle's guard). None where the partial needs more: a / b's b is -a / b**2, and b * b
    may under- or overflow where the partial does not."""
    either_side: bool = False
    """micrograd's API takes a number on either side of it (``v * 2`` and ``2 * v``): a missing
    number form, where the op itself exists, is a problem rather than a skipped variant."""
    bounded: bool = False
    """Its value stays in [-1, 1] whatever the operand (tanh, sigmoid, sin, cos): damps chains."""
    contraction: float | None = None
    """A constant c for which ``op(v, c)`` halves v (mul 0.5, div 2): damps chains."""
    specials: tuple[float, ...] = ()
    """Operand values worth probing this op on: kinks, domain edges, where naive formulas fail."""
    inplace: bool = False
    description: str = ""
    conventions: str = ""
    """torch's derivative conventions at this op's kinks and poles, in words."""
    method: str = ""
    """The method name of a unary op called as ``v.name()`` (empty for operators)."""
    dunder: str = ""
    """The operator's special-method stem (``add`` for ``__add__``/``__radd__``/``__iadd__``)."""
    built_as: tuple[tuple[str, tuple[str | int | float, ...]], ...] = ()
    """How micrograd, and the ports that copy it, build ``a <op> b`` from other ops: one
    (op, operands) per node, an operand being ``"a"`` or ``"b"``, an int for a node built before
    it, or a float for a number (``a - b`` is ``a + (-b)``, ``-a`` is ``a * -1``). A graph bug
    meets the nodes built:
    ``c - c`` holds ``c`` at two depths, ``c + c`` does not."""
    _forms_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_forms_set", frozenset(self.forms))

    @property
    def has_kinks(self) -> bool:
        """Whether the op has points where derivative conventions matter."""
        return self.kink is not _no_kink

    def partials_at(self, a: float, b: float, y: float) -> tuple[float, float]:
        """The float64 partials at (a, b), nan where they are undefined (division by zero...)."""
        try:
            pa, pb = self.partials(a, b, y, FLOAT64)
            return (float(pa), float(pb))
        except (ArithmeticError, ValueError):
            return (math.nan, math.nan)

    def partial_scales_at(
        self, a: float, b: float, y: float, sa: float, sb: float
    ) -> tuple[float, float]:
        """The partials' error scales, inf where they are undefined."""
        try:
            return self.partial_scales(a, b, y, sa, sb)
        except (ArithmeticError, ValueError):
            return (math.inf, math.inf)

    def value(self, a: float, b: float = 0.0) -> float:
        """The IEEE float64 value on (a, b), never raising."""
        return self.ieee(a, b)

    def variants(self) -> list[Variant]:
        """Every (name, form) pair of this op."""
        return [(self.name, form) for form in self.forms]


# --- IEEE float64 scalar functions: torch's results where Python's math raises -----------------


def _is_odd_integer(b: float) -> bool:
    return math.isfinite(b) and b == math.floor(b) and math.fmod(b, 2.0) != 0.0


def _ieee_div(a: float, b: float) -> float:
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _ieee_exp(a: float) -> float:
    try:
        return math.exp(a)
    except OverflowError:
        return math.inf


def _ieee_log(a: float) -> float:
    if math.isnan(a) or a < 0.0:
        return math.nan
    if a == 0.0:
        return -math.inf
    return math.log(a)


def _ieee_pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ValueError:  # 0 ** negative (C99: +-inf), negative ** non-integer (nan)
        if a == 0.0:
            return math.copysign(math.inf, a) if _is_odd_integer(b) else math.inf
        return math.nan
    except OverflowError:
        return -math.inf if a < 0.0 and _is_odd_integer(b) else math.inf


def _ieee_sin(a: float) -> float:
    return math.sin(a) if math.isfinite(a) else math.nan


def _ieee_cos(a: float) -> float:
    return math.cos(a) if math.isfinite(a) else math.nan


def _ieee_sqrt(a: float) -> float:
    return math.sqrt(a) if a >= 0.0 or math.isnan(a) else math.nan  # sqrt(-0.0) is -0.0


def _ieee_relu(a: float) -> float:
    return 0.0 if a < 0.0 else a  # torch's clamp keeps -0.0 and nan as they are


def _ieee_sigmoid(a: float) -> float:
    return 1.0 / (1.0 + _ieee_exp(-a))  # torch's formula: exp overflowing makes it 0, not nan


# --- error-model helpers ----------------------------------------------------------------------


def _safe(f: Callable[[], float]) -> float:
    """Evaluate f, mapping domain errors and overflow to inf (a scale that is 'unbounded')."""
    try:
        return f()
    except (OverflowError, ValueError, ZeroDivisionError):
        return math.inf


def _term(coefficient: Callable[[], float], scale: float) -> float:
    """|coefficient| * scale; a zero scale makes the term vanish whatever the coefficient."""
    if scale == 0.0:
        return 0.0
    c = abs(_safe(coefficient))
    return math.inf if math.isnan(c) else c * scale


def _absolute_error(a: float, b: float, da: float, db: float) -> bool:
    """Smooth functions of bounded slope: an absolute operand error beyond the limit."""
    return da > FIRST_ORDER_LIMIT


def _relative_error_of(operand: int) -> FirstOrder:
    """Functions with a pole or an edge at zero: a relative operand error beyond the limit."""

    def breaks(a: float, b: float, da: float, db: float) -> bool:
        x, dx = (a, da) if operand == 0 else (b, db)
        return dx > FIRST_ORDER_LIMIT * abs(x)

    return breaks


# --- the quantities partials are moderate multiples of (Op.partial_factors) ----------------


def _result(a: Any, b: Any, y: Any) -> Any:
    return y


def _reciprocal_of_a(a: Any, b: Any, y: Any) -> Any:
    return 1 / a


def _reciprocal_of_b(a: Any, b: Any, y: Any) -> Any:
    return 1 / b


def _reciprocal_of_result(a: Any, b: Any, y: Any) -> Any:
    return 1 / y


# --- add / sub / mul / div / neg ------------------------------------------------------------


def _add(a: Any, b: Any) -> Any:
    return a + b


def _sub(a: Any, b: Any) -> Any:
    return a - b


def _mul(a: Any, b: Any) -> Any:
    return a * b


def _truediv(a: Any, b: Any) -> Any:
    return a / b


def _neg(a: Any, b: Any = None) -> Any:
    return -a


def _p_add(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (1, 1)


def _p_sub(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (1, -1)


def _p_mul(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (b, a)


def _s_mul(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (sb, sa)


def _p_div(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (1 / b, -(a / b) / b)


def _s_div(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    if ambiguous_zero(b, sb):
        return (math.inf, math.inf)  # 1/b and a/b**2 may be anything: nothing after is judged
    # torch's `c / v` is `v.reciprocal() * c`: its backward scales (1/v)**2, which may underflow
    # (an absolute error of 2**-1075), by |c|; so the partial for b may be off by |a| * 2**-1075.
    return (
        _term(lambda: 1.0 / (b * b), sb),
        _term(lambda: 1.0 / (b * b), sa)
        + _term(lambda: 2.0 * a / (b * b * b), sb)
        + abs(a) * PARTIAL_UNDERFLOW,
    )


def _subnormal_denominator(a: float, b: float) -> bool:
    return 0.0 < abs(b) < 2.0**-1022  # 1 / b overflows; b * b underflows in the partials


def _amplify_div(a: float, b: float) -> tuple[float, float]:
    """torch's ``c / v`` backward is ``(g * c) * (r * r)`` with r = 1/v."""
    return (0.0, _safe_abs(lambda: (1.0 / b) / b))


def _p_neg(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (-1, 0)


# --- pow ------------------------------------------------------------------------------------


def _power(a: Any, b: Any) -> Any:
    return a**b


def _p_pow(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    # torch: d/da a**0 is 0 everywhere; d/db is 0 where a == 0 and b >= 0.
    pa = 0 if b == 0 else b * m.pow(a, b - 1)
    if a == 0 and b >= 0:
        pb = 0
    elif a > 0:
        pb = y * m.log(a)
    else:
        pb = m.nan
    return (pa, pb)


def _s_pow(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    def cross() -> float:
        return math.pow(a, b - 1.0) * (1.0 + b * math.log(a))

    saa = 0.0 if b in (0.0, 1.0) else _term(lambda: b * math.pow(a, b - 2.0) * (b - 1.0), sa)
    # b * a**(b-1): a**(b-1) may underflow (absolute error 2**-1075) before it is scaled by b.
    scale_a = saa + _term(cross, sb) + abs(b) * PARTIAL_UNDERFLOW
    scale_b = _term(cross, sa) + _term(lambda: y * math.log(a) ** 2, sb)
    return (scale_a, scale_b)


def _pow_breaks(a: float, b: float, da: float, db: float) -> bool:
    """``v ** w`` with w = -87 +- 1e17 (after a cancellation) may be 0, 1 or inf in float64."""
    if da and (a == 0.0 or abs(b) * da > FIRST_ORDER_LIMIT * abs(a)):
        return True
    return bool(db) and (a <= 0.0 or abs(math.log(a)) * db > FIRST_ORDER_LIMIT)


def _amplify_pow(a: float, b: float) -> tuple[float, float]:
    """pow's backward is ``(g * b) * a**(b-1)``, and ``(g * y) * log(a)`` for the exponent."""
    amp_a = _safe_abs(lambda: math.pow(abs(a), b - 1.0)) if a != 0.0 else math.inf
    amp_b = _safe_abs(lambda: math.log(a)) if a > 0.0 else 0.0
    return (amp_a, amp_b)


def _pow_kink(a: float, b: float) -> bool:
    return a == 0.0


def _pow_fragile(a: float, b: float) -> bool:
    """torch computes ``v ** 0.5`` as sqrt and ``v ** -0.5`` as rsqrt: nan at -inf, where C's
    ``pow`` (and Python's ``**``) give inf and 0."""
    return a == -math.inf and abs(b) == 0.5


def _safe_abs(f: Callable[[], float]) -> float:
    try:
        y = f()
    except (ArithmeticError, ValueError):
        return math.inf
    return math.inf if math.isnan(y) else abs(y)


# --- unary functions ----------------------------------------------------------------------------


def _p_exp(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (y, 0)


def _s_exp(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (_term(lambda: y, sa), 0.0)


def _p_log(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (1 / a, 0)


def _s_log(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (_term(lambda: 1.0 / (a * a), sa), 0.0)


def _p_tanh(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (1 - y * y, 0)


def _s_tanh(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    # 1 - y*y cancels as |y| -> 1: the terms' magnitude (1 + y*y) bounds its rounding error.
    return (1.0 + y * y + 2.0 * abs(y) * (1.0 - y * y) * sa, 0.0)


def _p_relu(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (0 if a <= 0 else 1, 0)  # torch masks where the result is <= 0 (so relu'(nan) = 1)


def _s_at_sign_kink(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    """A partial that jumps where the operand changes sign (relu, abs)."""
    return (AMBIGUOUS if ambiguous_zero(a, sa) else 0.0, 0.0)


def _zero_kink(a: float, b: float) -> bool:
    return a == 0.0


def _p_sigmoid(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (y * (1 - y), 0)


def _s_sigmoid(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    p = abs(y * (1.0 - y))
    return (abs(y) + y * y + abs(1.0 - 2.0 * y) * p * sa, 0.0)


def _p_sin(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (m.cos(a), 0)


def _s_sin(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (_term(lambda: y, sa), 0.0)  # d/da cos(a) = -sin(a) = -y


def _p_cos(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (-m.sin(a), 0)


def _s_cos(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (_term(lambda: y, sa), 0.0)  # d/da -sin(a) = -cos(a) = -y


def _p_sqrt(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (1 / (2 * y), 0)  # torch: grad / (2 * result), so sqrt'(0) = inf


def _s_sqrt(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (_term(lambda: 0.25 / (a * y), sa), 0.0)  # d/da a**-0.5 / 2 = -a**-1.5 / 4


def _p_abs(a: Any, b: Any, y: Any, m: Numbers) -> tuple[Any, Any]:
    return (1 if a > 0 else -1 if a < 0 else 0, 0)  # torch: grad * sgn(a), sgn(0) = sgn(nan) = 0


# --- mpmath references (imported lazily: mpmath is an optional dependency) ---------------------


def _mp() -> Any:
    import mpmath

    return mpmath.mp


def _mp_add(a: Any, b: Any) -> Any:
    return _mp().fadd(a, b, exact=True)


def _mp_sub(a: Any, b: Any) -> Any:
    return _mp().fsub(a, b, exact=True)


def _mp_neg(a: Any, b: Any = None) -> Any:
    return _mp().fneg(a, exact=True)  # `-a` would round to the working precision


def _mp_unary(name: str) -> Callable[[Any, Any], Any]:
    def reference(a: Any, b: Any = None) -> Any:
        return getattr(_mp(), name)(a)

    reference.__name__ = f"_mp_{name}"
    return reference


def _mp_relu(a: Any, b: Any = None) -> Any:
    return a if a > 0 else _mp().mpf(0)


def _mp_abs(a: Any, b: Any = None) -> Any:
    return _mp().fabs(a)


def _mp_sigmoid(a: Any, b: Any = None) -> Any:
    mp = _mp()
    return mp.one / (mp.one + mp.exp(-a))


def _mp_pow(a: Any, b: Any) -> Any:
    return _mp().power(a, b)


# --- builders ---------------------------------------------------------------------------------

_BINARY = ("vv", "vc", "cv")
_INPLACE = ("vv", "vc")


def _binary(
    name: str,
    symbol: str,
    dunder: str,
    call: Callable[[Any, Any], Any],
    ieee: Binary,
    mp: Callable[[Any, Any], Any],
    partials: Partials,
    **facts: Any,
) -> Op:
    return Op(
        name=name,
        arity=2,
        forms=_BINARY,
        call=call,
        source="{out} = {a} " + symbol + " {b}",
        ieee=ieee,
        torch=call,
        mpmath=mp,
        partials=partials,
        dunder=dunder,
        either_side=True,
        **facts,
    )


def _unary(
    name: str,
    ieee: Callable[[float], float],
    mp: Callable[[Any, Any], Any],
    partials: Partials,
    **facts: Any,
) -> Op:
    def call(a: Any) -> Any:
        return getattr(a, name)()

    def value(a: float, b: float = 0.0) -> float:
        return ieee(a)

    call.__name__ = f"_call_{name}"
    return Op(
        name=name,
        arity=1,
        forms=("v",),
        call=call,
        source="{out} = {a}." + name + "()",
        ieee=value,
        torch=call,
        mpmath=mp,
        partials=partials,
        method=name,
        **{"description": f"method v.{name}()"} | facts,
    )


def _inplace(base: Op, symbol: str) -> Op:
    """``t = a; t <symbol>= b``: the value and derivatives of ``base``, driven by ``__i*__``."""
    source = "{out} = {a}\n{out} " + symbol + "= {b}"
    namespace: dict[str, Any] = {}
    exec(f"def call(a, b):\n    t = a\n    t {symbol}= b\n    return t\n", namespace)
    call = namespace["call"]
    call.__name__ = f"_i{base.name}"
    return Op(
        name="i" + base.name,
        arity=2,
        forms=_INPLACE,
        call=call,
        source=source,
        ieee=base.ieee,
        torch=base.torch,
        mpmath=base.mpmath,
        exact=base.exact,
        bounded_partials=base.bounded_partials,
        partials=base.partials,
        partial_scales=base.partial_scales,
        first_order_breaks=base.first_order_breaks,
        ambiguous_operands=base.ambiguous_operands,
        fragile=base.fragile,
        bilinear=base.bilinear,
        partial_factors=base.partial_factors,
        amplification=base.amplification,
        kink=base.kink,
        inplace=True,
        description=f"augmented assignment `t = a; t {symbol}= b` (must not mutate a)",
        conventions=base.conventions,
        dunder="i" + base.dunder,
        built_as=base.built_as,
    )


# --- the table ---------------------------------------------------------------------------------

_ADD = _binary(
    "add", "+", "add", _add, _add, _mp_add, _p_add,
    exact=True, linear=True, bounded_partials=True, description="a + b",
)  # fmt: skip
_SUB = _binary(
    "sub", "-", "sub", _sub, _sub, _mp_sub, _p_sub,
    exact=True, linear=True, bounded_partials=True, description="a - b",
    built_as=(("neg", ("b",)), ("add", ("a", 0))),
)  # fmt: skip
_MUL = _binary(
    "mul",
    "*",
    "mul",
    _mul,
    _mul,
    _mul,
    _p_mul,
    exact=False,
    partial_scales=_s_mul,
    bilinear=True,
    contraction=0.5,
    specials=(1e-200, 1e200, 1.5e-154, 1.4e154),
    description="a * b",
)
_DIV = _binary(
    "div",
    "/",
    "truediv",
    _truediv,
    _ieee_div,
    _truediv,
    _p_div,
    exact=False,
    partial_scales=_s_div,
    first_order_breaks=_relative_error_of(1),
    ambiguous_operands=(1,),
    amplification=_amplify_div,
    partial_factors=(_reciprocal_of_b, None),
    fragile=_subnormal_denominator,
    contraction=2.0,
    specials=(1e-200, 1e200, 1.5e-154, 1e-300),
    description="a / b",
    conventions="c / v is computed as reciprocal(v) * c, as torch does",
    built_as=(("pow", ("b", -1.0)), ("mul", ("a", 0))),
)
_POW = Op(
    name="pow",
    arity=2,
    forms=_BINARY,
    call=_power,
    source="{out} = {a} ** {b}",
    ieee=_ieee_pow,
    torch=_power,
    mpmath=_mp_pow,
    exact=False,
    partials=_p_pow,
    partial_scales=_s_pow,
    partial_factors=(None, _result),  # d/db a ** b = y * log(a), |log a| <= 745
    first_order_breaks=_pow_breaks,
    amplification=_amplify_pow,
    kink=_pow_kink,
    fragile=_pow_fragile,
    dunder="pow",
    specials=(0.0, 0.5, -0.5, 2.0, 3.0, -1.0, 1e-100, 300.0),
    description="v ** number (vc), v ** Value (vv), number ** v (cv)",
    conventions="d/da a**b is 0 when b == 0 (even at a == 0); d/db is 0 when a == 0 and b >= 0",
)
_NEG = Op(
    name="neg",
    arity=1,
    forms=("v",),
    call=_neg,
    source="{out} = -{a}",
    ieee=_neg,
    torch=_neg,
    mpmath=_mp_neg,
    exact=True,
    partials=_p_neg,
    linear=True,
    bounded_partials=True,
    dunder="neg",
    description="-a",
    built_as=(("mul", ("a", -1.0)),),
)

OPS: dict[str, Op] = {
    op.name: op
    for op in (
        _ADD,
        _SUB,
        _MUL,
        _DIV,
        _NEG,
        _POW,
        _unary(
            "exp",
            _ieee_exp,
            _mp_unary("exp"),
            _p_exp,
            exact=False,
            partial_scales=_s_exp,
            partial_factors=(_result, None),
            first_order_breaks=_absolute_error,
            specials=(709.78, 709.0, -708.4, -745.1, 1e-300),
        ),
        _unary(
            "log",
            _ieee_log,
            _mp_unary("log"),
            _p_log,
            exact=False,
            partial_scales=_s_log,
            partial_factors=(_reciprocal_of_a, None),
            first_order_breaks=_relative_error_of(0),
            ambiguous_operands=(0,),
            specials=(1.0, 5e-324, 1e-308, 1.7e308, 1e-10),
        ),
        _unary(
            "tanh",
            math.tanh,
            _mp_unary("tanh"),
            _p_tanh,
            exact=False,
            bounded_partials=True,
            partial_scales=_s_tanh,
            first_order_breaks=_absolute_error,
            bounded=True,
            specials=(1e-10, 1e-300, 19.0, 355.0, 710.0, -710.0),
        ),
        _unary(
            "relu",
            _ieee_relu,
            _mp_relu,
            _p_relu,
            exact=True,
            bounded_partials=True,
            partial_scales=_s_at_sign_kink,
            # An operand whose error reaches 0 may sit on either side of the kink: the slope at
            # the oracle's point (0 for a negative one) bounds nothing there.
            first_order_breaks=_relative_error_of(0),
            kink=_zero_kink,
            specials=(0.0, -0.0, 5e-324),
            conventions="relu'(0) = 0; relu keeps -0.0 and nan",
        ),
        _unary(
            "sigmoid",
            _ieee_sigmoid,
            _mp_sigmoid,
            _p_sigmoid,
            exact=False,
            bounded_partials=True,
            partial_scales=_s_sigmoid,
            first_order_breaks=_absolute_error,
            bounded=True,
            specials=(36.8, -36.8, 710.0, -710.0, -745.1, 1e-300),
        ),
        _unary(
            "sin",
            _ieee_sin,
            _mp_unary("sin"),
            _p_sin,
            exact=False,
            bounded_partials=True,
            partial_scales=_s_sin,
            first_order_breaks=_absolute_error,
            bounded=True,
            specials=(math.pi, 1e22, 1e300, 1e-300),
            conventions="sin of +-inf is nan",
        ),
        _unary(
            "cos",
            _ieee_cos,
            _mp_unary("cos"),
            _p_cos,
            exact=False,
            bounded_partials=True,
            partial_scales=_s_cos,
            first_order_breaks=_absolute_error,
            bounded=True,
            specials=(math.pi / 2, 1e22, 1e300, 1e-300),
            conventions="cos of +-inf is nan",
        ),
        _unary(
            "sqrt",
            _ieee_sqrt,
            _mp_unary("sqrt"),
            _p_sqrt,
            exact=False,
            partial_scales=_s_sqrt,
            partial_factors=(_reciprocal_of_result, None),
            first_order_breaks=_relative_error_of(0),
            ambiguous_operands=(0,),
            specials=(0.0, -0.0, 5e-324, 1e-308, 1.7e308),
            conventions="sqrt'(0) = inf (grad / (2 * result)); sqrt of a negative is nan",
        ),
        _unary(
            "abs",
            math.fabs,
            _mp_abs,
            _p_abs,
            exact=True,
            bounded_partials=True,
            partial_scales=_s_at_sign_kink,
            first_order_breaks=_relative_error_of(0),  # as relu's: the kink may be crossed
            kink=_zero_kink,
            specials=(0.0, -0.0, 5e-324),
            conventions="abs'(0) = 0 (grad * sgn(a))",
        ),
        _inplace(_ADD, "+"),
        _inplace(_SUB, "-"),
        _inplace(_MUL, "*"),
        _inplace(_DIV, "/"),
    )
}
"""Every op the harness knows, by name."""


def family(op: str) -> str:
    """The op whose method a variant runs: ``t *= b`` falls back to ``*`` where there is no
    ``__imul__``, so the in-place forms count with their plain op."""
    return op[1:] if OPS[op].inplace else op


def all_variants() -> list[Variant]:
    """Every (op, form) pair in table order."""
    return [variant for op in OPS.values() for variant in op.variants()]


def py_value(op: Op, a: float, b: float) -> float:
    """The op's IEEE float64 value on (a, b) (b ignored for unary ops): inf/nan where torch's is."""
    return float(op.ieee(a, b))


def variant_is_valid(op: Op, form: str, a: float, b: float, *, kinks: bool = False) -> bool:
    """Whether (a, b) lies in the op's checkable domain for this form.

    Checkable means torch's value and the local partials of every Value operand are finite and,
    unless ``kinks`` is set, the operands are off the op's kinks.
    """
    y = op.ieee(a, b)
    if not math.isfinite(y):
        return False
    if not kinks and op.kink(a, b):
        return False
    pa, pb = op.partials_at(a, b, y)
    if form[0] == "v" and not math.isfinite(pa):
        return False
    return not (op.arity == 2 and form[1] == "v" and not math.isfinite(pb))
