"""The time budget bounds a run's work, the oracle's included: proved on a simulated clock.

A deliberately slow oracle charges every program it evaluates to a fake clock (the harness reads
time through ``time.perf_counter``), so the test measures work in simulated seconds: it does not
depend on how fast or how loaded the machine is, and takes a few real seconds.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import conformance
from conformance.backends.base import Evaluation, OracleBase
from conformance.oracles import load_oracle
from conformance.profiles import BUDGETS
from conformance.program import Program

SECONDS_PER_PROGRAM = 0.5
"""What each program costs the slow oracle, in simulated seconds: the quick profile's ~500
programs would take about 250 s unbounded, eight times its 30 s budget."""


class SlowOracle(OracleBase):
    """The mpmath oracle, charging SECONDS_PER_PROGRAM of simulated time per program."""

    name = "slow"
    description = "a deliberately slow oracle"

    def __init__(self, clock: list[float]) -> None:
        self.inner = load_oracle("mpmath")
        self.determines_nonfinite_gradients = self.inner.determines_nonfinite_gradients
        self.clock = clock
        self.programs = 0

    def run(self, program: Program) -> Evaluation:
        """The real oracle's answer, after charging the simulated clock."""
        self.clock[0] += SECONDS_PER_PROGRAM
        self.programs += 1
        return self.inner.run(program)

    def nn_reference(self, spec: Any, x: Any) -> dict[str, Any] | None:
        """No neural-network library: the nn checks fall back to programs."""
        return None


def test_a_slow_oracle_cannot_stretch_a_run_far_past_its_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = time.perf_counter
    offset = [0.0]
    monkeypatch.setattr(time, "perf_counter", lambda: real() + offset[0])
    oracle = SlowOracle(offset)
    report = conformance.check("micrograd.engine:Value", profile="quick", seed=0, oracle=oracle)
    assert report.ok, report.text()
    budget = BUDGETS["quick"]
    # Each of the 11 checks may overrun its share by the one example it always runs (the ops check
    # by one batch, the training check by its few steps): about 20 programs' worth beyond the
    # budget, never the 500 the profile asks for.
    allowed = budget + 20 * SECONDS_PER_PROGRAM
    assert report.seconds <= allowed, report.table()
    assert oracle.programs * SECONDS_PER_PROGRAM <= allowed
    notes = " ".join(c.note for c in report.checks)
    assert "time budget reached" in notes, "the run must say it stopped early"
