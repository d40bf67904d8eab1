"""Graph semantics: repeated backward, deep graphs, bad inputs, augmented assignment, fusion."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from micrograd.engine import Value


def test_repeated_backward_accumulates_into_leaves_like_torch_retain_graph() -> None:
    a = Value(1.0)
    d = (3 * a) ** 2
    d.backward()
    assert a.grad == 18.0
    d.backward()
    assert a.grad == 36.0  # micrograd 0.1.0 gives 54: it also accumulates into interior nodes


def test_repeated_backward_through_a_shared_interior_node_matches_torch(torch) -> None:
    a = Value(0.7)
    b = a * a
    c = b.tanh() + b * 3 + b.exp()
    ta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    tb = ta * ta
    tc = tb.tanh() + tb * 3 + tb.exp()
    for _ in range(3):
        c.backward()
        tc.backward(retain_graph=True)
        assert math.isclose(a.grad, ta.grad.item(), rel_tol=1e-15)


def test_backward_on_a_leaf_adds_one_each_time() -> None:
    a = Value(5.0)
    a.backward()
    a.backward()
    assert a.grad == 2.0


def test_a_million_node_chain_goes_backward_without_recursion() -> None:
    x = Value(0.5)
    y = x
    for _ in range(1_000_000):
        y = -y
    y.backward()
    assert y.data == 0.5
    assert x.grad == 1.0
    del y  # freeing the chain must not overflow the C stack either


def test_a_wide_fused_sum_and_a_wide_neuron_have_exact_gradients() -> None:
    terms = [Value(float(i)) for i in range(10_000)]
    s = Value.sum([*terms, 2.5])
    s.backward()
    assert s.data == sum(range(10_000)) + 2.5
    assert all(t.grad == 1.0 for t in terms)
    w = [Value(float(i % 7)) for i in range(1000)]
    x = [Value(0.5) for _ in range(1000)]
    b = Value(1.0)
    n = Value.linear(w, x, b)
    n.backward()
    assert n.data == 1.0 + 0.5 * sum(i % 7 for i in range(1000))
    assert b.grad == 1.0
    assert all(wi.grad == 0.5 for wi in w)
    assert all(xi.grad == wi.data for xi, wi in zip(x, w, strict=True))


def test_linear_with_a_weight_reused_as_an_input_accumulates_both_roles() -> None:
    w = Value(3.0)
    n = Value.linear([w, Value(2.0)], [w, 4.0], 1.0)  # 1 + w*w + 2*4
    n.backward()
    assert n.data == 18.0
    assert w.grad == 6.0


def test_fused_nodes_match_torch(torch, torch_run, close) -> None:
    xs = [0.3, -1.2, 2.5, 0.0, 7.0, -3.5, 1e-3]

    def neuron(b, w0, w1, w2, x0, x1, x2):
        if isinstance(b, Value):
            return Value.linear([w0, w1, w2], [x0, x1, x2], b).tanh()
        return (b + (torch.stack([w0, w1, w2]) * torch.stack([x0, x1, x2])).sum()).tanh()

    def total(*vs):
        if isinstance(vs[0], Value):
            return Value.sum([*vs, 1.5]) * vs[0]
        return (torch.stack(list(vs)).sum() + 1.5) * vs[0]

    for f in (neuron, total):
        leaves = [Value(x) for x in xs]
        out = f(*leaves)
        out.backward()
        expected, grads = torch_run(f, xs)
        assert close(out.data, expected, rel=1e-14)
        assert all(
            close(v.grad, g, rel=1e-14, abs_=1e-15) for v, g in zip(leaves, grads, strict=True)
        )


@pytest.mark.parametrize(
    "bad",
    [True, False, "1.0", None, [1.0], (1.0,), 1 + 2j, Value(1.0)],
    ids=["True", "False", "str", "None", "list", "tuple", "complex", "Value"],
)
def test_value_rejects_anything_but_an_int_or_a_float(bad) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__):
        Value(bad)


def test_value_of_a_value_names_the_problem() -> None:
    with pytest.raises(TypeError, match="Value"):
        Value(Value(1))


@pytest.mark.parametrize("bad", [True, "2", None, [2.0], 2j])
def test_ops_with_a_non_number_operand_raise_type_error(bad) -> None:
    v = Value(2.0)
    for op in (
        lambda: v + bad,
        lambda: bad + v,
        lambda: v - bad,
        lambda: bad - v,
        lambda: v * bad,
        lambda: bad * v,
        lambda: v / bad,
        lambda: bad / v,
        lambda: v**bad,
        lambda: bad**v,
    ):
        with pytest.raises(TypeError):
            op()


def test_fused_nodes_reject_bad_terms_and_mismatched_lengths() -> None:
    with pytest.raises(TypeError, match="str"):
        Value.sum([Value(1.0), "x"])
    with pytest.raises(TypeError, match="bool"):
        Value.linear([Value(1.0)], [True], 0.0)
    with pytest.raises(ValueError, match="2 inputs for 1 weights"):
        Value.linear([Value(1.0)], [1.0, 2.0], 0.0)


def test_values_hold_floats_even_when_built_from_ints() -> None:
    v = Value(3)
    assert type(v.data) is float and type(v.grad) is float


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/=", "**="])
def test_augmented_assignment_builds_a_new_node_and_never_mutates_an_operand(op) -> None:
    a = Value(2.0)
    b = Value(3.0)
    alias = a
    namespace = {"a": a, "b": b}
    exec(f"a {op} b", namespace)
    result = namespace["a"]
    assert result is not alias
    assert alias.data == 2.0 and alias._prev == ()
    assert b.data == 3.0 and b._prev == ()
    assert result._prev[0] is alias


def test_augmented_assignment_on_a_plain_float_gives_a_value() -> None:
    x = 1.5
    x += Value(2.0)
    assert isinstance(x, Value) and x.data == 3.5


def test_repr_shows_data_and_grad() -> None:
    v = Value(2.5)
    (v * 2).backward()
    assert repr(v) == "Value(data=2.5, grad=2.0)"


def test_every_node_records_its_op_and_its_operands_in_order() -> None:
    a, b = Value(2.0), Value(3.0)
    nodes = {
        "add": a + b, "sub": a - b, "mul": a * b, "div": a / b, "pow": a**b, "powc": a**2,
        "neg": -a, "exp": a.exp(), "log": a.log(), "tanh": a.tanh(), "relu": a.relu(),
        "sigmoid": a.sigmoid(), "sum": Value.sum([a, b]), "linear": Value.linear([a], [b], 1.0),
    }  # fmt: skip
    for name, node in nodes.items():
        assert node._op, f"{name} recorded no op"
        assert a in node._prev, name
    assert (a - b)._prev == (a, b)
    assert (a / b)._prev[0] is a
    assert len({n._op for n in nodes.values()}) == len(nodes)
    assert a._op == "" and a._prev == ()


def test_repeated_backward_accumulates_a_leaf_used_twice_exactly_like_torch(torch) -> None:
    # torch sums a pass's contributions first and adds the total to .grad once (AccumulateGrad);
    # adding each contribution straight into .grad rounds differently on the third pass here.
    a = Value(1.0)
    out = (a * a).tanh() * a + a.sigmoid()
    t = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    t_out = (t * t).tanh() * t + t.sigmoid()
    for _ in range(3):
        out.backward()
        t_out.backward(retain_graph=True)
    assert a.grad == t.grad.item()  # torch: 5.394464317275897


@given(st.floats(-5, 5), st.integers(min_value=1, max_value=4))
def test_k_backward_passes_add_the_one_pass_gradient_k_times(x, k) -> None:
    a = Value(x)
    out = (a * a).tanh() * a + a.sigmoid()
    out.backward()
    once = a.grad
    for _ in range(k - 1):
        out.backward()
    expected = 0.0
    for _ in range(k):
        expected += once
    assert a.grad == expected


def test_the_fused_neuron_names_a_weight_that_is_not_a_value():
    with pytest.raises(TypeError, match=r"weights\) must hold Values, got 2.0 of type float"):
        Value.linear([Value(1.0), 2.0], [1.0, 2.0])  # type: ignore[list-item]


def test_the_fused_neuron_rejects_mismatched_lengths_and_unknown_activations():
    with pytest.raises(ValueError, match="2 inputs for 1 weights"):
        Value.linear([Value(1.0)], [1.0, 2.0])
    with pytest.raises(ValueError, match="activation must be one of"):
        Value.linear([Value(1.0)], [1.0], activation="gelu")


def test_the_fused_neuron_equals_the_same_neuron_written_with_binary_ops():
    ws, xs, b = [Value(0.5), Value(-1.25)], [Value(2.0), Value(3.0)], Value(0.25)
    fused = Value.linear(ws, xs, b, activation="tanh")
    fused.backward()
    fused_grads = [v.grad for v in (*ws, *xs, b)]
    for v in (*ws, *xs, b):
        v.grad = 0.0
    plain = (b + ws[0] * xs[0] + ws[1] * xs[1]).tanh()
    plain.backward()
    assert fused.data == plain.data
    assert fused_grads == [v.grad for v in (*ws, *xs, b)]


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh"])
def test_a_zero_gradient_through_a_fused_neuron_still_makes_nan_of_infinite_operands(
    torch, activation
) -> None:
    # The fused rules skip a zero gradient only when the output is finite; here an infinite
    # weight meets a zero input (nan pre-activation), so 0 * inf must still reach the input.
    w, x, b = Value(math.inf), Value(0.0), Value(0.5)
    out = Value.linear([w], [x], b, activation) * 0.0
    out.backward()
    tw = torch.tensor([math.inf], dtype=torch.float64, requires_grad=True)
    tx = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    tb = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    z = tb + (tw * tx).sum()
    z = {"linear": z, "relu": z.relu(), "tanh": z.tanh()}[activation]
    (z * 0.0).backward()
    for v, t in ((w, tw.grad[0]), (x, tx.grad[0]), (b, tb.grad)):
        expected = t.item()
        assert (math.isnan(v.grad) and math.isnan(expected)) or v.grad == expected


def test_layer_calls_sharing_some_parameters_each_get_their_own_gradients() -> None:
    # The backward pass walks equal parameter lists once; lists that merely start alike (the same
    # first bias) must still be walked each.
    a, b, c = Value(0.5), Value(-1.5), Value(2.0)
    bias = Value(0.25)
    x = [Value(3.0)]
    first = Value.linear_layer([[a]], [bias], x)[0]
    again = Value.linear_layer([[a]], [bias], x)[0]  # equal to the first: walked once
    other = Value.linear_layer([[b], [c]], [bias, Value(1.0)], x)  # same first Value, differs
    total = first + again + other[0] * 2.0 + other[1]
    total.backward()
    assert a.grad == 6.0  # 3 from each of the two equal calls
    assert b.grad == 6.0
    assert c.grad == 3.0
    assert bias.grad == 4.0
    assert x[0].grad == 0.5 + 0.5 + (-1.5) * 2.0 + 2.0
