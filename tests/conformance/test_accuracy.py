"""The --accuracy report: per-op worst errors in ULPs against mpmath, without compounding."""

from __future__ import annotations

import mpmath
import pytest

from conformance.accuracy import accuracy_table, generate, measure, run_accuracy, ulp_error
from conformance.backends.python import PythonValueBackend
from conformance.ops import all_variants
from conformance.program import Node, Program
from tests.meta_tests.engines import broken, plain


def test_ulp_error_counts_float64_spacings_at_the_exact_value() -> None:
    with mpmath.workprec(300):
        assert ulp_error(1.0, mpmath.mpf(1)) == 0.0
        assert ulp_error(1.0 + 2.0**-52, mpmath.mpf(1)) == 1.0
        assert ulp_error(0.1, mpmath.mpf(1) / 10) == pytest.approx(0.4, abs=0.01)
        assert ulp_error(5e-324, mpmath.mpf(0)) == 1.0
        assert ulp_error(float("inf"), mpmath.mpf(1)) == float("inf")


def test_a_correct_engine_rounds_the_exact_ops_correctly() -> None:
    programs = generate(all_variants(), 40, seed=3)
    results = measure({"ref": PythonValueBackend(plain.Value)}, programs)["ref"]
    for op in ("add", "sub", "mul", "neg", "iadd", "imul"):
        assert results[op].nodes > 0, op
        assert results[op].value_ulps <= 0.5, (op, results[op].worst_value_case)


def test_an_engine_that_rounds_to_float32_shows_millions_of_ulps() -> None:
    programs = generate(all_variants(), 40, seed=3)
    results = measure({"f32": PythonValueBackend(broken.Float32EveryNode)}, programs)["f32"]
    assert results["mul"].value_ulps > 1e6


def test_errors_do_not_compound_along_a_chain() -> None:
    # Twenty float32-rounded multiplications: each node is measured on exact operands alone.
    nodes = [Node("input", value=1.1)]
    for _ in range(20):
        nodes += [Node("const", value=1.1), Node("mul", (len(nodes) - 1, len(nodes)))]
    chain = Program(tuple(nodes), len(nodes) - 1)
    single = Program((Node("input", value=1.1), Node("const", value=1.1), Node("mul", (0, 1))), 2)
    backend = {"f32": PythonValueBackend(broken.Float32EveryNode)}
    worst_chain = measure(backend, [chain])["f32"]["mul"].value_ulps
    worst_single = measure(backend, [single])["f32"]["mul"].value_ulps
    assert worst_chain < 4 * worst_single


def test_the_table_lists_every_measured_op_for_each_backend() -> None:
    programs = generate(all_variants(), 10, seed=5)
    text = accuracy_table(measure({"ref": PythonValueBackend(plain.Value)}, programs))
    assert "ref value" in text and "ref grad" in text
    assert "\nadd " in text


def test_run_accuracy_rejects_an_unknown_profile() -> None:
    with pytest.raises(ValueError, match="'nope'"):
        run_accuracy(PythonValueBackend(plain.Value), profile="nope")
