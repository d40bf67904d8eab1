"""The architecture's rules, checked on the source: who imports whom, where op facts live."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.ops import OPS

ROOT = Path(__file__).resolve().parents[1]


PACKAGES = {"conformance": ROOT / "conformance", "micrograd": ROOT / "engine" / "micrograd"}
"""Where each package's source lives (the engine is its own distribution, in engine/)."""


def _modules(package: str) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGES[package].rglob("*.py")):
        yield path, ast.parse(path.read_text(), filename=str(path))


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("conformance", "micrograd"), ("micrograd", "conformance")],
    ids=["the harness never imports the engine", "the engine never imports the harness"],
)
def test_the_harness_and_the_reference_engine_stay_independent(
    package: str, forbidden: str
) -> None:
    offenders = [path for path, tree in _modules(package) if forbidden in _imported(tree)]
    assert not offenders, f"{package} must not import {forbidden}: {offenders}"


def _op_names_compared(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, name) of every comparison of a value with an op name (``op == "log"``)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for side in (node.left, *node.comparators):
            constants = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
            for c in constants:
                if isinstance(c, ast.Constant) and isinstance(c.value, str) and c.value in OPS:
                    found.append((node.lineno, c.value))
    return found


def test_nothing_outside_the_op_table_branches_on_an_ops_name() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} compares with {name!r}"
        for path, tree in _modules("conformance")
        if path.name != "ops.py"
        for line, name in _op_names_compared(tree)
    ]
    assert not offenders, "read the op's row in conformance/ops.py instead:\n" + "\n".join(
        offenders
    )


def test_the_lint_above_would_see_a_branch_on_an_ops_name() -> None:
    tree = ast.parse('if node.op == "log" or name in ("div", "idiv"):\n    pass\n')
    assert _op_names_compared(tree) == [(1, "log"), (1, "div"), (1, "idiv")]
