"""What an in-process engine can do to the harness is contained (conformance.backends.guard)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.backends import PythonValueBackend
from conformance.backends.base import BackendError
from conformance.checks.base import run_guarded
from conformance.program import Node, Program
from tests.meta_tests.engines.reference import Value as Reference


def _chain(length: int) -> Program:
    nodes = [Node("input", value=0.5), Node("const", value=1.0)]
    for i in range(length):
        nodes.append(Node("add", (len(nodes) - 1 if i else 0, 1)))
    return Program(tuple(nodes), len(nodes) - 1)


class RecursiveSort(Reference):
    """The reference engine with micrograd 0.1.0's recursive build_topo."""

    def backward(self) -> None:
        topo: list[Reference] = []
        seen: set[int] = set()

        def visit(v: Reference) -> None:
            if id(v) not in seen:
                seen.add(id(v))
                for child in v._prev:
                    visit(child)
                topo.append(v)

        visit(self)
        self.grad = 1.0
        for node in reversed(topo):
            node._backward()


@pytest.fixture
def raised_recursion_limit() -> Iterator[None]:
    """The limit an engine raises at import, as many micrograd ports do (restored afterwards)."""
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)
    yield
    sys.setrecursionlimit(before)


@pytest.mark.usefixtures("raised_recursion_limit")
def test_an_engine_keeps_its_raised_recursion_limit_inside_hypothesis() -> None:
    backend = PythonValueBackend(RecursiveSort)  # loaded after the engine raised its limit
    program = _chain(5_000)  # 5,000 levels of recursion: past Hypothesis's own limit
    seen: list[float] = []

    @settings(max_examples=1, database=None)
    @given(st.just(program))
    def check(p: Program) -> None:
        seen.append(run_guarded(backend, p, None).grads[0])

    check()
    assert seen == [1.0]


class ExitsInMul(Reference):
    """``*`` calls sys.exit(3)."""

    def __mul__(self, other: Reference | float) -> Reference:
        raise SystemExit(3)


def test_system_exit_in_an_op_fails_that_program_and_nothing_else() -> None:
    program = Program((Node("input", value=2.0), Node("const", value=3.0), Node("mul", (0, 1))), 2)
    with pytest.raises(BackendError) as raised:
        run_guarded(PythonValueBackend(ExitsInMul), program, 1.0)
    assert raised.value.exception_type == "SystemExit"
    assert raised.value.phase == "forward"


class Noisy(Reference):
    """Prints from Python and writes to file descriptors 1 and 2 directly, as C code would."""

    def backward(self) -> None:
        print("from print")
        os.write(1, b"from fd 1\n")
        os.write(2, b"from fd 2\n")
        super().backward()


def test_what_an_engine_prints_is_counted_and_never_reaches_the_terminal(
    capfd: pytest.CaptureFixture[str],
) -> None:
    backend = PythonValueBackend(Noisy)
    got = run_guarded(backend, _chain(3), None)
    assert got.grads[0] == 1.0
    out, err = capfd.readouterr()
    assert "from" not in out and "from" not in err
    assert backend.printed == len("from print\n")
