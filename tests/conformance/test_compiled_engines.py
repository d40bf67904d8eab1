"""An engine compiled into an extension module runs in a worker process unless told otherwise.

A crash in compiled code takes the interpreter down with it; a harness that ran such an engine
in-process died with it (minigrad 0.0.6 from PyPI, a C-API port, segfaults on `v + 0.0`), and
printed nothing. Building a real extension here would need a compiler, so the tests fake the
module file, and a Python engine that segfaults through ctypes stands in for compiled code.
"""

from __future__ import annotations

import decimal
import importlib.machinery
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

import conformance
from conformance.backends.base import BackendError
from conformance.backends.python import extension_file
from conformance.program import Node, Program
from tests.meta_tests.engines.reference import Value as Reference

HOSTILE = Path(__file__).resolve().parents[1] / "meta_tests" / "engines" / "hostile.py"
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.fixture
def fake_extension() -> Iterator[str]:
    """A module registered as if loaded from an extension file; yields its name."""
    name = "fake_compiled_engine"
    module = types.ModuleType(name)
    module.__file__ = f"/somewhere/{name}{SUFFIX}"
    sys.modules[name] = module
    yield name
    del sys.modules[name]


def test_a_class_whose_module_is_an_extension_file_is_compiled(fake_extension: str) -> None:
    cls = type("Value", (Reference,), {"__module__": fake_extension})
    assert extension_file(cls) == f"/somewhere/{fake_extension}{SUFFIX}"


def test_a_c_type_that_names_no_module_is_found_through_its_target(fake_extension: str) -> None:
    # tp_name = "Value" gives a C type the __module__ "builtins".
    cls = type("Value", (Reference,), {"__module__": "builtins"})
    assert extension_file(cls, f"{fake_extension}:Value").endswith(SUFFIX)
    assert extension_file(cls) == ""


def test_a_type_whose_operators_are_not_python_functions_is_compiled() -> None:
    assert "compiled" in extension_file(decimal.Decimal)
    assert extension_file(Reference) == ""


def _run(code: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout.splitlines()


PRETEND_COMPILED = (
    "import conformance.backends.python as python\n"
    "python.extension_file = lambda cls, target=None: 'engine" + SUFFIX + "'\n"
    "import conformance\n"
)


def test_a_compiled_engine_that_crashes_fails_a_program_not_the_run() -> None:
    lines = _run(
        PRETEND_COMPILED
        + f"r = conformance.check({str(HOSTILE) + ':SegfaultInBackward'!r}, profile='quick',"
        " seed=0, checks=['random'])\n"
        "print(r.runs_in)\n"
        "print(*[str(p.signature) for p in r.problems])\n"
    )
    assert "worker process" in lines[0]
    assert lines[1] == "leaf:backward"


def test_isolate_false_runs_even_a_compiled_engine_in_process() -> None:
    lines = _run(
        PRETEND_COMPILED
        + "r = conformance.check('micrograd.engine:Value', profile='quick', seed=0,"
        " checks=['reuse'], isolate=False)\n"
        "print(repr(r.runs_in), r.ok)\n"
    )
    assert lines == ["'' True"]


def test_a_python_engine_runs_in_process_by_default() -> None:
    report = conformance.check("micrograd.engine:Value", profile="quick", seed=0, checks=["reuse"])
    assert report.ok and report.runs_in == ""


def _deaths(target: str, programs: int) -> list[BackendError]:
    """The errors of running a small program ``programs`` times on ``target`` in a worker."""
    from conformance.backends import load_backend
    from conformance.backends.isolated import IsolatedBackend

    backend = IsolatedBackend(load_backend(target), timeout=5.0)
    program = Program((Node("input", value=1.0), Node("input", value=2.0), Node("add", (0, 1))), 2)
    errors = []
    try:
        for _ in range(programs):
            try:
                backend.run(program)
            except BackendError as exc:
                errors.append(exc)
    finally:
        backend.close()
    return errors


def test_a_death_that_builds_up_over_programs_says_the_program_passes_on_a_fresh_process() -> None:
    # A reference-count error in C kills the process in whichever program it happens to be
    # running (minigrad 0.0.6); that program alone passes.
    errors = _deaths(f"{HOSTILE}:DiesOfAccumulation", 250)
    assert len(errors) >= 2 and all(e.fatal for e in errors)
    assert all(
        e.brief == "ends the process (exit status 3), though not on a fresh one" for e in errors
    )
    assert "this program passes" in str(errors[0])


def test_a_program_that_kills_every_process_is_its_own_death() -> None:
    errors = _deaths(f"{HOSTILE}:OsExitInBackward", 3)
    assert [e.brief for e in errors] == ["ends the process (exit status 7)"] * 3
