"""The profiles: how much checking a run does (examples per check, and the run's time budget)."""

from __future__ import annotations

__all__ = ["BUDGETS", "PROFILES"]

PROFILES = ("quick", "default", "thorough")
"""Profile names, from least to most checking."""

BUDGETS = {"quick": 30.0, "default": 50.0, "thorough": 3600.0}
"""Wall-clock seconds each profile may spend on generating examples (shrinking comes on top,
within SHRINK_BUDGET per failing check). Checks share it in proportion to their example counts."""
