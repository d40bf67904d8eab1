"""A correct micrograd-style engine on Python's plain ``math`` (written apart from the others).

Unlike ``reference.py`` it does not follow IEEE semantics outside the checkable domain (``log(0)``
raises, as ``math.log`` does): the harness only ever judges it where torch is finite, so it must
pass every error-verdict check. The calibration runs (docs/CONFORMANCE.md) measure it.
"""

from __future__ import annotations

import math
from typing import Any


class Value:
    """A tiny correct micrograd-style engine (iterative topological sort, torch's kink rules)."""

    def __init__(self, data: float, _children: tuple[Any, ...] = (), _op: str = "") -> None:
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = _children
        self._op = _op

    def _round(self, x: float) -> float:
        return x

    def _wrap(self, other: Any) -> Value:
        return other if isinstance(other, Value) else type(self)(other)

    def __add__(self, other: Any) -> Value:
        other = self._wrap(other)
        out = type(self)(self._round(self.data + other.data), (self, other), "+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Value:
        other = self._wrap(other)
        out = type(self)(self._round(self.data * other.data), (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other: Any) -> Value:
        other = self._wrap(other)
        out = type(self)(self._round(self.data / other.data), (self, other), "/")

        def _backward() -> None:
            self.grad += out.grad / other.data
            other.grad += -(self.data / other.data) / other.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, other: Any) -> Value:
        constant_exponent = not isinstance(other, Value)
        other = self._wrap(other)
        a, b = self.data, other.data
        out = type(self)(self._round(a**b), (self, other), "**")

        def _backward() -> None:
            if b != 0.0:
                self.grad += b * a ** (b - 1.0) * out.grad
            if not constant_exponent and not (a == 0.0 and b >= 0.0):
                other.grad += out.data * math.log(a) * out.grad

        out._backward = _backward
        return out

    def __rpow__(self, other: Any) -> Value:
        base = self._wrap(other)
        a, b = base.data, self.data
        out = type(self)(self._round(a**b), (self,), "**")

        def _backward() -> None:
            if not (a == 0.0 and b >= 0.0):
                self.grad += out.data * math.log(a) * out.grad

        out._backward = _backward
        return out

    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Any) -> Value:
        other = self._wrap(other)
        out = type(self)(self._round(self.data - other.data), (self, other), "-")

        def _backward() -> None:
            self.grad += out.grad
            other.grad -= out.grad

        out._backward = _backward
        return out

    def __radd__(self, other: Any) -> Value:
        return self._wrap(other) + self

    def __rsub__(self, other: Any) -> Value:
        return self._wrap(other) - self

    def __rmul__(self, other: Any) -> Value:
        return self._wrap(other) * self

    def __rtruediv__(self, other: Any) -> Value:
        return self._wrap(other) / self

    def _unary(self, y: float, d: float, op: str) -> Value:
        out = type(self)(self._round(y), (self,), op)

        def _backward() -> None:
            self.grad += d * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        y = math.exp(self.data)
        return self._unary(y, y, "exp")

    def log(self) -> Value:
        return self._unary(math.log(self.data), 1.0 / self.data, "log")

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return self._unary(t, 1.0 - t * t, "tanh")

    def relu(self) -> Value:
        x = self.data
        out = type(self)(x if x > 0 else 0.0, (self,), "relu")

        def _backward() -> None:
            # Masked like torch, not multiplied by 0: an overflowed adjoint must not become nan.
            if x > 0:
                self.grad += out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        x = self.data
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return self._unary(s, s * (1.0 - s), "sigmoid")

    def backward(self) -> None:
        topo: list[Value] = []
        visited: set[int] = set()
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                topo.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in node._prev if id(child) not in visited)
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()
