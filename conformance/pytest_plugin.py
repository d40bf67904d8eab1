"""Pytest plugin for the conformance harness (registered through the ``pytest11`` entry point).

With ``--conformance-target TARGET`` every check becomes a pytest item (``conformance::random``,
``conformance::deep``, ...) in the user's own test run. Without it the plugin does nothing.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from conformance.profiles import PROFILES

__all__ = ["ConformanceItem", "ConformanceWarning"]

_STATE = pytest.StashKey[dict[str, Any]]()


class ConformanceWarning(pytest.PytestWarning):
    """A semantics check differs from torch (fails only with --conformance-strict)."""


class ConformanceFailed(Exception):
    """A check found a failing program; the message carries its reproducer."""


_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("target", {"metavar": "TARGET", "help": "check this engine (module:Value, file.py:Value)"}),
    ("profile", {"default": "quick", "choices": PROFILES, "help": "examples per check (quick)"}),
    ("seed", {"type": int, "help": "Hypothesis seed (0 in CI by default)"}),
    ("check", {"action": "append", "metavar": "NAME", "help": "only this check (repeatable)"}),
    ("strict", {"action": "store_true", "help": "semantics checks fail too"}),
    ("oracle", {"help": "torch (default) or mpmath"}),
    ("timeout", {"type": float, "default": 5.0, "help": "seconds per program"}),
)
"""The plugin's options: ``--conformance-<name>``, with argparse's keywords."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options under --conformance-*."""
    group = parser.getgroup("conformance", "micrograd conformance harness")
    for name, keywords in _OPTIONS:
        group.addoption(f"--conformance-{name}", **keywords)


def pytest_configure(config: pytest.Config) -> None:
    """Load the target and oracle once; a bad target is a usage error."""
    target = config.getoption("conformance_target", default=None)
    if not target:
        return
    from conformance.backends import TargetError, load_backend
    from conformance.checks import get_check
    from conformance.oracles import OracleUnavailable, load_oracle
    from conformance.runner import default_seed

    try:
        backend = load_backend(target)
        oracle = load_oracle(config.getoption("conformance_oracle"))
        for name in config.getoption("conformance_check") or []:
            get_check(name)
    except (TargetError, OracleUnavailable, KeyError) as exc:
        raise pytest.UsageError(f"--conformance-*: {exc}") from exc
    seed = config.getoption("conformance_seed")
    config.stash[_STATE] = {
        "target": target,
        "backend": backend,
        "oracle": oracle,
        "seed": default_seed() if seed is None else seed,
        "probe": None,
    }


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    """Name the target, seed and oracle of the conformance run."""
    state = config.stash.get(_STATE, None)
    if state is None:
        return None
    oracle = state["oracle"]
    oracle_text = oracle.description or oracle.name
    return [
        f"conformance: target {state['target']}, seed {state['seed']}, oracle {oracle_text}, "
        f"profile {config.getoption('conformance_profile')}"
    ]


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Append one item per selected check."""
    if config.stash.get(_STATE, None) is None:
        return
    from conformance.checks import CHECKS

    wanted = config.getoption("conformance_check")
    for check in CHECKS:
        if not wanted or check.name in wanted:
            items.append(ConformanceItem.from_parent(session, name=f"conformance::{check.name}"))


class ConformanceItem(pytest.Item):
    """One named check of the harness as a pytest test."""

    def runtest(self) -> None:
        """Run the check; fail with the reproducer, skip with the reason, or warn."""
        from conformance.checks import CheckContext, get_check
        from conformance.probe import probe
        from conformance.runner import run_check

        config = self.config
        state = config.stash[_STATE]
        timeout = config.getoption("conformance_timeout")
        if state["probe"] is None:
            state["probe"] = probe(state["backend"], timeout)
        supported, fatal = state["probe"].supported, state["probe"].fatal
        if fatal is not None:
            raise ConformanceFailed(fatal)
        strict = bool(config.getoption("conformance_strict"))
        profile = config.getoption("conformance_profile")
        ctx = CheckContext(state["backend"], state["oracle"], supported, profile, timeout, strict)
        check = get_check(self.name.split("::", 1)[1])
        result = run_check(check, ctx, seed_value=state["seed"], budget=None)
        self.user_properties.append(("examples", result.examples))
        if result.status == "skipped":
            pytest.skip(result.note)
        text = "\n\n".join(
            f"{f.summary}\n\n--- reproducer ---\n{f.reproducer}--- replay: {f.replay}"
            for f in result.failures
        )
        if result.status == "failed":
            raise ConformanceFailed(text or result.note)
        if result.status == "warned":
            warnings.warn(ConformanceWarning(f"{check.name}: {text}"), stacklevel=1)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The failure text and reproducer instead of a harness traceback."""
        if isinstance(excinfo.value, ConformanceFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        """Where the item comes from, for pytest's reports."""
        return ("conformance", None, self.name)
