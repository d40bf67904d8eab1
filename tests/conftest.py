"""Test-suite configuration: Hypothesis profiles and a header line naming the oracle in use."""

from __future__ import annotations

import importlib.util
import os

import pytest
from hypothesis import HealthCheck, settings

# Fast while developing; derandomised (the same examples every run) in CI, so a red build replays.
settings.register_profile("dev", max_examples=25, deadline=None)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

HAS_TORCH = importlib.util.find_spec("torch") is not None


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which oracle this run can use and which Hypothesis profile it runs under."""
    oracle = "torch (float64)" if HAS_TORCH else "mpmath only: torch is not installed here"
    return [f"oracle: {oracle}", f"hypothesis profile: {settings._current_profile}"]
