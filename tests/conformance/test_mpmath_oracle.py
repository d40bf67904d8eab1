"""The mpmath oracle: exact-ish values, reverse-mode gradients, torch's conventions at kinks."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import mpmath
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import conformance
from conformance.ops import OPS
from conformance.oracles.mpmath import MpmathOracle
from conformance.program import Node, Program
from conformance.strategies import SPECIAL_VALUES, programs
from conformance.tolerance import compare, scales
from tests.meta_tests.engines import broken, plain

HAS_TORCH = importlib.util.find_spec("torch") is not None
ORACLE = MpmathOracle()


def unary(op: str, x: float) -> Program:
    return Program((Node("input", value=x), Node(op, (0,))), 1)


def binary(op: str, a: float, b: float, form: str = "vv") -> Program:
    kinds = {"v": "input", "c": "const"}
    nodes = (Node(kinds[form[0]], value=a), Node(kinds[form[1]], value=b), Node(op, (0, 1)))
    return Program(nodes, 2)


def test_values_are_the_exact_results_rounded_to_float64() -> None:
    with mpmath.workprec(300):
        assert ORACLE.run(unary("exp", 1.0)).values[1] == float(mpmath.e)
        assert ORACLE.run(unary("tanh", 0.5)).values[1] == float(mpmath.tanh(mpmath.mpf(0.5)))


def test_gradients_are_the_exact_derivatives_rounded_to_float64() -> None:
    ev = ORACLE.run(unary("tanh", 0.5))
    assert ev.grads[0] == pytest.approx(1.0 - math.tanh(0.5) ** 2, rel=1e-15)
    ev = ORACLE.run(binary("pow", 1.5, 2.5))
    assert ev.grads[0] == pytest.approx(2.5 * 1.5**1.5, rel=1e-15)
    assert ev.grads[1] == pytest.approx(1.5**2.5 * math.log(1.5), rel=1e-15)


def test_relu_at_zero_follows_torch_whose_derivative_there_is_zero() -> None:
    assert ORACLE.run(unary("relu", 0.0)).grads[0] == 0.0
    assert ORACLE.run(unary("relu", 1e-140)).grads[0] == 1.0


def test_pow_at_zero_base_follows_torch_conventions() -> None:
    ev = ORACLE.run(binary("pow", 0.0, 0.0))
    assert (ev.values[2], ev.grads[0], ev.grads[1]) == (1.0, 0.0, 0.0)
    ev = ORACLE.run(binary("pow", 0.0, 2.5, "vc"))
    assert (ev.values[2], ev.grads[0]) == (0.0, 0.0)
    assert ORACLE.run(binary("pow", 0.0, 1.0, "vc")).grads[0] == 1.0


def test_a_tiny_input_keeps_its_gradient_through_a_sum_with_a_large_number() -> None:
    nodes = (
        Node("input", value=1e-140),
        Node("const", value=1e10),
        Node("add", (0, 1)),
        Node("sub", (2, 1)),
    )
    assert ORACLE.run(Program(nodes, 3)).grads[0] == 1.0
    assert ORACLE.run(unary("exp", 1e-140)).grads[0] == 1.0


def test_non_finite_values_follow_ieee_and_leave_the_gradient_undetermined() -> None:
    assert ORACLE.run(unary("log", 0.0)).values[1] == -math.inf
    assert ORACLE.run(unary("exp", 1000.0)).values[1] == math.inf
    assert ORACLE.run(binary("div", 1.0, -0.0, "cv")).values[2] == -math.inf
    ev = ORACLE.run(binary("sub", 1000.0, 1000.0))  # not inf - inf: the inputs are finite
    assert ev.values[2] == 0.0
    nodes = (Node("input", value=1000.0), Node("exp", (0,)), Node("sub", (1, 1)))
    ev = ORACLE.run(Program(nodes, 2))
    assert math.isnan(ev.values[2]) and math.isnan(ev.grads[0])
    assert ev.all_finite() is False


def test_gradients_through_float64_fragile_magnitudes_are_left_unchecked() -> None:
    ev = ORACLE.run(binary("mul", 1e-200, 1e-200))  # underflows; each gradient is the other
    assert ev.values[2] == 0.0 and ev.grads == {0: 1e-200, 1: 1e-200}
    nodes = (
        Node("input", value=1e-200),
        Node("input", value=1e-200),
        Node("mul", (0, 1)),
        Node("const", value=1e-200),
        Node("mul", (2, 3)),
    )
    ev = ORACLE.run(Program(nodes, 4))  # the gradient 1e-400 is beyond float64's range
    assert math.isnan(ev.grads[0]) and math.isnan(ev.grads[1])
    ev = ORACLE.run(binary("div", 1.0, 1e-200))  # -1 / (b * b) overflows in float64
    assert math.isnan(ev.grads[1])
    assert ORACLE.run(binary("mul", 1e-100, 3.0)).grads[0] == 3.0


def test_a_long_chain_of_moderate_values_whose_gradient_underflows_is_still_judged() -> None:
    # y <- tanh(y) * 0.5 + 1 stays near 1.4, its derivative near 0.2: after 600 steps the exact
    # gradient is ~1e-420, 0 in float64, which any engine gets right (the deep check's chains are
    # such programs: left unchecked, their engine would never even run).
    nodes = [Node("input", value=0.3), Node("const", value=0.5), Node("const", value=1.0)]
    y = 0
    for _ in range(600):
        nodes += [Node("tanh", (y,)), Node("mul", (len(nodes), 1))]
        nodes.append(Node("add", (len(nodes) - 1, 2)))
        y = len(nodes) - 1
    ev = ORACLE.run(Program(tuple(nodes), y))
    assert ev.all_finite() and ev.grads[0] == 0.0


@pytest.mark.parametrize("op", [name for name, op in OPS.items() if op.bounded_partials])
def test_ops_with_bounded_partials_settle_gradients_for_operands_of_any_magnitude(op: str) -> None:
    for tiny_or_huge in (1e-306, -2e-300, 1e300, -1e-200):
        if OPS[op].arity == 1:
            grad = ORACLE.run(unary(op, tiny_or_huge)).grads[0]
            assert not math.isnan(grad) and abs(grad) <= 1.0
        else:
            ev = ORACLE.run(binary(op, tiny_or_huge, 3.0))
            assert not math.isnan(ev.grads[0]) and not math.isnan(ev.grads[1])
            assert abs(ev.grads[0]) == abs(ev.grads[1]) == 1.0


def test_a_partial_that_is_a_normal_multiple_of_one_rounded_quantity_is_settled() -> None:
    # d(x / 3)/dx = 1/3 however tiny x is; d(3 / x)/dx = -3 / x**2 is not (x * x underflows).
    tiny_over_three = ORACLE.run(binary("div", 1e-300, 3.0))
    assert tiny_over_three.grads[0] == 1 / 3 and math.isnan(tiny_over_three.grads[1])
    # exp(400) is 5.2e173, beyond 2**500; scaled back by 1e-200, its gradient is moderate.
    nodes = (Node("input", value=400.0), Node("exp", (0,)), Node("const", value=1e-200))
    scaled = ORACLE.run(Program((*nodes, Node("mul", (1, 2))), 3))
    assert scaled.grads[0] == pytest.approx(math.exp(400.0) * 1e-200, rel=1e-15)
    assert ORACLE.run(unary("sqrt", 1e-300)).grads[0] == pytest.approx(5e149, rel=1e-15)
    assert ORACLE.run(unary("log", 1e300)).grads[0] == 1e-300
    # ... but not where that quantity leaves float64's normal range: 1 / 1e-310 overflows.
    assert math.isnan(ORACLE.run(binary("div", 1e-300, 1e-310)).grads[0])


def test_a_tiny_operand_of_an_op_whose_partials_depend_on_it_is_still_fragile() -> None:
    nodes = (Node("input", value=1e-306), Node("const", value=3.0), Node("add", (0, 1)))
    sum_then_div = (*nodes, Node("div", (1, 0)))  # d/dx (3 / x) = -3 / (x * x): underflows
    ev = ORACLE.run(Program(sum_then_div, 3))
    assert math.isnan(ev.grads[0])
    assert ORACLE.run(Program(nodes, 2)).grads[0] == 1.0


def test_repeated_backward_accumulates_like_torch() -> None:
    prog = Program((Node("input", value=2.0), Node("mul", (0, 0))), 1, backward_passes=3)
    assert ORACLE.run(prog).grads[0] == 12.0


# Moderate magnitudes: where float64 backpropagation cannot overflow internally (see the report:
# with 1e-250 or exp(400) in a program torch's own backward formulas may overflow or underflow).
MODERATE = st.one_of(
    st.sampled_from(SPECIAL_VALUES),
    st.floats(1e-3, 8.0).flatmap(lambda x: st.sampled_from((x, -x))),
)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed: nothing to cross-check")
@given(programs(value_strategy=MODERATE))
def test_torch_and_mpmath_agree_within_the_harness_tolerance(program: Program) -> None:
    from conformance.oracles.torch import TorchOracle

    exact = ORACLE.run(program)
    verdict = compare(program, exact, TorchOracle().run(program))
    assert not verdict.failed, verdict.describe()


@pytest.mark.parametrize(
    "engine",
    [broken.Float32EveryNode, broken.ReluGradOneAtZero],
    ids=["float32-rounding", "relu-grad-at-zero-is-one"],
)
def test_the_mpmath_oracle_alone_catches_a_broken_engine(engine: type) -> None:
    report = conformance.check(
        engine, profile="quick", seed=1, oracle="mpmath", checks=["random", "kinks"]
    )
    assert not report.ok
    assert "mpmath" in report.to_json()


def test_the_mpmath_oracle_passes_a_correct_engine() -> None:
    report = conformance.check(
        plain.Value, profile="quick", seed=1, oracle="mpmath", checks=["random", "kinks"]
    )
    assert report.ok, report.failure_text()


def test_a_perturbation_carried_through_a_huge_exact_sum_keeps_its_digits():
    # grad of x in -1 / (x + 3 / 6.5e-140) at x = 0 is 1 / D**2, D = 3 / 6.5e-140. The exact sum
    # x + D is wider than the working precision; its quotient once kept only 32 spare bits, which
    # blurred the gradient to ~1e-10 identically at every step level.
    import mpmath

    from conformance.oracles import load_oracle
    from conformance.program import Node, Program

    tiny = 6.57581869700135e-140
    nodes = (
        Node("input", (), 0.0),
        Node("input", (), 3.0),
        Node("input", (), -1.0),
        Node("const", (), tiny),
        Node("div", (1, 3)),
        Node("add", (0, 4)),
        Node("div", (2, 5)),
    )
    grads = load_oracle("mpmath").run(Program(nodes, 6)).grads
    mpmath.mp.prec = 300
    exact = float(1 / (mpmath.mpf(3.0) / mpmath.mpf(tiny)) ** 2)
    assert abs(grads[0] - exact) <= 1e-15 * abs(exact)


def _value_at(program: Program, point: dict[int, Any]) -> Any:
    """The output with some inputs moved; None where an op leaves its domain."""
    vals: list[Any] = []
    for i, node in enumerate(program.nodes):
        if node.op in ("input", "const"):
            vals.append(point.get(i, mpmath.mpf(node.value)))
            continue
        op = OPS[node.op]
        a = vals[node.args[0]]
        b = vals[node.args[1]] if len(node.args) == 2 else mpmath.mpf(0)
        if op.has_kinks and (a == 0 or abs(a) < mpmath.ldexp(1, -60)):
            return None  # a difference across a kink says nothing about the convention
        try:
            y = op.mpmath(a, b)
        except (ZeroDivisionError, ValueError):
            return None
        if not isinstance(y, mpmath.mpf) or not mpmath.isfinite(y) or abs(y) > 2.0**1023:
            return None  # beyond float64: the oracle leaves such gradients undetermined
        vals.append(y)
    return vals[program.output]


@settings(max_examples=40)
@given(programs(max_nodes=10, value_strategy=MODERATE))
def test_reverse_mode_agrees_with_high_precision_central_differences(program: Program) -> None:
    """The independent cross-check of the oracle's calculus: the definition of the derivative."""
    evaluation = ORACLE.run(program)
    # Reverse mode at 256 bits sums terms as large as the gradient's error scale: where they
    # cancel exactly (d/dx (x/5) / x), a residue of 2**-250 of that scale is rounding, not a bug.
    scale = scales(program, evaluation).grads
    # A 2**-600 step: truncation error (h**2 times the third derivative) far below float64's
    # subnormals; 2500 bits keep the difference's digits next to values up to 2**1024.
    with mpmath.workprec(2500):
        for i, grad in evaluation.grads.items():
            if not math.isfinite(grad):
                continue
            x = mpmath.mpf(program.nodes[i].value)
            h = mpmath.ldexp(abs(x) or 1, -600)
            up, down = _value_at(program, {i: x + h}), _value_at(program, {i: x - h})
            assume(up is not None and down is not None)
            numerical = float((up - down) / (2 * h))
            rounding = 2.0**-250 * scale[i] + 1e-300
            assert math.isclose(grad, numerical, rel_tol=1e-13, abs_tol=rounding), (grad, numerical)
