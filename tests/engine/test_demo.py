"""The demo: the notebook's training run reaches 100 % accuracy, from Python and from the CLI."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

from micrograd.data import make_moons
from micrograd.demo import TrainingRun, learning_rate, main, train
from micrograd.engine import Value
from micrograd.nn import MLP


@pytest.fixture(scope="module")
def full_run() -> TrainingRun:
    """The demo's full 100-step run, shared by the tests that inspect it."""
    return train(100)


def test_the_full_demo_run_reaches_100_percent_training_accuracy(full_run) -> None:
    assert len(full_run.losses) == len(full_run.accuracies) == 100
    assert full_run.final_accuracy == 1.0
    assert full_run.accuracies[-1] == 1.0
    assert full_run.losses[-1] < full_run.losses[0] / 10


def test_the_demo_uses_the_notebooks_setup(full_run) -> None:
    assert (full_run.X, full_run.y) == make_moons(100, 0.1, 1337)
    assert repr(full_run.model) == repr(MLP(2, [16, 16, 1]))
    assert learning_rate(0) == 1.0 and learning_rate(99) == 1.0 - 0.9 * 99 / 100


def notebook_loop(steps: int) -> list[float]:
    """demo.ipynb's loop verbatim, on a 0.1.0-style model built from binary ops."""
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    X, y = make_moons(100, 0.1, 1337)

    def forward(xs: list[Value]) -> Value:
        values = xs
        for layer in model.layers:
            values = [
                (lambda a: a.relu() if n.nonlin else a)(
                    sum((wi * xi for wi, xi in zip(n.w, values, strict=True)), n.b)
                )
                for n in layer.neurons
            ]
        return values[0]

    losses = []
    for k in range(steps):
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(forward, inputs))
        margins = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores, strict=True)]
        data_loss = sum(margins) * (1.0 / len(margins))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        model.zero_grad()
        total_loss.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= lr * p.grad
        losses.append(total_loss.data)
    return losses


def test_the_demo_follows_the_notebooks_loss_trajectory_bit_for_bit(full_run) -> None:
    assert full_run.losses[:4] == notebook_loop(4)


def test_main_prints_progress_and_the_final_accuracy(capsys) -> None:
    assert main(["--steps", "3", "--log-every", "1", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "step   0  loss" in out and "step   2  loss" in out
    assert "final training accuracy" in out


def test_png_output_without_matplotlib_fails_with_a_clear_message(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    assert main(["--steps", "1", "--png", str(tmp_path / "moons.png")]) == 2
    assert "pip install matplotlib" in capsys.readouterr().err
    assert not (tmp_path / "moons.png").exists()


def test_png_output_writes_a_png_file(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib (the [plot] extra) is not installed")
    path = tmp_path / "moons.png"
    assert main(["--steps", "2", "--png", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_python_dash_m_micrograd_runs_the_demo() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "micrograd", "--steps", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "final training accuracy" in result.stdout


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--steps", "x"], ["--log-every", "-1"]])
def test_bad_command_line_arguments_exit_with_status_2(argv) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code == 2


def test_train_rejects_a_non_positive_step_count() -> None:
    with pytest.raises(ValueError, match="steps"):
        train(0)
