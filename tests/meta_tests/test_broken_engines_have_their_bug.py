"""Each deliberately broken engine really has its bug, shown without the harness.

If a broken engine silently behaved correctly, "the harness catches it" would prove nothing. Each
bug has a hand-written witness program; it must give torch's answer on the correct engines and a
different answer (or an exception) on the broken one.
"""

from __future__ import annotations

import math

import pytest

from .engines import broken, reference

torch_value = pytest.importorskip("tests.meta_tests.engines.torch_value", reason="needs torch")


def _agree(got: list[float], want: list[float]) -> bool:
    return len(got) == len(want) and all(
        math.isclose(g, w, rel_tol=1e-12, abs_tol=1e-300) for g, w in zip(got, want, strict=True)
    )


@pytest.mark.parametrize("bug", broken.BUGS, ids=lambda bug: bug.name)
def test_the_witness_gives_torchs_answer_on_the_reference_engine(bug: broken.Bug) -> None:
    assert _agree(bug.witness(reference.Value), bug.witness(torch_value.Value))


@pytest.mark.parametrize("bug", broken.BUGS, ids=lambda bug: bug.name)
def test_the_witness_gives_a_wrong_answer_or_raises_on_the_broken_engine(bug: broken.Bug) -> None:
    want = bug.witness(torch_value.Value)
    try:
        got = bug.witness(bug.engine)
    except (ArithmeticError, ValueError, RecursionError):
        return  # raising where torch returns finite numbers is the bug
    assert not _agree(got, want), f"{bug.name} behaves like torch on its witness: {got}"


def test_every_broken_engine_is_registered_exactly_once() -> None:
    classes = {
        obj
        for obj in vars(broken).values()
        if isinstance(obj, type) and issubclass(obj, reference.Value) and obj is not reference.Value
    }
    registered = [bug.engine for bug in broken.BUGS]
    assert len(registered) == len(set(registered))
    assert set(registered) == classes


def test_there_are_at_least_25_distinct_bug_classes_with_a_wrong_derivative_for_each_op() -> None:
    assert len(broken.BUGS) >= 25
    ops = (
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Neg",
        "PowConst",
        "PowValue",
        "Rpow",
        "Exp",
        "Log",
        "Tanh",
        "Relu",
        "Sigmoid",
        "Sin",
    )
    names = {bug.name for bug in broken.BUGS}
    assert {f"Wrong{op}Derivative" for op in ops} <= names
