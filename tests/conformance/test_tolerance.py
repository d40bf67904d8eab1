"""The scale-aware tolerance: catches float32, forgives cancellation and libm differences."""

from __future__ import annotations

import math
import struct

from hypothesis import HealthCheck, given, settings

from conformance.backends.base import Evaluation
from conformance.oracles import load_oracle
from conformance.program import Node, Program
from conformance.strategies import programs
from conformance.tolerance import REL, compare, scales

ORACLE = load_oracle(None)
"""torch where it is installed, else the mpmath oracle: every test here holds for both."""


def _f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def _cancellation() -> Program:
    # (a + b) - a: the result is tiny, its legitimate error is relative to |a| + |b|.
    nodes = (
        Node("input", value=1e8),
        Node("input", value=1.2345678e-3),
        Node("add", (0, 1)),
        Node("sub", (2, 0)),
    )
    return Program(nodes, 3)


def test_a_difference_within_the_operands_rounding_passes_after_cancellation():
    program = _cancellation()
    expected = ORACLE.run(program)
    got = Evaluation(dict(expected.values), dict(expected.grads))
    got.values[3] += 4 * 2.0**-53 * 1e8  # a few ulps of |a|: another correct summation order
    assert compare(program, expected, got).status == "pass"


def test_rounding_one_node_to_float32_is_caught():
    program = Program((Node("input", value=0.1234567891), Node("exp", (0,))), 1)
    expected = ORACLE.run(program)
    got = Evaluation(dict(expected.values), dict(expected.grads))
    got.values[1] = _f32(got.values[1])
    verdict = compare(program, expected, got)
    assert verdict.failed
    assert "value of v1" in verdict.describe()


def test_a_wrong_gradient_is_reported_with_expected_and_got():
    program = Program((Node("input", value=0.5), Node("tanh", (0,))), 1)
    expected = ORACLE.run(program)
    got = Evaluation(dict(expected.values), {0: 1.0})
    verdict = compare(program, expected, got)
    assert verdict.failed
    assert "grad of v0" in verdict.describe() and "got 1.0" in verdict.describe()


def test_a_program_torch_cannot_evaluate_finitely_is_unchecked_not_failed():
    program = Program((Node("input", value=0.0), Node("log", (0,))), 1)
    expected = ORACLE.run(program)
    assert compare(program, expected, None, "ValueError: math domain error").status == "unchecked"


def test_a_backend_error_on_a_finite_program_is_a_failure():
    program = Program((Node("input", value=400.0), Node("tanh", (0,))), 1)
    expected = ORACLE.run(program)
    verdict = compare(program, expected, None, "OverflowError: math range error")
    assert verdict.failed and "OverflowError" in verdict.describe()


def test_non_finite_backend_numbers_fail_even_when_close():
    program = Program((Node("input", value=2.0), Node("exp", (0,))), 1)
    expected = ORACLE.run(program)
    got = Evaluation(dict(expected.values), {0: math.nan})
    assert compare(program, expected, got).failed


def test_scales_cover_torch_values_and_gradients():
    program = _cancellation()
    expected = ORACLE.run(program)
    s = scales(program, expected)
    assert s.values[3] >= 1e8  # the cancellation's error scale is |a + b| + |a|, not |result|
    assert s.grads[0] >= abs(expected.grads[0])
    assert REL * s.values[3] < 1e8 * 2.0**-24  # still far below one float32 rounding


@settings(max_examples=200, suppress_health_check=list(HealthCheck))
@given(programs())
def test_error_scales_are_never_nan_and_cover_the_oracle_numbers(program):
    expected = ORACLE.run(program)
    if not expected.all_finite():
        return
    s = scales(program, expected)
    for i, e in expected.values.items():
        if program.nodes[i].op != "input":  # inputs are exact: their scale is 0
            assert s.values[i] >= abs(e)
    for i, e in expected.grads.items():
        assert not math.isnan(s.grads[i])
        assert s.grads[i] >= abs(e) * (1 - 1e-9)


def test_calibration_reports_no_failure_on_a_correct_engine_and_fails_float32(capsys):
    from conformance.calibrate import main

    engines = "tests/meta_tests/engines/broken.py"
    assert main([f"{engines}:Value", "--random", "40", "--others", "10"]) == 0
    assert "ulps of scale" in capsys.readouterr().out
    assert main([f"{engines}:Float32EveryNode", "--random", "40", "--others", "10"]) == 1
