"""A small, correct micrograd-style ``Value`` (float64, torch semantics); the broken engines' base.

Written for the meta-tests, independently of ``micrograd.engine``: if the bundled engine and this
one disagreed, one of the no-false-positive tests would fail. Every op is a forward computation plus
a ``_backward`` closure, the way micrograd and most of its ports are written, so that each broken
engine in ``broken.py`` can re-state a single method with a single wrong line.

Semantics follow PyTorch float64: relu'(0) = 0, ``x ** 0`` has derivative 0 even at ``x = 0``,
leaves accumulate over repeated ``backward()`` calls while intermediate gradients are recomputed,
and no op raises on overflow, division by zero or a domain error: it returns inf or nan as torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Number = int | float

_INF = math.inf
_NAN = math.nan


def _as_float(x: object) -> float:
    """``x`` as a float, or ``TypeError`` naming it if it is not an int or a float."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError(f"expected an int or a float, got {x!r} ({type(x).__name__})")
    return float(x)


def _is_odd_integer(y: float) -> bool:
    """Whether ``y`` is an odd integer, the exponents that keep the sign of a negative base."""
    return math.isfinite(y) and y.is_integer() and int(y) % 2 == 1


def ieee_div(x: float, y: float) -> float:
    """``x / y`` that gives a signed infinity or nan instead of raising at ``y = 0``."""
    if y != 0.0:
        return x / y
    if x == 0.0 or math.isnan(x):
        return _NAN
    return math.copysign(_INF, x) * math.copysign(1.0, y)


def ieee_pow(x: float, y: float) -> float:
    """``x ** y`` as C's ``pow``: inf on overflow or at a pole, nan for a negative base's root."""
    try:
        return math.pow(x, y)
    except OverflowError:
        return -_INF if x < 0.0 and _is_odd_integer(y) else _INF
    except ValueError:
        if x == 0.0:
            return math.copysign(_INF, x) if _is_odd_integer(y) else _INF
        return _NAN


def ieee_exp(x: float) -> float:
    """``exp(x)`` that overflows to inf instead of raising."""
    try:
        return math.exp(x)
    except OverflowError:
        return _INF


def ieee_log(x: float) -> float:
    """``log(x)``: -inf at 0 and nan below 0 instead of raising."""
    if x > 0.0:
        return math.log(x)
    return -_INF if x == 0.0 else _NAN


def log_for_pow_grad(base: float, exponent: float) -> float:
    """The log factor of d(base ** e)/de; torch masks it to 0 where base == 0 and e >= 0."""
    if base == 0.0 and exponent >= 0.0:
        return 0.0
    return ieee_log(base)


def _no_backward() -> None:
    """The backward step of a leaf: nothing to propagate."""


class Value:
    """A float64 scalar in a computation graph, with its gradient."""

    def __init__(self, data: Number, _children: tuple[Value, ...] = (), _op: str = "") -> None:
        self.data = _as_float(data)
        self.grad = 0.0
        self._backward: Callable[[], None] = _no_backward
        self._prev = self._store_children(_children)
        self._op = _op

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    # The engine's structure, factored so that one broken engine can change exactly one thing.

    @staticmethod
    def _store_children(children: tuple[Value, ...]) -> tuple[Value, ...]:
        """Keep every operand, duplicates included: ``a + a`` has the child ``a`` twice."""
        return tuple(children)

    def _lift(self, other: Value | Number) -> Value:
        """A number operand becomes a constant leaf of the same engine."""
        return other if isinstance(other, Value) else type(self)(other)

    def _result(self, data: float, children: tuple[Value, ...], op: str) -> Value:
        """A new node of this engine's class."""
        return type(self)(data, children, op)

    # --- binary ops -------------------------------------------------------------------------------

    def __add__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data + other.data, (self, other), "+")

        def _backward() -> None:
            # Each stored child receives the gradient once per time it was an operand.
            for child in out._prev:
                child.grad += out.grad

        out._backward = _backward
        return out

    def __sub__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data - other.data, (self, other), "-")

        def _backward() -> None:
            self.grad += out.grad
            other.grad -= out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other: Value | Number) -> Value:
        other = self._lift(other)
        out = self._result(ieee_div(self.data, other.data), (self, other), "/")

        def _backward() -> None:
            self.grad += ieee_div(out.grad, other.data)
            other.grad -= ieee_div(out.grad * out.data, other.data)

        out._backward = _backward
        return out

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return self._pow_value(other)
        exponent = _as_float(other)
        out = self._result(ieee_pow(self.data, exponent), (self,), f"**{exponent:g}")

        def _backward() -> None:
            if exponent != 0.0:  # torch: the derivative of x ** 0 is 0, even at x = 0
                self.grad += exponent * ieee_pow(self.data, exponent - 1.0) * out.grad

        out._backward = _backward
        return out

    def _pow_value(self, other: Value) -> Value:
        """``self ** other`` with a Value exponent: both operands get a gradient."""
        out = self._result(ieee_pow(self.data, other.data), (self, other), "**")

        def _backward() -> None:
            if other.data != 0.0:
                self.grad += other.data * ieee_pow(self.data, other.data - 1.0) * out.grad
            other.grad += out.data * log_for_pow_grad(self.data, other.data) * out.grad

        out._backward = _backward
        return out

    # --- reflected ops: the number is the left operand --------------------------------------------

    def __radd__(self, other: Number) -> Value:
        return self._lift(other) + self

    def __rsub__(self, other: Number) -> Value:
        return self._lift(other) - self

    def __rmul__(self, other: Number) -> Value:
        return self._lift(other) * self

    def __rtruediv__(self, other: Number) -> Value:
        return self._lift(other) / self

    def __rpow__(self, other: Number) -> Value:
        return self._lift(other)._pow_value(self)

    # --- unary ops --------------------------------------------------------------------------------

    def __neg__(self) -> Value:
        out = self._result(-self.data, (self,), "neg")

        def _backward() -> None:
            self.grad -= out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        """``e ** self``."""
        out = self._result(ieee_exp(self.data), (self,), "exp")

        def _backward() -> None:
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        """The natural logarithm."""
        out = self._result(ieee_log(self.data), (self,), "log")

        def _backward() -> None:
            self.grad += ieee_div(out.grad, self.data)

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        """The hyperbolic tangent (``math.tanh`` never overflows)."""
        out = self._result(math.tanh(self.data), (self,), "tanh")

        def _backward() -> None:
            self.grad += (1.0 - out.data * out.data) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        """``max(self, 0)``; its derivative at 0 is 0, as in torch."""
        out = self._result(
            0.0 if self.data < 0.0 else self.data, (self,), "relu"
        )  # keeps -0.0, nan

        def _backward() -> None:
            # torch's mask `x <= 0 -> 0`: a select, not a product (0 * inf would be nan), and
            # a nan input passes the gradient through
            if not self.data <= 0.0:
                self.grad += out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        """The logistic function ``1 / (1 + e ** -self)``; exp overflowing to inf gives 0."""
        out = self._result(1.0 / (1.0 + ieee_exp(-self.data)), (self,), "sigmoid")

        def _backward() -> None:
            self.grad += out.data * (1.0 - out.data) * out.grad

        out._backward = _backward
        return out

    def sin(self) -> Value:
        """The sine (nan at +-inf instead of raising)."""
        out = self._result(
            math.sin(self.data) if math.isfinite(self.data) else _NAN, (self,), "sin"
        )

        def _backward() -> None:
            self.grad += (math.cos(self.data) if math.isfinite(self.data) else _NAN) * out.grad

        out._backward = _backward
        return out

    def cos(self) -> Value:
        """The cosine (nan at +-inf instead of raising)."""
        out = self._result(
            math.cos(self.data) if math.isfinite(self.data) else _NAN, (self,), "cos"
        )

        def _backward() -> None:
            self.grad -= (math.sin(self.data) if math.isfinite(self.data) else _NAN) * out.grad

        out._backward = _backward
        return out

    def sqrt(self) -> Value:
        """The square root: nan below 0, and torch's gradient ``grad / (2 * sqrt)`` (inf at 0)."""
        x = self.data
        out = self._result(math.sqrt(x) if x >= 0.0 or math.isnan(x) else _NAN, (self,), "sqrt")

        def _backward() -> None:
            self.grad += ieee_div(out.grad, 2.0 * out.data)

        out._backward = _backward
        return out

    def abs(self) -> Value:
        """``|self|``; torch's derivative ``sgn(self)`` is 0 at 0 (and at nan)."""
        out = self._result(abs(self.data), (self,), "abs")

        def _backward() -> None:
            sign = 1.0 if self.data > 0.0 else -1.0 if self.data < 0.0 else 0.0
            self.grad += sign * out.grad

        out._backward = _backward
        return out

    # --- backward ---------------------------------------------------------------------------------

    def _topological_order(self) -> list[Value]:
        """Every node reachable from ``self``, each once, operands before results (iteratively)."""
        order: list[Value] = []
        visited: set[Value] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
                continue
            if node in visited:
                continue
            visited.add(node)
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev if child not in visited)
        return order

    def backward(self) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``grad``, like torch with retain_graph."""
        order = self._topological_order()
        for node in order:
            if node._prev:  # intermediate gradients are per pass; leaves accumulate across passes
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(order):
            node._backward()


class GradNoneUntilReached(Value):
    """The reference engine with torch's convention for ``.grad``: None until a backward pass
    reaches the Value, so an input the output does not depend on keeps None."""

    def __init__(self, data: Number, _children: tuple[Value, ...] = (), _op: str = "") -> None:
        super().__init__(data, _children, _op)
        self.grad: float | None = None  # type: ignore[assignment]

    def backward(self) -> None:
        """Give the Values this pass reaches a gradient to accumulate into, then backpropagate."""
        for node in self._topological_order():
            if node.grad is None:
                node.grad = 0.0
        super().backward()
