"""An engine whose result changes from run to run (a set of Values iterated in address order) is
told so, its reproducer runs the program until it fails, and its battery is not fooled by a
lucky run."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import conformance
from conformance.backends import load_backend
from conformance.backends.base import Evaluation
from conformance.checks import Outcome
from conformance.diagnosis.graph import run_battery
from conformance.diagnosis.variation import until_it_fails, variation
from conformance.ops import OPS
from conformance.oracles.table import TableOracle
from conformance.program import Node, Program
from conformance.reproducers.program import render, runs_to_see
from conformance.tolerance import Mismatch, Verdict

from ..meta_tests.engines import reference

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "meta_tests" / "engines" / "broken.py"

# v1 = -v0, v2 = -v1, v3 = v2 + v1 at v0 = 0: v1 is the output's operand and its operand's
# operand, and torch's gradient of v0 is 0.
SHARED = Program(
    (Node("input", value=0.0), Node("neg", (0,)), Node("neg", (1,)), Node("add", (2, 1))), 3
)


def _outcome(grad: float | None, tolerance: float = 1e-10) -> Outcome:
    """A run of SHARED that gave ``grad`` for v0 (None: a run that passed with torch's 0)."""
    got = Evaluation({3: 0.0}, {0: 0.0 if grad is None else grad})
    if grad is None:
        return Outcome(Verdict("pass"), SHARED, Evaluation({3: 0.0}, {0: 0.0}), got)
    mismatch = Mismatch("grad", 0, 0.0, grad, tolerance)
    return Outcome(Verdict("fail", [mismatch]), SHARED, Evaluation({3: 0.0}, {0: 0.0}), got)


def _runs(*grads: float | None) -> Callable[[Outcome], Outcome]:
    """``again`` giving these runs in turn."""
    left = iter(grads)
    return lambda _: _outcome(next(left))


def test_a_program_that_fails_in_some_runs_says_how_often_and_what_it_gave() -> None:
    found = variation(_outcome(-1.0), _runs(None, -1.0, None, None), runs=5)
    assert found is not None and found.some_runs_pass
    assert found.in_words().startswith(
        "fails in 2 of 5 runs of this same program (grad of v0 -1.0 or 0.0): the engine's "
        "result changes from run to run, most likely because it iterates a set of Values"
    )


def test_a_program_failing_every_run_with_other_numbers_says_which_numbers_moved() -> None:
    found = variation(_outcome(4.0), _runs(6.0, 4.0), runs=3)
    assert found is not None and not found.some_runs_pass
    assert found.in_words().startswith(
        "fails in every one of 3 runs, with other numbers from run to run (grad of v0 4.0 or 6.0)"
    )


def test_a_run_the_judge_leaves_open_is_no_pass() -> None:
    # Value(0.0) ** 0.0 judged as an op alone where the program judge leaves it open: a run
    # judged the program judge's way again is "unchecked", which says nothing of the engine.
    unchecked = Outcome(Verdict("unchecked"), SHARED, Evaluation({3: 0.0}, {0: 0.0}))
    assert variation(_outcome(4.0), lambda _: unchecked, runs=10) is None
    runs = iter([unchecked, _outcome(None)])
    found = variation(_outcome(4.0), lambda _: next(runs), runs=3)
    assert found is not None and (found.failed, found.runs) == (1, 2)


def test_a_program_failing_alike_in_every_run_does_not_vary() -> None:
    assert variation(_outcome(4.0), _runs(4.0, 4.0, 4.0), runs=4) is None


def test_numbers_within_their_tolerance_of_one_another_are_one_number() -> None:
    # A wrong rule summed in another order: the last bits move, the bug does not.
    assert variation(_outcome(4.0), _runs(4.0 + 1e-15, 4.0 - 1e-15), runs=3) is None


def test_a_run_that_fails_is_taken_over_the_runs_that_passed() -> None:
    taken = until_it_fails(_outcome(None), _runs(None, 3.0, None), runs=3)
    assert [m.got for m in taken.verdict.mismatches] == [3.0]
    assert not until_it_fails(_outcome(None), _runs(None, None), runs=2).failed


def _every_other_run_fails_with_more_than_one_op() -> tuple[
    Callable[[Program], Outcome], Callable[[Outcome], Outcome]
]:
    """An engine whose programs of two ops or more pass their first run and fail the next."""

    def judged(program: Program, failed: bool) -> Outcome:
        expected = TableOracle().run(program)
        verdict = Verdict("fail", [Mismatch("grad", 0, 1.0, 2.0, 1e-10)]) if failed else None
        return Outcome(verdict or Verdict("pass"), program, expected, expected)

    def evaluate(program: Program) -> Outcome:
        return judged(program, False)

    def again(outcome: Outcome) -> Outcome:
        assert outcome.program is not None
        ops = sum(n.op not in ("input", "const") for n in outcome.program.nodes)
        return judged(outcome.program, ops > 1)

    return evaluate, again


SUPPORTED = [(name, form) for name, op in OPS.items() for form in op.forms]


def test_the_battery_runs_a_passing_program_again_and_sees_the_machinery_fail() -> None:
    evaluate, again = _every_other_run_fails_with_more_than_one_op()
    battery = run_battery(evaluate, SUPPORTED, again=again)
    assert battery.varies
    assert {"shared-node", "shared-node-twice", "upstream"} <= battery.agnostic
    assert battery.fails_alone() == set()  # one op alone passed every run


def test_without_runs_again_the_battery_sees_only_the_first_run() -> None:
    evaluate, _ = _every_other_run_fails_with_more_than_one_op()
    battery = run_battery(evaluate, SUPPORTED)
    assert not battery.varies and battery.agnostic == set() and battery.failing == {}


def test_runs_to_see_a_failure_grow_as_it_gets_rarer() -> None:
    assert runs_to_see(5, 10) == 10  # never fewer than were tried
    assert runs_to_see(1, 10) == 66  # 0.9 ** 66 < 1e-3
    assert runs_to_see(10, 10) == 10


def test_the_reproducer_of_a_program_failing_in_some_runs_runs_it_until_it_fails(
    tmp_path: Path,
) -> None:
    backend = load_backend(f"{BROKEN}:SetOrderedTopoWithoutDedup")
    expected = TableOracle().run(SHARED)
    script = render(SHARED, expected, backend, check="reuse", runs=(5, 10))
    assert "RUNS = 10" in script and "for run in range(1, RUNS + 1):" in script
    path = tmp_path / "reproducer.py"
    path.write_text(script)
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "<-- MISMATCH" in done.stdout and "of up to 10" in done.stdout


def test_the_reproducer_of_a_correct_engine_runs_the_program_every_time_and_exits_0(
    tmp_path: Path,
) -> None:
    backend = load_backend("micrograd.engine:Value")
    script = render(SHARED, TableOracle().run(SHARED), backend, runs=(1, 10))
    path = tmp_path / "reproducer.py"
    path.write_text(script)
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "run 66 of up to 66" in done.stdout


class EveryOtherPassWrong(reference.Value):
    """Every other backward pass from a result adds 1 to each leaf's gradient: a program fails in
    one run and passes in the next, whatever it is."""

    passes = 0

    def backward(self) -> None:
        """The reference's pass, then the slip on odd passes."""
        super().backward()
        EveryOtherPassWrong.passes += 1
        if EveryOtherPassWrong.passes % 2 and self._prev:
            for node in self._topological_order():
                if not node._prev:
                    node.grad += 1.0


def test_a_run_says_a_problems_program_fails_in_some_runs_and_its_reproducer_loops() -> None:
    # (Not "nodes compared by value", which failing (a * 3) * (a + 4) in one run and passing
    # (a * 3) * (a + 5) in the next once seemed to show.)
    report = conformance.check(EveryOtherPassWrong, profile="quick", seed=0, checks=["random"])
    assert [str(p.signature) for p in report.problems] == ["graph:any-op"], report.problem_text()
    (problem,) = report.problems
    assert re.match(r"fails in [1-9] of 10 runs of this same program", problem.details[0])
    assert "for run in range(1, RUNS + 1):" in problem.reproducer
