"""The ``slow`` marker: full default-profile runs of the harness (about a minute each)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker so ``-m "not slow"`` can leave those runs out of a quick local loop."""
    config.addinivalue_line(
        "markers", "slow: a full default-profile harness run (about a minute); runs by default"
    )
