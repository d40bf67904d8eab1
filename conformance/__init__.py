"""Conformance harness: checks any micrograd-style autograd engine against PyTorch float64.

import conformance
report = conformance.check("mypkg.engine:Value", profile="quick")
assert report.ok, report.failure_text()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from conformance.report import CheckResult, Failure, Report

__all__ = ["CheckResult", "Failure", "Report", "check", "target_label"]


def target_label(target: Any) -> str:
    """How a target is named in reports and replay commands."""
    if target is None:
        from conformance.backends import DEFAULT_TARGET

        return DEFAULT_TARGET
    if isinstance(target, str):
        return target
    spec = getattr(target, "target", None)
    if isinstance(spec, str):
        return spec
    if isinstance(target, type):
        return f"{target.__module__}:{target.__qualname__}"
    name = getattr(target, "name", None)
    return name if isinstance(name, str) else type(target).__name__


def check(
    target: Any = None,
    *,
    profile: str = "default",
    seed: int | None = None,
    strict: bool = False,
    oracle: Any = None,
    checks: Sequence[str] | None = None,
    timeout: float | None = 5.0,
    on_result: Callable[[CheckResult], None] | None = None,
    shrink_seconds: float = 20.0,
    skip_ops: Sequence[str] = (),
    aliases: Sequence[str] = (),
    xfail: Sequence[str] = (),
    isolate: bool | None = None,
    database: str | None = None,
) -> Report:
    """Check ``target`` (``module:Value``, ``file.py:Value``, a class, an adapter, a Backend).

    Raises ``conformance.backends.TargetError`` when the target cannot be loaded,
    ``conformance.oracles.OracleUnavailable`` when no oracle can be used and
    ``conformance.config.ConfigError`` for a bad setting. ``checks`` selects checks by name,
    ``timeout`` is the per-program limit in seconds, ``shrink_seconds`` caps the time spent
    shrinking each failure; ``skip_ops`` (``"pow:vv"``), ``aliases`` (``"log=ln"``) and
    ``xfail`` (problem signatures, variants or ops), ``isolate`` (run the engine in a worker
    process; None: only a compiled one) and ``database`` (a folder of failing programs, judged
    first next time) steer it as the command-line options do.
    """
    from conformance.backends import load_backend
    from conformance.config import parse_aliases, parse_skip, parse_xfail
    from conformance.oracles import load_oracle
    from conformance.runner import run_checks

    backend = load_backend(target, aliases=parse_aliases(aliases))
    the_oracle = load_oracle(oracle)
    return run_checks(
        backend,
        the_oracle,
        target=target_label(target),
        profile=profile,
        seed_value=seed,
        strict=strict,
        checks=checks,
        timeout=timeout,
        on_result=on_result,
        shrink_seconds=shrink_seconds,
        skip_ops=parse_skip(skip_ops),
        xfail=parse_xfail(xfail),
        isolate=isolate,
        database=database,
    )
