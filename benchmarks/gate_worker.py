"""The regression gate's measuring process: interleaved calibration and workload rounds.

Run by ``benchmarks/gate.py`` in a fresh interpreter
(``python benchmarks/gate_worker.py ROUNDS STEPS CALIBRATION_STEPS [WORKLOAD]``); it prints one JSON
object. The workload is ``engine`` (STEPS steps of the demo's training loop, the default) or
``harness`` (STEPS programs of the conformance harness's ``random`` check on the bundled engine).
It imports ``micrograd`` and ``conformance`` from wherever the interpreter finds them first, so a
``PYTHONPATH`` pointing at a patched copy measures that copy (the gate's own test does exactly
that), and the JSON says which file was measured.

The calibration workload below is FROZEN: the baseline's normalised figures are only comparable
while it stays byte-for-byte the same. Changing it means bumping ``CALIBRATION_VERSION`` and
re-recording the baseline (``python -m benchmarks.gate --update-baseline``).
"""

from __future__ import annotations

import gc
import itertools
import json
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

CALIBRATION_VERSION = 2

# The gate's fixed training problem: the demo's data and network, a few steps per round.
SEED = 1337
HIDDEN = (16, 16)
# The calibration trains on the first few of those points. With all 100 its graph (~160,000
# nodes a step) outgrows the CPU's caches and its speed follows the heap's layout, not the
# machine's: within one process its rounds drifted from 133 to 176 ms while the engine's held at
# 96, and after harness rounds they spread 103-307 ms. On 10 points (40 steps, the same
# arithmetic) they stay within a few percent (docs/BENCHMARKS.md, calibration version 2).
CALIBRATION_POINTS = 10


# --------------------------------------------------------------------------------------------------
# Calibration: a deliberately plain scalar autograd (binary nodes, a kind code per node, an
# iterative topological sort, SGD) training a small relu MLP. It exercises what the engine's loop
# exercises (object allocation, attribute access, float arithmetic, tuples, sets, lists, calls),
# but shares no code with micrograd, so a change to the engine cannot move it.
# --------------------------------------------------------------------------------------------------

_LEAF, _ADD, _MUL, _RELU = 0, 1, 2, 3


class _Node:
    __slots__ = ("data", "grad", "kids", "kind")

    def __init__(self, data: float, kids: tuple[_Node, ...] = (), kind: int = _LEAF) -> None:
        self.data = data
        self.grad = 0.0
        self.kids = kids
        self.kind = kind


def _add(a: _Node, b: _Node) -> _Node:
    return _Node(a.data + b.data, (a, b), _ADD)


def _mul(a: _Node, b: _Node) -> _Node:
    return _Node(a.data * b.data, (a, b), _MUL)


def _relu(a: _Node) -> _Node:
    return _Node(a.data if a.data > 0.0 else 0.0, (a,), _RELU)


def _backward(root: _Node) -> None:
    order: list[_Node] = []
    seen = {root}
    stack = [(root, 0)]
    while stack:
        node, i = stack.pop()
        if i < len(node.kids):
            stack.append((node, i + 1))
            child = node.kids[i]
            if child.kids and child not in seen:
                seen.add(child)
                stack.append((child, 0))
        else:
            order.append(node)
    root.grad = 1.0
    for node in reversed(order):
        g = node.grad
        kind = node.kind
        if kind == _ADD:
            a, b = node.kids
            a.grad += g
            b.grad += g
        elif kind == _MUL:
            a, b = node.kids
            a.grad += g * b.data
            b.grad += g * a.data
        elif node.data > 0.0:
            node.kids[0].grad += g


def _calibration_model(sizes: list[int]) -> list[list[list[_Node]]]:
    # Deterministic weights without the random module (its implementation may change).
    layers = []
    k = 0
    for nin, nout in itertools.pairwise(sizes):
        layer = []
        for _ in range(nout):
            row = []
            for _ in range(nin + 1):
                k += 1
                row.append(_Node(((k * 7919) % 2000) / 1000.0 - 1.0))
            layer.append(row)
        layers.append(layer)
    return layers


def calibration_round(X: list[list[float]], y: list[int], steps: int) -> float:
    """Train the calibration MLP for ``steps`` full-batch steps; return the last loss."""
    layers = _calibration_model([2, 12, 12, 1])
    params = [p for layer in layers for row in layer for p in row]
    one = _Node(1.0)
    loss_value = 0.0
    for _ in range(steps):
        total: _Node | None = None
        for xrow, label in zip(X, y, strict=True):
            acts = [_Node(x) for x in xrow]
            for li, layer in enumerate(layers):
                outs = []
                for row in layer:
                    act = row[-1]
                    for w, a in zip(row, acts, strict=False):
                        act = _add(act, _mul(w, a))
                    outs.append(act if li == len(layers) - 1 else _relu(act))
                acts = outs
            margin = _relu(_add(one, _mul(_Node(-float(label)), acts[0])))
            total = margin if total is None else _add(total, margin)
        assert total is not None
        for p in params:
            p.grad = 0.0
        _backward(total)
        for p in params:
            p.data -= 0.001 * p.grad
        loss_value = total.data
    return loss_value


# --------------------------------------------------------------------------------------------------
# The measured workload: the engine's own demo training loop.
# --------------------------------------------------------------------------------------------------


def _engine_round_factory(steps: int) -> tuple[Callable[[], object], str]:
    """Return a function running ``steps`` steps of ``demo.train``, and the engine's file."""
    import micrograd.engine
    from micrograd.data import make_moons
    from micrograd.demo import train
    from micrograd.nn import MLP

    data = make_moons(100, 0.1, SEED)

    def engine_round() -> object:
        # A fresh model each round: every round does the same work from the same weights.
        model = MLP(2, [*HIDDEN, 1], seed=SEED)
        return train(steps, data=data, model=model)

    return engine_round, str(micrograd.engine.__file__)


def _harness_round_factory(programs: int) -> tuple[Callable[[], object], str]:
    """Return a function checking ``programs`` programs of the harness's ``random`` check (the
    same seed every round) on the bundled engine, and the harness's file.

    The oracle is the op table's float64 evaluation: pure Python and on every interpreter, so the
    figure is the harness's own work (drawing, batching, running, judging) and the engine's, with
    no third-party numerics in it (torch is not installed everywhere the gate runs)."""
    import conformance.runner
    from conformance.backends import load_backend
    from conformance.checks import CheckContext
    from conformance.checks.programs import RANDOM
    from conformance.oracles.table import TableOracle
    from conformance.probe import probe

    backend = load_backend("micrograd.engine:Value")
    ctx = CheckContext(backend, TableOracle(), probe(backend).supported, "default")

    def harness_round() -> object:
        result = conformance.runner.run_check(
            RANDOM, ctx, seed_value=SEED, budget=None, count=programs
        )
        if result.status != "passed":  # a workload that stopped early would measure nothing
            raise RuntimeError(f"the harness workload did not pass: {result.note}")
        return result.examples

    return harness_round, str(conformance.runner.__file__)


WORKLOADS = {"engine": _engine_round_factory, "harness": _harness_round_factory}
"""What a round measures, by name: STEPS is training steps for one, programs for the other."""


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Run ``fn`` once; return (CPU seconds of this process, wall seconds)."""
    # Whatever earlier rounds left alive (Hypothesis's caches, above all) is moved out of the
    # collector's reach, so a round's full collections cost the same whichever round came
    # before it; the round's own garbage is still collected, as in any program.
    gc.collect()
    gc.freeze()
    c0 = time.process_time()
    w0 = time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def measure(rounds: int, steps: int, cal_steps: int, workload: str = "engine") -> dict[str, Any]:
    """Alternate calibration and workload rounds (cal, eng, cal, eng, ..., cal) after a warm-up."""
    from micrograd.data import make_moons

    X, y = make_moons(100, 0.1, SEED)
    X, y = X[:CALIBRATION_POINTS], y[:CALIBRATION_POINTS]
    engine_round, engine_file = WORKLOADS[workload](steps)

    def cal() -> object:
        return calibration_round(X, y, cal_steps)

    # Warm-up: imports, specialisation of the interpreter's adaptive bytecode, allocator pools.
    _timed(cal)
    _timed(engine_round)
    gc.collect()
    cal_cpu, cal_wall, eng_cpu, eng_wall = [], [], [], []
    for _ in range(rounds):
        c = _timed(cal)
        cal_cpu.append(c[0])
        cal_wall.append(c[1])
        e = _timed(engine_round)
        eng_cpu.append(e[0])
        eng_wall.append(e[1])
    c = _timed(cal)
    cal_cpu.append(c[0])
    cal_wall.append(c[1])
    return {
        "python": python_key(),
        "python_version": platform.python_version(),
        "workload": workload,
        "engine_file": engine_file,
        "calibration_version": CALIBRATION_VERSION,
        "rounds": rounds,
        "steps": steps,
        "calibration_steps": cal_steps,
        "calibration_cpu": cal_cpu,
        "calibration_wall": cal_wall,
        "engine_cpu": eng_cpu,
        "engine_wall": eng_wall,
    }


def python_key() -> str:
    """The baseline key of this interpreter, e.g. ``cpython-3.11``."""
    impl = sys.implementation.name
    return f"{impl}-{sys.version_info.major}.{sys.version_info.minor}"


def main(argv: list[str]) -> int:
    """Parse ``ROUNDS STEPS CAL_STEPS [WORKLOAD]`` and print the measurement as JSON."""
    if len(argv) not in (3, 4) or (len(argv) == 4 and argv[3] not in WORKLOADS):
        print(
            f"usage: gate_worker.py ROUNDS STEPS CAL_STEPS [{'|'.join(WORKLOADS)}]",
            file=sys.stderr,
        )
        return 2
    rounds, steps, cal_steps = (int(a) for a in argv[:3])
    workload = argv[3] if len(argv) == 4 else "engine"
    json.dump(measure(rounds, steps, cal_steps, workload), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
