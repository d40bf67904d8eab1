"""Micrograd-style MLPs as programs: the spec, its forward pass node by node, random specs.

Shared by the ``nn`` and ``training`` checks. A neuron is written exactly as micrograd's
``Neuron.__call__`` computes it: ``b + w0*x0 + w1*x1 + ...`` left to right, then the activation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from conformance.program import Node, Program

__all__ = [
    "ACTIVATIONS",
    "WEIGHT_VALUES",
    "Layout",
    "MLPBuilder",
    "MLPSpec",
    "build_mlp_program",
    "grid",
    "mlp_forward",
    "mlp_specs",
    "param_inputs",
]

ACTIVATIONS = ("linear", "relu", "tanh")
"""A layer's activations, as micrograd's Neuron offers them (``linear``: none)."""

WEIGHT_VALUES = (0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0)
"""Exact weights that make kinks (relu(0)) and exact results likely."""


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
            if act not in ACTIVATIONS:
                raise ValueError(
                    f"layer {layer}: activation {act!r} is not one of {', '.join(ACTIVATIONS)}"
                )
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


class MLPBuilder:
    """Appends nodes to a program under construction."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def leaf(self, op: str, value: float) -> int:
        """Append an input or a constant; its index."""
        self.nodes.append(Node(op, value=float(value)))
        return len(self.nodes) - 1

    def op(self, name: str, *args: int) -> int:
        """Append an op node on earlier nodes; its index."""
        self.nodes.append(Node(name, tuple(args)))
        return len(self.nodes) - 1

    def total(self, terms: Sequence[int]) -> int:
        """Append the left-to-right sum of ``terms``; its index."""
        acc = terms[0]
        for t in terms[1:]:
            acc = self.op("add", acc, t)
        return acc


@dataclass
class Layout:
    """Where an MLP's numbers live in its program."""

    params: list[int] = field(default_factory=list)  # parameters() order
    names: dict[int, str] = field(default_factory=dict)  # node -> "layer 0 neuron 1 weight 2"
    pre: list[list[int]] = field(default_factory=list)  # pre-activation node per neuron
    act: list[list[int]] = field(default_factory=list)  # activation node per neuron


def mlp_forward(b: MLPBuilder, spec: MLPSpec, x: Sequence[int], layout: Layout) -> list[int]:
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


def param_inputs(b: MLPBuilder, spec: MLPSpec, params: Sequence[float], layout: Layout) -> None:
    """Append one input node per parameter, in ``parameters()`` order, named in ``layout``."""
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


def build_mlp_program(spec: MLPSpec, x: Sequence[float]) -> tuple[Program, Layout]:
    """The MLP's forward pass on input nodes ``x``, output = the sum of the last layer's outputs."""
    if len(x) != spec.nin:
        raise ValueError(f"expected {spec.nin} inputs, got {len(x)}")
    b = MLPBuilder()
    layout = Layout()
    xs = [b.leaf("input", xi) for xi in x]
    for i, n in enumerate(xs):
        layout.names[n] = f"input x{i}"
    param_inputs(b, spec, spec.parameters(), layout)
    outputs = mlp_forward(b, spec, xs, layout)
    out = b.total(outputs)
    return Program(tuple(b.nodes), out), layout


def grid(bound: float, bits: int) -> st.SearchStrategy[float]:
    """Multiples of 2**-bits in [-bound, bound], shrinking towards 0.

    MLP weights and inputs need no 1e-198s (the random check draws those): next to ordinary
    numbers they only make the mpmath oracle's numerical gradients undecidable (unchecked).
    """
    scale = 2.0**bits
    return st.integers(-int(bound * scale), int(bound * scale)).map(lambda k: k / scale)


def _weights() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from(WEIGHT_VALUES), grid(2.0, 20))


@st.composite
def mlp_specs(
    draw: Any,
    activations: Sequence[str],
    nin: int | None = None,
    max_layers: int = 3,
    max_neurons: int = 6,
    last_size: int | None = None,
    weights: st.SearchStrategy[float] | None = None,
) -> MLPSpec:
    """A random MLP: 1..max_layers layers of 1..max_neurons neurons, the last one linear."""
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
