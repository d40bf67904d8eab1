"""The nn and training checks: correct engines pass, broken ones fail with runnable reproducers."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import conformance
from conformance.checks import CHECKS, get_check
from conformance.checks.mlp import MLPSpec, build_mlp_program
from conformance.checks.training import TrainingExample, moons_batch, training_program
from conformance.report import Report
from tests.meta_tests.engines.plain import Value as PlainValue
from tests.meta_tests.engines.reference import Value as ReferenceValue

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "meta_tests" / "engines" / "broken.py"
HAS_TORCH = importlib.util.find_spec("torch") is not None
ORACLES = ["mpmath"] + (["torch"] if HAS_TORCH else [])


class SlightlyWrongMulGradient(ReferenceValue):
    """Multiplication's gradient is off by a relative 1e-6: invisible in a printout, compounding."""

    def __mul__(self, other: ReferenceValue | float) -> ReferenceValue:
        """a * b whose backward pass scales both partials by 1 + 1e-6."""
        other = self._lift(other)
        out = self._result(self.data * other.data, (self, other), "*")

        def _backward() -> None:
            self.grad += other.data * out.grad * (1 + 1e-6)
            other.grad += self.data * out.grad * (1 + 1e-6)

        out._backward = _backward
        return out


class NoMultiplication(PlainValue):
    """An engine without ``*``: it cannot build a neuron."""

    __mul__ = None  # type: ignore[assignment]
    __rmul__ = None  # type: ignore[assignment]


def _run(target: object, oracle: str | None = None, seed: int = 0) -> Report:
    return conformance.check(
        target,
        profile="quick",
        seed=seed,
        oracle=oracle,
        checks=["nn", "training"],
        shrink_seconds=3.0,
    )


def _status(report: Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def _run_script(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "repro.py"
    script.write_text(text)
    # The repository on the path, as for a user running the script in their project.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_nn_and_training_are_registered_and_run_by_default() -> None:
    names = [c.name for c in CHECKS]
    assert "nn" in names and "training" in names
    assert get_check("training").example_count("default") > 0


@pytest.mark.parametrize("oracle", ORACLES)
def test_the_bundled_engine_passes_both_checks(oracle: str) -> None:
    report = _run("micrograd.engine:Value", oracle)
    assert _status(report) == {"nn": "passed", "training": "passed"}, report.failure_text()
    assert all(c.examples > 0 for c in report.checks)


def test_a_plain_math_engine_passes_both_checks() -> None:
    report = _run(PlainValue)
    assert _status(report) == {"nn": "passed", "training": "passed"}, report.failure_text()


@pytest.mark.parametrize("bug", ["WrongReluDerivative", "GradAssignedNotAccumulated"])
def test_a_broken_engine_fails_nn_with_a_reproducer_that_exits_1(bug: str, tmp_path: Path) -> None:
    report = conformance.check(
        f"{BROKEN}:{bug}", profile="quick", seed=0, checks=["nn"], shrink_seconds=3.0
    )
    (result,) = report.checks
    assert result.status == "failed"
    failure = result.failures[0]
    assert failure.summary.startswith("MLP ")
    assert "--check nn" in failure.replay
    run = _run_script(failure.reproducer, tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "MISMATCH" in run.stdout


def test_a_wrong_tanh_derivative_is_caught_by_nn() -> None:
    report = conformance.check(
        f"{BROKEN}:WrongTanhDerivative", profile="quick", seed=0, checks=["nn"], shrink_seconds=3.0
    )
    assert report.checks[0].status == "failed"
    assert "tanh" in report.checks[0].failures[0].summary


@pytest.mark.parametrize("oracle", ORACLES)
def test_a_gradient_off_by_one_millionth_fails_training(oracle: str, tmp_path: Path) -> None:
    report = conformance.check(
        SlightlyWrongMulGradient, profile="quick", seed=0, oracle=oracle, checks=["training"]
    )
    (training,) = report.checks
    assert training.status == "failed"
    failure = training.failures[0]
    assert "the trajectories part here" in failure.summary
    run = _run_script(failure.reproducer, tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the trajectories part at step" in run.stdout


def test_the_training_reproducer_of_a_correct_engine_says_the_trajectories_agree(
    tmp_path: Path,
) -> None:
    from conformance.backends import load_backend
    from conformance.checks import CheckContext
    from conformance.checks.training import TrainingCheck
    from conformance.oracles import load_oracle
    from conformance.probe import probe
    from conformance.reproducers.training import render_training

    backend = load_backend("micrograd.engine:Value")
    supported = probe(backend).supported
    ctx = CheckContext(backend, load_oracle(None), supported, "quick")
    spec = MLPSpec(
        2,
        (((0.5, -0.25), (0.75, 1.0)), ((1.0, -0.5),)),
        ((0.0, 0.25), (0.125,)),
        ("relu", "linear"),
    )
    example = TrainingExample(spec, seed=3, size=4)
    check = get_check("training")
    assert isinstance(check, TrainingCheck)
    outcome, traj = check.trajectory(ctx, example, 3)
    assert outcome.verdict.status == "pass"
    script = render_training(backend, example, traj, 3, "", "")
    run = _run_script(script, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the trajectories agree" in run.stdout


def test_an_engine_without_multiplication_skips_both_checks_saying_why() -> None:
    report = _run(NoMultiplication)
    for result in report.checks:
        assert result.status == "skipped"
        assert "mul:vv" in result.note


def test_the_json_report_lists_both_checks(tmp_path: Path) -> None:
    report = _run("micrograd.engine:Value")
    names = [c["name"] for c in json.loads(report.to_json())["checks"]]
    assert names == ["nn", "training"]


def test_moons_batches_are_deterministic_and_labelled_plus_minus_one() -> None:
    xs, ys = moons_batch(7, 5)
    assert (xs, ys) == moons_batch(7, 5)
    assert xs != moons_batch(8, 5)[0]
    assert ys == [-1.0, 1.0, -1.0, 1.0, -1.0]


def test_a_neuron_is_written_as_micrograd_computes_it() -> None:
    spec = MLPSpec(2, (((2.0, 3.0),),), ((1.0,),), ("linear",))
    program, _ = build_mlp_program(spec, [5.0, 7.0])
    ops = [(n.op, n.args) for n in program.nodes if n.op != "input"]
    # inputs x0, x1, then w0, w1, b: b + w0*x0, then + w1*x1
    assert ops == [("mul", (2, 0)), ("add", (4, 5)), ("mul", (3, 1)), ("add", (6, 7))]


def test_the_training_loss_is_the_demos_hinge_plus_l2() -> None:
    spec = MLPSpec(2, (((0.5, -1.0),),), ((0.25,),), ("linear",))
    xs, ys = [(1.0, 2.0), (-1.0, 0.5)], [1.0, -1.0]
    program = training_program(spec, spec.parameters(), xs, ys)
    from conformance.oracles.mpmath import MpmathOracle

    got = MpmathOracle().run(program).values[program.output]
    scores = [0.25 + 0.5 * x0 - 1.0 * x1 for x0, x1 in xs]
    hinge = sum(max(0.0, 1.0 - y * s) for y, s in zip(ys, scores, strict=True)) / 2
    assert got == pytest.approx(hinge + 1e-4 * (0.25 + 1.0 + 0.0625), rel=1e-15)


@pytest.mark.skipif(not HAS_TORCH, reason="the torch.nn reference needs torch")
def test_the_torch_nn_reference_agrees_with_the_program_oracle() -> None:
    from conformance.oracles.torch import TorchOracle

    spec = MLPSpec(
        3,
        (((0.5, -1.0, 2.0), (1.5, 0.25, -0.75)), ((1.0, -2.0),)),
        ((0.1, -0.2), (0.3,)),
        ("tanh", "linear"),
    )
    x = [0.3, -1.2, 2.5]
    program, layout = build_mlp_program(spec, x)
    torch_oracle = TorchOracle()
    oracle = torch_oracle.run(program)
    ref = torch_oracle.nn_reference(spec, x)
    assert ref is not None
    assert ref["out"] == pytest.approx(oracle.values[program.output], rel=1e-14)
    assert ref["x_grad"] == pytest.approx([oracle.grads[i] for i in range(3)], rel=1e-14)
    assert ref["weight_grads"][1][0][1] == pytest.approx(oracle.grads[layout.params[-2]], rel=1e-14)
