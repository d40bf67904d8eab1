"""Hostile engines never take the harness down: each run ends with a written report.

Each engine of ``engines/hostile.py`` (and ``engines/recursive.py``) is checked by
``python -m conformance`` in a fresh process, in an empty working directory, as a user would run
it. The run must end by itself with the exit status the engine deserves (1 where it is at fault,
0 where it is merely noisy or unusual), write its JSON report (small), print a bounded amount,
name the engine's problem by its signature, and write nothing else anywhere in the directory.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ENGINES = Path(__file__).resolve().parent / "engines"
HOSTILE = ENGINES / "hostile.py"
SEGFAULT = "crash:the backend process was killed by signal SIGSEGV"


class Case(NamedTuple):
    """An engine, the options it is run with, and what the run must end with."""

    target: str
    options: tuple[str, ...]
    status: int
    signature: str | None


CASES = {
    "raises in __init__": Case(f"{HOSTILE}:RaisesInInit", (), 1, "leaf:backward"),
    "text in .grad": Case(f"{HOSTILE}:TextInGrad", (), 1, "leaf:backward"),
    "SystemExit in an op": Case(
        f"{HOSTILE}:SystemExitInMul", ("--check", "ops"), 1, "op:mul:value"
    ),
    "infinite recursion": Case(
        f"{HOSTILE}:InfiniteRecursion", ("--check", "ops"), 1, "op:tanh:value"
    ),
    "hang in backward": Case(
        f"{HOSTILE}:HangsOnBigGraphs", ("--check", "random", "--timeout", "0.3"), 1, "hang"
    ),
    "os._exit in backward": Case(
        f"{HOSTILE}:OsExitInBackward", ("--isolate", "--check", "random"), 1, "leaf:backward"
    ),
    "segfault (ctypes)": Case(
        f"{HOSTILE}:SegfaultInBackward", ("--isolate", "--check", "random"), 1, "leaf:backward"
    ),
    "a megabyte of output per call": Case(
        f"{HOSTILE}:Chatty", ("--check", "random", "--check", "deep"), 0, None
    ),
    # From CPython 3.11 a Python call does not use the C stack, so the raised limit carries a
    # 100,000-deep recursive sort; on 3.10 each call does, and the 8 MB stack overflows: the
    # engine really crashes there, and the deep check's worker process reports it.
    "raised recursion limit, recursive sort": Case(
        f"{ENGINES / 'recursive.py'}:Value",
        ("--check", "random", "--check", "deep"),
        *((0, None) if sys.version_info >= (3, 11) else (1, SEGFAULT)),
    ),
}

MAX_STDOUT = 64 * 1024
MAX_JSON = 1024 * 1024


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_hostile_engine_gets_a_written_report_and_the_harness_survives(
    case: Case, tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "conformance", case.target, "--profile", "quick"]
    command += ["--seed", "0", "--json", "report.json", *case.options]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=300, check=False)
    assert run.returncode == case.status, run.stdout.decode()[-3000:] + run.stderr.decode()[-3000:]
    assert len(run.stdout) < MAX_STDOUT and len(run.stderr) < MAX_STDOUT
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"], "wrote elsewhere"
    report_file = tmp_path / "report.json"
    assert report_file.stat().st_size < MAX_JSON
    report = json.loads(report_file.read_text())
    signatures = [p["signature"] for p in report["problems"]]
    if case.signature is None:
        assert report["ok"] and not signatures, signatures
    else:
        assert signatures == [case.signature], signatures


def test_what_a_chatty_engine_printed_is_counted_in_the_report(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "conformance", f"{HOSTILE}:Chatty", "--profile", "quick"]
    command += ["--seed", "0", "--check", "random", "--json", "report.json"]
    subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=300, check=True)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["engine_printed_chars"] > 1_000_000
