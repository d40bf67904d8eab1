"""A micrograd-style ``Value`` backed by PyTorch: each Value wraps a 0-d float64 tensor.

Its ops are the harness's op table relayed to torch (each row's torch reference), so it grows with
the table. Its values and gradients are torch's own (``torch.autograd`` computes ``backward``), so
any failure the harness reports on it is a false positive of the harness. Repeated ``backward()``
keeps the graph (``retain_graph=True``), so leaves accumulate exactly as in torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from conformance.ops import OPS, Op

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

    def backward(self) -> None:
        """Accumulate gradients into the leaves, keeping the graph for later passes."""
        if not self._t.requires_grad:
            return  # a graph without any leaf: nothing to differentiate
        self._t.backward(retain_graph=True)  # type: ignore[no-untyped-call]


def _operator(op: Op) -> Callable[[Value, Value | Number], Value]:
    def forward(self: Value, other: Value | Number) -> Value:
        return Value(op.torch(self._t, self._t_of(other)))

    return forward


def _reflected(op: Op) -> Callable[[Value, Number], Value]:
    def reflected(self: Value, other: Number) -> Value:
        return Value(op.torch(self._t_of(other), self._t))

    return reflected


def _unary(op: Op) -> Callable[[Value], Value]:
    def unary(self: Value) -> Value:
        return Value(op.torch(self._t))

    unary.__doc__ = f"{op.description}, by torch."
    return unary


# Every op of the harness's table, relayed to torch: operators, reflected operators, methods.
# In-place forms are left to Python's fallback (``t += b`` is ``t = t + b``: a new node).
for _op in OPS.values():
    if _op.inplace:
        continue
    if _op.method:
        setattr(Value, _op.method, _unary(_op))
    elif _op.arity == 1:
        setattr(Value, f"__{_op.dunder}__", _unary(_op))
    else:
        setattr(Value, f"__{_op.dunder}__", _operator(_op))
        setattr(Value, f"__r{_op.dunder}__", _reflected(_op))
