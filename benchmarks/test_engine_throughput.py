"""Forward + backward throughput per node: chains, wide sums, random DAGs, a 1M-node backward."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from micrograd.engine import Value

CHAIN = 10_000
WIDE = 10_000
DAG = 10_000
MILLION = 1_000_000


def _chain(op: str, n: int) -> Value:
    """A chain of ``n`` nodes, each made by ``op`` from the previous one (plus a constant)."""
    x = Value(0.5)
    v = x
    if op == "add":
        for _ in range(n):
            v = v + 1e-3
    elif op == "mul":
        for _ in range(n):
            v = v * 1.0001
    elif op == "tanh":
        for _ in range(n):
            v = v.tanh()
    else:  # "mixed": the demo's op mix, kept bounded by the tanh
        for i in range(n // 4):
            v = (v * 0.9 + 0.1).tanh().relu() if i % 2 else (v - 0.05).sigmoid() * 1.5
    return v


@pytest.mark.parametrize("op", ["add", "mul", "tanh", "mixed"])
def test_long_chain_forward_and_backward(benchmark, per_unit, op: str) -> None:
    def run() -> Value:
        out = _chain(op, CHAIN)
        out.backward()
        return out

    out = benchmark(run)
    assert out.data == out.data  # a real number came out (not nan)
    per_unit(benchmark, CHAIN, "node")


def _leaves(n: int) -> list[Value]:
    rng = random.Random(0)
    return [Value(rng.uniform(-1.0, 1.0)) for _ in range(n)]


def test_wide_fused_sum_forward_and_backward(benchmark, per_unit) -> None:
    leaves = _leaves(WIDE)

    def run() -> Value:
        out = Value.sum(leaves)
        out.backward()
        return out

    benchmark(run)
    assert leaves[0].grad > 0.0
    per_unit(benchmark, WIDE, "term")


def test_wide_sum_of_binary_adds_forward_and_backward(benchmark, per_unit) -> None:
    leaves = _leaves(WIDE)

    def run() -> Value:
        out: Value = sum(leaves[1:], leaves[0])  # type: ignore[assignment]  # how 0.1.0 sums
        out.backward()
        return out

    benchmark(run)
    assert leaves[0].grad > 0.0
    per_unit(benchmark, WIDE, "term")


_UNARY: list[Callable[[Value], Value]] = [Value.tanh, Value.relu, Value.sigmoid, Value.exp]
_BINARY: list[Callable[[Value, Value], Value]] = [
    Value.__add__,
    Value.__sub__,
    Value.__mul__,
]


def _random_dag(n: int, seed: int) -> Value:
    """``n`` ops on random earlier nodes (recent ones preferred), ending in one sum."""
    rng = random.Random(seed)
    nodes = [Value(rng.uniform(-1.0, 1.0)) for _ in range(16)]
    for _ in range(n - 1):
        if rng.random() < 0.4:
            # exp only of a tanh'd value, so nothing overflows however deep the DAG is
            a = nodes[-1 - int(rng.expovariate(0.1)) % len(nodes)]
            f = _UNARY[rng.randrange(len(_UNARY))]
            nodes.append(a.tanh().exp() if f is Value.exp else f(a))
        else:
            a = nodes[-1 - int(rng.expovariate(0.1)) % len(nodes)]
            b = nodes[rng.randrange(len(nodes))]
            nodes.append(_BINARY[rng.randrange(len(_BINARY))](a, b).tanh())
    return Value.sum(nodes[-64:])


def test_random_dag_forward_and_backward(benchmark, per_unit) -> None:
    def run() -> Value:
        out = _random_dag(DAG, seed=7)
        out.backward()
        return out

    out = benchmark(run)
    assert out.data == out.data
    # _random_dag adds a tanh after every binary op: count the nodes actually made.
    per_unit(benchmark, _count_interior(out), "node")


def _count_interior(root: Value) -> int:
    seen = {id(root)}
    stack = [root]
    count = 0
    while stack:
        node = stack.pop()
        if node._prev:
            count += 1
        for child in node._prev:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return count


def test_a_million_node_chain_backward(benchmark, per_unit) -> None:
    leaf = Value(0.1)

    def setup() -> tuple[tuple[Value], dict[str, object]]:
        v = leaf
        for _ in range(MILLION):
            v = v.tanh()
        leaf.grad = 0.0
        return (v,), {}

    benchmark.pedantic(Value.backward, setup=setup, rounds=3, iterations=1)
    assert 0.0 < leaf.grad < 1.0  # the chain rule through a million tanh's
    per_unit(benchmark, MILLION, "node")
