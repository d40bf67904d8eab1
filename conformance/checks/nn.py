"""The ``nn`` and ``training`` checks: micrograd-style MLPs and SGD trajectories, as programs.

``nn`` draws an MLP (sizes, activations, weights, an input vector), writes its forward pass as a
program exactly as a micrograd ``Neuron`` computes it (``b + w0*x0 + w1*x1 + ...``, then the
activation), sums the outputs and checks every value and every parameter (and input) gradient.
With the torch oracle the neuron-level numbers come from ``torch.nn.Linear`` with the weights
copied in, independently of the program machinery; with mpmath, from the program oracle.

``training`` runs N SGD steps of the moons demo's loss (hinge ``relu(1 - y*score)`` averaged,
plus ``alpha * sum(p*p)``) on a small deterministic moons-like batch. Each step runs the loss
program on the backend (current weights as inputs) and on the oracle (its own weights); the
harness applies ``p -= lr * grad`` in plain floats to each trajectory, and at every step the loss
and every weight must agree within a tolerance that grows with the steps (see ``_Trajectory``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hypothesis import strategies as st

from conformance.backends.base import Backend, BackendError, Evaluation
from conformance.backends.python import PythonValueBackend
from conformance.checks import register
from conformance.checks.base import Check, CheckContext, Outcome, run_guarded
from conformance.ops import OPS, RELU_SIGN_RESOLUTION, Variant
from conformance.program import Node, Program, format_float
from conformance.strategies import LARGE_VALUES, SPECIAL_VALUES
from conformance.tolerance import ABS, REL, Mismatch, Scales, Verdict, compare, scales

__all__ = [
    "ALPHA",
    "TRAINING_STEPS",
    "MLPSpec",
    "NNCheck",
    "NNExample",
    "TrainingCheck",
    "TrainingExample",
    "build_mlp_program",
    "learning_rate",
    "moons_batch",
    "nn_examples",
    "render_training",
    "torch_mlp_reference",
    "training_examples",
    "training_program",
]

ALPHA = 1e-4
"""L2 weight of the demo's loss."""

TRAINING_STEPS = {"quick": 3, "default": 10, "thorough": 30}
"""SGD steps per trajectory, per profile."""

ROUNDING = 2.0**-53 / REL
"""One float64 rounding, in units of REL * scale (the harness's own update rounds twice)."""

WEIGHT_VALUES = (0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0)
"""Exact weights that make kinks (relu(0)) and exact results likely."""

_NN_NEEDS: tuple[Variant, ...] = (("mul", "vv"), ("add", "vv"))
_TRAINING_NEEDS: tuple[Variant, ...] = (
    ("mul", "vv"),
    ("mul", "vc"),
    ("mul", "cv"),
    ("add", "vv"),
    ("add", "cv"),
    ("relu", "v"),
)


def _missing(ctx: CheckContext, needs: Sequence[Variant]) -> list[str]:
    return [f"{n}:{f}" for n, f in needs if not ctx.supports(n, f)]


# --- the MLP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MLPSpec:
    """An MLP: input size, each layer's weights (rows of fan-in), biases and activation."""

    nin: int
    weights: tuple[tuple[tuple[float, ...], ...], ...]
    biases: tuple[tuple[float, ...], ...]
    activations: tuple[str, ...]

    def __post_init__(self) -> None:
        fan_in = self.nin
        if len(self.biases) != len(self.weights) or len(self.activations) != len(self.weights):
            raise ValueError(f"weights, biases and activations of {self} must have one per layer")
        for layer, (rows, bias, act) in enumerate(
            zip(self.weights, self.biases, self.activations, strict=True)
        ):
            if act not in ("linear", "relu", "tanh"):
                raise ValueError(f"layer {layer}: activation {act!r} is not linear, relu or tanh")
            if not rows or len(bias) != len(rows) or any(len(r) != fan_in for r in rows):
                raise ValueError(
                    f"layer {layer}: expected rows of {fan_in} weights and a bias each"
                )
            fan_in = len(rows)

    @property
    def sizes(self) -> list[int]:
        """Neurons per layer."""
        return [len(rows) for rows in self.weights]

    def parameters(self) -> list[float]:
        """All parameters in micrograd's order: per layer, per neuron, its weights then its bias."""
        return [
            p
            for rows, bias in zip(self.weights, self.biases, strict=True)
            for row, b in zip(rows, bias, strict=True)
            for p in (*row, b)
        ]

    def describe(self) -> str:
        """``MLP 2 -> 3 relu -> 1 linear``."""
        layers = " -> ".join(f"{n} {a}" for n, a in zip(self.sizes, self.activations, strict=True))
        return f"MLP {self.nin} -> {layers}"


class _Builder:
    """Appends nodes to a program under construction."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def leaf(self, op: str, value: float) -> int:
        self.nodes.append(Node(op, value=float(value)))
        return len(self.nodes) - 1

    def op(self, name: str, *args: int) -> int:
        self.nodes.append(Node(name, tuple(args)))
        return len(self.nodes) - 1

    def total(self, terms: Sequence[int]) -> int:
        acc = terms[0]
        for t in terms[1:]:
            acc = self.op("add", acc, t)
        return acc


@dataclass
class _Layout:
    """Where an MLP's numbers live in its program."""

    params: list[int] = field(default_factory=list)  # parameters() order
    names: dict[int, str] = field(default_factory=dict)  # node -> "layer 0 neuron 1 weight 2"
    pre: list[list[int]] = field(default_factory=list)  # pre-activation node per neuron
    act: list[list[int]] = field(default_factory=list)  # activation node per neuron


def _mlp_forward(b: _Builder, spec: MLPSpec, x: Sequence[int], layout: _Layout) -> list[int]:
    """The forward pass over parameter input nodes ``layout.params``: one node per op."""
    k = 0
    h = list(x)
    for rows, act in zip(spec.weights, spec.activations, strict=True):
        pre_nodes, act_nodes = [], []
        for row in rows:
            w = layout.params[k : k + len(row)]
            bias = layout.params[k + len(row)]
            k += len(row) + 1
            # micrograd: sum((wi*xi for wi, xi in zip(self.w, x)), self.b)
            acc = bias
            for wi, xi in zip(w, h, strict=True):
                acc = b.op("add", acc, b.op("mul", wi, xi))
            pre_nodes.append(acc)
            act_nodes.append(acc if act == "linear" else b.op(act, acc))
        layout.pre.append(pre_nodes)
        layout.act.append(act_nodes)
        h = act_nodes
    return h


def _param_inputs(b: _Builder, spec: MLPSpec, params: Sequence[float], layout: _Layout) -> None:
    k = 0
    for li, rows in enumerate(spec.weights):
        for ni, row in enumerate(rows):
            for wi in range(len(row)):
                layout.params.append(b.leaf("input", params[k]))
                layout.names[layout.params[-1]] = f"layer {li} neuron {ni} weight {wi}"
                k += 1
            layout.params.append(b.leaf("input", params[k]))
            layout.names[layout.params[-1]] = f"layer {li} neuron {ni} bias"
            k += 1


def build_mlp_program(spec: MLPSpec, x: Sequence[float]) -> tuple[Program, _Layout]:
    """The MLP's forward pass on input nodes ``x``, output = the sum of the last layer's outputs."""
    if len(x) != spec.nin:
        raise ValueError(f"expected {spec.nin} inputs, got {len(x)}")
    b = _Builder()
    layout = _Layout()
    xs = [b.leaf("input", xi) for xi in x]
    for i, n in enumerate(xs):
        layout.names[n] = f"input x{i}"
    _param_inputs(b, spec, spec.parameters(), layout)
    outputs = _mlp_forward(b, spec, xs, layout)
    out = b.total(outputs)
    return Program(tuple(b.nodes), out), layout


# --- the nn check ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NNExample:
    """One drawn MLP and the input vector it is run on."""

    spec: MLPSpec
    x: tuple[float, ...]


def _grid(bound: float, bits: int) -> st.SearchStrategy[float]:
    """Multiples of 2**-bits in [-bound, bound], shrinking towards 0.

    MLP weights and inputs need no 1e-198s (the random check draws those): next to ordinary
    numbers they only make the mpmath oracle's numerical gradients undecidable (unchecked).
    """
    scale = 2.0**bits
    return st.integers(-int(bound * scale), int(bound * scale)).map(lambda k: k / scale)


def _weights() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from(WEIGHT_VALUES), _grid(2.0, 20))


@st.composite
def _mlp_specs(
    draw: Any,
    activations: Sequence[str],
    nin: int | None = None,
    max_layers: int = 3,
    max_neurons: int = 6,
    last_size: int | None = None,
    weights: st.SearchStrategy[float] | None = None,
) -> MLPSpec:
    nin = draw(st.integers(1, 4)) if nin is None else nin
    n_layers = draw(st.integers(1, max_layers))
    sizes = [draw(st.integers(1, max_neurons)) for _ in range(n_layers)]
    if last_size is not None:
        sizes[-1] = last_size
    acts = [draw(st.sampled_from(list(activations))) for _ in range(n_layers - 1)] + ["linear"]
    w = _weights() if weights is None else weights
    fan_in = nin
    all_rows, all_bias = [], []
    for n in sizes:
        rows = tuple(tuple(draw(w) for _ in range(fan_in)) for _ in range(n))
        all_rows.append(rows)
        all_bias.append(tuple(draw(w) for _ in range(n)))
        fan_in = n
    return MLPSpec(nin, tuple(all_rows), tuple(all_bias), tuple(acts))


_INPUTS = st.one_of(st.sampled_from(SPECIAL_VALUES), _grid(8.0, 20), st.sampled_from(LARGE_VALUES))


@st.composite
def nn_examples(draw: Any, activations: Sequence[str]) -> NNExample:
    """An MLP of 1-3 layers of 1-6 neurons on 1-4 inputs, and an input vector."""
    spec = draw(_mlp_specs(activations))
    x = tuple(draw(_INPUTS) for _ in range(spec.nin))
    return NNExample(spec, x)


@dataclass
class _DescribedVerdict(Verdict):
    """A verdict whose description starts with the example and names the mismatched nodes."""

    context: str = ""
    names: dict[int, str] = field(default_factory=dict)

    def describe(self) -> str:
        """The example, then the usual lines, then what each mismatched node is."""
        lines = [self.context, super().describe()]
        named = sorted({m.node for m in self.mismatches if m.node in self.names})
        lines += [f"  v{n} = {self.names[n]}" for n in named[:12]]
        return "\n".join(line for line in lines if line)


def torch_mlp_reference(torch: Any, spec: MLPSpec, x: Sequence[float]) -> dict[str, Any]:
    """Values and gradients of the MLP from ``torch.nn.Linear`` layers (weights copied in)."""
    f64 = torch.float64
    xt = torch.tensor(list(x), dtype=f64, requires_grad=True)
    h = xt
    layers, pres, acts = [], [], []
    for rows, bias, act in zip(spec.weights, spec.biases, spec.activations, strict=True):
        lin = torch.nn.Linear(len(rows[0]), len(rows), dtype=f64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor([list(r) for r in rows], dtype=f64))
            lin.bias.copy_(torch.tensor(list(bias), dtype=f64))
        pre = lin(h)
        h = pre if act == "linear" else (torch.relu(pre) if act == "relu" else torch.tanh(pre))
        layers.append(lin)
        pres.append(pre)
        acts.append(h)
    out = h.sum()
    out.backward()
    return {
        "pre": [p.detach().tolist() for p in pres],
        "act": [a.detach().tolist() for a in acts],
        "out": float(out.item()),
        "weight_grads": [lin.weight.grad.tolist() for lin in layers],
        "bias_grads": [lin.bias.grad.tolist() for lin in layers],
        "x_grad": xt.grad.tolist(),
    }


def _torch_of(oracle: Backend) -> Any:
    from conformance.oracles.torch import TorchOracle

    return oracle.torch if isinstance(oracle, TorchOracle) else None


def _nn_expected(
    ctx: CheckContext, example: NNExample, program: Program, layout: _Layout
) -> Evaluation:
    """The program oracle's evaluation; with the torch oracle, torch.nn's numbers in place."""
    expected = ctx.oracle.run(program)
    torch = _torch_of(ctx.oracle)
    if torch is None:
        return expected
    ref = torch_mlp_reference(torch, example.spec, example.x)
    values = dict(expected.values)
    grads = dict(expected.grads)
    for li, (pre_nodes, act_nodes) in enumerate(zip(layout.pre, layout.act, strict=True)):
        for ni, (p, a) in enumerate(zip(pre_nodes, act_nodes, strict=True)):
            values[p] = ref["pre"][li][ni]
            values[a] = ref["act"][li][ni]
    values[program.output] = ref["out"]
    k = 0
    for li, rows in enumerate(example.spec.weights):
        for ni, row in enumerate(rows):
            for wi in range(len(row)):
                grads[layout.params[k]] = ref["weight_grads"][li][ni][wi]
                k += 1
            grads[layout.params[k]] = ref["bias_grads"][li][ni]
            k += 1
    for i, g in enumerate(ref["x_grad"]):
        grads[program.inputs[i]] = g
    return Evaluation(values, grads)


@dataclass
class NNCheck(Check):
    """Random MLPs: every neuron's value and every parameter gradient against torch.nn."""

    cost: ClassVar[float] = 5.0
    """An example costs about as much as this many random programs (for the time budget)."""

    def strategy(self, ctx: CheckContext) -> st.SearchStrategy[Any] | str:
        """MLPs over the activations the backend supports."""
        missing = _missing(ctx, _NN_NEEDS)
        if missing:
            return f"an MLP needs {', '.join(missing)}, which the backend does not support"
        acts = ["linear"] + [a for a in ("relu", "tanh") if ctx.supports(a, "v")]
        return nn_examples(acts)

    def run_example(self, ctx: CheckContext, example: Any) -> Outcome:
        """Run the MLP program on the backend; compare with torch.nn (or the program oracle)."""
        ex: NNExample = example
        program, layout = build_mlp_program(ex.spec, ex.x)
        try:
            expected = _nn_expected(ctx, ex, program, layout)
        except BackendError as exc:
            return Outcome(Verdict("unchecked", error=f"oracle failed: {exc}"), program)
        if not expected.all_finite():
            return Outcome(Verdict("unchecked"), program, expected)
        try:
            got: Evaluation | None = run_guarded(ctx.backend, program, ctx.timeout)
            error = None
        except BackendError as exc:
            got, error = None, str(exc)
        plain = compare(program, expected, got, error)
        context = f"{ex.spec.describe()}, output = sum of the outputs"
        verdict = _DescribedVerdict(
            plain.status, plain.mismatches, plain.error, context=context, names=layout.names
        )
        return Outcome(verdict, program, expected, got)


# --- the training check ----------------------------------------------------------------------


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
    b = _Builder()
    layout = _Layout()
    _param_inputs(b, spec, params, layout)
    losses = []
    for row, y in zip(xs, ys, strict=True):
        consts = [b.leaf("const", xi) for xi in row]
        layout.pre, layout.act = [], []
        (score,) = _mlp_forward(b, spec, consts, layout)
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
        _mlp_specs(["relu"], nin=2, max_layers=3, max_neurons=4, last_size=1, weights=weights)
    )
    seed = draw(st.integers(0, 2**16))
    size = draw(st.integers(2, 6))
    return TrainingExample(spec, seed, size)


@dataclass
class _Trajectory:
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


def _relu_at_kink(program: Program, expected: Evaluation, sc: Scales) -> int | None:
    """The first relu whose operand's sign the error bound cannot resolve, if any."""
    for i, node in enumerate(program.nodes):
        if node.op == "relu":
            (j,) = node.args
            bound = sc.values.get(j, 0.0)
            # A bound inside ABS is the subnormal floor of exact zeros, not an uncertainty.
            if REL * bound > ABS and abs(expected.values[j]) <= RELU_SIGN_RESOLUTION * bound:
                return i
    return None


def _update(params: Sequence[float], grads: Sequence[float], lr: float) -> list[float]:
    return [p - lr * g for p, g in zip(params, grads, strict=True)]


@dataclass
class TrainingCheck(Check):
    """N SGD steps of the demo's loss: the backend's trajectory must follow the oracle's."""

    cost: ClassVar[float] = 25.0
    """An example costs about as much as this many random programs (for the time budget)."""

    def strategy(self, ctx: CheckContext) -> st.SearchStrategy[Any] | str:
        """Initial weights and a batch, when the backend has the demo's ops."""
        missing = _missing(ctx, _TRAINING_NEEDS)
        if missing:
            return f"the demo's loss needs {', '.join(missing)}, which the backend does not support"
        return training_examples()

    def run_example(self, ctx: CheckContext, example: Any) -> Outcome:
        """Both trajectories, step by step; the first step where they part is the failure."""
        outcome, _ = self.trajectory(ctx, example, TRAINING_STEPS.get(ctx.profile, 10))
        return outcome

    def trajectory(
        self, ctx: CheckContext, example: Any, steps: int
    ) -> tuple[Outcome, _Trajectory]:
        """Run ``steps`` steps; the outcome and the recorded trajectories (for the reproducer)."""
        ex: TrainingExample = example
        xs, ys = ex.batch
        spec = ex.spec
        n = len(spec.parameters())
        wo = spec.parameters()
        wb = list(wo)
        err = [0.0] * n
        traj = _Trajectory(steps)
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
            kink = _relu_at_kink(po, eo, sc)
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
                traj.stopped = f"step {t}: relu node {kink} is at its kink within the bound"
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
                names = _param_names(spec)
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
        ex: TrainingExample = example
        _, traj = self.trajectory(ctx, ex, TRAINING_STEPS.get(ctx.profile, 10))
        last = traj.steps - 1 if traj.failed_step is None else traj.failed_step
        return render_training(ctx.backend, ex, traj, last + 1, replay, outcome.verdict.describe())


def _param_names(spec: MLPSpec) -> list[str]:
    names: list[str] = []
    for li, rows in enumerate(spec.weights):
        for ni, row in enumerate(rows):
            names += [f"p[{len(names) + k}] (layer {li} neuron {ni} w{k})" for k in range(len(row))]
            names.append(f"p[{len(names)}] (layer {li} neuron {ni} bias)")
    return names


# --- the training reproducer -----------------------------------------------------------------


def _floats(xs: Sequence[float]) -> str:
    return "[" + ", ".join(format_float(x) for x in xs) + "]"


def _loss_function_lines(program: Program, n_params: int) -> list[str]:
    """``def loss_and_grads(P)``: the loss program as straight-line code on TARGET Values."""
    lines = ["def loss_and_grads(P):"]
    for i, node in enumerate(program.nodes):
        if node.op == "input":
            lines.append(f"    v{i} = TARGET(P[{i}])")
        elif node.op == "const":
            continue
        else:
            names = [program.operand_source(j) for j in node.args]
            text = OPS[node.op].source.format(
                out=f"v{i}", a=names[0], b=names[1] if len(names) > 1 else ""
            )
            lines += [f"    {line}" for line in text.split("\n")]
    params = ", ".join(f"v{i}" for i in range(n_params))
    lines += [
        f"    out = v{program.output}",
        "    out.backward()",
        f"    return float(out.data), [float(p.grad) for p in ({params},)]",
    ]
    return lines


def _harness_lines(backend: Backend, program: Program, n_params: int) -> list[str]:
    """``def loss_and_grads(P)`` through the harness, for backends that are not Value classes."""
    from conformance.backends.subprocess import SubprocessBackend

    if isinstance(backend, SubprocessBackend):
        make = [
            "from conformance.backends.subprocess import SubprocessBackend",
            f"backend = SubprocessBackend({backend.command!r})",
        ]
    else:
        spec = getattr(backend, "target", None) or "<TARGET>"
        make = [
            "from conformance.backends import load_backend",
            f"backend = load_backend({spec!r})",
        ]
    return [
        *make,
        "from conformance.program import Node, Program",
        f"PROGRAM = Program.from_json({program.to_json()!r})",
        "",
        "",
        "def loss_and_grads(P):",
        "    nodes = list(PROGRAM.nodes)",
        f"    for i in range({n_params}):",
        "        nodes[i] = Node('input', value=P[i])",
        "    got = backend.run(Program(tuple(nodes), PROGRAM.output))",
        f"    return got.values[PROGRAM.output], [got.grads[i] for i in range({n_params})]",
    ]


def render_training(
    backend: Backend,
    example: TrainingExample,
    traj: _Trajectory,
    steps: int,
    replay: str,
    summary: str,
) -> str:
    """A standalone script: run ``steps`` SGD steps on the target, compare with the oracle's run."""
    from conformance.reproducer import _import_lines

    xs, ys = example.batch
    spec = example.spec
    params = spec.parameters()
    program = training_program(spec, params, xs, ys)
    target = getattr(backend, "target", None)
    if isinstance(backend, PythonValueBackend):
        target = target or backend.name  # a class passed directly: its module:qualname
    if isinstance(backend, PythonValueBackend) and target:
        build = [*_import_lines(target), "", "", *_loss_function_lines(program, len(params))]
    else:
        build = _harness_lines(backend, program, len(params))
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


register(
    NNCheck(
        "nn",
        "micrograd-style MLPs (relu/tanh/linear): every value and parameter gradient vs torch.nn",
        {"quick": 40, "default": 200, "thorough": 3000},
    )
)
register(
    TrainingCheck(
        "training",
        "SGD steps of the moons demo's loss: loss and weights follow the oracle's trajectory",
        {"quick": 5, "default": 20, "thorough": 100},
    )
)
