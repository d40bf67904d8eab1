"""Engines with less than micrograd's whole API: probing must list what they lack, not fail."""

from __future__ import annotations

from typing import Any

from .reference import Value


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


class BareAssertPower(Value):
    """micrograd 0.1.0's ``__pow__``: ``assert isinstance(other, (int, float))``, no message.

    ``v ** w`` is refused at forward time: not supported, listed with its AssertionError."""

    def __pow__(self, other: Value | float) -> Value:
        assert isinstance(other, (int, float))
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
