"""The mpmath oracle: high-precision values, and gradients by high-precision reverse mode.

It shares no derivative rule with torch or with any engine. Values come from the op table's
``mpmath`` references evaluated with hundreds of bits; gradients are accumulated backwards
through the table's own partial derivatives (``conformance.ops``, evaluated at the same
precision), so the work is linear in the program's length: a 100,000-node chain costs about as
much as 5,000 small programs. The table's partials are themselves checked against torch and
against high-precision numerical differentiation by the test suite (tests/conformance), so this
oracle's calculus never rests on an engine's. How the hard parts are handled:

* **Exact sums.** Ops the table marks ``exact`` (sums, negation, relu) keep every bit, so a
  program like ``(x + 1e10) - 1e10`` with ``x = 1e-300`` keeps ``x`` exactly; every other op is
  rounded to the working precision (at least 256 bits, relative to its own value).
* **Kinks follow torch's conventions** because the table's partials do (relu'(0) = 0,
  d/da a**0 = 0, d/db 0**b = 0 for b >= 0), evaluated at the exact operand values.
* **float64's range and IEEE semantics.** Values are the exact results *of a float64 program*:
  a node whose exact value overflows float64 becomes inf, one below half the smallest subnormal
  becomes 0, and a subnormal result is rounded to float64's subnormal grid (as every float64 engine
  stores it). A node that is undefined on its operands (division by zero, log of 0 or of a
  negative number, 0**negative, negative**non-integer) or whose operand is already inf/nan gets
  the IEEE float64 value that torch gives (the table's ``ieee`` column). Where a non-finite value,
  or an infinite partial (sqrt at 0, 0 ** 0.5), lies on a path from an input to the output, that
  input's gradient is nan: torch's non-finite gradients come from its own backward formulas
  (``inf * 0``), which this oracle should not reproduce, so ``determines_nonfinite_gradients`` is
  False and such programs are unchecked.
* **float64-fragile gradients.** Where an op meets a magnitude beyond 2**+-500 (an operand or its
  result), backpropagation in float64 may square it (``-a / (b * b)``), overflow or lose its
  digits, so a correct engine's gradient may differ from the exact one: the gradients of the
  inputs behind that op are nan (unchecked), a fact about float64, not about the engine. Two
  kinds of op compute their partials from no such magnitude: those whose partials stay within
  [-1, 1] whatever the operands (the table's ``bounded_partials``: sums, negation, relu, abs,
  tanh, sigmoid, sin, cos; ``sigmoid(x) + 3`` with ``x = 1e-306``) and ``bilinear`` ones, whose
  partials are the operands themselves (``x * 1e-200`` with ``x = 3``). There, what the op sends
  back (``g * p``) is judged instead: only a gradient beyond 2**500 arriving at it, or one it
  sends beyond 2**500 or below float64's normal range, leaves the inputs behind it unchecked.
  The same holds, operand by operand, where a partial is a moderate multiple of one quantity
  float64 computes in a single rounding (the table's ``partial_factors``: ``1 / b`` for the
  numerator of ``a / b``, ``y`` for exp, ``1 / y`` for sqrt) and that quantity is a normal
  float64 number: ``1e-300 / 3`` settles the numerator's gradient, not the denominator's.

Values are correctly rounded to float64 up to the working precision (so a double rounding is
possible only within 2**-200 of a halfway point). The oracle is not thread-safe: it sets mpmath's
global working precision while it runs.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from conformance.backends.base import BackendError, Evaluation, OracleBase
from conformance.ops import MPMATH, OPS, Op
from conformance.program import Program

__all__ = ["BASE_PRECISION", "FRAGILE_EXP", "MpmathOracle"]

BASE_PRECISION = 256
"""Bits of the working precision of values, partials and adjoints."""

_FLOAT_MAX_EXP = 1024  # |y| >= 2**1024 rounds to inf ... unless it rounds down to DBL_MAX
_SUBNORMAL_EXP = -1022  # |y| < 2**-1022 is subnormal in float64
FRAGILE_EXP = 500
"""Gradients through values beyond 2**+-500 are float64-fragile (left unchecked)."""

_NEGLIGIBLE_EXP = -4000
"""Unrounded values below 2**-4000 are flushed to zero (``exact_value`` only): far below any
float64 number, and exact sums with them would need astronomically many bits."""


class _Undefined(Exception):
    """An op left its domain (or float64's range) where the exact value is not a real number."""


class MpmathOracle(OracleBase):
    """Evaluates programs with mpmath at high precision; gradients by reverse mode, likewise."""

    name = "mpmath"
    determines_nonfinite_gradients = False
    """Gradients through inf/nan are reported as nan (undetermined), not torch's exact pattern."""

    def __init__(self, *, cache_size: int = 2048) -> None:
        import mpmath

        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"cache_size={cache_size!r} must be an integer >= 0")
        self.mp = mpmath.mp
        self.version = str(mpmath.__version__)
        self.description = (
            f"mpmath {self.version}, {BASE_PRECISION}+ bits, gradients by high-precision "
            "reverse mode"
        )
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Evaluation] = OrderedDict()
        self._mpf = self.mp.mpf
        self._mpf_type = type(self.mp.mpf(0))

    # --- public ----------------------------------------------------------------------------

    def run(self, program: Program) -> Evaluation:
        """Values of every non-const node and the gradient of every input node."""
        key = program.to_json() if self.cache_size else ""
        cached = self._cache.get(key) if key else None
        if cached is not None:
            self._cache.move_to_end(key)
            return Evaluation(dict(cached.values), dict(cached.grads))
        mp = self.mp
        saved = mp.prec
        try:
            mp.prec = BASE_PRECISION
            exact, floats = self._forward(program)
            grads = self._gradients(program, exact)
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise BackendError(f"mpmath oracle failed: {type(exc).__name__}: {exc}") from exc
        finally:
            mp.prec = saved
        values = {i: floats[i] for i in program.value_nodes}
        result = Evaluation(values, grads)
        if key:
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
                return self._apply(OPS[op], self._mpf(a), self._mpf(b), rounded=False)
            except _Undefined:
                return None
        finally:
            mp.prec = saved

    # --- one op ----------------------------------------------------------------------------

    def _apply(self, op: Op, a: Any, b: Any, *, rounded: bool) -> Any:
        """The exact-ish value of ``op`` on mpf operands; _Undefined if it is not a float64.

        ``rounded`` rounds results below float64's normal range to its grid, as float64
        engines store them.
        """
        try:
            y = op.mpmath(a, b)
        except (ZeroDivisionError, ValueError, OverflowError) as exc:
            raise _Undefined(op.name) from exc
        if type(y) is not self._mpf_type:  # complex (log or pow of a negative number)
            raise _Undefined(op.name)
        man_exp = y._mpf_
        if not man_exp[1]:
            if man_exp[2]:  # mpmath's inf/nan carry a zero mantissa and a special exponent
                raise _Undefined(op.name)
            return y
        magnitude = man_exp[2] + man_exp[3]  # 2**(magnitude-1) <= |y| < 2**magnitude
        if magnitude > _FLOAT_MAX_EXP:
            raise _Undefined(op.name)
        if magnitude == _FLOAT_MAX_EXP and math.isinf(float(y)):
            raise _Undefined(op.name)
        if magnitude <= _SUBNORMAL_EXP:
            if rounded:
                # Below the normal range float64 keeps only a few bits, or none.
                return self._mpf(float(y))
            if magnitude < _NEGLIGIBLE_EXP:
                return self._mpf(0)
        return y

    # --- the forward pass ------------------------------------------------------------------

    def _forward(self, program: Program) -> tuple[list[Any], list[float]]:
        """Each node's exact-ish value (None where it is not finite) and its float64 value."""
        nodes = program.nodes
        n = len(nodes)
        mpf = self._mpf
        exact: list[Any] = [None] * n
        floats: list[float] = [0.0] * n
        zero = mpf(0)
        for i, node in enumerate(nodes):
            name = node.op
            if name == "input" or name == "const":
                x = float(node.value)  # type: ignore[arg-type]
                floats[i] = x
                exact[i] = mpf(x) if math.isfinite(x) else None
                continue
            op = OPS[name]
            args = node.args
            ia = args[0]
            ib = args[1] if len(args) == 2 else -1
            a = exact[ia]
            b = exact[ib] if ib >= 0 else zero
            y = None
            if a is not None and b is not None:
                try:
                    y = self._apply(op, a, b, rounded=True)
                except _Undefined:
                    y = None
            if y is None or not y:
                # Not a finite float64, or an exact zero: IEEE arithmetic gives the value (and
                # the sign of a zero: x * 0 with x < 0 is -0.0).
                f = op.ieee(floats[ia], floats[ib] if ib >= 0 else 0.0)
                if y is not None and f != 0.0:
                    f = 0.0
                floats[i] = f
                exact[i] = y if y is not None else (mpf(f) if math.isfinite(f) else None)
            else:
                floats[i] = float(y)
                exact[i] = y
        return exact, floats

    # --- gradients -------------------------------------------------------------------------

    def _gradients(self, program: Program, exact: list[Any]) -> dict[int, float]:
        """Reverse mode through the table's partials; nan where float64 cannot settle it."""
        nodes = program.nodes
        out = program.output
        n = len(nodes)
        adjoint: list[Any] = [0] * n
        # undetermined[j]: d(output)/d(node j) goes through a non-finite value or partial, or
        # through partials computed from a float64-fragile magnitude.
        undetermined = [False] * n
        reaches = [False] * n  # node j is an ancestor of the output (or the output)
        adjoint[out] = self._mpf(program.backward_passes)
        reaches[out] = True
        zero = self._mpf(0)
        for j in range(out, -1, -1):
            if not reaches[j]:
                continue
            node = nodes[j]
            args = node.args
            if not args:
                continue
            for k in args:
                reaches[k] = True
            y = exact[j]
            g = adjoint[j]
            ia = args[0]
            ib = args[1] if len(args) == 2 else -1
            a = exact[ia]
            b = exact[ib] if ib >= 0 else zero
            op = OPS[node.op]
            # Extreme magnitudes here: unless the op's partials are computed from none of them,
            # what it sends back is judged instead (guarded).
            guarded = y is not None and a is not None and b is not None
            guarded = guarded and (_fragile(y) or _fragile(a) or _fragile(b))
            relaxed = op.bounded_partials or op.bilinear
            if (
                undetermined[j]
                or y is None
                or a is None
                or b is None
                or (guarded and not relaxed and not any(op.partial_factors))
                or (guarded and g and _huge(g))
            ):
                for k in args:
                    undetermined[k] = True
                continue
            partials = self._partials(op, a, b, y)
            for k, index in enumerate(args):
                p = partials[k] if partials is not None else None
                if p is None or (guarded and not relaxed and not _settles(op, k, a, b, y)):
                    undetermined[index] = True
                elif g and p:
                    contribution = p * g
                    if guarded and (_huge(contribution) or _subnormal(contribution)):
                        undetermined[index] = True  # float64's g * p overflows or loses digits
                    adjoint[index] += contribution
        grads: dict[int, float] = {}
        for i in program.inputs:
            if not reaches[i]:
                grads[i] = 0.0
            elif undetermined[i]:
                grads[i] = math.nan
            else:
                grads[i] = float(adjoint[i])
        return grads

    def _partials(self, op: Op, a: Any, b: Any, y: Any) -> tuple[Any, Any] | None:
        """The op's partials at high precision; an entry is None where it is not finite."""
        try:
            pa, pb = op.partials(a, b, y, MPMATH)
        except (ArithmeticError, ValueError):
            return None
        return (self._finite_or_none(pa), self._finite_or_none(pb))

    def _finite_or_none(self, p: Any) -> Any:
        if isinstance(p, int):
            return p
        if type(p) is not self._mpf_type:
            if isinstance(p, float) and math.isfinite(p):
                return p
            return None  # complex, or a float nan (pow's exponent partial at a negative base)
        man_exp = p._mpf_
        if not man_exp[1] and man_exp[2]:  # inf or nan
            return None
        return p


def _settles(op: Op, k: int, a: Any, b: Any, y: Any) -> bool:
    """Whether operand ``k``'s partial is a moderate multiple of a quantity float64 computes in
    one rounding (the op table's ``partial_factors``) that is 0 or a normal float64 number."""
    factor = op.partial_factors[k]
    if factor is None:
        return False
    try:
        q = factor(a, b, y)
    except ZeroDivisionError:
        return False
    man_exp = getattr(q, "_mpf_", None)
    if man_exp is None:  # a plain number
        return bool(q == 0 or 2.0**_SUBNORMAL_EXP <= abs(q) < 2.0 ** (_FLOAT_MAX_EXP - 1))
    if not man_exp[1]:
        return not man_exp[2]  # 0 (inf and nan carry a zero mantissa and a special exponent)
    magnitude: int = man_exp[2] + man_exp[3]
    return _SUBNORMAL_EXP < magnitude <= _FLOAT_MAX_EXP - 1


def _subnormal(y: Any) -> bool:
    """Whether a nonzero value is below float64's smallest normal number, 2**-1022."""
    man_exp = y._mpf_
    return bool(man_exp[1]) and man_exp[2] + man_exp[3] <= _SUBNORMAL_EXP


def _huge(y: Any) -> bool:
    """Whether a value is beyond 2**FRAGILE_EXP."""
    man_exp = y._mpf_
    return bool(man_exp[1]) and man_exp[2] + man_exp[3] > FRAGILE_EXP


def _fragile(y: Any) -> bool:
    """Whether a value is beyond 2**+-FRAGILE_EXP (zero is not)."""
    man_exp = y._mpf_
    if not man_exp[1]:
        return False
    magnitude: int = man_exp[2] + man_exp[3]
    return magnitude > FRAGILE_EXP or magnitude < -FRAGILE_EXP
