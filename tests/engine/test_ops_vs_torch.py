"""Every op, in every operand order, on ordinary and extreme inputs, against torch float64."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.ops import OPS
from micrograd.engine import Value

# Ordinary numbers, signed zeros, tiny and huge magnitudes, the overflow edges of exp, inf and nan.
SPECIAL = [
    0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -8.0, 1 / 3, 0.1, 1.7, -2.3, 20.0, -20.0,
    37.5, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 710.0, -745.5, 1000.0, -1000.0,
    math.inf, -math.inf, math.nan,
]  # fmt: skip

# Every op of the harness's table, called the micrograd way (in-place forms: test_semantics.py).
UNARY: dict[str, Callable[[Any], Any]] = {n: op.call for n, op in OPS.items() if op.arity == 1}
BINARY: dict[str, Callable[[Any, Any], Any]] = {
    n: op.call for n, op in OPS.items() if op.arity == 2 and not op.inplace
}

# Exponents with torch fast paths (0, 1, 2, 3, 0.5, -0.5, -1, -2) and without, as plain numbers.
EXPONENTS = [
    0.0,
    1.0,
    2.0,
    3.0,
    0.5,
    -0.5,
    -1.0,
    -2.0,
    1 / 3,
    -1 / 3,
    1.5,
    2.5,
    -3.0,
    4.0,
    10.0,
    2,
    3,
]

# d tanh = 1 - tanh**2 turns a one-ulp difference in tanh (libms differ) into ~2e-16 absolute.
GRAD_ABS = {"tanh": 1e-15}


def engine_run(f: Callable[..., Any], xs: list[float]) -> tuple[float, list[float]]:
    """Run ``f`` on Value leaves; return the output's value and the leaves' gradients."""
    leaves = [Value(x) for x in xs]
    out = f(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


def mismatches(
    f: Callable[..., Any], inputs: list[list[float]], torch_run, close, grad_abs: float = 0.0
) -> list[str]:
    """Describe every input on which the engine disagrees with torch (or raises)."""
    found = []
    for xs in inputs:
        try:
            value, grads = engine_run(f, xs)
        except Exception as exc:
            found.append(f"{xs}: raised {exc!r}")
            continue
        expected, expected_grads = torch_run(f, xs)
        ok = close(value, expected) and all(
            close(g, e, abs_=grad_abs) for g, e in zip(grads, expected_grads, strict=True)
        )
        if not ok:
            found.append(f"{xs}: engine {value!r} {grads!r}, torch {expected!r} {expected_grads!r}")
    return found


@pytest.mark.parametrize("name", UNARY)
def test_unary_op_matches_torch_on_the_special_values(name, torch_run, close) -> None:
    inputs = [[x] for x in SPECIAL]
    assert mismatches(UNARY[name], inputs, torch_run, close, GRAD_ABS.get(name, 0.0)) == []


@pytest.mark.parametrize("exponent", EXPONENTS, ids=repr)
def test_power_with_a_number_exponent_matches_torch(exponent, torch_run, close) -> None:
    inputs = [[x] for x in SPECIAL]
    assert mismatches(lambda a: a**exponent, inputs, torch_run, close) == []


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("form", ["value op value", "value op number", "number op value"])
def test_binary_op_matches_torch_in_every_operand_order(name, form, torch_run, close) -> None:
    op = BINARY[name]
    pairs = list(itertools.product(SPECIAL, SPECIAL))
    if form == "value op value":
        found = mismatches(op, [[x, y] for x, y in pairs], torch_run, close)
    else:
        found = []
        for x, y in pairs:
            if form == "value op number":
                f = lambda a, y=y: op(a, y)  # noqa: E731
                found += mismatches(f, [[x]], torch_run, close)
            else:
                f = lambda b, x=x: op(x, b)  # noqa: E731
                found += mismatches(f, [[y]], torch_run, close)
    assert found == [], f"{len(found)} mismatches, e.g. {found[:5]}"


def test_a_value_used_twice_accumulates_both_paths_like_torch(torch_run, close) -> None:
    shapes = [
        lambda a: a * a,
        lambda a: a + a,
        lambda a: a - a,
        lambda a: a / a,
        lambda a: a**a,
        lambda a: (a * a).tanh() * a.sigmoid() + a.exp() / (1 + a.relu()),
    ]
    inputs = [[x] for x in SPECIAL]
    for f in shapes:
        assert mismatches(f, inputs, torch_run, close, grad_abs=1e-15) == []


def test_integer_operands_behave_as_their_floats(torch_run, close) -> None:
    cases = [
        lambda a: 3 * a,
        lambda a: a * 3,
        lambda a: 3 - a,
        lambda a: 1 / a,
        lambda a: a**3,
        lambda a: 2**a,
        lambda a: a + (-7),
    ]
    for f in cases:
        assert mismatches(f, [[x] for x in SPECIAL], torch_run, close) == []


any_float = st.floats(allow_nan=True, allow_infinity=True)
moderate = st.floats(min_value=-50, max_value=50)
number = st.one_of(any_float, st.integers(min_value=-10, max_value=10))


@given(name=st.sampled_from(sorted(UNARY)), x=st.one_of(any_float, moderate))
def test_unary_ops_match_torch_anywhere(name, x, torch_run, close) -> None:
    assert mismatches(UNARY[name], [[x]], torch_run, close, GRAD_ABS.get(name, 0.0)) == []


@given(name=st.sampled_from(sorted(BINARY)), x=st.one_of(any_float, moderate), y=number)
def test_binary_ops_match_torch_anywhere_in_every_operand_order(
    name, x, y, torch_run, close
) -> None:
    op = BINARY[name]
    fy = float(y)
    assert mismatches(op, [[x, fy]], torch_run, close) == []
    assert mismatches(lambda a: op(a, y), [[x]], torch_run, close) == []
    assert mismatches(lambda b: op(y, b), [[x]], torch_run, close) == []
