"""One engine's run of the moons demo loop, for the side-by-side comparison with micrograd 0.1.0.

Run as a script by ``benchmarks/compare_micrograd010.py`` under either interpreter (ours, or the
virtualenv holding micrograd 0.1.0): it reads a JSON spec on stdin and prints a JSON result. It uses
only the standard library and whichever ``micrograd`` the interpreter imports, so the same file runs
against both engines. The data and initial weights arrive as plain numbers in the spec, so both
engines start from the same floats.

Spec: ``{"loop": "notebook" | "demo" | "floats", "X": [[x0, x1], ...], "y": [-1 | 1, ...],
"weights": [...], "steps": N, "alpha": 1e-4, "hidden": [16, 16]}``.

* ``notebook``: micrograd's demo.ipynb loop, verbatim apart from copying the weights in; it uses
  only 0.1.0's public API, so it runs on both engines (on ours it measures the drop-in path).
* ``demo``: our ``micrograd.demo.train`` (fused neuron and sum nodes), ours only.
* ``floats``: no engine at all: each step recomputes the network's outputs and the loss on plain
  floats, in the cheapest pure Python we know (one ``sum(map(mul, row, x), bias)`` per neuron), and
  computes no gradient and changes no weight. Every engine has to do at least this much work a step,
  so 0.1.0's cost over this one's bounds what any pure-Python engine can reach on the interpreter.

Both use the learning rate ``1.0 - 0.9 * k / steps`` (the notebook's schedule for 100 steps).
"""

from __future__ import annotations

import gc
import json
import platform
import resource
import sys
import time
from typing import Any


def _rss_kib() -> int:
    """Peak resident set size of this process so far, in KiB.

    On Linux, ``VmHWM`` from ``/proc/self/status``: ``ru_maxrss`` would also count the parent's
    memory, which the kernel carries over into the child's figure when the child is started
    with vfork + exec, as subprocess does (~19 MiB of the comparison script itself).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak  # macOS reports bytes


def _build_model(weights: list[float], hidden: list[int]) -> Any:
    """Build ``MLP(2, hidden + [1])`` with the given initial weights, in parameters() order."""
    from micrograd.nn import MLP

    model = MLP(2, [*hidden, 1])
    params = model.parameters()
    if len(params) != len(weights):
        raise ValueError(f"the model has {len(params)} parameters, the spec {len(weights)} weights")
    for p, w in zip(params, weights, strict=True):
        p.data = float(w)
    return model


def _notebook_loop(model: Any, spec: dict[str, Any]) -> tuple[list[float], list[float]]:
    """demo.ipynb's loss() and optimisation loop (0.1.0 public API only)."""
    from micrograd.engine import Value

    X, y, alpha, steps = spec["X"], spec["y"], spec["alpha"], spec["steps"]
    # (With steps == 0 nothing below runs: a startup-only run, whose instruction count the
    # comparison subtracts so that the interpreter's start and the imports do not count.)

    def loss() -> tuple[Any, float]:
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores, strict=True)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = alpha * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores, strict=True)]
        return total_loss, sum(accuracy) / len(accuracy)

    losses: list[float] = []
    accuracies: list[float] = []
    for k in range(steps):
        total_loss, acc = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / steps
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        losses.append(total_loss.data)
        accuracies.append(acc)
    return losses, accuracies


def _floats_loop(model: Any, spec: dict[str, Any]) -> tuple[list[float], list[float]]:
    """The network's forward pass and the loss on plain floats, ``steps`` times: no engine (the
    weights come from the spec; ``model`` is built only so that startup costs the same)."""
    from itertools import pairwise
    from operator import mul

    X, y, alpha, steps = spec["X"], spec["y"], spec["alpha"], spec["steps"]
    flat = [float(w) for w in spec["weights"]]
    sizes = [len(X[0]), *spec["hidden"], 1]
    layers: list[list[tuple[list[float], float]]] = []  # (weights, bias) per neuron, per layer
    at = 0
    for nin, nout in pairwise(sizes):
        neurons = []
        for _ in range(nout):  # parameters() order: each neuron's weights, then its bias
            neurons.append((flat[at : at + nin], flat[at + nin]))
            at += nin + 1
        layers.append(neurons)
    hidden, last = layers[:-1], layers[-1]
    reg = alpha * sum(map(mul, flat, flat))  # (the weights never change here)
    n = len(X)
    losses: list[float] = []
    accuracies: list[float] = []
    for _ in range(steps):
        data_loss = 0.0
        hits = 0
        for x, yi in zip(X, y, strict=True):
            a = x
            for neurons in hidden:
                a = [max(0.0, sum(map(mul, w, a), b)) for w, b in neurons]
            score = sum(map(mul, last[0][0], a), last[0][1])
            data_loss += max(0.0, 1.0 - yi * score)
            hits += (yi > 0) == (score > 0)
        losses.append(data_loss * (1.0 / n) + reg)
        accuracies.append(hits / n)
    return losses, accuracies


def _demo_loop(model: Any, spec: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Our ``micrograd.demo.train`` on the given data and model."""
    from micrograd.demo import train

    if spec["steps"] == 0:  # a startup-only run (see _notebook_loop)
        return [], []
    run = train(spec["steps"], data=(spec["X"], spec["y"]), model=model, alpha=spec["alpha"])
    return list(run.losses), list(run.accuracies)


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Build the model, run the requested loop once, and report time, memory and the trajectory."""
    import micrograd.engine

    loops = {"notebook": _notebook_loop, "demo": _demo_loop, "floats": _floats_loop}
    if spec["loop"] not in loops:
        raise ValueError(f"loop must be one of {sorted(loops)}, got {spec['loop']!r}")
    if spec["loop"] == "demo":
        import micrograd.demo  # (imported before the clock starts: not timed)
    model = _build_model(spec["weights"], spec["hidden"])
    gc.collect()
    rss_before = _rss_kib()
    collections_before = [s["collections"] for s in gc.get_stats()]
    t0 = time.perf_counter()
    c0 = time.process_time()
    losses, accuracies = loops[spec["loop"]](model, spec)
    cpu = time.process_time() - c0
    wall = time.perf_counter() - t0
    after = gc.get_stats()
    collections = [s["collections"] - b for s, b in zip(after, collections_before, strict=True)]
    return {
        "loop": spec["loop"],
        "engine_file": micrograd.engine.__file__,
        "python": platform.python_version(),
        "gc_enabled": gc.isenabled(),
        "wall_s": wall,
        "cpu_s": cpu,
        "rss_before_kib": rss_before,
        "peak_rss_kib": _rss_kib(),
        "gc_collections": collections,
        "losses": losses,
        "accuracies": accuracies,
    }


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
