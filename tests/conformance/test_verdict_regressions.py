"""False positives a correct float64 engine once hit, and the runner's guarantees around them.

The expected numbers are written out as the oracle gives them (torch's own under/overflow
included), so these tests need neither torch nor mpmath.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

import conformance
from conformance.backends import load_backend
from conformance.backends.base import Evaluation
from conformance.checks import CheckContext, ProgramCheck, get_check
from conformance.probe import probe
from conformance.program import Node, Program
from conformance.runner import run_check
from conformance.tolerance import compare, compare_semantic_values, compare_semantics

BUNDLED = "micrograd.engine:Value"


def _evaluate(program: Program) -> Evaluation:
    """The bundled engine's numbers (its values equal torch's on these programs)."""
    return load_backend(BUNDLED).run(program)


def _reciprocal_underflow() -> Program:
    # (-(2x+1)/c) * (-(1/(2(2x+1)/c))) = 1/2 for every x: the true gradient is 0.
    c = 3.7699704707112598e-177
    nodes = (
        Node("input", value=0.0),
        Node("const", value=2.0),
        Node("mul", (1, 0)),
        Node("const", value=1.0),
        Node("add", (2, 3)),
        Node("const", value=c),
        Node("div", (4, 5)),
        Node("neg", (6,)),
        Node("mul", (1, 6)),
        Node("div", (3, 8)),
        Node("neg", (9,)),
        Node("mul", (7, 10)),
    )
    return Program(nodes, 11)


def test_torchs_underflowed_reciprocal_gradient_does_not_fail_an_exact_engine() -> None:
    program = _reciprocal_underflow()
    values = _evaluate(program).values
    assert values[11] == 0.5
    # torch squares 1/(5.3e176) in the reciprocal's backward; it underflows and leaves 1.0.
    torch_like = Evaluation(dict(values), {0: 1.0})
    exact = Evaluation(dict(values), {0: 0.0})
    assert compare(program, torch_like, exact).status != "fail"
    assert compare(program, exact, torch_like).status != "fail"


def test_a_representable_gradient_torch_underflows_to_zero_is_not_a_failure() -> None:
    # 1e300 / v at v = 1e300: torch computes 1e300 * -(1/v)**2, which underflows to -0.0.
    program = Program(
        (Node("input", value=1e300), Node("const", value=1e300), Node("div", (1, 0))), 2
    )
    torch_like = Evaluation({0: 1e300, 2: 1.0}, {0: -0.0})
    exact = Evaluation({0: 1e300, 2: 1.0}, {0: -1e-300})
    assert compare(program, torch_like, exact).status == "pass"
    assert compare_semantics(program, torch_like, exact).status == "pass"
    # The widening is |c| * 2**-1074 (7e-24 here): a gradient beyond it still fails.
    assert compare(program, torch_like, Evaluation(exact.values, {0: -1e-20})).failed


def test_an_undetermined_value_that_a_float64_engine_overflows_is_unchecked() -> None:
    # (c / v) ** (-4 e**150) at v = c: exactly 1, but c / v one ulp off 1 gives inf or 0.
    big = -4 * math.exp(150)
    program = Program(
        (
            Node("input", value=6.125),
            Node("const", value=6.125),
            Node("div", (1, 0)),
            Node("const", value=big),
            Node("pow", (2, 3)),
        ),
        4,
    )
    exact = Evaluation({0: 6.125, 2: 1.0, 4: 1.0}, {0: 9.10177685333146e64})
    overflowed = Evaluation({0: 6.125, 2: 1.0, 4: math.inf}, {0: math.nan})
    verdict = compare(program, exact, overflowed)
    assert verdict.status == "unchecked"
    assert "not determined" in verdict.describe()


def test_an_infinite_value_where_the_value_is_well_determined_still_fails() -> None:
    program = Program((Node("input", value=2.0), Node("exp", (0,))), 1)
    expected = Evaluation({0: 2.0, 1: math.exp(2.0)}, {0: math.exp(2.0)})
    got = Evaluation({0: 2.0, 1: math.inf}, {0: math.exp(2.0)})
    assert compare(program, expected, got).failed


def _division_by_cancellation() -> Program:
    # b = ((x + y) - x) - y is zero within its rounding error; x / b may be anything.
    nodes = (
        Node("input", value=0.1),
        Node("input", value=0.2),
        Node("add", (0, 1)),
        Node("sub", (2, 0)),
        Node("sub", (3, 1)),
        Node("div", (0, 4)),
    )
    return Program(nodes, 5)


def test_dividing_by_a_value_that_is_zero_within_its_error_is_not_judged() -> None:
    program = _division_by_cancellation()
    expected = _evaluate(program)
    b = expected.values[4]
    assert b != 0.0
    for other_b in (-b, 0.0, 2 * b):
        values = dict(expected.values)
        values[4] = other_b
        values[5] = math.inf if other_b == 0.0 else 0.1 / other_b
        grads = {0: math.inf if other_b == 0.0 else 1.0 / other_b, 1: 0.0}
        verdict = compare(program, expected, Evaluation(values, grads))
        assert verdict.status != "fail", (other_b, verdict.describe())


def test_a_wrong_division_by_a_well_determined_value_still_fails() -> None:
    program = Program((Node("input", value=0.5), Node("const", value=1.0), Node("div", (1, 0))), 2)
    expected = Evaluation({0: 0.5, 2: 2.0}, {0: -4.0})
    assert compare(program, expected, Evaluation({0: 0.5, 2: 2.0}, {0: 4.0})).failed


def test_values_only_semantics_ignores_gradients_and_says_so() -> None:
    program = Program((Node("input", value=0.0), Node("log", (0,))), 1)
    expected = Evaluation({0: 0.0, 1: -math.inf}, {0: math.nan})
    got = Evaluation({0: 0.0, 1: -math.inf}, {0: math.inf})
    assert compare_semantics(program, expected, got).failed
    verdict = compare_semantic_values(program, expected, got)
    assert verdict.status == "pass" and "values only" in verdict.note
    wrong_value = Evaluation({0: 0.0, 1: math.nan}, {0: math.inf})
    assert compare_semantic_values(program, expected, wrong_value).failed


def test_the_nonfinite_check_on_the_mpmath_oracle_compares_values_and_says_so() -> None:
    report = conformance.check(
        BUNDLED, profile="quick", seed=3, oracle="mpmath", checks=["nonfinite"]
    )
    result = report.checks[0]
    assert result.status == "passed", report.failure_text()
    assert "values only" in result.note and result.examples > 0


def _context(target: str = BUNDLED) -> CheckContext:
    backend = load_backend(target)
    found = probe(backend)
    supported, fatal = found.supported, found.fatal
    assert fatal is None
    oracle: Any = _ExactOracle()
    return CheckContext(backend, oracle, supported, "quick")


class _ExactOracle:
    """An oracle for the runner tests: the bundled engine itself (the verdict is not the point)."""

    name = "bundled-engine-as-oracle"

    def run(self, program: Program) -> Evaluation:
        """The bundled engine's evaluation."""
        return _evaluate(program)


def test_a_check_runs_at_least_one_example_however_small_its_time_budget() -> None:
    result = run_check(get_check("reuse"), _context(), seed_value=1, budget=1e-9)
    assert result.examples >= 1 and result.status == "passed"
    assert "time budget reached" in result.note


def test_a_check_that_ran_no_example_never_reports_passed() -> None:
    empty = ProgramCheck(
        "empty", "draws nothing", {"quick": 5}, make_strategy=lambda ctx: st.nothing()
    )
    result = run_check(empty, _context(), seed_value=1, budget=None)
    assert result.examples == 0
    assert result.status == "failed" and result.note


def test_torchs_underflowed_adjoint_times_a_constant_is_not_a_failure() -> None:
    # (c1 / x) * (x * c3) is constant: torch's (g * c1) underflows before it is scaled by 1/x**2.
    program = Program.from_json(
        '{"nodes":[["input",[],5.957632969848311e-86],["const",[],2.2024383240545728e-184],'
        '["div",[1,0],null],["const",[],4.3034728119318867e-57],["mul",[0,3],null],'
        '["mul",[2,4],null]],"output":5,"backward_passes":1}'
    )
    values = _evaluate(program).values
    torch_like = Evaluation(dict(values), {0: 1.5909226861565138e-155})
    exact = Evaluation(dict(values), {0: 0.0})
    assert compare(program, torch_like, exact).status == "pass"


def test_a_failing_reproducer_is_pruned_of_nodes_the_output_does_not_use() -> None:
    program = Program(
        (
            Node("input", value=1.0),
            Node("input", value=2.0),
            Node("exp", (1,)),
            Node("tanh", (0,)),
        ),
        3,
    )
    pruned = program.pruned()
    assert [node.op for node in pruned.nodes] == ["input", "tanh"] and pruned.output == 1
    report = conformance.check(
        "tests/meta_tests/engines/broken.py:WrongMulDerivative",
        profile="quick",
        seed=3,
        checks=["random"],
    )
    failing = report.checks[0].failures[0].program
    assert failing is not None and failing.pruned() is failing


def test_a_nonlinear_op_on_a_value_beyond_first_order_error_is_not_judged() -> None:
    # w = v - (v + log v) is -87.3 exactly but 0 in float64; (1/x) ** w is then 0 or 1.
    program = Program.from_json(
        '{"nodes":[["input",[],1.1754943508222875e-38],["const",[],1.0],["div",[1,0],null],'
        '["log",[2],null],["add",[2,3],null],["sub",[2,4],null],["pow",[2,5],null]],'
        '"output":6,"backward_passes":1}'
    )
    engine = _evaluate(program)
    assert engine.values[6] == 1.0
    exact_values = dict(engine.values)
    exact_values[5], exact_values[6] = -87.3365447505531, 0.0
    exact = Evaluation(exact_values, {0: 0.0})
    assert compare(program, exact, engine).status != "fail"
    # A plainly wrong value of a well-determined node in the same program still fails.
    wrong = Evaluation({**engine.values, 3: 80.0}, dict(engine.grads))
    assert compare(program, exact, wrong).failed


def test_gradients_through_a_division_by_a_value_zero_within_its_error_are_not_judged() -> None:
    # v13 = 1/v2 + ((v2 ** tiny - 0.5) - 0.5) is 1e-36 +- 2e-11; v2 / v13 may be anything.
    tiny = 1.1754943508222875e-38
    nodes = (
        Node("input", value=tiny),
        Node("const", value=1.0),
        Node("div", (1, 0)),
        Node("div", (1, 2)),
        Node("const", value=tiny),
        Node("pow", (2, 4)),
        Node("const", value=0.5),
        Node("sub", (5, 6)),
        Node("sub", (7, 6)),
        Node("add", (3, 8)),
        Node("idiv", (2, 9)),
    )
    program = Program(nodes, 10)
    engine = _evaluate(program)
    other = Evaluation(dict(engine.values), {0: engine.grads[0] * 100.0})
    assert compare(program, engine, other).status != "fail"


def test_gradients_through_a_log_of_a_value_that_is_all_rounding_error_are_not_judged() -> None:
    # v4 = c - log(exp(x)) with x = -1.15e-20: exactly c - x = 1.15e-20, but 6.6e-234 = c in
    # float64 (exp(x) rounds to 1). d log(v4) = 1 / v4 is then 8.7e19 or 1.5e233: the mpmath
    # oracle (exact values) once failed every correct engine on it.
    x, c = -1.1539119039501578e-20, 6.637317444893851e-234
    nodes = (
        Node("input", value=x),
        Node("exp", (0,)),
        Node("log", (1,)),
        Node("const", value=c),
        Node("sub", (3, 2)),
        Node("log", (4,)),
    )
    program = Program(nodes, 5)
    engine = _evaluate(program)
    assert engine.values[4] == c and engine.grads[0] == -1 / c
    exact = Evaluation({0: x, 1: 1.0, 2: x, 4: c - x, 5: math.log(c - x)}, {0: 1 / x})
    assert compare(program, exact, engine).status != "fail"
    # The same program's well-determined numbers are still judged.
    wrong = Evaluation({**engine.values, 1: 1.5}, dict(engine.grads))
    assert compare(program, exact, wrong).failed
