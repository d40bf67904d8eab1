"""The regression gate's proof: a twice-as-slow engine or harness fails it, the unchanged one
passes it.

The unchanged copies run against the committed ``benchmarks/baseline.json``, recorded on another
day and perhaps another machine: the normalised figure must carry over. A slowed copy runs against
a baseline recorded from the unchanged copy in the same test, on this machine, as
``--update-baseline`` would: the proof that the gate tells 2x from noise does not then also rest on
how well the committed figures port to whatever machine runs it. Everything goes through the
machinery the CI gate uses (a fresh worker interpreter importing the package from a copy). About
a minute. Run with ``pytest benchmarks/test_gate.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import micrograd.engine
from benchmarks import gate

PACKAGE = Path(micrograd.engine.__file__).resolve().parent
# Fewer rounds than the CI gate's 21 keep this file under a minute on a loaded machine; the
# median of 11 still sits within a few percent of the median of 21 (docs/BENCHMARKS.md).
ROUNDS = 11

# Appended to the copied engine.py and nn.py: every method of Value, of the nn classes and every
# nn function busy-waits, after doing its work, for as long as that work took (times the factor
# minus one). Only the outermost call waits (an op calling another op is timed once), so the
# package's own code costs FACTOR times the CPU time while its results stay bit-for-bit the same;
# the training loop slows by about FACTOR (only demo.train's few lines of glue are not slowed).
SLOWED = """

def _slowed(fn, _clock=__import__("time").process_time, _depth=[0]):
    def wrapper(*args, **kwargs):
        if _depth[0]:
            return fn(*args, **kwargs)
        _depth[0] = 1
        start = _clock()
        try:
            return fn(*args, **kwargs)
        finally:
            _depth[0] = 0
            now = _clock()
            end = now + EXTRA * (now - start)
            while _clock() < end:
                pass
    return wrapper


def _slow_class(cls):
    for name, attr in list(vars(cls).items()):
        if isinstance(attr, staticmethod):
            setattr(cls, name, staticmethod(_slowed(attr.__func__)))
        elif callable(attr) and not isinstance(attr, type) and name != "__repr__":
            setattr(cls, name, _slowed(attr))
"""
SLOW_ENGINE = "\n_slow_class(Value)\n"
SLOW_NN = """
from micrograd.engine import _slow_class, _slowed

for _cls in (Module, Neuron, Layer, MLP, SGD):
    _slow_class(_cls)
svm_loss = _slowed(svm_loss)
mse_loss = _slowed(mse_loss)
accuracy = _slowed(accuracy)
"""


def _copy_engine(dest: Path, slowdown: float | None) -> Path:
    """Copy the micrograd package into ``dest``; with ``slowdown``, patch it that much slower."""
    target = dest / "micrograd"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    if slowdown is not None:
        engine = target / "engine.py"
        slowed = SLOWED.replace("EXTRA", repr(slowdown - 1.0))
        engine.write_text(engine.read_text() + slowed + SLOW_ENGINE)
        nn = target / "nn.py"
        nn.write_text(nn.read_text() + SLOW_NN)
    return dest


def test_the_unchanged_engine_passes_the_gate_run_after_run(tmp_path: Path) -> None:
    engine = _copy_engine(tmp_path, slowdown=None)
    verdicts = [
        gate.run_gate(engine_path=engine, rounds=ROUNDS, confirm=False, log=print) for _ in range(3)
    ]
    factors = [round(v.factor, 3) for v in verdicts]
    print(f"unchanged engine: {factors} x the baseline (limit {gate.TOLERANCE})")
    assert all(v.ok for v in verdicts), f"unchanged engine failed the gate: factors {factors}"
    assert all(v.measurements[0].engine_file.startswith(str(engine)) for v in verdicts)


def _baseline_of(copy: Path, path: Path, workload: str) -> Path:
    """Record ``copy``'s figure for ``workload`` in a baseline file at ``path``, on this machine."""
    gate.update_baseline(
        path, rounds=ROUNDS, repeats=1, engine_path=copy, workload=workload, log=print
    )
    return path


def test_an_engine_twice_as_slow_fails_the_gate(tmp_path: Path) -> None:
    same = _copy_engine(tmp_path / "same", slowdown=None)
    baseline = _baseline_of(same, tmp_path / "baseline.json", "engine")
    engine = _copy_engine(tmp_path / "slow", slowdown=2.0)
    verdict = gate.run_gate(baseline_path=baseline, engine_path=engine, rounds=ROUNDS, log=print)
    factors = [round(m.normalised / verdict.baseline, 3) for m in verdict.measurements]
    print(f"2x slowed engine: {factors} x the baseline (limit {gate.TOLERANCE})")
    assert not verdict.ok, f"a 2x slower engine passed the gate: factors {factors}"
    # Both the first measurement and its confirmation saw the slowdown, not just a burst of load.
    assert len(verdict.measurements) == 2
    assert verdict.factor > gate.TOLERANCE
    assert verdict.measurements[0].engine_file.startswith(str(engine))


def test_the_slowed_copy_computes_the_same_numbers(tmp_path: Path) -> None:
    # The slowdown must be pure cost, not a different computation that happens to be slower.
    import subprocess
    import sys

    engine = _copy_engine(tmp_path, slowdown=2.0)
    code = (
        "from micrograd.demo import train; r = train(2); "
        "import micrograd.engine as e; print(e.__file__); print(repr(r.losses))"
    )
    patched = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,  # a directory holding no other micrograd/ that could shadow the copy
        env={"PYTHONPATH": str(engine), "PATH": ""},
    ).stdout.splitlines()
    from micrograd.demo import train

    assert patched[0].startswith(str(engine))
    assert patched[1] == repr(train(2).losses)


def test_a_missing_baseline_is_an_error_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(gate.GateError, match="--update-baseline"):
        gate.run_gate(baseline_path=tmp_path / "none.json")


HARNESS = Path(gate.__file__).resolve().parents[1] / "conformance"
# Appended to the copied runner.py: each round of Hypothesis search (drawing, running, judging)
# busy-waits, after its work, for as long as that work took (times the factor minus one), so the
# harness's part of a round costs FACTOR times its CPU time with the same verdicts.
SLOW_HARNESS = """

def _slowed_round(fn, _clock=__import__("time").process_time):
    def wrapper(*args, **kwargs):
        start = _clock()
        try:
            return fn(*args, **kwargs)
        finally:
            now = _clock()
            end = now + EXTRA * (now - start)
            while _clock() < end:
                pass
    return wrapper


_search_round = _slowed_round(_search_round)
"""


def _copy_harness(dest: Path, slowdown: float | None) -> Path:
    """Copy the conformance package into ``dest``; with ``slowdown``, its search that slower."""
    target = dest / "conformance"
    shutil.copytree(HARNESS, target, ignore=shutil.ignore_patterns("__pycache__"))
    if slowdown is not None:
        runner = target / "runner.py"
        runner.write_text(runner.read_text() + SLOW_HARNESS.replace("EXTRA", repr(slowdown - 1.0)))
    return dest


def test_a_harness_twice_as_slow_fails_the_gate_and_the_unchanged_one_passes(
    tmp_path: Path,
) -> None:
    same = _copy_harness(tmp_path / "same", None)
    verdict = gate.run_gate(engine_path=same, rounds=ROUNDS, workload="harness", log=print)
    assert verdict.ok, f"unchanged harness measured {verdict.factor:.2f}x the committed baseline"
    assert str(same) in verdict.measurements[-1].engine_file
    baseline = _baseline_of(same, tmp_path / "baseline.json", "harness")
    slow = _copy_harness(tmp_path / "slow", 2.0)
    verdict = gate.run_gate(
        baseline_path=baseline, engine_path=slow, rounds=ROUNDS, workload="harness", log=print
    )
    factors = [round(m.normalised / verdict.baseline, 3) for m in verdict.measurements]
    assert not verdict.ok, f"a 2x slower harness passed: factors {factors}"
    assert verdict.factor > gate.TOLERANCE
    assert str(slow) in verdict.measurements[-1].engine_file
