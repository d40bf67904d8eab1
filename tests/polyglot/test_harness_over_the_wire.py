"""The whole harness over the wire: the C engine, its broken variants, hostile processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import conformance
from conformance.backends.subprocess import SubprocessBackend
from tests.polyglot.conftest import REFERENCE_DRIVER

PROFILE = "quick"
SEED = 20240611


def check_command(
    command: str,
    timeout: float = 10.0,
    checks: list[str] | None = None,
    shrink_seconds: float = 20.0,
) -> conformance.Report:
    """Run the harness on a --exec command, closing the process afterwards.

    The backend enforces its own per-program timeout (``handles_timeout``), so the harness adds
    no in-process alarm on top of it."""
    with SubprocessBackend(command, timeout=timeout) as backend:
        return conformance.check(
            backend,
            profile=PROFILE,
            seed=SEED,
            timeout=5.0,
            checks=checks,
            shrink_seconds=shrink_seconds,
        )


def summary(report: conformance.Report) -> str:
    """What to print when an assertion on a report fails."""
    return f"{report.table()}\n{report.failure_text()}"


def test_the_c_engine_is_conformant(c_engines: dict[str, Path]) -> None:
    report = check_command(str(c_engines["good"]))
    assert report.ok, summary(report)
    assert sum(result.examples for result in report.checks) >= 100
    assert not report.skipped, f"the C engine serves every op of the table: {report.skipped}"


def test_the_python_reference_driver_is_conformant() -> None:
    report = check_command(REFERENCE_DRIVER)
    assert report.ok, summary(report)


@pytest.mark.parametrize(("variant", "clue"), [("grad-assign", "grad"), ("tanh-deriv", "tanh")])
def test_a_broken_c_engine_is_rejected(c_engines: dict[str, Path], variant: str, clue: str) -> None:
    report = check_command(str(c_engines[variant]), checks=["random", "reuse"])
    assert not report.ok, summary(report)
    texts = [f"{failure.summary}\n{failure.reproducer}" for failure in report.failures]
    assert any(clue in text for text in texts), summary(report)
    # The replay command re-runs the same process, not a Python target named after it.
    replay = report.failures[0].replay
    assert replay.startswith("python -m conformance --exec ") and str(c_engines[variant]) in replay


@pytest.mark.parametrize(
    ("mode", "clue"),
    [
        ("segfault", "SIGSEGV"),
        ("abort", "SIGABRT"),
        ("rust-stack-overflow", "overflowed its stack"),
        ("hang", "timed out"),
        ("garbage", "not JSON"),
        ("wrong-id", "answered id"),
    ],
)
def test_a_hostile_process_fails_its_programs_and_the_run_finishes(
    hostile: Callable[..., str], mode: str, clue: str
) -> None:
    # Programs of at least 8 nodes trigger the misbehaviour; the op probes (3 nodes) pass.
    # Two checks and a one-second shrink budget keep it fast: every failing shrink step restarts
    # (or waits out) the process, and the harness caps shrinking such failures anyway.
    report = check_command(
        hostile(mode, min_nodes=8), timeout=0.3, checks=["reuse", "kinks"], shrink_seconds=1.0
    )
    assert not report.ok
    assert any(clue in failure.summary for failure in report.failures), summary(report)
    statuses = {result.name: result.status for result in report.checks}
    assert all(status in ("passed", "failed", "warned", "skipped") for status in statuses.values())
    # The run went on after the first failure: every check ran, and the crash is one problem.
    assert all(result.examples > 0 for result in report.checks), summary(report)
    crashes = [p for p in report.problems if any(clue in line for line in [*p.details, p.summary])]
    assert len(crashes) == 1, summary(report)


def test_the_cli_checks_an_exec_command(c_engines: dict[str, Path]) -> None:
    command = [sys.executable, "-m", "conformance", "--exec", str(c_engines["tanh-deriv"])]
    options = ["--profile", PROFILE, "--seed", str(SEED), "--timeout", "5"]
    result = subprocess.run(
        [*command, *options, "--check", "random", "--check", "reuse"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "tanh" in result.stdout
    assert "replay: python -m conformance --exec " in result.stdout, result.stdout


def test_the_cli_says_an_exec_command_that_cannot_start_is_not_loadable(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "conformance", "--exec", str(tmp_path / "missing-engine")]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "missing-engine" in result.stderr


def test_a_number_form_an_engine_behind_a_driver_lacks_is_skipped_not_failed() -> None:
    # In Python, a Value without __radd__ breaks micrograd's API; behind a driver the engine has
    # its own language's API, and a form it lacks is only skipped (docs/PROTOCOL.md).
    limited = Path(__file__).resolve().parents[1] / "meta_tests" / "engines" / "limited.py"
    command = f"{sys.executable} -m conformance.drivers.micrograd {limited}:NoTranscendentals"
    report = check_command(command, checks=["random"])
    assert ("add", "cv") in report.skipped and ("mul", "cv") in report.skipped
    assert report.ok and not report.problems.items, summary(report)
