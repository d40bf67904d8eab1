"""Engines with less than micrograd's whole API: probing must list what they lack, not fail."""

from __future__ import annotations

from typing import Any

from .reference import Value


class _Wrapped:
    """A port's own class around the reference Value, which holds the numbers and the graph."""

    def __init__(self, data: float) -> None:
        self.inner = Value(data)

    @classmethod
    def _around(cls, inner: Value) -> Any:
        out = cls.__new__(cls)
        out.inner = inner
        return out

    def _of(self, other: Any) -> Any:
        return other.inner if isinstance(other, _Wrapped) else other


class _MicrogradNames(_Wrapped):
    """micrograd's ``.data`` and ``.grad``."""

    @property
    def data(self) -> float:
        return self.inner.data

    @property
    def grad(self) -> float:
        return self.inner.grad


class NoTranscendentals(_MicrogradNames):
    """Only + and * with numbers (like micrograd 0.1.0 without relu): probing must skip the rest."""

    def __add__(self, other: Any) -> Any:
        return self._around(self.inner + self._of(other))

    def __mul__(self, other: Any) -> Any:
        return self._around(self.inner * self._of(other))

    def backward(self) -> None:
        self.inner.backward()


class BareAssertPower(Value):
    """micrograd 0.1.0's ``__pow__``: ``assert isinstance(other, (int, float))``, no message.

    ``v ** w`` is refused at forward time: not supported, listed with its AssertionError."""

    def __pow__(self, other: Value | float) -> Value:
        assert isinstance(other, (int, float))
        return super().__pow__(other)


class ExceptionPower(Value):
    """``v ** w`` refused with a bare ``Exception`` that says so (gavi/micrograd_py, GitHub)."""

    def __pow__(self, other: Value | float) -> Value:
        if not isinstance(other, (int, float)):
            raise Exception("only float and int are supported")
        return super().__pow__(other)


class BrokenExceptionPower(Value):
    """``v ** w`` raises a bare ``Exception`` that does not say the op is missing: a bug."""

    def __pow__(self, other: Value | float) -> Value:
        if not isinstance(other, (int, float)):
            raise Exception("exponent went wrong")
        return super().__pow__(other)


class NoReflectedMul(Value):
    """``v * 2`` works, ``2 * v`` raises TypeError: there is no ``__rmul__``."""

    __rmul__ = None  # type: ignore[assignment]


class NoDivision(Value):
    """No ``/`` at all: every form of div is missing, a gap the summary counts."""

    __truediv__ = None  # type: ignore[assignment]
    __rtruediv__ = None  # type: ignore[assignment]


class OwnNames(Value):
    """Published ports name methods their own way: ``ln`` for log, ``reLU`` for relu."""

    log = None  # type: ignore[assignment]
    relu = None  # type: ignore[assignment]

    def ln(self) -> Value:
        """The natural logarithm, under another name."""
        return Value.log(self)

    def reLU(self) -> Value:  # the port's own spelling
        """relu, under another name."""
        return Value.relu(self)


class AbsByProtocol(Value):
    """``abs(v)`` through ``__abs__`` (as ports often spell it), no ``v.abs()`` method."""

    abs = None  # type: ignore[assignment]

    def __abs__(self) -> Value:
        """|v|, under Python's own protocol."""
        return Value.abs(self)


class BrokenRelu(Value):
    """``relu`` is there but fails as a missing one would (and a private ``_relu`` lies about):
    no spelling of the name is the problem, so no ``--alias`` is suggested."""

    def relu(self) -> Value:
        """Reaches for an attribute the class never set."""
        return self._relu_cache  # type: ignore[attr-defined,no-any-return]

    def _relu(self) -> Value:
        """A private helper that happens to share the name."""
        return Value.relu(self)


class BackwardsSpelledOut(_MicrogradNames):
    """Its backward pass is ``backwards()``: the probe names the ``--alias`` that maps it."""

    def backwards(self) -> None:
        self.inner.backward()


class RuleNamedBackward(Value):
    """Each Value holds a function of its own named ``backward``, its node's rule (micrograd's
    ``_backward``); the backward pass is ``backprop()``. ``v.backward()`` runs a rule."""

    backward = None  # type: ignore[assignment]  # no backward() method on the class
    backprop = Value.backward

    def __init__(self, data: float, _children: tuple[Value, ...] = (), _op: str = "") -> None:
        super().__init__(data, _children, _op)
        self.backward = lambda: None


class OwnApi(_Wrapped):
    """A port with its own words for the whole API: ``backprop()``, ``.value``, ``gradient()``."""

    @property
    def value(self) -> float:
        return self.inner.data

    def gradient(self) -> float:
        return self.inner.grad

    def backprop(self) -> None:
        self.inner.backward()

    def __add__(self, other: Any) -> Any:
        return self._around(self.inner + self._of(other))

    def __radd__(self, other: Any) -> Any:
        return self._around(self._of(other) + self.inner)

    def __mul__(self, other: Any) -> Any:
        return self._around(self.inner * self._of(other))

    def __rmul__(self, other: Any) -> Any:
        return self._around(self._of(other) * self.inner)

    def tanh(self) -> Any:
        return self._around(self.inner.tanh())


class OwnApiWrongTanh(OwnApi):
    """``OwnApi`` whose tanh is relu: a bug its reproducers must show in the port's own words."""

    def tanh(self) -> Any:
        return self._around(self.inner.relu())


class TerseApi(OwnApi):
    """A port with terse words: ``.v``, ``.grade``, ``backward_pass()``, beside a ``grad_fn``
    and ``.value_history`` that are neither the gradient nor the number."""

    grad_fn = None
    value_history: tuple[float, ...] = (0.75,)

    v = _MicrogradNames.data
    grade = _MicrogradNames.grad

    def backward_pass(self) -> None:
        self.inner.backward()

    value = gradient = backprop = None  # type: ignore[assignment]
