"""The moons demo training loop (100 steps, and one step) and nn forward/backward by layer width."""

from __future__ import annotations

import random

import pytest

from micrograd.data import make_moons
from micrograd.demo import learning_rate, train
from micrograd.engine import Value
from micrograd.nn import MLP, accuracy, svm_loss

SEED = 1337
DATA = make_moons(100, 0.1, SEED)


def test_demo_training_loop_100_steps(benchmark, per_unit) -> None:
    def setup() -> tuple[tuple[()], dict[str, object]]:
        return (), {"steps": 100, "data": DATA, "model": MLP(2, [16, 16, 1], seed=SEED)}

    run = benchmark.pedantic(train, setup=setup, rounds=3, iterations=1)
    assert run.final_accuracy == 1.0  # the demo's promise: it learns the moons completely
    per_unit(benchmark, 100, "step")


def test_demo_training_loop_one_step(benchmark, per_unit) -> None:
    X, y = DATA
    model = MLP(2, [16, 16, 1], seed=SEED)
    params = model.parameters()
    state = {"k": 0}
    losses: list[float] = []

    def step() -> None:
        # One step of demo.train's loop body, continuing one long run round after round.
        scores = [model(row) for row in X]
        total_loss = svm_loss(scores, y, params=params, alpha=1e-4)
        accuracy(scores, y)
        model.zero_grad()
        total_loss.backward()
        lr = learning_rate(min(state["k"], 99))
        for p in params:
            p.data -= lr * p.grad
        state["k"] += 1
        losses.append(total_loss.data)

    benchmark.pedantic(step, rounds=30, iterations=1, warmup_rounds=2)
    assert losses[-1] < losses[0]
    per_unit(benchmark, 1, "step")


WIDTHS = [4, 16, 64, 128]


def _net_and_input(width: int) -> tuple[MLP, list[float]]:
    rng = random.Random(width)
    return MLP(width, [width, width, 1], seed=width), [rng.uniform(-1, 1) for _ in range(width)]


@pytest.mark.parametrize("width", WIDTHS)
def test_nn_forward_by_layer_width(benchmark, per_unit, width: int) -> None:
    model, x = _net_and_input(width)
    out = benchmark(model, x)
    assert isinstance(out, Value)
    per_unit(benchmark, len(model.parameters()), "parameter")


@pytest.mark.parametrize("width", WIDTHS)
def test_nn_backward_by_layer_width(benchmark, per_unit, width: int) -> None:
    model, x = _net_and_input(width)

    def setup() -> tuple[tuple[Value], dict[str, object]]:
        model.zero_grad()
        out = model(x)
        assert isinstance(out, Value)
        return (out,), {}

    benchmark.pedantic(Value.backward, setup=setup, rounds=50, iterations=1)
    assert any(p.grad != 0.0 for p in model.parameters())
    per_unit(benchmark, len(model.parameters()), "parameter")
