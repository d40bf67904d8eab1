"""Shared helpers for the pytest-benchmark suites: per-unit throughput figures and their summary.

These suites run only when asked for (``pytest benchmarks/``); the test suite's testpath is tests/.
"""

from __future__ import annotations

from typing import Any

import pytest

# (test id, median nanoseconds per unit, unit) for the end-of-run throughput table.
_THROUGHPUT: list[tuple[str, float, str]] = []


def record_per_unit(benchmark: Any, units: int, unit: str) -> None:
    """Store the median time per ``unit`` (node, program, step ...) in the benchmark's JSON."""
    benchmark.extra_info["units"] = units
    benchmark.extra_info["unit"] = unit
    stats = getattr(benchmark, "stats", None)
    if stats is None:  # --benchmark-disable: the body ran once, untimed
        return
    per_unit_ns = stats.stats.median / units * 1e9
    benchmark.extra_info[f"median_ns_per_{unit}"] = per_unit_ns
    benchmark.extra_info[f"{unit}s_per_second"] = 1e9 / per_unit_ns
    _THROUGHPUT.append((benchmark.name, per_unit_ns, unit))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the per-unit figures after pytest-benchmark's own table."""
    if not _THROUGHPUT:
        return
    terminalreporter.section("throughput (median per unit)")
    width = max(len(name) for name, _, _ in _THROUGHPUT)
    for name, ns, unit in _THROUGHPUT:
        if ns >= 1e6:
            figure = f"{ns / 1e6:10.2f} ms / {unit}"
        else:
            figure = f"{ns:10.1f} ns / {unit}"
        terminalreporter.write_line(f"{name:<{width}}  {figure}  ({1e9 / ns:,.0f} {unit}s/s)")


@pytest.fixture
def per_unit() -> Any:
    """The :func:`record_per_unit` helper, as a fixture so test modules need no imports."""
    return record_per_unit
