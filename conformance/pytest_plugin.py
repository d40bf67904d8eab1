"""Pytest plugin for the conformance harness (registered through the ``pytest11`` entry point).

With ``--conformance-target TARGET`` the run becomes pytest items in the user's own test run:
``conformance::probe`` (the basic API and the op probe), then one item per check
(``conformance::ops``, ``conformance::random``, ...). The first item runs the whole diagnosis
once, as ``python -m conformance`` does, so each problem is named once and the composition checks
run without the ops that already failed alone; each item then reports the problems its check
saw. Without ``--conformance-target`` the plugin does nothing.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from conformance.profiles import PROFILES

__all__ = ["ConformanceItem", "ConformanceWarning"]

_STATE = pytest.StashKey[dict[str, Any]]()

PROBE_ITEM = "probe"
"""The item for what the probe finds before any check runs (a missing form, Value(x) != x)."""


class ConformanceWarning(pytest.PytestWarning):
    """A semantics check differs from torch (fails only with --conformance-strict)."""


class ConformanceFailed(Exception):
    """A check found problems; the message carries their diagnoses and reproducers."""


_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("target", {"metavar": "TARGET", "help": "check this engine (module:Value, file.py:Value)"}),
    ("profile", {"default": "quick", "choices": PROFILES, "help": "examples per check (quick)"}),
    ("seed", {"type": int, "help": "Hypothesis seed (0 in CI by default)"}),
    ("check", {"action": "append", "metavar": "NAME", "help": "only this check (repeatable)"}),
    ("strict", {"action": "store_true", "help": "semantics checks fail too"}),
    ("oracle", {"help": "torch (default) or mpmath"}),
    ("timeout", {"type": float, "default": 5.0, "help": "seconds per program"}),
    (
        "skip-op",
        {"action": "append", "metavar": "NAME[:FORM]", "help": "leave an op out (repeatable)"},
    ),
    ("alias", {"action": "append", "metavar": "METHOD=NAME", "help": "the engine's own name"}),
    ("xfail", {"metavar": "FILE", "help": "expected failures, one per line"}),
    (
        "isolate",
        {"action": "store_true", "help": "run the engine in a worker process (a compiled one is)"},
    ),
)
"""The plugin's options: ``--conformance-<name>``, with argparse's keywords."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Options under --conformance-*."""
    group = parser.getgroup("conformance", "micrograd conformance harness")
    for name, keywords in _OPTIONS:
        group.addoption(f"--conformance-{name}", **keywords)


def pytest_configure(config: pytest.Config) -> None:
    """Load the target, the oracle and the settings once; a bad one is a usage error."""
    target = config.getoption("conformance_target", default=None)
    if not target:
        return
    from conformance.backends import TargetError, load_backend
    from conformance.checks import get_check
    from conformance.config import (
        ConfigError,
        Settings,
        parse_aliases,
        parse_skip,
        project_settings,
        read_xfail_file,
    )
    from conformance.oracles import OracleUnavailable, load_oracle
    from conformance.runner import default_seed

    try:
        xfail_file = config.getoption("conformance_xfail")
        settings = project_settings(config.rootpath).merged(
            Settings(
                parse_skip(config.getoption("conformance_skip_op") or ()),
                parse_aliases(config.getoption("conformance_alias") or ()),
                read_xfail_file(xfail_file) if xfail_file else [],
            )
        )
        backend = load_backend(target, aliases=settings.aliases)
        oracle = load_oracle(config.getoption("conformance_oracle"))
        checks = config.getoption("conformance_check") or []
        for name in checks:
            get_check(name)
    except (TargetError, OracleUnavailable, ConfigError, KeyError) as exc:
        raise pytest.UsageError(f"--conformance-*: {exc}") from exc
    seed = config.getoption("conformance_seed")
    config.stash[_STATE] = {
        "target": target,
        "backend": backend,
        "oracle": oracle,
        "seed": default_seed() if seed is None else seed,
        "checks": checks,
        "skip": settings.skip,
        "xfail": settings.xfail,
        "report": None,
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
    """Append the probe item and one item per selected check."""
    state = config.stash.get(_STATE, None)
    if state is None:
        return
    from conformance.checks import CHECKS

    wanted = state["checks"]
    names = [PROBE_ITEM] + [c.name for c in CHECKS if not wanted or c.name in wanted]
    for name in names:
        items.append(ConformanceItem.from_parent(session, name=f"conformance::{name}"))


def _report(config: pytest.Config) -> Any:
    """The run's Report, made by the first item that asks for it."""
    state = config.stash[_STATE]
    if state["report"] is None:
        from conformance.runner import run_checks

        state["report"] = run_checks(
            state["backend"],
            state["oracle"],
            target=state["target"],
            profile=config.getoption("conformance_profile"),
            seed_value=state["seed"],
            strict=bool(config.getoption("conformance_strict")),
            checks=state["checks"] or None,
            timeout=config.getoption("conformance_timeout"),
            skip_ops=state["skip"],
            xfail=state["xfail"],
            isolate=True if config.getoption("conformance_isolate") else None,
        )
    return state["report"]


class ConformanceItem(pytest.Item):
    """One named check of the harness (or the probe) as a pytest test."""

    def runtest(self) -> None:
        """Fail with the problems the check saw, skip with its reason, xfail or warn."""
        report = _report(self.config)
        name = self.name.split("::", 1)[1]
        problems = [p for p in report.problems if name in p.checks]
        text = "\n\n".join(
            f"{p.signature}: {p.summary}\n" + "\n".join(p.short) + f"\n--- reproducer ---\n"
            f"{p.reproducer}--- replay: {p.replay or report.replay}"
            for p in problems
        )
        if name == PROBE_ITEM:
            fatal = next((c for c in report.checks if c.name == PROBE_ITEM), None)
            if fatal is not None:
                raise ConformanceFailed(fatal.note)
            failing = [p for p in problems if not p.expected]
            if failing:
                raise ConformanceFailed(text)
            if problems:
                pytest.xfail(", ".join(str(p.signature) for p in problems))
            return
        result = next((c for c in report.checks if c.name == name), None)
        if result is None:
            pytest.skip("the probe failed: no check ran (see conformance::probe)")
        self.user_properties.append(("examples", result.examples))
        if result.status == "skipped":
            pytest.skip(result.note)
        if result.status == "failed":
            raise ConformanceFailed(text or result.note)
        if result.status == "warned":
            warnings.warn(ConformanceWarning(f"{name}: {text}"), stacklevel=1)
        if result.status == "expected":
            pytest.xfail(", ".join(str(p.signature) for p in problems))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The problems and their reproducers instead of a harness traceback."""
        if isinstance(excinfo.value, ConformanceFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int | None, str]:
        """Where the item comes from, for pytest's reports."""
        return ("conformance", None, self.name)
