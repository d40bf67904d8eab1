"""The ``training`` check: SGD trajectories of the moons demo's loss must follow the oracle's.

``training`` runs N SGD steps of the moons demo's loss (hinge ``relu(1 - y*score)`` averaged,
plus ``alpha * sum(p*p)``) on a small deterministic moons-like batch. Each step runs the loss
program on the backend (current weights as inputs) and on the oracle (its own weights); the
harness applies ``p -= lr * grad`` in plain floats to each trajectory, and at every step the loss
and every weight must agree within a tolerance that grows with the steps (see ``Trajectory``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from conformance.backends.base import BackendError, Evaluation
from conformance.checks.base import Check, CheckContext, Outcome, run_guarded
from conformance.checks.mlp import (
    Layout,
    MLPBuilder,
    MLPSpec,
    mlp_forward,
    mlp_specs,
    param_inputs,
)
from conformance.ops import OPS, SIGN_RESOLUTION, Variant
from conformance.program import Program
from conformance.tolerance import ABS, REL, Mismatch, Scales, Verdict, scales

__all__ = [
    "ALPHA",
    "TRAINING",
    "TRAINING_STEPS",
    "TrainingCheck",
    "TrainingExample",
    "Trajectory",
    "learning_rate",
    "moons_batch",
    "param_names",
    "training_examples",
    "training_program",
]

ALPHA = 1e-4
"""L2 weight of the demo's loss."""

TRAINING_STEPS = {"quick": 3, "default": 10, "thorough": 30}
"""SGD steps per trajectory, per profile."""

ROUNDING = 2.0**-53 / REL
"""One float64 rounding, in units of REL * scale (the harness's own update rounds twice)."""


def learning_rate(step: int) -> float:
    """The demo's schedule ``1.0 - 0.9 * step / 100``."""
    return 1.0 - 0.9 * step / 100


def moons_batch(
    seed: int, n: int, noise: float = 0.1
) -> tuple[list[tuple[float, float]], list[float]]:
    """``n`` moons-like points (two interleaving half circles plus noise), labels -1/+1."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = random.Random(seed)
    xs: list[tuple[float, float]] = []
    ys: list[float] = []
    for k in range(n):
        t = math.pi * rng.random()
        if k % 2 == 0:
            px, py, label = math.cos(t), math.sin(t), -1.0
        else:
            px, py, label = 1.0 - math.cos(t), 0.5 - math.sin(t), 1.0
        xs.append((px + rng.gauss(0.0, noise), py + rng.gauss(0.0, noise)))
        ys.append(label)
    return xs, ys


@dataclass(frozen=True)
class TrainingExample:
    """Initial weights and the batch (from ``seed``) of one training trajectory."""

    spec: MLPSpec
    seed: int
    size: int

    @property
    def batch(self) -> tuple[list[tuple[float, float]], list[float]]:
        """The moons-like points and labels."""
        return moons_batch(self.seed, self.size)


def training_program(
    spec: MLPSpec, params: Sequence[float], xs: Sequence[Sequence[float]], ys: Sequence[float]
) -> Program:
    """The demo's loss on the batch, with ``params`` as input nodes (0..len-1, parameters() order).

    data_loss = mean(relu(1 + (-y) * score)), reg_loss = alpha * sum(p * p), total = sum of both;
    the data are constants, as in the demo's ``model(row)`` on float rows.
    """
    b = MLPBuilder()
    layout = Layout()
    param_inputs(b, spec, params, layout)
    losses = []
    for row, y in zip(xs, ys, strict=True):
        consts = [b.leaf("const", xi) for xi in row]
        layout.pre, layout.act = [], []
        (score,) = mlp_forward(b, spec, consts, layout)
        margin = b.op("mul", b.leaf("const", -y), score)
        losses.append(b.op("relu", b.op("add", b.leaf("const", 1.0), margin)))
    data_loss = b.op("mul", b.total(losses), b.leaf("const", 1.0 / len(losses)))
    squares = [b.op("mul", p, p) for p in layout.params]
    reg_loss = b.op("mul", b.leaf("const", ALPHA), b.total(squares))
    out = b.op("add", data_loss, reg_loss)
    return Program(tuple(b.nodes), out)


@st.composite
def training_examples(draw: Any) -> TrainingExample:
    """A 2-input MLP with one or two small relu hidden layers and one output, and a batch."""
    # Weights on a 2**-10 grid in [-1, 1], like the demo's uniform(-1, 1): extreme floats
    # (1e-238, 1 - 2**-53) put the hinge or a hidden relu on its kink within rounding, where
    # the trajectories may legitimately part and nothing after that step can be judged.
    weights = st.integers(-1024, 1024).map(lambda k: k / 1024)
    spec = draw(
        mlp_specs(["relu"], nin=2, max_layers=3, max_neurons=4, last_size=1, weights=weights)
    )
    seed = draw(st.integers(0, 2**16))
    size = draw(st.integers(2, 6))
    return TrainingExample(spec, seed, size)


@dataclass
class Trajectory:
    """Both trajectories of one example, up to the step where they part (if they do).

    The tolerance grows with the steps by a running-error bound on the weights. Both runs start
    from the same weights (``E_0 = 0``). At step t the loss and gradients of the backend's run
    may differ from the oracle's by their own per-program tolerance (REL times the scales of
    ``conformance.tolerance``) *plus* what the weights' difference so far moves them by: the
    weights enter the program's error analysis as inputs with scales ``E_t`` (the same
    first-order propagation that bounds rounding errors; through the partials' sensitivities it
    bounds |Hessian| * difference). So, per weight p, with G_t(p) the gradient scale:

        E_{t+1}(p) = E_t(p) + lr_t * G_t(p) + 2**-53/REL * (|lr_t * g_t(p)| + |p_{t+1}|)

    (the last term: the harness's own update rounds twice per trajectory). The loss at step t
    passes within REL * S_t(loss), weights after step t within REL * E_{t+1}(p) + ABS. The bound
    grows about linearly with t while the training is stable and faster where the loss is
    sharply curved, as the true difference does; an engine with a relative gradient error of
    1e-6 leaves it within one step, being 5 orders of magnitude above REL.
    """

    steps: int
    losses: list[float] = field(default_factory=list)  # oracle's loss per step
    loss_tolerances: list[float] = field(default_factory=list)
    weights: list[list[float]] = field(default_factory=list)  # oracle's weights after each step
    weight_tolerances: list[list[float]] = field(default_factory=list)
    got_losses: list[float] = field(default_factory=list)
    got_weights: list[list[float]] = field(default_factory=list)
    failed_step: int | None = None
    stopped: str = ""


@dataclass
class _TrainingVerdict(Verdict):
    """A training verdict: which step and which numbers part."""

    context: str = ""

    def describe(self) -> str:
        """The example and the step, then the mismatches."""
        body = super().describe() if (self.mismatches or self.error) else ""
        return "\n".join(line for line in (self.context, body) if line)


def _at_kink(program: Program, expected: Evaluation, sc: Scales) -> int | None:
    """The first kinked op (relu) whose operand's sign the error bound cannot resolve, if any."""
    for i, node in enumerate(program.nodes):
        if node.op in OPS and OPS[node.op].has_kinks:
            j = node.args[0]
            bound = sc.values.get(j, 0.0)
            # A bound inside ABS is the subnormal floor of exact zeros, not an uncertainty.
            if REL * bound > ABS and abs(expected.values[j]) <= SIGN_RESOLUTION * bound:
                return i
    return None


def _update(params: Sequence[float], grads: Sequence[float], lr: float) -> list[float]:
    return [p - lr * g for p, g in zip(params, grads, strict=True)]


# The demo's loss: neurons (w * x + b), the hinge relu(1 + -y * score), its mean, alpha * p * p.
_DEMO_LOSS_NEEDS: tuple[Variant, ...] = (
    ("mul", "vv"),
    ("mul", "vc"),
    ("mul", "cv"),
    ("add", "vv"),
    ("add", "cv"),
    ("relu", "v"),
)


@dataclass
class TrainingCheck(Check):
    """N SGD steps of the demo's loss: the backend's trajectory must follow the oracle's."""

    def strategy(self, ctx: CheckContext) -> st.SearchStrategy[Any] | str:
        """Initial weights and a batch, when the backend has the demo's ops."""
        return training_examples()

    def run_example(self, ctx: CheckContext, example: Any) -> Outcome:
        """Both trajectories, step by step; the first step where they part is the failure."""
        outcome, _ = self.trajectory(ctx, example, TRAINING_STEPS.get(ctx.profile, 10))
        return outcome

    def trajectory(self, ctx: CheckContext, example: Any, steps: int) -> tuple[Outcome, Trajectory]:
        """Run ``steps`` steps; the outcome and the recorded trajectories (for the reproducer)."""
        ex: TrainingExample = example
        xs, ys = ex.batch
        spec = ex.spec
        n = len(spec.parameters())
        wo = spec.parameters()
        wb = list(wo)
        err = [0.0] * n
        traj = Trajectory(steps)
        first = training_program(spec, wo, xs, ys)
        context = f"{spec.describe()}, batch of {ex.size} moons points (seed {ex.seed}), lr {{}}"
        for t in range(steps):
            lr = learning_rate(t)
            po = training_program(spec, wo, xs, ys)
            try:
                eo = ctx.oracle.run(po)
            except BackendError as exc:
                return Outcome(Verdict("unchecked", error=f"oracle failed: {exc}"), first), traj
            if not eo.all_finite():
                return Outcome(Verdict("unchecked"), first), traj
            pb = training_program(spec, wb, xs, ys)
            where = f"step {t} of {steps}: " + context.format(lr)
            try:
                eb = run_guarded(ctx.backend, pb, ctx.timeout)
            except BackendError as exc:
                traj.failed_step = t
                verdict = _TrainingVerdict("fail", error=str(exc), context=where)
                return Outcome(verdict, first), traj
            sc = scales(po, eo, {i: err[i] for i in range(n)})
            kink = _at_kink(po, eo, sc)
            out = po.output
            loss_tol = REL * sc.values[out] + ABS
            lo, lb = eo.values[out], eb.values.get(out, math.nan)
            traj.losses.append(lo)
            traj.loss_tolerances.append(loss_tol)
            traj.got_losses.append(lb)
            mismatches: list[Mismatch] = []
            if not math.isfinite(lb) or abs(lb - lo) > loss_tol:
                mismatches.append(Mismatch("value", out, lo, lb, loss_tol))
            if kink is not None and not mismatches:
                # A relu within the error bound of its kink: the two runs may take different
                # sides of it, so their weights after this step cannot be judged.
                traj.stopped = f"step {t}: node {kink} is at its kink within the bound"
                status = "pass" if t > 0 else "unchecked"
                return Outcome(Verdict(status), first), traj
            go = [eo.grads[i] for i in range(n)]
            gb = [eb.grads.get(i, math.nan) for i in range(n)]
            new_wo, new_wb = _update(wo, go, lr), _update(wb, gb, lr)
            err = [
                e + lr * sc.grads[i] + ROUNDING * (abs(lr * g) + abs(w))
                for i, (e, g, w) in enumerate(zip(err, go, new_wo, strict=True))
            ]
            tols = [REL * e + ABS for e in err]
            traj.weights.append(new_wo)
            traj.weight_tolerances.append(tols)
            traj.got_weights.append(new_wb)
            for i in range(n):
                if not math.isfinite(new_wb[i]) or abs(new_wb[i] - new_wo[i]) > tols[i]:
                    mismatches.append(Mismatch("grad", i, new_wo[i], new_wb[i], tols[i]))
            if mismatches:
                traj.failed_step = t
                lines = [f"{where}; the trajectories part here"]
                names = param_names(spec)
                for m in mismatches[:12]:
                    what = "loss" if m.kind == "value" else f"weight {names[m.node]} after the step"
                    diff = abs((m.got or math.nan) - m.expected)
                    lines.append(
                        f"  {what}: expected {m.expected!r}, got {m.got!r} "
                        f"(|diff| {diff:.3g} > tolerance {m.tolerance:.3g})"
                    )
                verdict = _TrainingVerdict("fail", context="\n".join(lines))
                return Outcome(verdict, first), traj
            wo, wb = new_wo, new_wb
        return Outcome(Verdict("pass"), first), traj

    def reproducer(self, ctx: CheckContext, example: Any, outcome: Outcome, replay: str) -> str:
        """A script that replays both trajectories up to the step where they part."""
        from conformance.reproducers.training import render_training

        ex: TrainingExample = example
        _, traj = self.trajectory(ctx, ex, TRAINING_STEPS.get(ctx.profile, 10))
        last = traj.steps - 1 if traj.failed_step is None else traj.failed_step
        return render_training(ctx.backend, ex, traj, last + 1, replay, outcome.verdict.describe())


def param_names(spec: MLPSpec) -> list[str]:
    """Each parameter's name in reports: ``p[3] (layer 0 neuron 1 bias)``."""
    names: list[str] = []
    for li, rows in enumerate(spec.weights):
        for ni, row in enumerate(rows):
            names += [f"p[{len(names) + k}] (layer {li} neuron {ni} w{k})" for k in range(len(row))]
            names.append(f"p[{len(names)}] (layer {li} neuron {ni} bias)")
    return names


TRAINING = TrainingCheck(
    "training",
    "SGD steps of the moons demo's loss: loss and weights follow the oracle's trajectory",
    {"quick": 5, "default": 20, "thorough": 100},
    cost=100.0,
    needs=_DEMO_LOSS_NEEDS,
)
