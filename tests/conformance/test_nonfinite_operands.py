"""The ops check at inf and nan operands: IEEE's results are torch's, a difference is semantics."""

from __future__ import annotations

import math
import random
import sys

from conformance import runner
from conformance.backends import PythonValueBackend
from conformance.backends.base import Evaluation
from conformance.checks.base import CheckContext, Outcome
from conformance.checks.per_op import judge_point, points, single_op_program
from conformance.diagnosis.problems import Problem, Problems, Signature
from conformance.diagnosis.regions import Finding, Tag, describe_1d, describe_2d, tag_of
from conformance.oracles.table import TableOracle
from conformance.program import Node, Program
from conformance.tolerance import Verdict
from tests.meta_tests.engines.broken import ReluSwallowsNan, TanhViaExpOverflows
from tests.meta_tests.engines.reference import Value as Reference

INF, NAN = math.inf, math.nan


def _judged(engine: type, name: str, form: str, a: float, b: float = 0.0) -> dict[str, Finding]:
    program = single_op_program(name, form, a, b)
    got = PythonValueBackend(engine).run(program)
    return judge_point(program, form, TableOracle().run(program), got)


def test_every_op_variant_is_tried_at_inf_and_nan_operands() -> None:
    unary = points("relu", "v", random.Random(0), 4)
    assert {x for x, _ in unary if not math.isfinite(x)} >= {INF, -INF}
    assert any(math.isnan(x) for x, _ in unary)
    binary = points("pow", "vc", random.Random(0), 4)
    assert (1.0, NAN) in binary and (NAN, 0.0) in binary  # IEEE: 1 ** nan == nan ** 0 == 1
    assert (INF, -INF) in binary


def test_relu_of_nan_giving_0_is_a_semantics_difference_not_an_error() -> None:
    findings = _judged(ReluSwallowsNan, "relu", "v", NAN)
    assert findings["value"].status == "semantics"
    assert findings["value"].got == 0.0
    assert tag_of(findings["value"]).category == "0 instead of nan"


def test_a_gradient_at_a_nan_operand_is_not_judged() -> None:
    # torch's relu'(nan) is 1 (its mask is `x <= 0`); micrograd's `(out.data > 0) * grad` gives 0.
    class ReluGradZeroAtNan(Reference):
        def relu(self) -> Reference:
            out = self._result(0.0 if self.data < 0.0 else self.data, (self,), "relu")

            def _backward() -> None:
                self.grad += (out.data > 0) * out.grad

            out._backward = _backward
            return out

    findings = _judged(ReluGradZeroAtNan, "relu", "v", NAN)
    assert findings["value"].status == "ok"
    assert findings["grad a"].status == "unchecked"


def test_a_finite_torch_result_missed_at_inf_is_a_semantics_difference() -> None:
    # tanh as (e**2x - 1) / (e**2x + 1): inf / inf is nan at x = inf, where tanh is 1.
    findings = _judged(TanhViaExpOverflows, "tanh", "v", INF)
    assert findings["value"].status == "semantics"
    assert findings["value"].expected == 1.0 and math.isnan(findings["value"].got or 0.0)


def test_a_correct_engine_gives_ieees_values_at_every_nonfinite_point() -> None:
    for name, form in (("relu", "v"), ("tanh", "v"), ("pow", "vc"), ("div", "vv"), ("mul", "cv")):
        for a, b in points(name, form, random.Random(0), 0):
            if math.isfinite(a) and math.isfinite(b):
                continue
            findings = _judged(Reference, name, form, a, b)
            assert not findings["value"].failing, (name, form, a, b, findings["value"])


def test_where_torchs_nonfinite_result_is_not_ieees_nothing_is_judged() -> None:
    # torch's (-inf) ** 0.5 is nan (a square root), C's pow and Python's ** give inf: the op
    # table calls the point fragile, whichever oracle judges it.
    program = single_op_program("pow", "vc", -INF, 0.5)
    got = PythonValueBackend(Reference).run(program)
    assert got.values[2] == INF
    for oracle in (Evaluation({0: -INF, 2: NAN}, {0: NAN}), TableOracle().run(program)):
        assert judge_point(program, "vc", oracle, got)["value"].status == "unchecked"


def _line(*points: tuple[float, Finding]) -> list[tuple[float, Finding, Tag | None]]:
    return [(x, f, tag_of(f) if f.failing else None) for x, f in points]


ZERO_AT_NAN = Finding("semantics", NAN, 0.0)
NAN_AT_INF = Finding("semantics", 1.0, NAN)


def test_a_failure_only_at_nan_gets_a_phrase_of_its_own() -> None:
    ok = Finding("ok", 1.0, 1.0)
    line = _line((-INF, ok), (-1.0, ok), (1.0, ok), (1e308, ok), (INF, ok), (NAN, ZERO_AT_NAN))
    assert describe_1d(line) == ["0 instead of nan for x = nan"]


def test_inf_sits_at_the_end_of_the_line_and_nan_is_left_to_it() -> None:
    ok = Finding("ok", 1.0, 1.0)
    line = _line(
        (-INF, ok), (-1.0, ok), (1.0, ok), (1e308, ok), (INF, NAN_AT_INF), (NAN, ZERO_AT_NAN)
    )
    assert describe_1d(line) == ["nan for x = inf"]


def test_a_failure_only_at_nan_operands_of_a_binary_op_names_the_operand() -> None:
    raised = Finding("semantics", NAN, None, error="ValueError: math domain error")
    ok = Finding("ok", 1.0, 1.0)
    plane = [
        ((a, b), raised if math.isnan(b) else ok, None)
        for a in (-1.0, 2.0, INF, NAN)
        for b in (0.5, 3.0, -INF, NAN)
    ]
    tagged = [(p, f, tag_of(f) if f.failing else None) for p, f, _ in plane]
    assert describe_2d(tagged, ("v", "c")) == ["raises ValueError for c = nan"]


def test_a_binary_op_failing_at_finite_operands_is_described_by_those_alone() -> None:
    raised = Finding("semantics", INF, None, error="ZeroDivisionError: float division by zero")
    at_nan = Finding("semantics", NAN, None, error="ValueError: cannot convert float NaN")
    ok = Finding("ok", 1.0, 1.0)
    plane = [
        ((a, b), raised if b == 0.0 else at_nan if math.isnan(a) else ok, None)
        for a in (-1.0, 2.0, INF, NAN)
        for b in (0.0, 3.0, INF)
    ]
    tagged = [(p, f, tag_of(f) if f.failing else None) for p, f, _ in plane]
    assert describe_2d(tagged, ("a", "b")) == ["raises ZeroDivisionError for b = 0"]


def test_huge_finite_operands_whose_sum_overflows_are_still_finite_points() -> None:
    wrong = Finding("wrong", 1.0, 2.0, tolerance=1e-15)
    ok = Finding("ok", 1.0, 1.0)
    plane = [
        ((a, b), wrong if a == b == 1.7e308 else ok, None)
        for a in (1.0, 1.7e308, INF)
        for b in (1.0, 1.7e308, NAN)
    ]
    tagged = [(p, f, tag_of(f) if f.failing else None) for p, f, _ in plane]
    [phrase] = describe_2d(tagged, ("a", "b"))
    assert "inf or nan" not in phrase and "a = 1.7e+308, b = 1.7e+308" in phrase


def test_a_region_reaching_the_largest_double_beside_a_passing_inf_reads_finite() -> None:
    # math.exp raises OverflowError for every finite x >= 709.8, yet math.exp(inf) is inf.
    raised = Finding("semantics", INF, None, error="OverflowError: math range error")
    ok = Finding("ok", 1.0, 1.0)
    finite = [(-1.7e308, ok), (-710.0, ok), (1.0, ok), (709.5, ok), (710.0, raised)]
    line = _line((-INF, ok), *finite, (1.7e308, raised), (INF, ok))

    def bisect(good: float, bad: float, category: str) -> float:
        return sys.float_info.max if good == INF else 709.79

    assert describe_1d(line, "x", bisect) == ["raises OverflowError for finite x >= 709.8"]


def _relu_of_a_log(x: float) -> Program:
    nodes = (Node("input", value=x), Node("log", (0,)), Node("relu", (1,)))
    return Program(nodes, 2)


def _told(engine: type, program: Program) -> Problem | None:
    """What the runner tells a failing ``program`` apart as, given relu's semantics problem."""
    variants = [("log", "v"), ("relu", "v")]
    ctx = CheckContext(PythonValueBackend(engine), TableOracle(), variants, "quick")
    problems = Problems()
    relu = Signature("op", ("relu", "value", "semantics"))
    problems.add(Problem(relu, "relu(nan) is 0", severity="semantics", ops=["relu:v"]))
    failing = Outcome(Verdict("fail"), program, TableOracle().run(program))
    return runner._told_apart(ctx, problems, failing)


def test_a_composition_feeding_relu_a_nan_is_relus_own_semantics_problem() -> None:
    told = _told(ReluSwallowsNan, _relu_of_a_log(-1.0))  # log(-1) is nan
    assert told is not None and told.signature.key == ("relu", "value", "semantics")


def test_relu_is_not_blamed_where_it_met_a_number_or_keeps_nan() -> None:
    assert _told(ReluSwallowsNan, _relu_of_a_log(2.0)) is None  # relu(log 2) is right
    assert _told(Reference, _relu_of_a_log(-1.0)) is None  # relu(nan) is nan there
