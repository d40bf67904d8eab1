"""The named checks, in report order; ``register`` adds more."""

from __future__ import annotations

from conformance.checks.base import Check, CheckContext, Outcome, ProgramCheck, run_guarded
from conformance.checks.deep import DEEP, DeepCheck
from conformance.checks.nn import NN
from conformance.checks.per_op import PER_OP
from conformance.checks.programs import (
    INPLACE,
    KINKS,
    NONFINITE,
    RANDOM,
    REFLECTED,
    REPEATED_BACKWARD,
    REUSE,
)
from conformance.checks.training import TRAINING

__all__ = [
    "CHECKS",
    "Check",
    "CheckContext",
    "DeepCheck",
    "Outcome",
    "ProgramCheck",
    "get_check",
    "register",
    "run_guarded",
]

CHECKS: list[Check] = [
    PER_OP,
    RANDOM,
    REUSE,
    REFLECTED,
    DEEP,
    KINKS,
    INPLACE,
    REPEATED_BACKWARD,
    NONFINITE,
    NN,
    TRAINING,
]
"""Every check, in report order."""


def register(check: Check) -> None:
    """Add a check (replacing one of the same name)."""
    for i, existing in enumerate(CHECKS):
        if existing.name == check.name:
            CHECKS[i] = check
            return
    CHECKS.append(check)


def get_check(name: str) -> Check:
    """The check called ``name``; KeyError listing the known names otherwise."""
    for check in CHECKS:
        if check.name == name:
            return check
    raise KeyError(f"unknown check {name!r}; known checks: {', '.join(c.name for c in CHECKS)}")
