"""Fixtures for the any-language tests: the C engine built into a temp dir, hostile drivers."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
C_SOURCES = [ROOT / "polyglot" / "c" / "engine.c", ROOT / "polyglot" / "c" / "driver.c"]
HOSTILE = Path(__file__).with_name("hostile_driver.py")
C_VARIANTS = {"good": [], "grad-assign": ["-DBUG_GRAD_ASSIGN"], "tanh-deriv": ["-DBUG_TANH_DERIV"]}


def build_c_engine(directory: Path, flags: list[str], name: str) -> Path:
    """Compile polyglot/c with gcc the way polyglot/c/Makefile does, plus the bug flags."""
    gcc = shutil.which("gcc")
    if gcc is None:
        if os.environ.get("CI"):
            pytest.fail("gcc is required in CI to build polyglot/c")
        pytest.skip("gcc is not installed: cannot build polyglot/c")
    binary = directory / name
    command = [gcc, "-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror", *flags]
    command += ["-o", str(binary), *map(str, C_SOURCES), "-lm"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"gcc failed:\n{result.stderr}"
    return binary


@pytest.fixture(scope="session")
def c_engines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The C engine and its deliberately broken variants, built once per session."""
    directory = tmp_path_factory.mktemp("polyglot-c")
    return {
        name: build_c_engine(directory, flags, f"micrograd-c-{name}")
        for name, flags in C_VARIANTS.items()
    }


@pytest.fixture
def hostile() -> Callable[..., str]:
    """The command line of a hostile driver: hostile("segfault", min_nodes=5)."""

    def command(mode: str, min_nodes: int = 0) -> str:
        return shlex.join([sys.executable, str(HOSTILE), mode, "--min-nodes", str(min_nodes)])

    return command


REFERENCE_DRIVER = shlex.join([sys.executable, "-m", "conformance.drivers.micrograd"])
