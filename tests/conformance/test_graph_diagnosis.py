"""The graph diagnosis: an op that fails on its own explains every failing program it is in."""

from __future__ import annotations

import math

from conformance import runner
from conformance.backends.base import Evaluation
from conformance.checks import CheckContext, Outcome
from conformance.diagnosis.graph import (
    Battery,
    _textbook,
    _textbooks,
    as_built,
    built_in_words,
    features,
    in_words,
    op_alone,
    shape_of,
)
from conformance.diagnosis.problems import Signature
from conformance.ops import OPS
from conformance.oracles.table import TableOracle
from conformance.program import Node, Program
from conformance.tolerance import Verdict


def _program() -> Program:
    """x = input 2.0, c = 3.0, t = x * c, r = relu(t - x), out = r * r (t = 6, r = 4)."""
    return Program(
        (
            Node("input", value=2.0),
            Node("const", value=3.0),
            Node("mul", (0, 1)),
            Node("sub", (2, 0)),
            Node("relu", (3,)),
            Node("mul", (4, 4)),
        ),
        5,
    )


VALUES = {0: 2.0, 2: 6.0, 3: 4.0, 4: 4.0, 5: 16.0}


def _alone(index: int) -> str:
    alone = op_alone(_program(), index, VALUES)
    assert alone is not None
    return in_words(alone)


def test_an_op_alone_keeps_the_operands_it_met_and_their_kinds() -> None:
    assert _alone(2) == "Value(2.0) * 3.0"
    assert _alone(3) == "Value(6.0) - Value(2.0)"
    assert _alone(4) == "Value(4.0).relu()"


def test_an_op_alone_is_not_made_where_it_would_test_node_identity_or_lacks_a_number() -> None:
    assert op_alone(_program(), 5, VALUES) is None  # r * r: the same Value on both sides
    assert op_alone(_program(), 4, {**VALUES, 3: math.inf}) is None
    assert op_alone(_program(), 4, {0: 2.0}) is None


def test_an_op_with_the_same_value_on_both_sides_is_tried_so_when_asked() -> None:
    alone = op_alone(_program(), 5, VALUES, same_value=True)  # r * r at r = 4
    assert alone == Program((Node("input", value=4.0), Node("mul", (0, 0))), 1)


def test_an_op_alone_may_meet_a_number_equal_to_its_value_operand() -> None:
    zero = Program((Node("input", value=0.0), Node("const", value=0.0), Node("pow", (0, 1))), 2)
    alone = op_alone(zero, 2, {0: 0.0, 2: 1.0})
    assert alone is not None and in_words(alone) == "Value(0.0) ** 0.0"  # 0 ** 0, a kink


def test_augmented_assignments_read_as_python() -> None:
    nodes = (Node("input", value=1.5), Node("const", value=2.0), Node("idiv", (0, 1)))
    assert in_words(Program(nodes, 2)) == "t = Value(1.5); t /= 2.0"


def test_an_intermediate_result_at_two_depths_is_tried_on_either_side_of_the_top_op() -> None:
    # A backward order that follows the operands (the order a depth-first walk meets the
    # nodes) runs c early when the top op meets it first: e = c * d fails, e = d * c does not.
    usable = {("mul", "vv"), ("add", "vv"), ("mul", "vc")}
    programs = _textbooks("mul", "shared-node-twice", usable)
    assert [p.nodes[-1].args for p in programs] == [(4, 2), (2, 4)]
    assert programs[0].nodes[:-1] == programs[1].nodes[:-1]
    assert all(shape_of(p) >= {"shared-node-twice"} for p in programs)


def test_a_family_failing_alone_explains_every_failing_program_it_is_in() -> None:
    battery = Battery()
    assert battery.classify(_program(), VALUES) == []
    battery.learn_alone("relu", Program((Node("input", value=-1.0), Node("relu", (0,))), 1))
    assert battery.classify(_program(), VALUES) == [Signature("graph", ("relu",))]
    without_relu = Program(_program().nodes[:4], 3)
    assert battery.classify(without_relu, VALUES) == []


def test_every_family_failing_alone_is_the_machinery_not_each_op() -> None:
    battery = Battery(failing={"mul": {"alone"}, "sub": {"alone"}}, agnostic={"alone"})
    assert battery.fails_alone() == set()
    assert battery.classify(_program(), VALUES) == [Signature("graph", ("any-op",))]


def test_an_op_on_a_computed_operand_is_its_own_shape_tried_on_sums_alone() -> None:
    # GlaIZier/micrograd's pow records its operand's operands: fine on a leaf, not on a + b.
    usable = {(n, f) for n, op in OPS.items() for f in op.forms}
    textbook = _textbook("exp", "on-result", usable)
    assert textbook is not None
    assert ("on-result", "exp") in features(textbook)
    assert shape_of(textbook) == {"upstream", "on-result"}  # no shared node, no same operand
    both = _textbook("pow", "on-result", usable)
    assert both is not None and shape_of(both) == {"upstream", "on-result"}
    assert len(set(TableOracle().evaluate(both)[0])) == len(both.nodes)  # no two equal numbers
    battery = Battery(failing={"exp": {"on-result"}})
    assert battery.classify(textbook, None) == [Signature("graph", ("exp",))]
    on_a_leaf = Program((Node("input", value=0.5), Node("exp", (0,))), 1)
    assert battery.classify(on_a_leaf, None) == []


def test_an_op_micrograd_builds_from_others_is_rebuilt_so_and_holds_its_operand_twice() -> None:
    a, b = Node("input", value=0.75), Node("input", value=1.25)
    c_minus_c = Program((a, b, Node("add", (0, 1)), Node("sub", (2, 2))), 3)
    built = as_built(c_minus_c, {"sub"})
    assert [n.op for n in built.nodes] == ["input", "input", "add", "neg", "add"]
    assert built.nodes[3].args == (2,) and built.nodes[4].args == (2, 3)  # c + (-c)
    assert ("shared-node", "neg") in features(built)
    inputs_grads = [TableOracle().evaluate(p)[1][:2] for p in (built, c_minus_c)]
    assert inputs_grads[0] == inputs_grads[1] == [0.0, 0.0]
    # and -c in turn as micrograd's c * -1: what the ops are built of is built too
    assert as_built(c_minus_c).nodes[3:] == (
        Node("const", value=-1.0),
        Node("mul", (2, 3)),
        Node("add", (2, 4)),
    )
    quotient = as_built(Program((a, b, Node("div", (0, 1))), 2))
    assert quotient.nodes[2:] == (
        Node("const", value=-1.0),
        Node("pow", (1, 2)),
        Node("mul", (0, 3)),
    )
    assert built_in_words("sub") == "a + (-b)" and built_in_words("div") == "a * (b ** -1.0)"
    assert built_in_words("neg") == "a * -1.0"


def test_only_the_families_asked_for_are_rebuilt_and_a_number_operand_becomes_a_leaf() -> None:
    a, b, two = Node("input", value=0.75), Node("input", value=1.25), Node("const", value=2.0)
    both = Program((a, b, Node("sub", (0, 1)), Node("div", (2, 1))), 3)
    assert [n.op for n in as_built(both, {"div"}).nodes] == [
        *["input", "input", "sub"],
        *["const", "pow", "mul"],
    ]
    by_a_number = as_built(Program((a, two, Node("sub", (0, 1))), 2), {"sub"})
    assert by_a_number.nodes[2:] == (  # micrograd's a + (-Value(2.0))
        Node("input", value=2.0),
        Node("neg", (2,)),
        Node("add", (0, 3)),
    )


def test_a_family_built_from_others_is_classified_by_the_ops_it_is_built_of() -> None:
    # AnmolS99/micrograd: `**` assigns its operand's gradient, and `/` is `a * b ** -1`.
    a, b = Node("input", value=0.75), Node("input", value=1.25)
    a_over_a = Program((a, Node("div", (0, 0))), 1)
    battery = Battery(failing={"pow": {"shared-leaf"}, "div": {"same-operand"}})
    assert battery.classify(a_over_a, None) == [Signature("graph", ("div",))]
    battery.built.add("div")
    assert battery.classify(a_over_a, None) == [Signature("graph", ("pow",))]
    a_minus_b = Program((a, b, Node("sub", (0, 1))), 2)
    assert battery.classify(a_minus_b, None) == []


def _chain(length: int) -> tuple[Program, dict[int, float]]:
    """x = 1, then x + 1, then that + 1 ... ``length`` sums, with their values."""
    nodes = [Node("input", value=1.0)]
    values = {0: 1.0}
    for k in range(length):
        nodes += [Node("const", value=1.0), Node("add", (len(nodes) - 1 if k else 0, len(nodes)))]
        values[len(nodes) - 1] = k + 2.0
    return Program(tuple(nodes), len(nodes) - 1), values


def _localized(monkeypatch, program: Program, values: dict[int, float], failing: str) -> tuple:
    """Run the runner's localisation with an engine where only ``failing`` programs fail."""
    tried: list[Program] = []

    def evaluate(alone: Program) -> Outcome:
        tried.append(alone)
        status = "fail" if failing in in_words(alone) else "pass"
        return Outcome(Verdict(status), alone)

    monkeypatch.setattr(runner, "_evaluator", lambda check, ctx: evaluate)
    battery = Battery()
    ctx = CheckContext(None, None, [], "quick", battery=battery)  # type: ignore[arg-type]
    wrong = Outcome(Verdict("fail"), program, Evaluation(values, {}))
    runner._localize(ctx, wrong)
    return battery, tried


def test_a_failing_programs_first_op_that_fails_alone_is_learned(monkeypatch) -> None:
    program, values = _chain(3)
    battery, tried = _localized(monkeypatch, program, values, "Value(3.0) + 1.0")
    # (x + 1.0 at x = 1.0 is tried too: a Value equal to a number tests no node identity.)
    assert [in_words(p) for p in tried] == [
        "Value(1.0) + 1.0",
        "Value(2.0) + 1.0",
        "Value(3.0) + 1.0",
    ]
    assert (
        battery.fails_alone() == {"add"} and in_words(battery.alone_at["add"]) == "Value(3.0) + 1.0"
    )


def test_an_unshrunk_long_program_has_at_most_a_few_dozen_ops_tried(monkeypatch) -> None:
    program, values = _chain(100_000)
    battery, tried = _localized(monkeypatch, program, values, "never")
    assert len(tried) == runner.MAX_ALONE and battery.fails_alone() == set()


def _unsettled(program: Program, expected: Evaluation, got: Evaluation) -> Outcome:
    return Outcome(Verdict("unchecked", note="not determined"), program, expected, got)


def test_an_op_alone_that_the_program_judge_leaves_open_is_judged_as_the_ops_check_does() -> None:
    # Value(0.0) ** 0.0: torch's gradient is 0 under an infinite scale; a nan is wrong there.
    power = Program((Node("input", value=0.0), Node("const", value=0.0), Node("pow", (0, 1))), 2)
    expected = Evaluation({0: 0.0, 2: 1.0}, {0: 0.0})
    judged = runner._as_an_op(
        _unsettled(power, expected, Evaluation({0: 0.0, 2: 1.0}, {0: math.nan}))
    )
    assert judged.failed and [m.describe() for m in judged.verdict.mismatches] == [
        "grad of v0: expected 0.0, got nan (not a finite number)"
    ]
    right = _unsettled(power, expected, Evaluation({0: 0.0, 2: 1.0}, {0: 0.0}))
    assert runner._as_an_op(right) is right


def test_an_op_on_the_same_value_twice_or_scaled_is_left_to_the_program_judge() -> None:
    # v / v and (v ** 0.0) * g are not one op on its own leaves: the ops check never judged them.
    same = Program((Node("input", value=0.0), Node("div", (0, 0))), 1)
    outcome = _unsettled(same, Evaluation({0: 0.0, 1: math.nan}, {0: math.nan}),
                         Evaluation({0: 0.0, 1: 1.0}, {0: 5.0}))  # fmt: skip
    assert runner._as_an_op(outcome) is outcome
    scaled = Program(
        (
            Node("input", value=0.0),
            Node("const", value=0.0),
            Node("pow", (0, 1)),
            Node("const", value=-2.0),
            Node("mul", (2, 3)),
        ),
        4,
    )
    values = {0: 0.0, 2: 1.0, 4: -2.0}
    outcome = _unsettled(scaled, Evaluation(values, {0: 0.0}), Evaluation(values, {0: math.nan}))
    assert runner._as_an_op(outcome) is outcome
