"""Shared helpers for the engine tests: the torch float64 reference and a float comparison."""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest


@pytest.fixture(scope="session")
def torch() -> ModuleType:
    """The torch module; tests that compare against it are skipped, visibly, where it is absent."""
    return pytest.importorskip("torch", reason="torch (the float64 reference) is not installed")


def _close(actual: float, expected: float, rel: float = 1e-15, abs_: float = 0.0) -> bool:
    """Equal, both nan, or within ``rel`` relative / ``abs_`` absolute (infinities must match)."""
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if actual == expected:
        return True
    if math.isinf(actual) or math.isinf(expected):
        return False
    return abs(actual - expected) <= max(rel * max(abs(actual), abs(expected)), abs_)


@pytest.fixture(scope="session")
def close() -> Callable[..., bool]:
    """``close(actual, expected, rel=1e-15, abs_=0.0)``: the float comparison of these tests."""
    return _close


@pytest.fixture(scope="session")
def torch_run(torch: ModuleType) -> Callable[..., tuple[float, list[float]]]:
    """``torch_run(f, xs)``: run ``f`` on float64 leaf tensors; return the value and the grads."""

    def run(f: Callable[..., Any], xs: list[float]) -> tuple[float, list[float]]:
        leaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
        out = f(*leaves)
        out.backward()
        grads = [0.0 if t.grad is None else t.grad.item() for t in leaves]
        return out.item(), grads

    return run
