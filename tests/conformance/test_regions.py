"""How the ops check words where an op fails: regions along an operand, counts on a plane."""

from __future__ import annotations

import math

from conformance.checks.per_op import _mirrored, _other_ops, _result_for_operand, _slip_rank, _tag
from conformance.diagnosis.regions import Finding, Tag, describe_1d, tag_of
from conformance.ops import OPS

RAISED = Finding("wrong", 1.0, None, error="OverflowError: math range error")
PREVENTED = Finding("unchecked", prevented=True)  # backward raised first: the value is unknown
OK = Finding("ok", 1.0, 1.0)


def _line(*points: tuple[float, Finding]) -> list[tuple[float, Finding, Tag | None]]:
    return [(x, f, tag_of(f) if f.failing else None) for x, f in points]


def test_a_value_raising_wherever_it_was_judged_is_bounded_by_the_points_it_was_not() -> None:
    # tanh as exp(2x) ratios: the value overflows for x >= 355; below, backward raised first,
    # so the value there is unjudged, not "every x tried".
    line = _line(
        (-400.0, PREVENTED), (0.5, PREVENTED), (300.0, PREVENTED), (400.0, RAISED), (500.0, RAISED)
    )
    assert describe_1d(line) == ["raises OverflowError for x >= 400"]


def test_a_value_raising_at_every_point_tried_says_so() -> None:
    line = _line((-1.0, RAISED), (0.5, RAISED), (400.0, RAISED))
    assert describe_1d(line) == ["raises OverflowError for every x tried"]


def test_points_the_oracle_leaves_open_are_no_bounds() -> None:
    line = _line((-1.0, Finding("unchecked")), (0.5, RAISED), (400.0, RAISED))
    assert describe_1d(line) == ["raises OverflowError for every x tried"]


def test_swapped_operands_are_named_within_rounding_of_the_swapped_result() -> None:
    # 10 * 1e-30 ** -1 is not 10 / 1e-30 to the last bit, and torch's 1e-31 sizes the tolerance.
    got = 10.0 * (1e-30**-1.0)
    finding = Finding("wrong", 1e-31, got, tolerance=1e-45)
    assert (
        tag_of(finding, slips=[("operands swapped", 10.0 / 1e-30)]).category == "operands swapped"
    )
    assert tag_of(finding, slips=[("operands swapped", 2e31)]).category == "relative error"


def test_two_runs_of_one_kind_of_failure_are_one_phrase() -> None:
    # evintunador's tanh gradient: a TypeError below 354.9 and beyond 8.988e307, not between.
    ok = Finding("ok", 1.0, 1.0)
    line = _line((-100.0, ok), (1.0, RAISED), (100.0, RAISED), (400.0, ok), (1.7e308, RAISED))
    assert describe_1d(line) == ["raises OverflowError for 1 <= x <= 100 or x = 1.7e+308"]


def test_a_bound_has_the_digits_that_tell_it_from_the_point_beside_it_that_passed() -> None:
    # romanschejbal's relu: wrong everywhere but at 1, once "x <= 1 or x >= 1".
    below, above = 0.9999999999999999, 1.0000000000000002
    points = [(-3.0, RAISED), (-1.0, RAISED), (below, RAISED), (1.0, OK), (above, RAISED)]
    line = _line(*points, (3.0, RAISED))
    assert describe_1d(line) == [
        "raises OverflowError for x <= 0.9999999999999999 or x >= 1.0000000000000002"
    ]


def test_a_bound_far_from_the_point_that_passed_keeps_four_digits() -> None:
    line = _line((0.1, OK), (0.123456, RAISED), (3.0, RAISED))
    assert describe_1d(line) == ["raises OverflowError for x >= 0.1235"]


def test_a_gradient_of_0_is_0_even_where_the_swapped_operands_give_nearly_0() -> None:
    # Zekepeke's a / b, whose b never gets a gradient: at a = 0.5, b = 1e-8 torch's is -5e15,
    # and the swapped b / a would give -4e-8, within the tolerance of -5e15 as 0 is.
    finding = Finding("wrong", -5e15, 0.0, tolerance=2.0)
    assert tag_of(finding, slips=[("operands swapped", -4e-8)]).category == "0"
    assert tag_of(
        Finding("wrong", -5e15, -4e-8, tolerance=2.0), slips=[("operands swapped", -4e-8)]
    ).category == ("operands swapped")


def test_a_unary_op_computed_at_minus_x_is_named_by_the_op_at_minus_x() -> None:
    # cccbook's sigmoid, 1 / (1 + exp(x)): 0.269 at x = 1, where torch's is 0.731.
    finding = Finding("wrong", 0.7310585786300049, 0.2689414213699951, tolerance=1e-16)
    assert tag_of(finding, slips=[("sigmoid(-x)", 0.2689414213699951)]).category == ("sigmoid(-x)")
    assert tag_of(finding, slips=[("sigmoid(-x)", 0.5)]).category == "relative error"


def test_a_unary_op_at_minus_x_is_an_alternative_only_where_it_is_another_number() -> None:
    sigmoid, tanh, cos = OPS["sigmoid"], OPS["tanh"], OPS["cos"]
    assert _mirrored(sigmoid, "value", 1.0) == ("sigmoid(-x)", sigmoid.ieee(-1.0, 0.0))
    assert _mirrored(sigmoid, "grad a", 1.0) is None  # sigmoid' is even: no other number
    assert _mirrored(tanh, "value", 1.0) is None  # odd: "sign flipped" says it
    assert _mirrored(cos, "value", 1.0) is None  # even: the same number
    assert _mirrored(sigmoid, "value", 0.0) is None


def test_the_other_ops_an_op_may_compute_are_named_as_the_variant_names_its_operands() -> None:
    beside_c_minus_v = dict(_other_ops(OPS["sub"], "cv", 2.0, 3.0))
    assert beside_c_minus_v["c + v"] == 5.0
    assert beside_c_minus_v["c ** v"] == 8.0
    assert "c - v" not in beside_c_minus_v  # not the op itself
    assert not any("=" in label for label in beside_c_minus_v)  # no in-place variants
    beside_relu = dict(_other_ops(OPS["relu"], "v", 0.5, 0.0))
    assert beside_relu["tanh(x)"] == math.tanh(0.5)
    assert beside_relu["-x"] == -0.5


def test_a_tiny_number_is_no_slip_to_another_tiny_number_within_torchs_tolerance() -> None:
    # pepejammers42's tanh, exp(2**x) ratios: 1.1e-16 at x = -52 where torch's is -1. relu(x)'s
    # 0 and exp(x)'s 2.6e-23 lie within the tolerance sized to -1, and neither is what it did.
    finding = Finding("wrong", -1.0, 1.1102230246251565e-16, tolerance=4.4e-16)
    slips = [("relu(x)", 0.0), ("exp(x)", 2.6102790696677047e-23)]
    assert tag_of(finding, slips=slips).category == "relative error"


def test_a_derivative_with_x_and_the_result_mixed_up_is_named_so() -> None:
    # exp' as self.data for out.data (x, not e**x); log' as 1 / out.data (1 / log x, not 1 / x).
    exp_slips = dict(_result_for_operand(OPS["exp"], 2.0))
    assert exp_slips["x used where its rule needs the result"] == 2.0
    log_slips = dict(_result_for_operand(OPS["log"], 2.0))
    assert log_slips["the result used where its rule needs x"] == 1.0 / math.log(2.0)
    finding = Finding("wrong", math.exp(2.0), 2.0, tolerance=1e-15)
    tag = tag_of(finding, slips=_result_for_operand(OPS["exp"], 2.0))
    assert tag.category == "x used where its rule needs the result"
    assert _result_for_operand(OPS["relu"], 2.0) == []  # a sign: "sign flipped" says it


def test_a_relative_error_too_large_to_print_is_more_than_1e300_not_everywhere_over_it() -> None:
    # exp' as x: 0.6 off at x = 1, and more than any float64 can say at the smallest x.
    line = _line(
        (1.0, Finding("wrong", math.e, 1.0, tolerance=1e-15)),
        (2.0, Finding("wrong", 5e-324, 1.0, tolerance=1e-330)),
    )
    assert describe_1d(line) == ["relative error up to more than 1e300 for every x tried"]


def test_a_slip_that_fits_one_point_of_several_is_a_coincidence_and_is_not_named() -> None:
    # A leaky relu's 0.01 * x is tanh(x) at x = -100 (to the last bit): one point of four.
    relu = OPS["relu"]
    judged = [
        ((x, 0.0), {"value": Finding("wrong", 0.0, 0.01 * x, tolerance=0.0)})
        for x in (-1.0, -3.0, -100.0, -250.0)
    ]
    rank = _slip_rank(relu, "v", judged)["value"]
    assert "tanh(x)" not in rank
    at_minus_100 = judged[2][1]["value"]
    tag = _tag(relu, "v", "value", (-100.0, 0.0), at_minus_100, rank)
    assert tag is not None and tag.category == "not 0 where torch gives 0"
    assert _tag(relu, "v", "value", (-100.0, 0.0), at_minus_100).category == "tanh(x)"
