"""Reproducers of long programs fold into loops, whatever input the program keeps reusing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conformance.backends import load_backend
from conformance.program import Node, Program
from conformance.reproducers.program import render

ROOT = Path(__file__).resolve().parents[2]


def _chain_reusing_an_input(steps: int) -> Program:
    # y <- tanh(sin(y) * a): every multiplication reaches back to the input a, further each step
    # (the deep chain whose 790 KB reproducer once made a JSON report 2.4 MB).
    nodes = [Node("input", value=-0.4), Node("input", value=-2.27)]
    for _ in range(steps):
        y = len(nodes) - 1
        nodes += [Node("sin", (y,)), Node("mul", (len(nodes), 1)), Node("tanh", (len(nodes) + 1,))]
    return Program(tuple(nodes), len(nodes) - 1)


def test_a_long_chain_that_reuses_an_input_becomes_a_short_script_that_rebuilds_it(
    tmp_path: Path,
) -> None:
    program = _chain_reusing_an_input(10_000)
    backend = load_backend("micrograd.engine:Value")
    expected = backend.run(program)
    script = render(program, expected, backend, check="deep")
    assert script.count("\n") < 100, script[:3000]
    path = tmp_path / "reproducer.py"
    path.write_text(script)
    run = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    # The bundled engine reproduces its own numbers: the script rebuilt the same 30,002 nodes.
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "0 of" in run.stdout
