"""The worked examples: micrograd's sanity test, the seed's and the lecture's, to the bit."""

from __future__ import annotations

import math

from micrograd.engine import Value


def test_the_seed_example_built_with_augmented_assignment_gives_the_published_numbers() -> None:
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert g.data == 24.70408163265306
    assert a.grad == 138.83381924198252
    assert b.grad == 645.5772594752186


def test_micrograd_sanity_check_gives_y_minus_20_and_x_grad_46() -> None:
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert y.data == -20.0
    assert x.grad == 46.0


def test_the_lectures_tanh_neuron_outputs_one_over_root_two_with_the_lectures_gradients() -> None:
    x1, x2 = Value(2.0), Value(0.0)
    w1, w2 = Value(-3.0), Value(1.0)
    b = Value(6.8813735870195432)
    n = x1 * w1 + x2 * w2 + b
    o = n.tanh()
    o.backward()
    # 0.7071067811865476 is tanh(n) correctly rounded; not every libm's tanh is, so allow one ulp.
    assert abs(o.data - 0.7071067811865476) <= math.ulp(0.7071067811865476)
    assert abs(x1.grad - -1.5) <= 1e-15
    assert abs(w1.grad - 1.0) <= 1e-15
    assert abs(x2.grad - 0.5) <= 1e-15
    assert w2.grad == 0.0
    assert b.grad == n.grad


def test_the_tanh_neuron_agrees_with_torch(torch, torch_run, close) -> None:
    def neuron(x1, x2, w1, w2, b):
        return (x1 * w1 + x2 * w2 + b).tanh()

    xs = [2.0, 0.0, -3.0, 1.0, 6.8813735870195432]
    leaves = [Value(x) for x in xs]
    out = neuron(*leaves)
    out.backward()
    expected, expected_grads = torch_run(neuron, xs)
    assert close(out.data, expected, rel=2.3e-16)
    for leaf, g in zip(leaves, expected_grads, strict=True):
        # 1 - tanh**2 turns one ulp of tanh into an absolute error of ~2 ulp of 1.
        assert close(leaf.grad, g, abs_=1e-15)
