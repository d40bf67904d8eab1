"""Neural-network building blocks on top of :class:`~micrograd.engine.Value`.

A drop-in for micrograd 0.1.0's public API (``Module``, ``Neuron``, ``Layer``, ``MLP``): the same
constructor signatures, the same attribute names, the same ``repr`` and, after ``random.seed(s)``,
the same initial weights drawn in the same order. On top of that: seedable initialisation, a choice
of activation, layers of one neuron inside a network, input-length checking, and a fused neuron
forward pass (one ``linear`` node per neuron, activation included, instead of ``2 * nin + 1``
binary nodes; a layer evaluates its neurons together with ``Value.linear_layer``).

The module also holds the training utilities the demo needs: :class:`SGD`, :func:`svm_loss`,
:func:`mse_loss` and :func:`accuracy`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Literal

from micrograd.engine import Value

__all__ = [
    "MLP",
    "SGD",
    "Activation",
    "Layer",
    "Module",
    "Neuron",
    "accuracy",
    "mse_loss",
    "svm_loss",
]

Activation = Literal["relu", "tanh", "linear"]
"""The activations a :class:`Neuron` can apply to its affine output."""

# A scalar a network accepts as input or target: plain numbers get no gradient.
Scalar = Value | float | int

_ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "linear")
_REPR_PREFIX = {"relu": "ReLU", "tanh": "Tanh", "linear": "Linear"}


def _check_activation(activation: object) -> Activation:
    """Return ``activation`` if it names a supported activation, else raise ``ValueError``."""
    if activation == "relu":
        return "relu"
    if activation == "tanh":
        return "tanh"
    if activation == "linear":
        return "linear"
    raise ValueError(
        f"activation must be one of {', '.join(map(repr, _ACTIVATIONS))}, got {activation!r}"
    )


def _resolve_rng(rng: random.Random | None, seed: int | None) -> random.Random | None:
    """Pick the random source: the given one, a fresh seeded one, or None (global ``random``)."""
    if rng is not None and seed is not None:
        raise ValueError("pass either rng= or seed=, not both")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {seed!r} of type {type(seed).__name__}")
        return random.Random(seed)
    if rng is not None and not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, got {rng!r} of type {type(rng).__name__}")
    return rng


def _as_inputs(x: Scalar | Sequence[Scalar]) -> Sequence[Scalar]:
    """Accept a single scalar as a one-element input vector (the output of a one-neuron layer)."""
    if isinstance(x, (Value, int, float)):
        return [x]
    return x


class Module:
    """Base class: anything that owns trainable parameters."""

    def zero_grad(self) -> None:
        """Reset the gradient of every parameter to 0."""
        for p in self.parameters():
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        """Return the trainable parameters (none for the base class)."""
        return []


class Neuron(Module):
    """One unit: ``activation(b + sum_i w[i] * x[i])``.

    ``nonlin`` is micrograd 0.1.0's switch (True: relu, False: linear); ``activation`` overrides it.
    Weights are drawn from ``uniform(-1, 1)`` of ``rng`` (or of the global ``random`` module when
    neither ``rng`` nor ``seed`` is given, exactly as 0.1.0 does); the bias starts at 0.
    """

    def __init__(
        self,
        nin: int,
        nonlin: bool = True,
        *,
        activation: Activation | None = None,
        rng: random.Random | None = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(nin, bool) or not isinstance(nin, int) or nin < 1:
            raise ValueError(f"a Neuron needs a positive integer number of inputs, got nin={nin!r}")
        source = _resolve_rng(rng, seed)
        # Look random.uniform up at call time so random.seed() and monkeypatching both apply.
        uniform = source.uniform if source is not None else random.uniform
        self.w: list[Value] = [Value(uniform(-1, 1)) for _ in range(nin)]
        self.b: Value = Value(0)
        if activation is None:
            activation = "relu" if nonlin else "linear"
        self.activation: Activation = _check_activation(activation)

    @property
    def nonlin(self) -> bool:
        """Whether the neuron applies a nonlinearity (micrograd 0.1.0's attribute)."""
        return self.activation != "linear"

    @nonlin.setter
    def nonlin(self, value: bool) -> None:
        self.activation = "relu" if value else "linear"

    @property
    def nin(self) -> int:
        """The number of inputs the neuron expects."""
        return len(self.w)

    def __call__(self, x: Scalar | Sequence[Scalar]) -> Value:
        """Return the neuron's output for the input vector ``x`` (numbers or Values)."""
        xs = _as_inputs(x)
        if len(xs) != len(self.w):
            raise ValueError(f"{self!r} expects {len(self.w)} inputs, got {len(xs)}")
        return Value.linear(self.w, xs, self.b, self.activation)

    def parameters(self) -> list[Value]:
        """Return the weights followed by the bias (0.1.0's order)."""
        return [*self.w, self.b]

    def __repr__(self) -> str:
        return f"{_REPR_PREFIX[self.activation]}Neuron({len(self.w)})"


class Layer(Module):
    """A row of ``nout`` neurons that all read the same ``nin`` inputs.

    Calling a layer returns a bare Value when it has one neuron (as in 0.1.0), else a list.
    Keyword arguments are passed to every :class:`Neuron`.
    """

    def __init__(
        self,
        nin: int,
        nout: int,
        *,
        nonlin: bool = True,
        activation: Activation | None = None,
        rng: random.Random | None = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(nout, bool) or not isinstance(nout, int) or nout < 1:
            raise ValueError(f"a Layer needs a positive integer number of neurons, got {nout!r}")
        source = _resolve_rng(rng, seed)
        self.neurons: list[Neuron] = [
            Neuron(nin, nonlin, activation=activation, rng=source) for _ in range(nout)
        ]

    def __call__(self, x: Scalar | Sequence[Scalar]) -> Value | list[Value]:
        """Return the layer's outputs: one Value for a one-neuron layer, else a list of Values."""
        out = self._forward(_as_inputs(x))
        return out[0] if len(out) == 1 else out

    def _forward(self, xs: Sequence[Scalar]) -> list[Value]:
        """The outputs as a list, whatever the number of neurons (what ``MLP`` passes on)."""
        neurons = self.neurons
        nin = len(neurons[0].w)
        if len(xs) != nin:
            raise ValueError(
                f"this Layer of {len(neurons)} neurons expects {nin} inputs, got {len(xs)}"
            )
        activations = [n.activation for n in neurons]  # (a list and count() beat all(...))
        activation = activations[0]
        if activations.count(activation) == len(activations):
            return Value.linear_layer(
                [n.w for n in neurons], [n.b for n in neurons], xs, activation
            )
        return [n(xs) for n in neurons]  # someone changed one neuron's activation: one by one

    def parameters(self) -> list[Value]:
        """Return every neuron's parameters, neuron by neuron."""
        return [p for n in self.neurons for p in n.parameters()]

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron: ``MLP(nin, [h1, h2, ..., nout])``.

    Hidden layers use ``activation`` (relu by default, as in 0.1.0); the last layer uses
    ``output_activation`` (linear by default). With one output neuron a call returns a Value,
    otherwise a list of Values. ``seed`` or ``rng`` make the initialisation reproducible without
    touching the global ``random`` state; without them the weights are those 0.1.0 draws.
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        *,
        activation: Activation = "relu",
        output_activation: Activation = "linear",
        rng: random.Random | None = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(nin, bool) or not isinstance(nin, int) or nin < 1:
            raise ValueError(f"an MLP needs a positive integer number of inputs, got nin={nin!r}")
        sizes = list(nouts)
        if not sizes:
            raise ValueError("an MLP needs at least one layer, got nouts=[]")
        hidden = _check_activation(activation)
        last = _check_activation(output_activation)
        source = _resolve_rng(rng, seed)
        dims = [nin, *sizes]
        self.layers: list[Layer] = [
            Layer(
                dims[i],
                dims[i + 1],
                activation=last if i == len(sizes) - 1 else hidden,
                rng=source,
            )
            for i in range(len(sizes))
        ]

    def __call__(self, x: Scalar | Sequence[Scalar]) -> Value | list[Value]:
        """Run the network forward on ``x`` (a sequence of numbers or Values)."""
        xs = _as_inputs(x)
        nin = len(self.layers[0].neurons[0].w)
        if len(xs) != nin:
            raise ValueError(f"this MLP expects {nin} inputs, got {len(xs)}")
        out: Sequence[Scalar] = xs
        for layer in self.layers:
            # Lists from layer to layer (calling `_forward` also skips `__call__`'s unwrapping and
            # re-wrapping of one-neuron layers), unless a Layer subclass has its own __call__.
            out = layer._forward(out) if type(layer) is Layer else _as_inputs(layer(out))
        return out[0] if len(out) == 1 else out  # type: ignore[return-value]

    def parameters(self) -> list[Value]:
        """Return every layer's parameters, layer by layer (0.1.0's order)."""
        return [p for layer in self.layers for p in layer.parameters()]

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"


class SGD:
    """Plain stochastic gradient descent: ``p.data -= lr * p.grad`` for each parameter.

    ``lr`` may be reassigned between steps (the demo decays it linearly).
    """

    def __init__(self, params: Iterable[Value], lr: float = 0.01) -> None:
        self.params: list[Value] = list(params)
        for p in self.params:
            if not isinstance(p, Value):
                raise TypeError(f"SGD optimises Values, got {p!r} of type {type(p).__name__}")
        self.lr = lr

    @property
    def lr(self) -> float:
        """The learning rate used by the next :meth:`step`."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"lr must be a number, got {value!r} of type {type(value).__name__}")
        self._lr = float(value)

    def step(self) -> None:
        """Move every parameter against its gradient."""
        lr = self._lr
        for p in self.params:
            p.data -= lr * p.grad

    def zero_grad(self) -> None:
        """Reset the gradient of every optimised parameter to 0."""
        for p in self.params:
            p.grad = 0.0


def _as_value_list(values: Value | Sequence[Value], what: str) -> list[Value]:
    """Turn one Value or a sequence of Values into a list, checking each item."""
    items = [values] if isinstance(values, Value) else list(values)
    for v in items:
        if not isinstance(v, Value):
            raise TypeError(f"{what} must be Values, got {v!r} of type {type(v).__name__}")
    return items


def _check_pair(scores: list[Value], targets: Sequence[Scalar]) -> None:
    """Raise ``ValueError`` unless there is one target per score and at least one pair."""
    if len(scores) != len(targets):
        raise ValueError(f"got {len(scores)} predictions but {len(targets)} targets")
    if not scores:
        raise ValueError("a loss needs at least one prediction, got none")


def svm_loss(
    scores: Value | Sequence[Value],
    targets: Sequence[Scalar],
    *,
    params: Iterable[Value] = (),
    alpha: float = 0.0,
) -> Value:
    """Return the demo's max-margin loss: ``mean(relu(1 - y*score)) + alpha * sum(p*p)``.

    ``targets`` are -1/+1 labels. The arithmetic mirrors micrograd's demo notebook term by term
    (``sum(losses) * (1.0 / n)``, L2 over ``params``) so results match it to the last bit.
    """
    s = _as_value_list(scores, "scores")
    _check_pair(s, targets)
    margins = [(1 + -yi * si).relu() for yi, si in zip(targets, s, strict=True)]
    # Left-to-right binary sums, not the fused Value.sum (an exactly rounded fsum): this keeps the
    # notebook's rounding, so a training run matches micrograd 0.1.0's bit for bit.
    data_loss: Value = sum(margins, Value(0)) * (1.0 / len(margins))
    weights = list(params)
    if not weights:
        return data_loss
    # The notebook's sum(p * p) as one fused neuron whose weights and inputs are both the
    # parameters: the same products added in the same order from 0, and the same two
    # `p.grad += g * p` per parameter on the way back, with one node instead of two per parameter.
    reg_loss: Value = alpha * Value.linear(weights, weights)
    return data_loss + reg_loss


def mse_loss(predictions: Value | Sequence[Value], targets: Sequence[Scalar]) -> Value:
    """Return the mean squared error ``mean((prediction - target) ** 2)``."""
    p = _as_value_list(predictions, "predictions")
    _check_pair(p, targets)
    return Value.sum([(pi - ti) ** 2 for pi, ti in zip(p, targets, strict=True)]) * (1.0 / len(p))


def accuracy(scores: Value | Sequence[Value], targets: Sequence[Scalar]) -> float:
    """Return the fraction of scores whose sign matches the -1/+1 target (score 0 counts as -1)."""
    s = _as_value_list(scores, "scores")
    _check_pair(s, targets)
    hits = 0
    for yi, si in zip(targets, s, strict=True):
        y = yi.data if isinstance(yi, Value) else yi
        if (y > 0) == (si.data > 0):
            hits += 1
    return hits / len(s)
