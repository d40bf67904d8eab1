"""micrograd.nn: 0.1.0 compatibility, the extensions, torch.nn agreement, SGD and the losses."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd.engine import Value
from micrograd.nn import MLP, SGD, Layer, Module, Neuron, accuracy, mse_loss, svm_loss


def reference_forward(model: MLP, x: list[float]) -> Value:
    """micrograd 0.1.0's forward arithmetic (binary nodes, ``sum(..., b)``) on the same weights."""
    values: list[Value] | list[float] = x
    for layer in model.layers:
        outs = []
        for n in layer.neurons:
            act = sum((wi * xi for wi, xi in zip(n.w, values, strict=True)), n.b)
            outs.append(act.relu() if n.nonlin else act)
        values = outs
    assert len(values) == 1
    return values[0]


def test_after_random_seed_the_weights_are_those_micrograd_0_1_0_draws() -> None:
    random.seed(1337)
    model = MLP(2, [16, 16, 1])
    random.seed(1337)
    draws = []
    for nin, nout in [(2, 16), (16, 16), (16, 1)]:
        for _ in range(nout):
            draws += [random.uniform(-1, 1) for _ in range(nin)] + [0.0]
    assert [p.data for p in model.parameters()] == draws
    assert len(draws) == 337


def test_a_forward_and_backward_pass_equal_0_1_0_arithmetic_bit_for_bit() -> None:
    model = MLP(3, [8, 8, 1], seed=7)
    x = [0.3, -1.1, 2.0]
    fused = model(x)
    ref = reference_forward(model, x)
    assert isinstance(fused, Value)
    assert fused.data == ref.data
    fused.backward()
    fused_grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    ref.backward()
    assert fused_grads == [p.grad for p in model.parameters()]


def test_repr_matches_0_1_0() -> None:
    model = MLP(2, [2, 1])
    assert repr(model) == (
        "MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2)], Layer of [LinearNeuron(2)]]"
    )
    assert repr(Neuron(3, nonlin=False)) == "LinearNeuron(3)"
    assert repr(Neuron(3, activation="tanh")) == "TanhNeuron(3)"


def test_0_1_0_attributes_and_return_shapes_are_kept() -> None:
    model = MLP(3, [4, 2])
    assert isinstance(model, Module)
    assert len(model.layers) == 2 and len(model.layers[0].neurons) == 4
    n = model.layers[1].neurons[0]
    assert len(n.w) == 4 and isinstance(n.b, Value) and n.b.data == 0.0 and not n.nonlin
    assert model.layers[0].neurons[0].nonlin
    out = model([1.0, 2.0, 3.0])
    assert isinstance(out, list) and len(out) == 2
    assert isinstance(MLP(3, [4, 1])([1, 2, 3]), Value)
    assert isinstance(Layer(2, 1)([1.0, 2.0]), Value)
    assert isinstance(Layer(2, 3, nonlin=False)([1.0, 2.0]), list)


def test_inputs_may_be_values_and_then_receive_gradients() -> None:
    model = MLP(2, [3, 1], seed=1)
    xs = [Value(0.5), Value(-0.25)]
    out = model(xs)
    assert isinstance(out, Value)
    assert out.data == model([0.5, -0.25]).data  # type: ignore[union-attr]
    out.backward()
    assert any(x.grad != 0.0 for x in xs) or all(
        Value.linear(n.w, [0.5, -0.25], n.b).data <= 0 for n in model.layers[0].neurons
    )


def test_a_one_neuron_hidden_layer_feeds_the_next_layer() -> None:
    model = MLP(2, [16, 1, 1], seed=3)
    out = model([0.5, -1.0])
    assert isinstance(out, Value)
    out.backward()
    assert len(model.parameters()) == 16 * 3 + 17 + 2
    assert repr(model.layers[1]) == "Layer of [ReLUNeuron(16)]"


@pytest.mark.parametrize("xs", [[1.0], [1.0, 2.0, 3.0], []])
def test_a_wrong_input_length_raises_value_error_naming_both_lengths(xs) -> None:
    model = MLP(2, [4, 1])
    with pytest.raises(ValueError, match=rf"expects 2 inputs, got {len(xs)}"):
        model(xs)
    with pytest.raises(ValueError, match=rf"expects 2 inputs, got {len(xs)}"):
        model.layers[0](xs)
    with pytest.raises(ValueError, match=rf"expects 2 inputs, got {len(xs)}"):
        model.layers[0].neurons[0](xs)


def test_seed_and_rng_make_initialisation_reproducible_without_touching_global_random() -> None:
    random.seed(99)
    state = random.getstate()
    a = MLP(2, [5, 1], seed=42)
    assert random.getstate() == state
    b = MLP(2, [5, 1], rng=random.Random(42))
    c = MLP(2, [5, 1], seed=43)
    random.seed(42)
    d = MLP(2, [5, 1])
    pa = [p.data for p in a.parameters()]
    assert pa == [p.data for p in b.parameters()] == [p.data for p in d.parameters()]
    assert pa != [p.data for p in c.parameters()]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"seed": 1, "rng": random.Random(1)}, ValueError),
        ({"seed": "1"}, TypeError),
        ({"rng": 5}, TypeError),
        ({"activation": "gelu"}, ValueError),
        ({"output_activation": "softmax"}, ValueError),
    ],
)
def test_bad_constructor_arguments_are_rejected(kwargs, error) -> None:
    with pytest.raises(error):
        MLP(2, [3, 1], **kwargs)


@pytest.mark.parametrize("nin", [0, -1, 1.5, True])
def test_a_neuron_needs_a_positive_integer_fan_in(nin) -> None:
    with pytest.raises(ValueError, match="nin"):
        Neuron(nin)


def test_an_mlp_needs_at_least_one_layer_of_positive_width() -> None:
    with pytest.raises(ValueError):
        MLP(2, [])
    with pytest.raises(ValueError):
        MLP(2, [3, 0])


@pytest.mark.parametrize("activation", ["relu", "tanh", "linear"])
def test_the_activation_choice_applies_to_every_hidden_neuron(activation) -> None:
    model = MLP(2, [3, 1], activation=activation, seed=5)
    x = [0.4, -0.9]
    for n in model.layers[0].neurons:
        pre = n.b.data + sum(w.data * xi for w, xi in zip(n.w, x, strict=True))
        expected = {"relu": max(pre, 0.0), "tanh": math.tanh(pre), "linear": pre}[activation]
        assert n(x).data == pytest.approx(expected, rel=1e-15, abs=1e-300)
    assert model.layers[1].neurons[0].activation == "linear"


def test_zero_grad_resets_every_parameter() -> None:
    model = MLP(2, [4, 1], seed=0)
    out = model([1.0, 1.0])
    assert isinstance(out, Value)
    (out * out + 1.0).backward()
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


layer_sizes = st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=3)
unit = st.floats(min_value=-2.0, max_value=2.0)


@given(
    nin=st.integers(min_value=1, max_value=4),
    sizes=layer_sizes,
    activation=st.sampled_from(["relu", "tanh", "linear"]),
    seed=st.integers(min_value=0, max_value=2**32),
    data=st.data(),
)
def test_forward_and_all_parameter_gradients_match_torch_nn(
    nin, sizes, activation, seed, data, torch
) -> None:
    x = data.draw(st.lists(unit, min_size=nin, max_size=nin))
    model = MLP(nin, sizes, activation=activation, output_activation=activation, seed=seed)
    nonlinearity = {"relu": torch.relu, "tanh": torch.tanh, "linear": lambda t: t}[activation]
    f64 = torch.float64
    linears = []
    for layer in model.layers:
        lin = torch.nn.Linear(len(layer.neurons[0].w), len(layer.neurons), dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(
                torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=f64)
            )
            lin.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=f64))
        linears.append(lin)
    t = torch.tensor(x, dtype=torch.float64)
    for lin in linears:
        t = nonlinearity(lin(t))
    coeffs = [1.0 + 0.5 * i for i in range(sizes[-1])]
    (t * torch.tensor(coeffs, dtype=torch.float64)).sum().backward()

    out = model(x)
    outs = [out] if isinstance(out, Value) else out
    Value.sum([o * c for o, c in zip(outs, coeffs, strict=True)]).backward()

    # torch's matmul sums in another order: compare at a tolerance scaled to the terms' size.
    tol = dict(rel=1e-12, abs=1e-12)
    assert [o.data for o in outs] == pytest.approx(t.tolist(), **tol)
    for layer, lin in zip(model.layers, linears, strict=True):
        w_grads = [[w.grad for w in n.w] for n in layer.neurons]
        assert w_grads == [pytest.approx(row, **tol) for row in lin.weight.grad.tolist()]
        assert [n.b.grad for n in layer.neurons] == pytest.approx(lin.bias.grad.tolist(), **tol)


def test_sgd_steps_against_the_gradient_and_zeroes_it() -> None:
    p, q = Value(1.0), Value(-2.0)
    opt = SGD([p, q], lr=0.5)
    (p * 3.0 + q * q).backward()
    opt.step()
    assert (p.data, q.data) == (1.0 - 0.5 * 3.0, -2.0 - 0.5 * -4.0)
    opt.zero_grad()
    assert p.grad == q.grad == 0.0
    opt.lr = 0.1
    assert opt.lr == 0.1
    with pytest.raises(TypeError):
        opt.lr = "fast"  # type: ignore[assignment]
    with pytest.raises(TypeError):
        SGD([p, 1.0])  # type: ignore[list-item]


def test_svm_loss_is_the_notebooks_formula_term_by_term() -> None:
    model = MLP(2, [4, 1], seed=11)
    X = [[0.5, 1.0], [-1.0, 0.2], [2.0, -0.5]]
    y = [1, -1, 1]
    scores = [model(x) for x in X]
    loss = svm_loss(scores, y, params=model.parameters(), alpha=1e-4)
    losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores, strict=True)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in model.parameters())
    assert loss.data == (data_loss + reg_loss).data
    assert svm_loss(scores, y).data == data_loss.data


def test_accuracy_counts_sign_agreement() -> None:
    scores = [Value(0.3), Value(-2.0), Value(0.0), Value(5.0)]
    assert accuracy(scores, [1, -1, 1, -1]) == 0.5


def test_mse_loss_matches_torch(torch) -> None:
    preds = [Value(0.5), Value(-1.5), Value(2.0)]
    targets = [1.0, -1.0, 0.0]
    loss = mse_loss(preds, targets)
    loss.backward()
    tp = torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64, requires_grad=True)
    expected = torch.nn.functional.mse_loss(tp, torch.tensor(targets, dtype=torch.float64))
    expected.backward()
    assert loss.data == pytest.approx(expected.item(), rel=1e-15)
    assert [p.grad for p in preds] == pytest.approx(tp.grad.tolist(), rel=1e-15)


@pytest.mark.parametrize("loss", [svm_loss, mse_loss, accuracy])
def test_losses_reject_mismatched_or_empty_batches(loss) -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        loss([Value(1.0), Value(2.0)], [1])
    with pytest.raises(ValueError, match="at least one"):
        loss([], [])
    with pytest.raises(TypeError, match="float"):
        loss([1.0], [1])


def test_switching_one_neurons_nonlin_off_as_in_0_1_0_changes_only_that_neuron() -> None:
    layer = Layer(2, 3, seed=4)
    layer.neurons[1].nonlin = False
    x = [-0.7, 0.9]
    out = layer(x)
    assert isinstance(out, list)
    assert [o.data for o in out] == [n(x).data for n in layer.neurons]
    assert repr(layer) == "Layer of [ReLUNeuron(2), LinearNeuron(2), ReLUNeuron(2)]"
    assert out[1]._op == "linear"


def test_an_mlp_calls_a_layer_subclass_through_its_own_call() -> None:
    calls = []

    class Spy(Layer):
        def __call__(self, x):  # type: ignore[no-untyped-def]
            calls.append(len(x))
            return super().__call__(x)

    model = MLP(2, [3, 1], seed=1)
    plain = model([0.5, -0.25])
    spy = Spy(3, 1, activation="linear")
    spy.neurons = model.layers[1].neurons
    model.layers[1] = spy
    spied = model([0.5, -0.25])
    assert calls == [3]
    assert isinstance(spied, Value) and isinstance(plain, Value) and spied.data == plain.data
