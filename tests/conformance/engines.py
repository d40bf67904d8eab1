"""Small engines the harness tests run against: correct ones, and a few deliberately broken."""

from __future__ import annotations

import math
import struct
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


class Float32Value(Value):
    """Rounds every node to float32: the tolerance must catch it."""

    def _round(self, x: float) -> float:
        return float(struct.unpack("f", struct.pack("f", x))[0])


class ReluGradAtZeroIsOne(Value):
    """relu'(0) = 1 instead of torch's 0: only the kinks check sees it."""

    def relu(self) -> Value:
        x = self.data
        return self._unary(x if x > 0 else 0.0, 1.0 if x >= 0 else 0.0, "relu")


class RecursiveBackward(Value):
    """A recursive topological sort: fails with RecursionError on deep graphs."""

    def backward(self) -> None:
        topo: list[Value] = []
        visited: set[int] = set()

        def build(v: Value) -> None:
            if id(v) not in visited:
                visited.add(id(v))
                for child in v._prev:
                    build(child)
                topo.append(v)

        build(self)
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()


class NoTranscendentals:
    """Only + and * with numbers (like micrograd 0.1.0 without relu): probing must skip the rest."""

    def __init__(self, data: float) -> None:
        self.inner = Value(data)

    @property
    def data(self) -> float:
        return self.inner.data

    @property
    def grad(self) -> float:
        return self.inner.grad

    def _of(self, other: Any) -> Any:
        return other.inner if isinstance(other, NoTranscendentals) else other

    def __add__(self, other: Any) -> NoTranscendentals:
        out = NoTranscendentals.__new__(NoTranscendentals)
        out.inner = self.inner + self._of(other)
        return out

    def __mul__(self, other: Any) -> NoTranscendentals:
        out = NoTranscendentals.__new__(NoTranscendentals)
        out.inner = self.inner * self._of(other)
        return out

    def backward(self) -> None:
        self.inner.backward()


class TorchValue:
    """A micrograd-style Value backed by torch float64 tensors (a correct engine by definition)."""

    def __init__(self, data: Any, _tensor: Any = None) -> None:
        import torch

        if _tensor is None:
            _tensor = torch.tensor(float(data), dtype=torch.float64, requires_grad=True)
        self.t = _tensor

    @staticmethod
    def _of(other: Any) -> Any:
        return other.t if isinstance(other, TorchValue) else other

    def _new(self, tensor: Any) -> TorchValue:
        return TorchValue(None, tensor)

    @property
    def data(self) -> float:
        return float(self.t.detach())

    @property
    def grad(self) -> float:
        g = self.t.grad
        return 0.0 if g is None else float(g)

    def __add__(self, o: Any) -> TorchValue:
        return self._new(self.t + self._of(o))

    def __radd__(self, o: Any) -> TorchValue:
        return self._new(self._of(o) + self.t)

    def __sub__(self, o: Any) -> TorchValue:
        return self._new(self.t - self._of(o))

    def __rsub__(self, o: Any) -> TorchValue:
        return self._new(self._of(o) - self.t)

    def __mul__(self, o: Any) -> TorchValue:
        return self._new(self.t * self._of(o))

    def __rmul__(self, o: Any) -> TorchValue:
        return self._new(self._of(o) * self.t)

    def __truediv__(self, o: Any) -> TorchValue:
        return self._new(self.t / self._of(o))

    def __rtruediv__(self, o: Any) -> TorchValue:
        return self._new(self._of(o) / self.t)

    def __pow__(self, o: Any) -> TorchValue:
        return self._new(self.t ** self._of(o))

    def __rpow__(self, o: Any) -> TorchValue:
        return self._new(self._of(o) ** self.t)

    def __neg__(self) -> TorchValue:
        return self._new(-self.t)

    def exp(self) -> TorchValue:
        return self._new(self.t.exp())

    def log(self) -> TorchValue:
        return self._new(self.t.log())

    def tanh(self) -> TorchValue:
        return self._new(self.t.tanh())

    def relu(self) -> TorchValue:
        return self._new(self.t.relu())

    def sigmoid(self) -> TorchValue:
        return self._new(self.t.sigmoid())

    def backward(self) -> None:
        # Intermediate tensors are not leaves: retain their graph so backward() can repeat.
        self.t.backward(retain_graph=True)


class HangsOnBigGraphs(Value):
    """backward() never returns once the graph has more than four nodes."""

    def backward(self) -> None:
        seen: list[Value] = []
        stack: list[Value] = [self]
        while stack:
            node = stack.pop()
            seen.append(node)
            stack.extend(node._prev)
        while len(seen) > 4:
            pass
        super().backward()
