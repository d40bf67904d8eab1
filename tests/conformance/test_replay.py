"""`--replay FILE`: a reproducer line, as printed, runs on any engine and says what differs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from conformance.backends import load_backend
from conformance.cli import main
from conformance.program import Node, Program
from conformance.protocol import reproducer_line
from conformance.replay import parse_line, replay_lines

ENGINES = Path(__file__).resolve().parents[1] / "meta_tests" / "engines"
GOOD = f"{ENGINES / 'plain.py'}:Value"
REFERENCE = f"{ENGINES / 'reference.py'}:Value"
WRONG_MUL = f"{ENGINES / 'broken.py'}:WrongMulDerivative"

# x * 2 at x = 1.5: the value 3 and dx = 2, which WrongMulDerivative gets wrong.
TIMES_TWO = Program((Node("input", value=1.5), Node("const", value=2.0), Node("mul", (0, 1))), 2)
LINE = reproducer_line(TIMES_TWO, {0: 1.5, 2: 3.0}, {0: 2.0}, {0: 0.0, 2: 1e-15}, {0: 1e-15})


def test_a_reproducer_line_is_a_run_request_with_its_expectations():
    program, expect = parse_line(LINE)
    assert program == TIMES_TWO
    assert expect is not None
    assert expect.values == {0: (1.5, 0.0), 2: (3.0, 1e-15)}
    assert expect.grads == {0: (2.0, 1e-15)}


def test_a_correct_engine_passes_the_line():
    (result,) = replay_lines(load_backend(GOOD), [LINE])
    assert result.passed, result.differences


def test_a_broken_engine_fails_it_with_the_number_that_differs():
    (result,) = replay_lines(load_backend(WRONG_MUL), [LINE])
    assert not result.passed
    assert result.differences == ["grad of v0: expected 2.0, got 0.0 (|diff| 2 > tolerance 1e-15)"]


def test_the_cli_replays_a_file_and_exits_1_when_a_line_differs(tmp_path, capsys):
    wire = tmp_path / "problem-01.wire"
    wire.write_text(LINE + "\n\n" + LINE + "\n")
    assert main([WRONG_MUL, "--replay", str(wire)]) == 1
    out = capsys.readouterr().out
    assert "line 1: 1 difference" in out and "line 3: 1 difference" in out
    assert "v2 = v0 * 2.0" in out and "v2.backward()" in out
    assert "2 of 2 lines fail" in out
    assert main([GOOD, "--replay", str(wire)]) == 0
    assert "all 2 lines pass" in capsys.readouterr().out


def test_the_cli_reads_lines_from_stdin_given_a_dash(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(LINE + "\n"))
    assert main([GOOD, "--replay", "-"]) == 0
    assert "of stdin" in capsys.readouterr().out


def test_a_line_that_is_not_a_run_request_is_named_and_fails(tmp_path, capsys):
    wire = tmp_path / "bad.wire"
    wire.write_text('{"type":"hello"}\nnot json\n')
    assert main([GOOD, "--replay", str(wire)]) == 1
    out = capsys.readouterr().out
    assert "line 1 is not a reproducer line" in out and "line 2 is not a reproducer line" in out


def test_a_line_without_expectations_must_only_run_to_finite_numbers(tmp_path):
    request = json.loads(LINE)
    del request["expect"]
    request["nodes"] = [["input", 0.0], ["log", 0]]
    request["output"] = 1
    (result,) = replay_lines(load_backend(REFERENCE), [json.dumps(request)])
    assert result.differences == ["value of v1: -inf, not finite", "grad of v0: inf, not finite"]


def test_an_empty_or_missing_file_is_a_usage_error(tmp_path, capsys):
    empty = tmp_path / "empty.wire"
    empty.write_text("\n")
    assert main([GOOD, "--replay", str(empty)]) == 2
    assert main([GOOD, "--replay", str(tmp_path / "missing.wire")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_line_a_failing_run_writes_replays_as_it_is(tmp_path, capsys):
    out = tmp_path / "repro"
    run = [WRONG_MUL, "-q", "--profile", "quick", "--seed", "3", "--check", "random"]
    assert main([*run, "--repro-dir", str(out)]) == 1
    wire = out / "problem-01.wire"
    capsys.readouterr()
    assert main([WRONG_MUL, "--replay", str(wire)]) == 1
    assert "grad of v" in capsys.readouterr().out
    assert main([GOOD, "--replay", str(wire)]) == 0


@pytest.mark.parametrize("isolate", [False, True])
def test_an_engine_that_crashes_on_a_line_is_reported_not_fatal(tmp_path, capsys, isolate):
    wire = tmp_path / "x.wire"
    wire.write_text(LINE + "\n")
    hostile = f"{ENGINES / 'hostile.py'}:SystemExitInMul"
    args = [hostile, "--replay", str(wire), *(["--isolate"] if isolate else [])]
    assert main(args) == 1
    assert "the engine failed" in capsys.readouterr().out
