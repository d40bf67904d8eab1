"""Programs the oracle cannot settle in full still run on the engine: what is settled is judged.

A program whose torch result holds an inf or a nan, or whose gradient the mpmath oracle leaves
open, once never reached the engine, so a hang, a crash or a wrong finite value there went
unseen. The oracles here are written out (no torch, no mpmath needed).
"""

from __future__ import annotations

import math

import pytest

from conformance.backends import PythonValueBackend
from conformance.backends.base import Evaluation
from conformance.checks.base import CheckContext, Outcome
from conformance.checks.per_op import judge_point
from conformance.checks.programs import NONFINITE, RANDOM
from conformance.program import Node, Program
from conformance.tolerance import compare_unsettled
from tests.meta_tests.engines.reference import Value as Reference
from tests.meta_tests.engines.reference import ieee_div

TINY = 3e-200

# 1 / x at x = 3e-200: the value 3.3e199 is finite, the gradient -1 / x**2 overflows.
RECIPROCAL = Program((Node("const", value=1.0), Node("input", value=TINY), Node("div", (0, 1))), 2)
TORCH = Evaluation({1: TINY, 2: 1 / TINY}, {1: -math.inf})
MPMATH = Evaluation({1: TINY, 2: 1 / TINY}, {1: math.nan})  # a gradient it leaves open


class _Written:
    """An oracle that answers one written-out evaluation."""

    name = "written"

    def __init__(self, evaluation: Evaluation, determines_nonfinite_gradients: bool) -> None:
        self.evaluation = evaluation
        self.determines_nonfinite_gradients = determines_nonfinite_gradients

    def run(self, program: Program) -> Evaluation:
        """The written evaluation, whatever the program."""
        return self.evaluation


class RaisesInForward(Reference):
    """Division as Python's ``**``, eagerly: raises OverflowError building 1 / 3e-200's rule."""

    def __rtruediv__(self, other: float) -> Reference:
        _ = self.data**-2.0
        return super().__rtruediv__(other)


class RaisesInBackward(Reference):
    """Division's backward squares the denominator with ``**``, which raises on overflow."""

    def __truediv__(self, other: Reference | float) -> Reference:
        other = self._lift(other)
        out = self._result(ieee_div(self.data, other.data), (self, other), "/")

        def _backward() -> None:
            self.grad += out.grad / other.data
            other.grad -= out.grad * self.data * other.data**-2.0

        out._backward = _backward
        return out


class HangsOnInfiniteGradient(Reference):
    """Division's backward spins when the denominator's gradient overflows."""

    def __truediv__(self, other: Reference | float) -> Reference:
        out = super().__truediv__(other)
        step = out._backward

        def _backward() -> None:
            step()
            while math.isinf(out._prev[1].grad):
                pass

        out._backward = _backward
        return out


class WrongReciprocal(Reference):
    """Division rounds its value to float32."""

    def __truediv__(self, other: Reference | float) -> Reference:
        out = super().__truediv__(other)
        out.data = float(f"{out.data:.7g}")
        return out


def _judged(engine: type[Reference], oracle: Evaluation, determines: bool = True) -> Outcome:
    ctx = CheckContext(
        PythonValueBackend(engine), _Written(oracle, determines), [], "quick", timeout=0.5
    )
    return RANDOM.evaluate(ctx, RECIPROCAL, ctx.timeout)


@pytest.mark.parametrize("oracle", [TORCH, MPMATH], ids=["torch", "mpmath"])
def test_a_correct_engine_on_an_unsettled_program_is_unchecked_not_failed(
    oracle: Evaluation,
) -> None:
    outcome = _judged(Reference, oracle, determines=oracle is TORCH)
    assert outcome.verdict.status == "unchecked" and outcome.got is not None


@pytest.mark.parametrize("oracle", [TORCH, MPMATH], ids=["torch", "mpmath"])
def test_a_hang_on_an_unsettled_program_is_an_error(oracle: Evaluation) -> None:
    verdict = _judged(HangsOnInfiniteGradient, oracle, determines=oracle is TORCH).verdict
    assert verdict.failed and verdict.severity == "error"
    assert verdict.error_kind == "timeout"


@pytest.mark.parametrize("oracle", [TORCH, MPMATH], ids=["torch", "mpmath"])
def test_a_wrong_finite_value_of_an_unsettled_program_is_an_error(oracle: Evaluation) -> None:
    verdict = _judged(WrongReciprocal, oracle, determines=oracle is TORCH).verdict
    assert verdict.failed and verdict.severity == "error"
    assert [m.node for m in verdict.mismatches] == [2]


@pytest.mark.parametrize("oracle", [TORCH, MPMATH], ids=["torch", "mpmath"])
def test_raising_where_every_value_is_finite_is_an_error(oracle: Evaluation) -> None:
    verdict = _judged(RaisesInForward, oracle, determines=oracle is TORCH).verdict
    assert verdict.failed and verdict.severity == "error"
    assert verdict.error_type == "OverflowError" and verdict.error_phase == "forward"


@pytest.mark.parametrize("oracle", [TORCH, MPMATH], ids=["torch", "mpmath"])
def test_raising_where_the_gradient_overflows_is_a_semantics_difference(
    oracle: Evaluation,
) -> None:
    verdict = _judged(RaisesInBackward, oracle, determines=oracle is TORCH).verdict
    assert verdict.failed and verdict.severity == "semantics"
    assert verdict.error_phase == "backward"


def _relu_of_minus_exp(x: float) -> Program:
    nodes = (Node("input", value=x), Node("exp", (0,)), Node("neg", (1,)), Node("relu", (2,)))
    return Program(nodes, 3)


def test_a_value_computed_from_an_inf_weighs_only_as_semantics() -> None:
    # relu(-exp(1000)) is relu(-inf) = 0 in torch. An engine whose exp gives nan gets nan for it
    # too: a difference in torch's conventions, not a second bug.
    program = _relu_of_minus_exp(1000.0)
    expected = Evaluation({0: 1000.0, 1: math.inf, 2: -math.inf, 3: 0.0}, {0: math.nan})
    got = Evaluation({0: 1000.0, 1: math.nan, 2: math.nan, 3: math.nan}, {0: math.nan})
    verdict = compare_unsettled(program, expected, got)
    assert verdict.failed and verdict.severity == "semantics"
    assert 3 in {m.node for m in verdict.mismatches}


def test_a_wrong_value_with_nothing_infinite_before_it_is_an_error() -> None:
    program = _relu_of_minus_exp(1.0)
    expected = Evaluation({0: 1.0, 1: math.e, 2: -math.e, 3: 0.0}, {0: math.nan})
    wrong = Evaluation({0: 1.0, 1: math.e, 2: -math.e, 3: 1.0}, {0: 0.0})
    verdict = compare_unsettled(program, expected, wrong)
    assert verdict.failed and verdict.severity == "error"


def test_a_hang_where_torch_gives_inf_is_an_error_in_the_nonfinite_check_too() -> None:
    ctx = CheckContext(
        PythonValueBackend(HangsOnInfiniteGradient), _Written(TORCH, True), [], "quick"
    )
    verdict = NONFINITE.evaluate(ctx, RECIPROCAL, 0.5).verdict
    assert verdict.failed and verdict.severity == "error"


def test_the_ops_check_reports_a_raise_where_the_oracle_leaves_the_gradient_open() -> None:
    program = Program((Node("input", value=0.0), Node("input", value=TINY), Node("div", (0, 1))), 2)
    expected = Evaluation({0: 0.0, 1: TINY, 2: 0.0}, {0: math.nan, 1: math.nan})
    got = PythonValueBackend(RaisesInBackward)
    try:
        got.run(program)
    except Exception as exc:  # the backend's own error, as the check sees it
        from conformance.backends.adapter import classify

        error = classify(exc, "backward")
    else:
        raise AssertionError("the engine was meant to raise")
    findings = judge_point(program, "vv", expected, error, nonfinite_gradients=False)
    assert findings["grad b"].status == "semantics"
    assert "OverflowError" in (findings["grad b"].error or "")


def test_a_gradient_mpmath_settles_beside_one_it_leaves_open_is_still_judged() -> None:
    # 2a + b**2 at b = 1e-160: d/da = 2 is settled; b**2 is subnormal, and mpmath leaves the
    # gradient through it open (2 * b ** 1 may be computed from it or not).
    b = 1e-160
    program = Program(
        (
            Node("input", value=3.0),
            Node("const", value=2.0),
            Node("mul", (0, 1)),
            Node("input", value=b),
            Node("pow", (3, 1)),
            Node("add", (2, 4)),
        ),
        5,
    )
    values = {0: 3.0, 2: 6.0, 3: b, 4: b * b, 5: 6.0 + b * b}
    expected = Evaluation(values, {0: 2.0, 3: math.nan})
    right = Evaluation(dict(values), {0: 2.0, 3: 2 * b})
    verdict = compare_unsettled(program, expected, right, nonfinite_gradients=False)
    assert verdict.status == "unchecked"
    wrong = Evaluation(dict(values), {0: 3.0, 3: 2 * b})
    verdict = compare_unsettled(program, expected, wrong, nonfinite_gradients=False)
    assert verdict.failed and verdict.severity == "error"
    assert [(m.kind, m.node) for m in verdict.mismatches] == [("grad", 0)]
