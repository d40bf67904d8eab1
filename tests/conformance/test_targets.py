"""Loading a TARGET by path: packages, relative imports, and a fork named like an installed one.

Each case runs ``python -m conformance`` in a fresh process from an empty directory, as a user
would, and reads the report header (which names the file that was checked).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import micrograd.engine

REFERENCE = Path(__file__).resolve().parents[1] / "meta_tests" / "engines" / "reference.py"


def _check(target: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "conformance", target, "--profile", "quick", "--seed", "0"]
    command += ["--check", "random"]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def _package(root: Path, name: str) -> Path:
    """A package ``name`` whose engine.py imports its Value relatively (from .core)."""
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"from {name}.engine import Value\n")
    shutil.copy(REFERENCE, package / "core.py")
    (package / "engine.py").write_text("from .core import Value\n\n__all__ = ['Value']\n")
    return package / "engine.py"


def test_a_file_inside_a_package_is_loaded_with_its_relative_imports(tmp_path: Path) -> None:
    engine = _package(tmp_path / "src", "myengine")
    run = _check(f"{engine}:Value", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    # The header names the file that defines the Value class checked.
    assert f"({engine.parent / 'core.py'})" in run.stdout.splitlines()[0]


def test_a_fork_named_micrograd_is_checked_by_its_path_not_the_installed_one(
    tmp_path: Path,
) -> None:
    engine = _package(tmp_path / "fork", "micrograd")
    run = _check(f"{engine}:Value", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    header = run.stdout.splitlines()[0]
    assert f"({engine.parent / 'core.py'})" in header and micrograd.engine.__file__ not in header


def test_without_a_target_the_installed_micrograd_is_checked_and_its_file_named(
    tmp_path: Path,
) -> None:
    command = [sys.executable, "-m", "conformance", "--profile", "quick", "--seed", "0"]
    command += ["--check", "random"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"({Path(micrograd.engine.__file__).resolve()})" in run.stdout.splitlines()[0]
