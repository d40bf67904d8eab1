"""A micrograd-style ``Value`` backed by PyTorch: each Value wraps a 0-d float64 tensor.

Its values and gradients are torch's own (``torch.autograd`` computes ``backward``), so any
failure the harness reports on it is a false positive of the harness. Repeated ``backward()`` keeps
the graph (``retain_graph=True``), so leaves accumulate exactly as in torch.
"""

from __future__ import annotations

import torch

Number = int | float


def _tensor(x: float, *, leaf: bool) -> torch.Tensor:
    """A 0-d float64 tensor; leaves (Value(x) built by the user) require grad."""
    return torch.tensor(float(x), dtype=torch.float64, requires_grad=leaf)


class Value:
    """A scalar whose forward and backward are delegated to torch float64."""

    def __init__(self, data: Number | torch.Tensor) -> None:
        if isinstance(data, torch.Tensor):
            self._t = data
        elif isinstance(data, bool) or not isinstance(data, (int, float)):
            raise TypeError(f"Value(data) needs an int or a float, got {data!r}")
        else:
            self._t = _tensor(data, leaf=True)

    @property
    def data(self) -> float:
        """The value as a Python float."""
        return float(self._t.detach())

    @property
    def grad(self) -> float:
        """The accumulated gradient (0.0 before any backward pass reaches this leaf)."""
        g = self._t.grad
        return 0.0 if g is None else float(g)

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    @staticmethod
    def _t_of(x: Value | Number) -> torch.Tensor | float:
        """The tensor of a Value; a number stays a number, as torch's scalar overloads expect."""
        if isinstance(x, Value):
            return x._t
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise TypeError(f"operand must be a Value, an int or a float, got {x!r}")
        return float(x)

    def __add__(self, other: Value | Number) -> Value:
        return Value(self._t + self._t_of(other))

    def __radd__(self, other: Number) -> Value:
        return Value(self._t_of(other) + self._t)

    def __sub__(self, other: Value | Number) -> Value:
        return Value(self._t - self._t_of(other))

    def __rsub__(self, other: Number) -> Value:
        return Value(self._t_of(other) - self._t)

    def __mul__(self, other: Value | Number) -> Value:
        return Value(self._t * self._t_of(other))

    def __rmul__(self, other: Number) -> Value:
        return Value(self._t_of(other) * self._t)

    def __truediv__(self, other: Value | Number) -> Value:
        return Value(self._t / self._t_of(other))

    def __rtruediv__(self, other: Number) -> Value:
        return Value(self._t_of(other) / self._t)

    def __pow__(self, other: Value | Number) -> Value:
        return Value(self._t ** self._t_of(other))

    def __rpow__(self, other: Number) -> Value:
        return Value(self._t_of(other) ** self._t)

    def __neg__(self) -> Value:
        return Value(-self._t)

    def exp(self) -> Value:
        """``e ** self``."""
        return Value(torch.exp(self._t))

    def log(self) -> Value:
        """The natural logarithm."""
        return Value(torch.log(self._t))

    def tanh(self) -> Value:
        """The hyperbolic tangent."""
        return Value(torch.tanh(self._t))

    def relu(self) -> Value:
        """``max(self, 0)`` with torch's relu'(0) = 0."""
        return Value(torch.relu(self._t))

    def sigmoid(self) -> Value:
        """The logistic function."""
        return Value(torch.sigmoid(self._t))

    def backward(self) -> None:
        """Accumulate gradients into the leaves, keeping the graph for later passes."""
        if not self._t.requires_grad:
            return  # a graph without any leaf: nothing to differentiate
        self._t.backward(retain_graph=True)  # type: ignore[no-untyped-call]
