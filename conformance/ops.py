"""THE op table: every operation the harness knows, one row per op.

Each row says how many operands the op takes, which operand kinds it accepts (``forms``), how to
call it on a backend (plain Python operators and methods, so any micrograd-style class works), how
to compute it in float64 while generating programs, its torch and mpmath references, and the partial
derivative magnitudes the tolerance model uses to size its error bounds.

This module never imports ``micrograd``: the harness must not check an engine against itself.

Forms name the operand kinds, in order: ``v`` is a Value node, ``c`` a plain-float constant.
Unary ops have the single form ``"v"``; binary ops a subset of ``"vv"``, ``"vc"``, ``"cv"``
(``"cv"`` is a reflected op such as ``2.0 - v``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AMBIGUOUS",
    "FORMS",
    "OPS",
    "Op",
    "Variant",
    "all_variants",
    "denominator_is_ambiguous",
    "py_value",
    "variant_is_valid",
]

Variant = tuple[str, str]
"""An (op name, form) pair: the unit in which support is probed and programs are generated."""

FORMS = ("v", "vv", "vc", "cv")

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


def denominator_is_ambiguous(b: float, sb: float) -> bool:
    """Whether a computed denominator (or relu operand) b with error scale sb may be zero."""
    return sb > 0.0 and abs(b) <= SIGN_RESOLUTION * sb


Partials = Callable[[float, float, float], tuple[float, float]]
PartialScales = Callable[[float, float, float, float, float], tuple[float, float]]


def _no_kink(a: float, b: float) -> bool:
    return False


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
    py: Callable[..., float]
    """float64 value used while generating programs (may raise for out-of-domain operands)."""
    torch: Callable[..., Any]
    """torch reference on float64 tensors (or plain floats for constant operands)."""
    mpmath: Callable[..., Any]
    """mpmath reference on mpf numbers (values only; gradients come from differentiation)."""
    partials: Partials
    """(a, b, y) -> (dy/da, dy/db), following torch's conventions at kinks."""
    partial_scales: PartialScales
    """(a, b, y, Sa, Sb) -> how far each partial may move when a and b are off by Sa, Sb ulps-scale,
    plus the magnitude of the terms it is computed from (so cancellation inside it is covered)."""
    kink: Callable[[float, float], bool] = _no_kink
    """True where the op sits on a point where derivative conventions differ (relu at 0, 0**b)."""
    inplace: bool = False
    description: str = ""

    @property
    def has_kinks(self) -> bool:
        """Whether the op has points where derivative conventions matter."""
        return self.kink is not _no_kink

    def partials_at(self, a: float, b: float, y: float) -> tuple[float, float]:
        """The partials at (a, b), nan where they are undefined (division by zero...)."""
        try:
            return self.partials(a, b, y)
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

    def variants(self) -> list[Variant]:
        """Every (name, form) pair of this op."""
        return [(self.name, form) for form in self.forms]


def _no_scale(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (0.0, 0.0)


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


# --- add / sub / mul / div / neg ------------------------------------------------------------


def _p_add(a: float, b: float, y: float) -> tuple[float, float]:
    return (1.0, 1.0)


def _p_sub(a: float, b: float, y: float) -> tuple[float, float]:
    return (1.0, -1.0)


def _p_mul(a: float, b: float, y: float) -> tuple[float, float]:
    return (b, a)


def _s_mul(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (sb, sa)


def _p_div(a: float, b: float, y: float) -> tuple[float, float]:
    return (1.0 / b, -(a / b) / b)


def _s_div(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    if denominator_is_ambiguous(b, sb):
        return (math.inf, math.inf)  # 1/b and a/b**2 may be anything: nothing after is judged
    # torch's `c / v` is `v.reciprocal() * c`: its backward scales (1/v)**2, which may underflow
    # (an absolute error of 2**-1075), by |c|; so the partial for b may be off by |a| * 2**-1075.
    return (
        _term(lambda: 1.0 / (b * b), sb),
        _term(lambda: 1.0 / (b * b), sa)
        + _term(lambda: 2.0 * a / (b * b * b), sb)
        + abs(a) * PARTIAL_UNDERFLOW,
    )


def _p_neg(a: float, b: float, y: float) -> tuple[float, float]:
    return (-1.0, 0.0)


def _div(a: float, b: float) -> float:
    return a / b


def _pow(a: float, b: float) -> float:
    y = math.pow(a, b)
    if math.isinf(y) and not (math.isinf(a) or math.isinf(b)):
        raise OverflowError("pow overflow")
    return y


# --- pow ------------------------------------------------------------------------------------


def _p_pow(a: float, b: float, y: float) -> tuple[float, float]:
    # torch: d/da a**0 is 0 everywhere; d/db is 0 where a == 0 and b >= 0.
    pa = 0.0 if b == 0.0 else _safe(lambda: b * math.pow(a, b - 1.0))
    if a == 0.0 and b >= 0.0:
        pb = 0.0
    elif a > 0.0:
        pb = _safe(lambda: y * math.log(a))
    else:
        pb = math.nan
    return (pa, pb)


def _s_pow(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    def cross() -> float:
        return math.pow(a, b - 1.0) * (1.0 + b * math.log(a))

    saa = 0.0 if b in (0.0, 1.0) else _term(lambda: b * math.pow(a, b - 2.0) * (b - 1.0), sa)
    # b * a**(b-1): a**(b-1) may underflow (absolute error 2**-1075) before it is scaled by b.
    scale_a = saa + _term(cross, sb) + abs(b) * PARTIAL_UNDERFLOW
    scale_b = _term(cross, sa) + _term(lambda: y * math.log(a) ** 2, sb)
    return (scale_a, scale_b)


def _pow_kink(a: float, b: float) -> bool:
    return a == 0.0


# --- exp / log / tanh / relu / sigmoid --------------------------------------------------------


def _exp(a: float) -> float:
    return math.exp(a)


def _p_exp(a: float, b: float, y: float) -> tuple[float, float]:
    return (y, 0.0)


def _s_exp(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (_term(lambda: y, sa), 0.0)


def _log(a: float) -> float:
    return math.log(a)


def _p_log(a: float, b: float, y: float) -> tuple[float, float]:
    return (1.0 / a, 0.0)


def _s_log(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    return (_term(lambda: 1.0 / (a * a), sa), 0.0)


def _tanh(a: float) -> float:
    return math.tanh(a)


def _p_tanh(a: float, b: float, y: float) -> tuple[float, float]:
    return (1.0 - y * y, 0.0)


def _s_tanh(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    # 1 - y*y cancels as |y| -> 1: the terms' magnitude (1 + y*y) bounds its rounding error.
    return (1.0 + y * y + 2.0 * abs(y) * (1.0 - y * y) * sa, 0.0)


def _relu(a: float) -> float:
    return a if a > 0.0 else 0.0


def _p_relu(a: float, b: float, y: float) -> tuple[float, float]:
    return (1.0 if a > 0.0 else 0.0, 0.0)


RELU_SIGN_RESOLUTION = SIGN_RESOLUTION


def _s_relu(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    if denominator_is_ambiguous(a, sa):
        return (AMBIGUOUS, 0.0)
    return (0.0, 0.0)


def _relu_kink(a: float, b: float) -> bool:
    return a == 0.0


def _sigmoid(a: float) -> float:
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _p_sigmoid(a: float, b: float, y: float) -> tuple[float, float]:
    return (y * (1.0 - y), 0.0)


def _s_sigmoid(a: float, b: float, y: float, sa: float, sb: float) -> tuple[float, float]:
    p = abs(y * (1.0 - y))
    return (abs(y) + y * y + abs(1.0 - 2.0 * y) * p * sa, 0.0)


# --- in-place forms: `t = a; t += b` ----------------------------------------------------------


def _iadd(a: Any, b: Any) -> Any:
    t = a
    t += b
    return t


def _isub(a: Any, b: Any) -> Any:
    t = a
    t -= b
    return t


def _imul(a: Any, b: Any) -> Any:
    t = a
    t *= b
    return t


def _idiv(a: Any, b: Any) -> Any:
    t = a
    t /= b
    return t


# --- mpmath references (imported lazily: mpmath is an optional dependency) ---------------------


def _mp() -> Any:
    import mpmath

    return mpmath.mp


def _mp_exp(a: Any) -> Any:
    return _mp().exp(a)


def _mp_log(a: Any) -> Any:
    return _mp().log(a)


def _mp_tanh(a: Any) -> Any:
    return _mp().tanh(a)


def _mp_relu(a: Any) -> Any:
    return a if a > 0 else _mp().mpf(0)


def _mp_sigmoid(a: Any) -> Any:
    mp = _mp()
    return mp.one / (mp.one + mp.exp(-a))


def _mp_pow(a: Any, b: Any) -> Any:
    return _mp().power(a, b)


_BINARY = ("vv", "vc", "cv")
_INPLACE = ("vv", "vc")


def _binary(
    name: str,
    symbol: str,
    call: Callable[[Any, Any], Any],
    py: Callable[[float, float], float],
    partials: Partials,
    scales: PartialScales,
    description: str,
) -> Op:
    return Op(
        name=name,
        arity=2,
        forms=_BINARY,
        call=call,
        source="{out} = {a} " + symbol + " {b}",
        py=py,
        torch=call,
        mpmath=call,
        partials=partials,
        partial_scales=scales,
        description=description,
    )


def _inplace(base: Op, symbol: str, call: Callable[[Any, Any], Any]) -> Op:
    return Op(
        name="i" + base.name,
        arity=2,
        forms=_INPLACE,
        call=call,
        source="{out} = {a}\n{out} " + symbol + "= {b}",
        py=base.py,
        torch=base.torch,
        mpmath=base.mpmath,
        partials=base.partials,
        partial_scales=base.partial_scales,
        kink=base.kink,
        inplace=True,
        description=f"augmented assignment `t = a; t {symbol}= b` (must not mutate a)",
    )


def _unary(
    name: str,
    py: Callable[[float], float],
    mp: Callable[[Any], Any],
    partials: Partials,
    scales: PartialScales,
    kink: Callable[[float, float], bool] | None = None,
) -> Op:
    def call(a: Any) -> Any:
        return getattr(a, name)()

    return Op(
        name=name,
        arity=1,
        forms=("v",),
        call=call,
        source="{out} = {a}." + name + "()",
        py=py,
        torch=call,
        mpmath=mp,
        partials=partials,
        partial_scales=scales,
        kink=kink or _no_kink,
        description=f"method v.{name}()",
    )


def _add(a: Any, b: Any) -> Any:
    return a + b


def _sub(a: Any, b: Any) -> Any:
    return a - b


def _mul(a: Any, b: Any) -> Any:
    return a * b


def _truediv(a: Any, b: Any) -> Any:
    return a / b


def _power(a: Any, b: Any) -> Any:
    return a**b


def _neg(a: Any) -> Any:
    return -a


_ADD = _binary("add", "+", _add, _add, _p_add, _no_scale, "a + b")
_SUB = _binary("sub", "-", _sub, _sub, _p_sub, _no_scale, "a - b")
_MUL = _binary("mul", "*", _mul, _mul, _p_mul, _s_mul, "a * b")
_DIV = _binary("div", "/", _truediv, _div, _p_div, _s_div, "a / b")
_POW = Op(
    name="pow",
    arity=2,
    forms=_BINARY,
    call=_power,
    source="{out} = {a} ** {b}",
    py=_pow,
    torch=_power,
    mpmath=_mp_pow,
    partials=_p_pow,
    partial_scales=_s_pow,
    kink=_pow_kink,
    description="v ** number (vc), v ** Value (vv), number ** v (cv)",
)
_NEG = Op(
    name="neg",
    arity=1,
    forms=("v",),
    call=_neg,
    source="{out} = -{a}",
    py=_neg,
    torch=_neg,
    mpmath=_neg,
    partials=_p_neg,
    partial_scales=_no_scale,
    description="unary minus -v",
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
        _unary("exp", _exp, _mp_exp, _p_exp, _s_exp),
        _unary("log", _log, _mp_log, _p_log, _s_log),
        _unary("tanh", _tanh, _mp_tanh, _p_tanh, _s_tanh),
        _unary("relu", _relu, _mp_relu, _p_relu, _s_relu, _relu_kink),
        _unary("sigmoid", _sigmoid, _mp_sigmoid, _p_sigmoid, _s_sigmoid),
        _inplace(_ADD, "+", _iadd),
        _inplace(_SUB, "-", _isub),
        _inplace(_MUL, "*", _imul),
        _inplace(_DIV, "/", _idiv),
    )
}
"""Every op the harness knows, by name."""


def all_variants() -> list[Variant]:
    """Every (op, form) pair in table order."""
    return [variant for op in OPS.values() for variant in op.variants()]


def py_value(op: Op, a: float, b: float) -> float:
    """The op's float64 value on (a, b) (b ignored for unary ops); nan when undefined there."""
    try:
        y = op.py(a, b) if op.arity == 2 else op.py(a)
    except (OverflowError, ValueError, ZeroDivisionError):
        return math.nan
    return float(y)


def variant_is_valid(op: Op, form: str, a: float, b: float, *, kinks: bool = False) -> bool:
    """Whether (a, b) lies in the op's checkable domain for this form.

    Checkable means torch's value and the local partials of every Value operand are finite, the
    base of a pow with a Value exponent is positive (its gradient needs log(base)), and, unless
    ``kinks`` is set, the operands are off the op's kinks.
    """
    y = py_value(op, a, b)
    if not math.isfinite(y):
        return False
    if not kinks and op.kink(a, b):
        return False
    pa, pb = op.partials_at(a, b, y)
    if form[0] == "v" and not math.isfinite(pa):
        return False
    if op.arity == 2 and form[1] == "v":
        if not math.isfinite(pb):
            return False
        if op.name == "pow" and not (a > 0.0 or (kinks and a == 0.0)):
            return False
    return True
