"""The comparison with micrograd 0.1.0: its plain-float bound does the engine's work, and says so.

Run with ``pytest benchmarks/test_comparison.py`` (a second; ``tox -e bench`` runs it).
"""

from __future__ import annotations

from benchmarks.compare_micrograd010 import (
    FLOOR,
    OLD,
    OURS,
    REL_TOL,
    SPEED_TARGET,
    Results,
    make_spec,
    max_rel_diff,
    verdicts,
)
from benchmarks.demo_child import run


def test_the_plain_float_bound_computes_the_engines_first_loss_and_accuracy() -> None:
    engine = run(make_spec("notebook", 2))
    floats = run(make_spec(FLOOR, 2))
    assert max_rel_diff(floats["losses"][:1], engine["losses"][:1]) <= REL_TOL
    assert floats["accuracies"][0] == engine["accuracies"][0]
    # No gradient, no update: every step repeats the first one, while the engine's loss moves.
    assert floats["losses"][1] == floats["losses"][0] != engine["losses"][1]


def _results(*, floor_ir: float, first_loss: float = 1.0) -> Results:
    """Figures of one round: 0.1.0 costs 1000 a step, our loops 10, the bound ``floor_ir``."""
    results = Results(floor_first_loss=first_loss)
    for key in (*OURS, OLD):
        results.trajectory[key] = {"losses": [1.0, 0.5], "cpu_s": 1.0, "peak_rss_kib": 1000}
    for figures in (results.cpu_per_step, results.ir_per_step):
        figures.update({OLD: [1000.0], FLOOR: [floor_ir]})
        figures.update({key: [10.0] for key in OURS})
    return results


def test_a_missed_target_below_the_bound_is_called_out_of_reach() -> None:
    messages = [m for _, m in verdicts(_results(floor_ir=20.0), True, 20, 3)]
    instructions = [m for m in messages if "by instruction count" in m]
    assert len(instructions) == len(OURS)
    assert all("out of reach for any pure-Python engine here" in m for m in instructions)
    assert all("only 50x" in m for m in instructions)


def test_a_missed_target_within_the_bound_is_just_missed() -> None:
    floor = 1000.0 / (SPEED_TARGET * 2)
    checks = verdicts(_results(floor_ir=floor), True, 20, 3)
    assert not any("out of reach" in m for _, m in checks)
    assert not all(ok for ok, _ in checks)


def test_a_bound_that_computes_another_loss_fails_the_trajectory_check() -> None:
    ok, message = verdicts(_results(floor_ir=20.0, first_loss=1.5), True, 20, 3)[0]
    assert not ok and "plain-float reference" in message
