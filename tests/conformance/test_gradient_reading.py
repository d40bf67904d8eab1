"""How a `.grad` is read: left None (torch's convention for a Value backward() never reached)
it is 0; not a number, it is a mismatch, in reproducers too."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import conformance
from conformance.backends import load_backend
from conformance.backends.adapter import read_gradients
from conformance.program import Node, Program
from conformance.reproducers.program import render

ENGINES = Path(__file__).resolve().parents[1] / "meta_tests" / "engines"
NONE_UNTIL_REACHED = f"{ENGINES / 'reference.py'}:GradNoneUntilReached"
REFERENCE = f"{ENGINES / 'reference.py'}:Value"

# v3 = v1 * 3.0: the output does not depend on v0, whose .grad the engine leaves None.
UNUSED_INPUT = Program(
    (
        Node("input", value=0.5),
        Node("input", value=-2.0),
        Node("const", value=3.0),
        Node("mul", (1, 2)),
    ),
    3,
)


def test_an_input_the_output_does_not_use_has_gradient_0_where_the_engine_leaves_it_none():
    got = load_backend(NONE_UNTIL_REACHED).run(UNUSED_INPUT)
    assert got.grads == {0: 0.0, 1: 3.0}


def test_a_none_gradient_is_read_as_0_so_a_needed_one_is_judged_like_any_wrong_number():
    assert read_gradients({0: None, 1: 2, 2: -0.0}, "gradient of input {}") == {
        0: 0.0,
        1: 2.0,
        2: -0.0,
    }


def test_an_engine_with_torchs_none_gradients_conforms_to_every_op_and_program_check():
    checks = ["ops", "random", "reuse", "reflected", "kinks", "inplace", "repeated-backward"]
    report = conformance.check(NONE_UNTIL_REACHED, profile="quick", seed=3, checks=checks)
    assert report.ok, report.failure_text()
    assert all(c.status == "passed" and c.examples > 0 for c in report.checks), report.table()


def _reproducer_run(target: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """UNUSED_INPUT's reproducer for ``target`` (torch's numbers from the reference), run."""
    expected = load_backend(REFERENCE).run(UNUSED_INPUT)
    script = render(UNUSED_INPUT, expected, load_backend(target), check="random")
    path = tmp_path / "reproducer.py"
    path.write_text(script)
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


def test_a_reproducer_reads_a_none_gradient_as_0_too(tmp_path: Path) -> None:
    run = _reproducer_run(NONE_UNTIL_REACHED, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 of 5 numbers differ" in run.stdout
    assert re.search(r"grad +of v0 +expected 0\.0 +got 0\.0", run.stdout), run.stdout


def test_a_reproducer_shows_a_gradient_that_is_not_a_number_as_a_mismatch_among_the_rest(
    tmp_path: Path,
) -> None:
    run = _reproducer_run(f"{ENGINES / 'hostile.py'}:TextInGrad", tmp_path)
    # Every number still prints; the .grad of v1 (reached by backward) says what it held.
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert re.search(r"value +of v3 +expected -6\.0 +got -6\.0 *\n", run.stdout), run.stdout
    assert re.search(r"grad +of v1 +expected 3\.0 +got 'grad=3\.0', not a number", run.stdout)
    assert re.search(r"grad +of v0 +expected 0\.0 +got 0\.0 *\n", run.stdout), run.stdout
    assert "1 of 5 numbers differ" in run.stdout
