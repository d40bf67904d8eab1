"""The mpmath oracle: high-precision values, gradients by high-precision numerical differentiation.

It shares no derivative rule with torch or with any engine. Values come from the op table's
``mpmath`` references evaluated with hundreds of bits; each input's gradient is a central
difference quotient of the whole program, evaluated at high precision, so the only calculus in it
is the definition of the derivative. How the hard parts are handled:

* **Exact sums.** ``add``/``sub`` (and their in-place forms) are computed exactly, so a program
  like ``(x + 1e10) - 1e10`` with ``x = 1e-300`` keeps ``x``: a finite difference needs the tiny
  perturbation of ``x`` to survive sums with large numbers. Every other op is rounded to the
  working precision (relative to its own value), which costs the quotient nothing.
* **Step and precision, checked.** The step of input ``x`` is ``h = 2**-B * 2**e(x)`` (``e(x)``:
  the binary exponent of ``x``, 0 for ``x = 0``), evaluated with ``P = 2B + 96`` bits. Each
  gradient is estimated at two levels (B = 64 and B = 112) and accepted when they agree to
  ``2**-72`` relative (or both are below ``2**-1100``, i.e. zero in float64); otherwise B and P
  grow until they do (rounding noise and truncation error both shrink from level to level, so
  agreement is evidence of convergence). A step that crosses a singularity (a perturbed node
  leaves the domain or overflows) also moves to the next level. After ``MAX_LEVEL`` levels without
  agreement the gradient is reported as nan (undetermined: the program is then unchecked).
* **Kinks follow torch's conventions, by freezing the branch.** A program is piecewise smooth; the
  derivative convention at a kink picks one piece. The forward pass records, for every ``relu``,
  whether its operand is ``> 0``; perturbed evaluations keep that branch (``relu(a) = a`` or
  ``0``), so ``relu'(0) = 0`` as in torch, and relu operands that are merely *close* to zero need no
  tiny step. A ``pow`` whose base is exactly 0 keeps its exponent frozen (torch: d/db = 0 there,
  as 0**b is flat for b > 0) and, for a non-integer exponent b > 1, is evaluated as ``|a|**b``
  (derivative 0 at 0, as torch's b * 0**(b-1)); for 0 < b < 1 the one-sided derivative is
  infinite and the gradient is reported as nan (torch: inf; both leave the program unchecked).
* **float64's range and IEEE semantics.** Values are the exact results *of a float64 program*:
  a node whose exact value overflows float64 becomes inf, one below half the smallest subnormal
  becomes 0, and a subnormal result is rounded to float64's subnormal grid (as every float64 engine
  stores it). A node that is undefined on its operands (division by zero, log of 0 or of a
  negative number, 0**negative, negative**non-integer) or whose operand is already inf/nan gets
  the IEEE float64 value that torch gives (``1/0 = inf`` with the sign of zero, ``log(0) = -inf``,
  ``inf - inf = nan``, ``exp(-inf) = 0``...). Where a non-finite value lies on a path from an input
  to the output, that input's gradient is nan: torch's non-finite gradients come from its own
  backward formulas (``inf * 0``), which an oracle without derivative rules cannot and should not
  reproduce, so ``determines_nonfinite_gradients`` is False and such programs are unchecked.
* **Speed.** Perturbed evaluations recompute only the nodes that depend on the perturbed input;
  results are cached per program (shrinking replays programs often).

Values are correctly rounded to float64 up to the working precision (at least 256 bits, so a
double rounding is possible only within 2**-200 of a halfway point). The oracle is not
thread-safe: it sets mpmath's global working precision while it runs.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.backends.base import BackendError, Evaluation
from conformance.ops import OPS
from conformance.program import Program

__all__ = ["MAX_LEVEL", "MpmathOracle", "ieee_value"]

BASE_PRECISION = 256
"""Bits of the forward pass that yields the values."""

MAX_LEVEL = 8
"""Levels of (step, precision) refinement tried per step scale before a gradient is undetermined."""

FIRST_STEP_BITS = 64
"""The first step is 2**-64 relative; each refinement takes NEXT_STEP_BITS more bits (doubling
them after a step that left the domain) with twice as many bits of precision plus 96."""

NEXT_STEP_BITS = 48

MAX_PRECISION = 1600
"""Bits beyond which a perturbation a node rounds away is taken as negligible (tanh(400) moves
by 2**-1150 of its value; contributions that small never reach a float64 gradient)."""

AGREEMENT_BITS = 72
"""Two successive gradient estimates are accepted when they agree to 2**-AGREEMENT_BITS."""

ZERO_BITS = 1100
"""Estimates both below 2**-ZERO_BITS are zero in float64 whatever their digits."""

_FLOAT_MAX_EXP = 1024  # |y| >= 2**1024 rounds to inf ... unless it rounds down to DBL_MAX
_SUBNORMAL_EXP = -1022  # |y| < 2**-1022 is subnormal in float64
FRAGILE_EXP = 500
"""Gradients through values beyond 2**+-500 are float64-fragile (see MpmathOracle._fragile)."""

_NEGLIGIBLE_EXP = -4000
"""Perturbed passes flush |y| < 2**-4000: its change, even divided by the smallest step (about
2**-1400) and multiplied by the largest adjoint (2**1024), stays far below float64's subnormals."""

# Canonical op of each in-place form: `t = a; t += b` has the value and derivatives of a + b.
_CANONICAL = {name: (name[1:] if op.inplace else name) for name, op in OPS.items()}


_ROUNDED = frozenset(("mul", "div", "pow", "exp", "log", "tanh", "sigmoid"))
"""Ops whose results are rounded to the working precision (add, sub, neg are exact)."""


class _Undefined(Exception):
    """An op left its domain (or float64's range) where the exact value is not a real number."""


# --- IEEE float64 values at the non-finite boundary ------------------------------------------


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


def _is_odd_integer(b: float) -> bool:
    return math.isfinite(b) and b == math.floor(b) and math.fmod(b, 2.0) != 0.0


def _ieee_pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ValueError:  # 0 ** negative (C99: +-inf), negative ** non-integer (nan)
        if a == 0.0:
            return math.copysign(math.inf, a) if _is_odd_integer(b) else math.inf
        return math.nan
    except OverflowError:
        return -math.inf if a < 0.0 and _is_odd_integer(b) else math.inf


def _ieee_relu(a: float) -> float:
    if math.isnan(a):
        return a
    return a if a > 0.0 else 0.0


def _ieee_sigmoid(a: float) -> float:
    if math.isnan(a):
        return a
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    return _ieee_div(_ieee_exp(a), 1.0 + _ieee_exp(a))


_IEEE: dict[str, Callable[[float, float], float]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": _ieee_div,
    "neg": lambda a, b: -a,
    "pow": _ieee_pow,
    "exp": lambda a, b: _ieee_exp(a),
    "log": lambda a, b: _ieee_log(a),
    "tanh": lambda a, b: math.tanh(a),
    "relu": lambda a, b: _ieee_relu(a),
    "sigmoid": lambda a, b: _ieee_sigmoid(a),
}


def ieee_value(op: str, a: float, b: float = 0.0) -> float:
    """The op's IEEE float64 value on float64 operands, as torch computes it (inf/nan included)."""
    name = _CANONICAL.get(op)
    if name is None or name not in _IEEE:
        raise ValueError(f"unknown op {op!r}; expected one of {list(OPS)}")
    return _IEEE[name](a, b)


# --- the evaluator -----------------------------------------------------------------------------


@dataclass
class _Plan:
    """What a program's gradient needs: the base pass and the structure around it."""

    mp_values: list[Any]  # exact-ish mpf per node (None where the node is not finite)
    floats: list[float]  # float64 value per node (what the Evaluation reports)
    relu_active: dict[int, bool]  # relu node -> operand > 0 at the base point
    pow_kinks: dict[int, Any]  # pow node with base exactly 0 -> its frozen exponent (mpf)
    cones: dict[int, list[int]]  # input -> op nodes depending on it, ascending


class MpmathOracle:
    """Evaluates programs with mpmath at high precision; gradients by numerical differentiation."""

    name = "mpmath"
    determines_nonfinite_gradients = False
    """Gradients through inf/nan are reported as nan (undetermined), not torch's exact pattern."""

    def __init__(self, *, cache_size: int = 2048) -> None:
        import mpmath

        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"cache_size={cache_size!r} must be an integer >= 0")
        self.mpmath = mpmath
        self.mp = mpmath.mp
        self.version = str(mpmath.__version__)
        self.description = (
            f"mpmath {self.version}, {BASE_PRECISION}+ bits, gradients by numerical differentiation"
        )
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Evaluation] = OrderedDict()
        self.undetermined = 0
        """How many gradients no refinement level could settle (reported as nan)."""
        mp = self.mp
        self._refs: dict[str, Callable[..., Any]] = {n: OPS[n].mpmath for n in _CANONICAL.values()}
        self._mpf = mp.mpf
        self._fadd = mp.fadd
        self._fsub = mp.fsub
        self._fneg = mp.fneg
        self._zero = mp.mpf(0)

    # --- public ----------------------------------------------------------------------------

    def run(self, program: Program) -> Evaluation:
        """Values of every non-const node and the gradient of every input node."""
        key = program.to_json()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return Evaluation(dict(cached.values), dict(cached.grads))
        mp = self.mp
        saved = mp.prec
        try:
            mp.prec = BASE_PRECISION
            plan = self._forward(program)
            grads = self._gradients(program, plan)
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise BackendError(f"mpmath oracle failed: {type(exc).__name__}: {exc}") from exc
        finally:
            mp.prec = saved
        values = {i: plan.floats[i] for i in program.value_nodes}
        result = Evaluation(values, grads)
        if self.cache_size:
            self._cache[key] = Evaluation(dict(values), dict(grads))
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return result

    def exact_value(self, op: str, a: float, b: float = 0.0, *, bits: int = BASE_PRECISION) -> Any:
        """The op's value on float64 operands as an mpf at ``bits`` bits (None if not finite).

        The value is float64-range aware as in programs: overflow gives None, underflow 0.
        """
        mp = self.mp
        saved = mp.prec
        try:
            mp.prec = bits
            try:
                return self._apply(_CANONICAL[op], self._mpf(a), self._mpf(b), rounded=False)
            except _Undefined:
                return None
        finally:
            mp.prec = saved

    # --- one op ----------------------------------------------------------------------------

    def _apply(self, name: str, a: Any, b: Any, *, rounded: bool) -> Any:
        """The exact-ish value of op ``name`` (canonical) on mpf operands; _Undefined if none.

        ``rounded`` rounds results below float64's normal range to its grid, as float64
        engines store them (forward pass only: perturbed passes need the smooth function, since
        the gradient of x*x at x = 1e-200 is 2e-200 although x*x underflows).
        """
        if name == "add":
            y = self._fadd(a, b, exact=True)
        elif name == "sub":
            y = self._fsub(a, b, exact=True)
        elif name == "neg":
            y = self._fneg(a, exact=True)  # `-a` would round to the working precision
        elif name == "relu":
            y = a if a > 0 else self._mpf(0)
        else:
            try:
                y = self._refs[name](a, b) if name in ("mul", "div", "pow") else self._refs[name](a)
            except (ZeroDivisionError, ValueError, OverflowError) as exc:
                raise _Undefined(name) from exc
            if type(y) is not type(a):  # complex (log or pow of a negative number)
                raise _Undefined(name)
        man_exp = y._mpf_
        if not man_exp[1]:
            if man_exp[2]:  # mpmath's inf/nan carry a zero mantissa and a special exponent
                raise _Undefined(name)
            return y
        magnitude = man_exp[2] + man_exp[3]  # 2**(magnitude-1) <= |y| < 2**magnitude
        if magnitude > _FLOAT_MAX_EXP:
            raise _Undefined(name)
        if magnitude == _FLOAT_MAX_EXP and math.isinf(float(y)):
            raise _Undefined(name)
        if magnitude <= _SUBNORMAL_EXP:
            if rounded:
                # Below the normal range float64 keeps only a few bits, or none.
                return self._mpf(float(y))
            if magnitude < _NEGLIGIBLE_EXP:
                # Too small to reach any float64 gradient, and exact sums with it would need
                # astronomically many bits (sigmoid(-1e83) is about 2**-1e83).
                return self._mpf(0)
        return y

    # --- the forward pass ------------------------------------------------------------------

    def _forward(self, program: Program) -> _Plan:
        nodes = program.nodes
        n = len(nodes)
        mpf = self._mpf
        mp_values: list[Any] = [None] * n
        floats: list[float] = [0.0] * n
        relu_active: dict[int, bool] = {}
        pow_kinks: dict[int, Any] = {}
        depends: list[frozenset[int]] = [frozenset()] * n
        for i, node in enumerate(nodes):
            op = node.op
            if op == "input" or op == "const":
                x = float(node.value)  # type: ignore[arg-type]
                floats[i] = x
                mp_values[i] = mpf(x) if math.isfinite(x) else None
                if op == "input":
                    depends[i] = frozenset((i,))
                continue
            name = _CANONICAL[op]
            args = node.args
            ia = args[0]
            ib = args[1] if len(args) == 2 else ia
            depends[i] = depends[ia] | depends[ib]
            a, b = mp_values[ia], mp_values[ib] if len(args) == 2 else mpf(0)
            fa, fb = floats[ia], floats[ib] if len(args) == 2 else 0.0
            if name == "relu" and a is not None:
                relu_active[i] = a > 0
            if name == "pow" and a is not None and b is not None and not a:
                pow_kinks[i] = b
            y = None
            if a is not None and b is not None:
                try:
                    y = self._apply(name, a, b, rounded=True)
                except _Undefined:
                    y = None
            if y is None:
                f = _IEEE[name](fa, fb)
                floats[i] = f
                mp_values[i] = mpf(f) if math.isfinite(f) else None
            elif y:
                floats[i] = float(y)
                mp_values[i] = y
            else:
                # Exact zero: its sign is the one IEEE arithmetic gives (x * 0 with x < 0 is -0.0).
                f = _IEEE[name](fa, fb)
                floats[i] = f if f == 0.0 else 0.0
                mp_values[i] = y
        cones: dict[int, list[int]] = {i: [] for i in program.inputs}
        for j in range(n):
            if nodes[j].op in ("input", "const"):
                continue
            for i in depends[j]:
                cones[i].append(j)
        return _Plan(mp_values, floats, relu_active, pow_kinks, cones)

    # --- gradients -------------------------------------------------------------------------

    def _gradients(self, program: Program, plan: _Plan) -> dict[int, float]:
        nodes = program.nodes
        out = program.output
        # Ancestors of the output: the only nodes through which an input can reach it.
        ancestors = {out}
        for j in range(out, -1, -1):
            if j in ancestors:
                ancestors.update(nodes[j].args)
        passes = program.backward_passes
        grads: dict[int, float] = {}
        for i in program.inputs:
            if i == out:
                grads[i] = float(passes)
                continue
            cone = [j for j in plan.cones[i] if j <= out and j in ancestors]
            if not cone or cone[-1] != out:
                grads[i] = 0.0
                continue
            if plan.mp_values[i] is None or any(plan.mp_values[j] is None for j in cone):
                grads[i] = math.nan
                continue
            if self._fragile(plan, i, cone) or any(
                self._infinite_kink(program, plan, j, i) for j in cone
            ):
                grads[i] = math.nan
                continue
            d = self._derivative(program, plan, i, cone)
            if d is None:
                self.undetermined += 1
                grads[i] = math.nan
            else:
                grads[i] = float(d * passes)
        return grads

    def _fragile(self, plan: _Plan, i: int, cone: list[int]) -> bool:
        """Whether a value on the way from input i to the output is beyond 2**+-FRAGILE_EXP.

        Backpropagation in float64 squares such values (``-a / (b * b)``, ``1 - t * t``), so a
        correct float64 engine's gradient there may overflow or underflow where the exact one
        does not (torch gives 0 for d/db (1 / b) at b = 1e170): not a fact about the engine.
        """
        values = plan.mp_values
        for j in (i, *cone):
            v = values[j]
            if v:
                m = v._mpf_[2] + v._mpf_[3]
                if m > FRAGILE_EXP or m < -FRAGILE_EXP:
                    return True
        return False

    def _infinite_kink(self, program: Program, plan: _Plan, j: int, i: int) -> bool:
        """pow with base exactly 0 and exponent in (0, 1), its base depending on input ``i``."""
        b = plan.pow_kinks.get(j)
        if b is None or not 0 < b < 1:
            return False
        base = program.nodes[j].args[0]
        return base == i or base in plan.cones[i]

    def _derivative(self, program: Program, plan: _Plan, i: int, cone: list[int]) -> Any:
        """d output / d input i by refined central differences; None if it never settles.

        The step is relative to x (2**-1 for x == 0): a larger one could jump over a pole such as
        1/x at a tiny x without any sign of it. Where a node rounds the small change away
        (exp(x) = 1 + x at x = 1e-200), the precision grows instead, up to MAX_PRECISION.
        """
        mp = self.mp
        x = plan.mp_values[i]
        scale = 0 if not x else int(mp.mag(x))
        for _ in (1,):
            previous = None
            b_bits = FIRST_STEP_BITS
            for _ in range(MAX_LEVEL):
                prec = 2 * b_bits + 96
                mp.prec = prec
                h = mp.ldexp(1, scale - b_bits)
                x_up, x_down = self._fadd(x, h, exact=True), self._fsub(x, h, exact=True)
                pair = self._pair(program, plan, i, cone, x_up, x_down, prec)
                while pair is not None and pair[2] and prec < MAX_PRECISION:
                    # A node rounded the perturbation away: more bits, same step.
                    prec = min(2 * prec, MAX_PRECISION)
                    mp.prec = prec
                    pair = self._pair(program, plan, i, cone, x_up, x_down, prec)
                if pair is None:
                    # The step crossed a singularity or overflowed: shrink it a lot, not a bit.
                    previous = None
                    b_bits *= 2
                    continue
                d = (pair[0] - pair[1]) / (2 * h)
                if previous is not None and self._agree(previous, d):
                    return d
                previous = d
                b_bits += NEXT_STEP_BITS
        return None

    def _agree(self, d0: Any, d1: Any) -> bool:
        mp = self.mp
        big = max(abs(d0), abs(d1))
        if big == 0 or mp.mag(big) < -ZERO_BITS:
            return True
        return bool(abs(d0 - d1) <= mp.ldexp(big, -AGREEMENT_BITS))

    def _pair(
        self,
        program: Program,
        plan: _Plan,
        i: int,
        cone: list[int],
        x_up: Any,
        x_down: Any,
        prec: int,
    ) -> tuple[Any, Any, bool] | None:
        """The output at x_up and at x_down (branches frozen) and whether a node lost the
        difference to rounding; None if either left the domain or float64's range."""
        nodes = program.nodes
        base = plan.mp_values
        up: dict[int, Any] = {i: x_up}
        down: dict[int, Any] = {i: x_down}
        lost = False
        yu: Any = None
        yd: Any = None
        for j in cone:
            node = nodes[j]
            name = _CANONICAL[node.op]
            args = node.args
            ja = args[0]
            jb = args[1] if len(args) == 2 else -1
            au, ad = up.get(ja, base[ja]), down.get(ja, base[ja])
            if jb < 0:
                bu = bd = self._zero
            else:
                bu, bd = up.get(jb, base[jb]), down.get(jb, base[jb])
            try:
                yu = self._node(plan, j, name, args, au, bu, prec)
                yd = self._node(plan, j, name, args, ad, bd, prec)
            except _Undefined:
                return None
            if (
                not lost
                and yu == yd
                and name in _ROUNDED
                and yu
                and (au != ad or bu != bd)
                and not (name == "div" and ja == jb)
                and not (name == "pow" and (j in plan.pow_kinks or au == 1 or bu == 0))
            ):
                lost = True
            up[j] = yu
            down[j] = yd
        return yu, yd, lost

    def _node(
        self, plan: _Plan, j: int, name: str, args: tuple[int, ...], a: Any, b: Any, prec: int
    ) -> Any:
        """Node j on operands a, b in a perturbed pass (kinks frozen as in the forward pass)."""
        if a is None or b is None:
            # An operand that is inf/nan and does not depend on the input: IEEE semantics.
            fa = plan.floats[args[0]] if a is None else float(a)
            fb = 0.0 if len(args) == 1 else plan.floats[args[1]] if b is None else float(b)
            f = _IEEE[name](fa, fb)
            if not math.isfinite(f):
                raise _Undefined(name)
            return self._mpf(f)
        if name == "relu":
            return a if plan.relu_active[j] else self._zero
        if j in plan.pow_kinks:
            return self._pow_at_zero(a, plan.pow_kinks[j])
        if name in _ROUNDED:
            width = max(a._mpf_[3], b._mpf_[3])
            if width > prec:
                # An exact sum carries more bits than `prec` (1e120 + x): keep them all, and
                # `prec` more, or rounding here would erase (or, with 32 spare bits, blur to
                # about 2**-32 identically at every step level) the perturbation of x.
                mp = self.mp
                mp.prec = width + prec
                try:
                    return self._apply(name, a, b, rounded=False)
                finally:
                    mp.prec = prec
        return self._apply(name, a, b, rounded=False)

    def _pow_at_zero(self, a: Any, b: Any) -> Any:
        """a ** b near a == 0 with the exponent frozen (torch's convention there)."""
        mp = self.mp
        if not b:
            return mp.one
        if mp.isint(b):
            return self._apply("pow", a, b, rounded=False)
        return self._apply("pow", abs(a), b, rounded=False)
