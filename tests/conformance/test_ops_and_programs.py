"""The op table, the program IR and its renderings."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.backends.python import PythonValueBackend
from conformance.ops import OPS, all_variants, py_value, variant_is_valid
from conformance.program import Node, Program, ProgramError
from conformance.strategies import programs
from tests.meta_tests.engines.reference import Value

try:
    import torch
except ImportError:  # the mpmath oracle covers the rest; this test needs torch's autograd
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="compares the table with torch autograd")


def test_every_op_names_its_forms_and_renders_as_python():
    for name, op in OPS.items():
        assert op.forms, name
        assert all(form in ("v", "vv", "vc", "cv") for form in op.forms)
        text = op.source.format(out="t", a="x", b="y")
        assert "t" in text and "x" in text


@needs_torch
@settings(max_examples=200)
@given(st.sampled_from(all_variants()), st.floats(-5, 5), st.floats(-5, 5))
def test_the_table_partials_agree_with_torch_gradients(variant, a, b):
    name, form = variant
    op = OPS[name]
    if op.arity == 1:
        b = 0.0
    if not variant_is_valid(op, form, a, b):
        return
    ta = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    y = op.torch(ta, tb) if op.arity == 2 else op.torch(ta)
    y.backward()
    expected_y = py_value(op, a, b)
    assert math.isclose(y.item(), expected_y, rel_tol=1e-12, abs_tol=1e-300)
    pa, pb = op.partials_at(a, b, expected_y)
    if form[0] == "v":
        assert math.isclose(ta.grad.item(), pa, rel_tol=1e-9, abs_tol=1e-12)
    if form[-1] == "v" and op.arity == 2:
        assert math.isclose(tb.grad.item(), pb, rel_tol=1e-9, abs_tol=1e-12)


def test_the_mpmath_references_agree_with_float64_values():
    mpmath = pytest.importorskip("mpmath")
    for name, op in OPS.items():
        a, b = 0.75, 1.5
        got = op.mpmath(mpmath.mpf(a), mpmath.mpf(b)) if op.arity == 2 else op.mpmath(mpmath.mpf(a))
        assert math.isclose(float(got), py_value(op, a, b), rel_tol=1e-15), name


def test_log_is_not_offered_on_a_non_positive_operand():
    assert not variant_is_valid(OPS["log"], "v", 0.0, 0.0)
    assert not variant_is_valid(OPS["log"], "v", -1.0, 0.0)
    assert variant_is_valid(OPS["log"], "v", 1e-300, 0.0)


def test_division_by_zero_and_overflowing_exp_are_outside_the_domain():
    assert not variant_is_valid(OPS["div"], "vv", 1.0, 0.0)
    assert not variant_is_valid(OPS["exp"], "v", 710.0, 0.0)
    assert variant_is_valid(OPS["tanh"], "v", 400.0, 0.0)


def test_relu_at_zero_is_a_kink_offered_only_when_kinks_are_asked_for():
    assert not variant_is_valid(OPS["relu"], "v", 0.0, 0.0)
    assert variant_is_valid(OPS["relu"], "v", 0.0, 0.0, kinks=True)


def test_a_program_round_trips_through_json():
    program = Program(
        (
            Node("input", value=1.5),
            Node("const", value=-2.0),
            Node("sub", (1, 0)),
            Node("exp", (2,)),
        ),
        3,
    )
    assert Program.from_json(program.to_json()) == program


@pytest.mark.parametrize(
    ("nodes", "output", "message"),
    [
        ((Node("input", value=1.0), Node("exp", (1,))), 1, "not an earlier node"),
        ((Node("input", value=1.0), Node("frobnicate", (0,))), 1, "unknown op 'frobnicate'"),
        ((Node("const", value=1.0), Node("const", value=2.0), Node("add", (0, 1))), 2, "'cc'"),
        ((Node("input", value=1.0), Node("const", value=2.0)), 1, "not a Value node"),
        ((Node("input", value=1.0), Node("add", (0,))), 1, "takes 2 operands"),
    ],
)
def test_a_malformed_program_is_rejected_naming_the_problem(nodes, output, message):
    with pytest.raises(ProgramError, match=message):
        Program(nodes, output)


@settings(max_examples=50)
@given(programs(max_nodes=12))
def test_the_python_rendering_rebuilds_the_same_values(program):
    namespace: dict[str, object] = {"Value": Value}
    exec("\n".join(program.to_python()), namespace)
    direct = PythonValueBackend(Value).run(program).values
    for i in program.value_nodes:
        got = namespace[f"v{i}"].data  # type: ignore[attr-defined]
        assert got == direct[i] or (math.isnan(got) and math.isnan(direct[i]))
