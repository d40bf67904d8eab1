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
