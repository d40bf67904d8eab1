"""The harness has teeth: every deliberately broken engine is caught, and named by its bug.

Each broken engine (``engines/broken.py``, one bug each) is checked with ``profile="default"`` and
a fixed seed, twice: by the check designed to catch its bug class alone (every check must catch
its class without help; the failure must carry a standalone reproducer that, run in a fresh
interpreter, shows the mismatch), and by the ops check plus that check, where the run must name
exactly the engine's problems (``Bug.problems``) and nothing else.

The correct engines (the reference here, the bundled ``micrograd.engine``, and a torch-backed
Value) must pass every check of the default profile, semantics checks included (``strict=True``).
Every test here is such a run (10-50 s each) and marked ``slow``: ``pytest`` runs them, and tox
runs them on CPython 3.11 (see tox.ini).
``python tests/meta_tests/bugs_table.py`` runs the whole default profile on every broken engine
(docs/BUGS_CAUGHT.md).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import conformance

from .engines import broken

ENGINES = Path(__file__).resolve().parent / "engines"
SEED = 0  # what CI uses (CI=true derandomises to seed 0); fixed here so the test is deterministic
PROFILE = "default"

pytestmark = pytest.mark.slow  # every test here is a default-profile run (see pyproject.toml)

LOUD_BUGS = [bug for bug in broken.BUGS if not bug.strict_only]
SEMANTICS_BUGS = [bug for bug in broken.BUGS if bug.strict_only]


def _target(bug: broken.Bug) -> str:
    return f"{ENGINES / 'broken.py'}:{bug.name}"


def _only_result(report: conformance.Report, name: str) -> conformance.CheckResult:
    [result] = [c for c in report.checks if c.name == name]
    return result


def _assert_reproducer_shows_the_failure(reproducer: str, tmp_path: Path) -> None:
    script = tmp_path / "reproduce.py"
    script.write_text(reproducer)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0, f"the reproducer exited 0:\n{done.stdout}\n{done.stderr}"
    mismatch = "<-- MISMATCH" in done.stdout
    raised = re.search(r"^\w*(Error|Exception)\b", done.stderr, re.MULTILINE) is not None
    assert mismatch or raised, f"the reproducer shows no failure:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("bug", LOUD_BUGS, ids=lambda bug: bug.name)
def test_a_broken_engine_is_caught_at_the_default_profile(bug: broken.Bug, tmp_path: Path) -> None:
    if bug.caught_by == "probe":  # found before any check runs: Value(x) does not keep x
        report = conformance.check(_target(bug), profile=PROFILE, seed=SEED, checks=["random"])
        assert not report.ok, f"{bug.name} ({bug.what}) passed probing"
        _assert_reproducer_shows_the_failure(report.problems.items[0].reproducer, tmp_path)
        return
    report = conformance.check(_target(bug), profile=PROFILE, seed=SEED, checks=[bug.caught_by])
    result = _only_result(report, bug.caught_by)
    assert not report.ok, f"{bug.name} ({bug.what}) passed check {bug.caught_by!r}"
    assert result.status == "failed"
    assert result.failures, "a failed check must carry its failing example"
    _assert_reproducer_shows_the_failure(result.failures[0].reproducer, tmp_path)


def _naming_checks(bug: broken.Bug) -> list[str]:
    """The checks that name a bug: the ops check for an op's, then the one built for it."""
    if bug.caught_by == "probe":
        return ["random"]
    if all(signature.startswith(("op:", "leaf:")) for signature in bug.problems):
        return ["ops"]
    return list(dict.fromkeys(["ops", bug.caught_by]))


@pytest.mark.parametrize("bug", broken.BUGS, ids=lambda bug: bug.name)
def test_a_broken_engine_is_named_by_its_problem_and_nothing_else(bug: broken.Bug) -> None:
    report = conformance.check(
        _target(bug), profile=PROFILE, seed=SEED, checks=_naming_checks(bug), strict=True
    )
    signatures = sorted(str(problem.signature) for problem in report.problems)
    assert signatures == sorted(bug.problems), report.problem_text()


@pytest.mark.parametrize("bug", SEMANTICS_BUGS, ids=lambda bug: bug.name)
def test_a_semantics_bug_fails_only_with_strict(bug: broken.Bug, tmp_path: Path) -> None:
    lenient = conformance.check(_target(bug), profile=PROFILE, seed=SEED, checks=[bug.caught_by])
    assert lenient.ok, "a semantics difference must not fail without strict"
    assert _only_result(lenient, bug.caught_by).status == "warned"

    strict = conformance.check(
        _target(bug), profile=PROFILE, seed=SEED, strict=True, checks=[bug.caught_by]
    )
    result = _only_result(strict, bug.caught_by)
    assert not strict.ok
    assert result.status == "failed"
    _assert_reproducer_shows_the_failure(result.failures[0].reproducer, tmp_path)


CORRECT_ENGINES = {
    "reference": f"{ENGINES / 'reference.py'}:Value",
    "bundled": "micrograd.engine:Value",
    "torch-backed": f"{ENGINES / 'torch_value.py'}:Value",
}


@pytest.mark.parametrize("target", CORRECT_ENGINES.values(), ids=CORRECT_ENGINES.keys())
def test_a_correct_engine_passes_every_check_of_the_default_profile(target: str) -> None:
    if "torch_value" in target:
        pytest.importorskip("torch", reason="the torch-backed engine needs torch")
    report = conformance.check(target, profile=PROFILE, seed=SEED, strict=True)
    assert report.ok, report.failure_text()
    checked_by = {bug.caught_by for bug in broken.BUGS} - {"probe"}  # the probe is not a check
    assert {c.name for c in report.checks} >= checked_by
    assert all(c.status == "passed" for c in report.checks), report.table()
    assert not report.skipped, f"a correct engine supports every op: {report.skipped}"
