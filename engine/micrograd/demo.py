"""The demo notebook's training run: an MLP learns the two-moons dataset with an SVM loss.

``python -m micrograd`` runs it (see ``--help``); :func:`train` is the same loop as a function for
tests and benchmarks. The loop mirrors micrograd's ``demo.ipynb`` step for step: 100 moons points
with noise 0.1, ``MLP(2, [16, 16, 1])``, the max-margin loss plus 1e-4 L2, full-batch SGD with the
learning rate decaying linearly from 1.0 towards 0.1.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from micrograd.data import make_moons
from micrograd.engine import Value
from micrograd.nn import MLP, accuracy, svm_loss

__all__ = ["TrainingRun", "decision_grid", "learning_rate", "main", "predict", "save_png", "train"]

DEFAULT_SEED = 1337


@dataclass
class TrainingRun:
    """What :func:`train` did: the trained model, its data and the per-step history.

    ``losses[k]`` and ``accuracies[k]`` are measured at step ``k`` before that step's update, as the
    notebook prints them; ``final_accuracy`` is measured after the last update.
    """

    model: MLP
    X: list[list[float]]
    y: list[int]
    losses: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    final_accuracy: float = 0.0


def learning_rate(step: int, steps: int = 100) -> float:
    """Return the notebook's schedule ``1.0 - 0.9 * step / steps`` (exact for 100 steps)."""
    return 1.0 - 0.9 * step / steps


def _scores(model: MLP, X: Sequence[Sequence[float]]) -> list[Value]:
    """Run ``model`` on every row of ``X``; the model must have a single output."""
    scores: list[Value] = []
    for row in X:
        out = model(row)
        if not isinstance(out, Value):
            raise ValueError(f"the demo needs a model with one output neuron, got {model!r}")
        scores.append(out)
    return scores


def train(
    steps: int = 100,
    *,
    seed: int = DEFAULT_SEED,
    n_samples: int = 100,
    noise: float = 0.1,
    alpha: float = 1e-4,
    hidden: Sequence[int] = (16, 16),
    data: tuple[list[list[float]], list[int]] | None = None,
    model: MLP | None = None,
    log_every: int = 0,
    log: Callable[[str], Any] = print,
) -> TrainingRun:
    """Train an MLP on the moons data with the notebook's loop and return the history.

    ``seed`` fixes both the data (``make_moons(seed=seed)``) and the initial weights
    (``MLP(..., seed=seed)``, the weights micrograd 0.1.0 draws after ``random.seed(seed)``).
    Pass ``data`` and/or ``model`` to train something else. With ``log_every > 0`` a progress line
    goes to ``log`` every ``log_every`` steps and on the last step.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    X, y = data if data is not None else make_moons(n_samples, noise, seed)
    if model is None:
        model = MLP(len(X[0]), [*hidden, 1], seed=seed)
    params = model.parameters()
    run = TrainingRun(model=model, X=X, y=y)
    for k in range(steps):
        scores = _scores(model, X)
        total_loss = svm_loss(scores, y, params=params, alpha=alpha)
        acc = accuracy(scores, y)
        model.zero_grad()
        total_loss.backward()
        lr = learning_rate(k, steps)
        for p in params:
            p.data -= lr * p.grad
        run.losses.append(total_loss.data)
        run.accuracies.append(acc)
        if log_every > 0 and (k % log_every == 0 or k == steps - 1):
            log(f"step {k:3d}  loss {total_loss.data:.6f}  accuracy {acc * 100:5.1f}%")
    run.final_accuracy = _float_accuracy(model, X, y)
    return run


def _float_accuracy(model: MLP, X: Sequence[Sequence[float]], y: Sequence[int]) -> float:
    """``accuracy(_scores(model, X), y)`` computed on plain floats: no graph to build and free."""
    hits = sum((yi > 0) == (predict(model, row) > 0) for row, yi in zip(X, y, strict=True))
    return hits / len(X)


def predict(model: MLP, x: Sequence[float]) -> float:
    """Return the model's score for ``x`` in plain floats (no graph is built)."""
    values = [float(v) for v in x]
    for layer in model.layers:
        outs: list[float] = []
        for n in layer.neurons:
            act = n.b.data
            for w, xi in zip(n.w, values, strict=True):
                act += w.data * xi
            if n.activation == "relu":
                act = 0.0 if act < 0.0 else act  # as Value.relu: -0.0 and nan stay
            elif n.activation == "tanh":
                act = math.tanh(act)
            outs.append(act)
        values = outs
    if len(values) != 1:
        raise ValueError(f"predict needs a model with one output neuron, got {model!r}")
    return values[0]


def decision_grid(
    model: MLP, X: Sequence[Sequence[float]], h: float = 0.05
) -> tuple[list[float], list[float], list[list[float]]]:
    """Return ``(xs, ys, scores)``: the model's scores on a grid covering ``X`` plus a margin."""
    x_min = min(p[0] for p in X) - 1.0
    x_max = max(p[0] for p in X) + 1.0
    y_min = min(p[1] for p in X) - 1.0
    y_max = max(p[1] for p in X) + 1.0
    xs = [x_min + i * h for i in range(int((x_max - x_min) / h) + 1)]
    ys = [y_min + j * h for j in range(int((y_max - y_min) / h) + 1)]
    return xs, ys, [[predict(model, [gx, gy]) for gx in xs] for gy in ys]


def save_png(run: TrainingRun, path: str) -> None:
    """Write the decision boundary and the training points to ``path`` (needs matplotlib)."""
    plt = _import_pyplot()
    xs, ys, zs = decision_grid(run.model, run.X)
    fig, ax = plt.subplots(figsize=(6, 5))
    # Two filled bands split at score 0; contouring the raw scores gives a smooth boundary.
    low = min(min(min(row) for row in zs), -1e-9)
    high = max(max(max(row) for row in zs), 1e-9)
    ax.contourf(xs, ys, zs, levels=[low, 0.0, high], cmap="Spectral", alpha=0.8)
    ax.scatter(
        [p[0] for p in run.X], [p[1] for p in run.X], c=run.y, s=40, cmap="jet", edgecolors="k"
    )
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_title(f"moons: {run.final_accuracy * 100:.0f}% training accuracy")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _import_pyplot() -> Any:
    """Import matplotlib's pyplot on the non-interactive backend, or explain how to get it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "writing a PNG needs matplotlib, which is not installed; "
            "install it with: pip install matplotlib  (or the project's [plot] extra)"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _positive_int(text: str) -> int:
    """Parse a command-line integer >= 1."""
    import argparse  # (here and in main: `train` alone does not pay for importing argparse)

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo from the command line; return the process exit code."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m micrograd",
        description="Train micrograd's demo MLP on the two-moons dataset (demo.ipynb's run).",
    )
    parser.add_argument("--steps", type=_positive_int, default=100, help="SGD steps (default 100)")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"data/weights seed (default {DEFAULT_SEED})"
    )
    parser.add_argument(
        "--log-every", type=_positive_int, default=10, help="print every N steps (default 10)"
    )
    parser.add_argument("--png", metavar="FILE", help="write a decision-boundary plot to FILE")
    args = parser.parse_args(argv)

    if args.png is not None:
        try:
            _import_pyplot()
        except ImportError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    print(
        f"moons: 100 points, noise 0.1, seed {args.seed}; MLP(2, [16, 16, 1]); "
        f"SVM loss + 1e-4 L2; {args.steps} SGD steps"
    )
    run = train(args.steps, seed=args.seed, log_every=args.log_every)
    print(f"final training accuracy {run.final_accuracy * 100:.1f}%")
    if args.png is not None:
        save_png(run, args.png)
        print(f"wrote {args.png}")
    return 0
