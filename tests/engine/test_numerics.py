"""The issue's edge cases with their IEEE 754 / PyTorch answers spelled out (no torch needed)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from micrograd.engine import Value

INF, NAN = math.inf, math.nan


def run(f: Callable[..., Any], *xs: float) -> tuple[float, list[float]]:
    """Value and leaf gradients of ``f`` at ``xs``."""
    leaves = [Value(x) for x in xs]
    out = f(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


def same(a: float, b: float) -> bool:
    """Equal, or both nan."""
    return a == b or (math.isnan(a) and math.isnan(b))


CASES = [
    # (description, function, inputs, expected value, expected gradients)
    ("exp(1000) overflows to inf", lambda a: a.exp(), [1000.0], INF, [INF]),
    ("exp(-1000) underflows to 0", lambda a: a.exp(), [-1000.0], 0.0, [0.0]),
    ("log(0) is -inf with an infinite slope", lambda a: a.log(), [0.0], -INF, [INF]),
    ("log(-1) is nan", lambda a: a.log(), [-1.0], NAN, [-1.0]),
    ("1/0 is inf", lambda a: 1 / a, [0.0], INF, [-INF]),
    ("-1/0 is -inf", lambda a: -1 / a, [0.0], -INF, [INF]),
    ("x/0 is inf", lambda a: a / 0, [1.0], INF, [INF]),
    ("0/0 is nan", lambda a, b: a / b, [0.0, 0.0], NAN, [INF, NAN]),
    ("(-8)**(1/3) is nan, not complex", lambda a: a ** (1 / 3), [-8.0], NAN, [NAN]),
    ("(-8)**Value(1/3) is nan", lambda a, b: a**b, [-8.0, 1 / 3], NAN, [NAN, NAN]),
    ("tanh(1000) is exactly 1 with gradient 0", lambda a: a.tanh(), [1000.0], 1.0, [0.0]),
    ("tanh(-1000) is exactly -1 with gradient 0", lambda a: a.tanh(), [-1000.0], -1.0, [0.0]),
    ("sigmoid(1000) is 1 with gradient 0", lambda a: a.sigmoid(), [1000.0], 1.0, [0.0]),
    ("sigmoid(-1000) is 0 with gradient 0, not nan", lambda a: a.sigmoid(), [-1000.0], 0.0, [0.0]),
    ("sigmoid(0) is a half", lambda a: a.sigmoid(), [0.0], 0.5, [0.25]),
    ("relu'(0) is 0", lambda a: a.relu(), [0.0], 0.0, [0.0]),
    ("relu'(-0.0) is 0", lambda a: a.relu(), [-0.0], 0.0, [0.0]),
    ("relu'(tiny) is 1", lambda a: a.relu(), [5e-324], 5e-324, [1.0]),
    ("d/dx x**0 is 0 at x = 0", lambda a: a**0, [0.0], 1.0, [0.0]),
    ("d/dx x**0 is 0 at x = inf", lambda a: a**0, [INF], 1.0, [0.0]),
    ("0**-1 is inf with slope -inf", lambda a: a**-1, [0.0], INF, [-INF]),
    ("0**0.5 has an infinite slope", lambda a: a**0.5, [0.0], 0.0, [INF]),
    ("0**Value(0) is 1 with no gradient", lambda a, b: a**b, [0.0, 0.0], 1.0, [0.0, 0.0]),
    ("0**Value(2) gives the exponent no gradient", lambda a, b: a**b, [0.0, 2.0], 0.0, [0.0, 0.0]),
    (
        "(-2)**Value(2): the exponent's slope is nan",
        lambda a, b: a**b,
        [-2.0, 2.0],
        4.0,
        [-4.0, NAN],
    ),
    ("10**400 overflows to inf", lambda a: a**400, [10.0], INF, [INF]),
    ("(-10)**401 overflows to -inf", lambda a: a**401, [-10.0], -INF, [INF]),
    ("2**Value(5000) overflows to inf", lambda b: 2**b, [5000.0], INF, [INF]),
    ("huge * huge overflows to inf", lambda a, b: a * b, [1e300, 1e300], INF, [1e300, 1e300]),
]


@pytest.mark.parametrize(
    ("f", "xs", "value", "grads"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_edge_case_gives_the_ieee_and_torch_answer(f, xs, value, grads) -> None:
    got_value, got_grads = run(f, *xs)
    assert isinstance(got_value, float)
    assert same(got_value, value), got_value
    assert all(same(g, e) for g, e in zip(got_grads, grads, strict=True)), got_grads


def test_no_op_raises_or_goes_complex_on_any_extreme_input() -> None:
    extremes = [0.0, -0.0, 1e-320, -1e-320, 1e308, -1e308, 1000.0, -1000.0, INF, -INF, NAN, -8.0]
    unary = [
        lambda a: -a, lambda a: a.exp(), lambda a: a.log(), lambda a: a.tanh(),
        lambda a: a.relu(), lambda a: a.sigmoid(), lambda a: a.reciprocal(),
        lambda a: a**0.5, lambda a: a**-1, lambda a: a**-2.5, lambda a: a**3, lambda a: 1 / a,
        lambda a: 0.0 ** a, lambda a: (-2.0) ** a, lambda a: a / 0,
    ]  # fmt: skip
    binary = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b]
    binary.append(lambda a, b: a**b)
    for x in extremes:
        for f in unary:
            value, grads = run(f, x)
            assert isinstance(value, float) and all(isinstance(g, float) for g in grads)
        for y in extremes:
            for g in binary:
                value, grads = run(g, x, y)
                assert isinstance(value, float) and all(isinstance(d, float) for d in grads)
