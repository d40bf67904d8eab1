"""The program strategies: valid by construction, rich in the cases ports get wrong."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from conformance.ops import OPS, py_value
from conformance.program import Program
from conformance.strategies import ProgramBatch, deep_programs, program_batches, programs


def _values(program: Program) -> list[float]:
    vals: list[float] = []
    for node in program.nodes:
        if node.op in ("input", "const"):
            vals.append(float(node.value))  # type: ignore[arg-type]
        else:
            args = [vals[j] for j in node.args]
            vals.append(py_value(OPS[node.op], args[0], args[1] if len(args) > 1 else 0.0))
    return vals


def assert_in_domain(program: Program) -> None:
    """Every node finite, every log of a positive number, every division by a nonzero one."""
    vals = _values(program)
    assert all(math.isfinite(v) for v in vals)
    for node in program.nodes:
        if node.op == "log":
            assert vals[node.args[0]] > 0
        if node.op in ("div", "idiv"):
            assert vals[node.args[1]] != 0


@settings(max_examples=200)
@given(programs())
def test_every_node_of_a_generated_program_is_finite_and_in_its_domain(program):
    assert_in_domain(program)


@settings(max_examples=100)
@given(program_batches(rows=8))
def test_every_program_of_a_batch_is_in_its_domain_and_the_first_is_the_drawn_one(batch):
    assert 1 <= len(batch) <= 8
    first, *others = batch.programs()
    assert first is batch.program
    for program in others:
        assert [n.op for n in program.nodes] == [n.op for n in batch.program.nodes]
        assert_in_domain(program)


def test_batches_hold_several_programs_on_average():
    sizes: list[int] = []

    @settings(max_examples=100, database=None, suppress_health_check=list(HealthCheck))
    @given(program_batches(rows=8))
    def collect(batch: ProgramBatch) -> None:
        sizes.append(len(batch))

    collect()
    assert sum(sizes) / len(sizes) > 3  # most rows stay in the ops' domains


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"rows": 0}, "rows=0"), ({"max_nodes": 0}, "max_nodes=0"), ({"colour": 1}, "colour")],
)
def test_invalid_batch_arguments_raise_invalid_argument_naming_the_value(kwargs, named):
    with pytest.raises(InvalidArgument, match=re.escape(named)):
        program_batches(**kwargs)


@settings(max_examples=100)
@given(programs(ops=["add", ("exp", "v")]))
def test_programs_use_only_the_requested_ops(program):
    assert {op for op, _ in program.variants()} <= {"add", "exp"}


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"max_nodes": 0}, "max_nodes=0"),
        ({"min_inputs": 0}, "min_inputs=0"),
        ({"min_inputs": 3, "max_inputs": 2}, "max_inputs=2"),
        ({"ops": ["nope"]}, "'nope'"),
        ({"ops": [("pow", "cc")]}, "('pow', 'cc')"),
        ({"ops": "add"}, "ops='add'"),
        ({"reuse": 2}, "reuse=2"),
        ({"constants": -0.5}, "constants=-0.5"),
        ({"ops": []}, "ops=[]"),
    ],
)
def test_invalid_arguments_raise_invalid_argument_naming_the_value(kwargs, named):
    with pytest.raises(InvalidArgument, match=re.escape(named)):
        programs(**kwargs)


def test_generated_programs_contain_the_hard_cases():
    seen: set[str] = set()

    @settings(max_examples=400, database=None, phases=[Phase.generate])
    @given(programs())
    def collect(program):
        vals = _values(program)
        for i, node in enumerate(program.nodes):
            if len(node.args) == 2 and node.args[0] == node.args[1]:
                seen.add("same node as both operands")
            form = program.form(i)
            if form == "cv":
                seen.add("constant on the left")
            if form == "vc":
                seen.add("constant on the right")
            if node.op.startswith("i") and node.op in OPS and OPS[node.op].inplace:
                seen.add("augmented assignment")
            if node.op == "input" and vals[i] in (0.0, 1.0, -1.0):
                seen.add("exact 0 or +-1")
            if node.op in ("tanh", "sigmoid") and abs(vals[node.args[0]]) >= 20:
                seen.add("large magnitude")
        inputs = [vals[i] for i in program.inputs]
        if len(set(inputs)) < len(inputs):
            seen.add("equal values in distinct nodes")
        users = [j for n in program.nodes for j in n.args]
        if any(users.count(i) > 1 for i in program.value_nodes):
            seen.add("a node reused")

    collect()
    assert seen == {
        "same node as both operands",
        "constant on the left",
        "constant on the right",
        "augmented assignment",
        "exact 0 or +-1",
        "large magnitude",
        "equal values in distinct nodes",
        "a node reused",
    }


@settings(max_examples=5, suppress_health_check=list(HealthCheck))
@given(deep_programs(depth=2000))
def test_deep_programs_are_chains_of_the_requested_depth(program):
    op_nodes = [n for n in program.nodes if n.op not in ("input", "const")]
    assert len(op_nodes) == 2000
    assert all(math.isfinite(v) for v in _values(program))


def test_the_value_strategy_argument_must_be_a_strategy():
    with pytest.raises(InvalidArgument, match="value_strategy=3"):
        programs(value_strategy=3)  # type: ignore[arg-type]
    programs(value_strategy=st.just(1.0))
