"""A failing training trajectory -> a standalone script that replays both trajectories.

The script runs the same SGD steps on the target (loaded the way its backend's recipe says) and
compares the loss and every weight, step by step, with the oracle's trajectory embedded in it.
"""

from __future__ import annotations

from collections.abc import Sequence

from conformance.backends.base import BackendBase
from conformance.checks.training import (
    ALPHA,
    TrainingExample,
    Trajectory,
    learning_rate,
    training_program,
)
from conformance.program import format_float

__all__ = ["render_training"]


def _floats(xs: Sequence[float]) -> str:
    return "[" + ", ".join(format_float(x) for x in xs) + "]"


def render_training(
    backend: BackendBase,
    example: TrainingExample,
    traj: Trajectory,
    steps: int,
    replay: str,
    summary: str,
) -> str:
    """A standalone script: run ``steps`` SGD steps on the target, compare with the oracle's run."""
    xs, ys = example.batch
    spec = example.spec
    params = spec.parameters()
    program = training_program(spec, params, xs, ys)
    recipe = backend.recipe()
    build = [*recipe.setup(), "", "", *recipe.loss_function(program, len(params))]
    header = [
        '"""Conformance failure in check \'training\'.',
        "",
        *(f"    {line}" for line in summary.splitlines()[:14]),
        "",
        f"Replay: {replay}" if replay else "",
        '"""',
        "",
    ]
    data = [
        f"# {spec.describe()}; the loss: mean(relu(1 - y * score)) + {ALPHA!r} * sum(p * p)",
        f"# batch (x, y), from seed {example.seed}: {list(zip(xs, ys, strict=True))!r}",
        f"P0 = {_floats(params)}",
        f"LR = {_floats([learning_rate(t) for t in range(steps)])}",
        "# the oracle's trajectory: loss at each step and weights after it, with tolerances",
        f"LOSS = {_floats(traj.losses[:steps])}",
        f"LOSS_TOL = {_floats(traj.loss_tolerances[:steps])}",
        "WEIGHTS = [",
        *(f"    {_floats(w)}," for w in traj.weights[:steps]),
        "]",
        "WEIGHT_TOL = [",
        *(f"    {_floats(w)}," for w in traj.weight_tolerances[:steps]),
        "]",
    ]
    loop = [
        "P = list(P0)",
        "for step, lr in enumerate(LR):",
        "    loss, grads = loss_and_grads(P)",
        "    P = [p - lr * g for p, g in zip(P, grads)]",
        "    bad = [(k, WEIGHTS[step][k], p, WEIGHT_TOL[step][k]) for k, p in enumerate(P)",
        "           if not abs(p - WEIGHTS[step][k]) <= WEIGHT_TOL[step][k]]",
        "    loss_bad = not abs(loss - LOSS[step]) <= LOSS_TOL[step]",
        "    mark = '  <-- MISMATCH' if loss_bad else ''",
        "    print(f'step {step}: loss expected {LOSS[step]!r} got {loss!r}{mark}')",
        "    for k, expected, got, tol in bad:",
        "        print(f'  weight p[{k}] after step {step}: expected {expected!r} got {got!r}'",
        "              f' (|diff| {abs(got - expected):.3g} > tolerance {tol:.3g})  <-- MISMATCH')",
        "    if loss_bad or bad:",
        "        print(f'the trajectories part at step {step}')",
        "        raise SystemExit(1)",
        "print('the trajectories agree')",
        "raise SystemExit(0)",
    ]
    return "\n".join([*header, *build, "", "", *data, "", *loop]) + "\n"
