"""The speed regression gate: fails when the engine's training loop or the harness gets markedly
slower.

``python -m benchmarks.gate`` (or ``python benchmarks/gate.py``) measures, in a fresh interpreter,
rounds of each workload (the demo's training loop; the harness checking random programs on the
bundled engine) interleaved with rounds of a frozen pure-Python
calibration workload (``benchmarks/gate_worker.py``). Each engine round is divided by the mean of
the calibration rounds on either side of it; the median of those ratios is the *normalised*
figure. The machine's speed of the moment cancels out of it, so it can be compared with the
figure recorded in ``benchmarks/baseline.json`` (one per Python version and workload: the key
``cpython-3.11`` is the training loop's, ``cpython-3.11/harness`` the harness's) on another day or
another machine.

Exit status: 0 within tolerance, 1 slower than the baseline by more than the tolerance (confirmed
by a second measurement), 2 bad arguments, no baseline for this Python, or a measurement failure.
See docs/BENCHMARKS.md for the design and the measured noise.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORKER = HERE / "gate_worker.py"
DEFAULT_BASELINE = HERE / "baseline.json"

# Workload shape: small enough that the whole gate takes seconds, big enough (~0.1 s a round)
# that timer resolution and scheduler ticks are negligible. (6 engine steps made ~0.1 s until the
# engine got 3x faster; at 0.03 s a round the figure spread +-12% under load, hence 20.)
ROUNDS = 21
STEPS = 20
HARNESS_PROGRAMS = 200
CALIBRATION_STEPS = 40
WORKLOADS = {"engine": STEPS, "harness": HARNESS_PROGRAMS}
"""Each workload and its size per round: training steps, or programs the harness checks."""
PACKAGES = {"engine": "micrograd", "harness": "conformance"}
"""The package whose speed each workload is about (what ``--*-path`` must hold)."""
# Allowed slowdown of the normalised figure. Chosen from measured noise (docs/BENCHMARKS.md):
# unchanged-engine runs stay within a few percent of the baseline, a 2x slower engine lands
# near 2.0, so 1.4 sits far from both.
TOLERANCE = 1.4
BASELINE_FORMAT = 1


class GateError(Exception):
    """The gate cannot give a verdict (no baseline, mismatched workload, worker failure)."""


@dataclass(frozen=True)
class Measurement:
    """One worker run reduced to the gate's figures."""

    python: str
    engine_file: str
    ratios: list[float]
    engine_median: float
    calibration_median: float
    raw: dict[str, Any]

    @property
    def normalised(self) -> float:
        """The median over rounds of engine time / neighbouring calibration time."""
        return statistics.median(self.ratios)


@dataclass(frozen=True)
class Verdict:
    """The gate's decision for one or two measurements against one baseline figure."""

    ok: bool
    factor: float
    baseline: float
    tolerance: float
    measurements: list[Measurement]


def _python_key(workload: str = "engine") -> str:
    """The baseline key of the running interpreter and workload: ``cpython-3.11`` (the training
    loop's, as before the harness had one), ``cpython-3.11/harness``."""
    key = f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}"
    return key if workload == "engine" else f"{key}/{workload}"


def measure(
    rounds: int = ROUNDS,
    steps: int = STEPS,
    calibration_steps: int = CALIBRATION_STEPS,
    *,
    engine_path: Path | None = None,
    python: str = sys.executable,
    workload: str = "engine",
) -> Measurement:
    """Run the worker in a fresh interpreter and reduce its timings to per-round ratios.

    With ``engine_path`` the directory is put first on ``PYTHONPATH``, so the package inside it
    (``micrograd`` for the engine workload, ``conformance`` for the harness's) is the one measured
    (the worker reports which file it imported).
    """
    env = dict(os.environ)
    # String hashing is randomised per process; the layout of every dict then differs from run
    # to run, and so does the speed (measured: run-to-run spread 1.02-1.20 randomised, 1.01-1.05
    # with a fixed seed). One fixed seed makes runs comparable.
    env["PYTHONHASHSEED"] = "0"
    if engine_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(engine_path), *filter(None, [env.get("PYTHONPATH")])]
        )
    cmd = [python, str(WORKER), str(rounds), str(steps), str(calibration_steps), workload]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise GateError(
            f"the gate's worker failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stderr}"
        )
    try:
        raw = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise GateError(f"the gate's worker printed no JSON: {proc.stdout[:200]!r}") from exc
    if engine_path is not None:
        expected = (engine_path / PACKAGES[workload]).resolve()
        if not Path(raw["engine_file"]).resolve().is_relative_to(expected):
            raise GateError(
                f"asked to measure the engine in {expected}, but the worker imported "
                f"{raw['engine_file']}"
            )
    return reduce(raw)


def reduce(raw: dict[str, Any]) -> Measurement:
    """Turn a worker's raw round timings (process CPU time) into per-round ratios."""
    cal: list[float] = raw["calibration_cpu"]
    eng: list[float] = raw["engine_cpu"]
    if len(cal) != len(eng) + 1 or not eng:
        raise GateError(
            f"expected n engine rounds framed by n + 1 calibration rounds, got {len(eng)} "
            f"and {len(cal)}"
        )
    # Each engine round is framed by two calibration rounds; their mean is the machine's speed
    # at that moment, so slow drifts in load cancel out of the ratio.
    ratios = [e / ((cal[i] + cal[i + 1]) / 2.0) for i, e in enumerate(eng)]
    return Measurement(
        python=str(raw["python"]),
        engine_file=str(raw["engine_file"]),
        ratios=ratios,
        engine_median=statistics.median(eng),
        calibration_median=statistics.median(cal),
        raw=raw,
    )


def load_baseline(path: Path) -> dict[str, Any]:
    """Read a baseline file, or return an empty one if it does not exist yet."""
    if not path.exists():
        return {"format": BASELINE_FORMAT, "entries": {}}
    data: dict[str, Any] = json.loads(path.read_text())
    if data.get("format") != BASELINE_FORMAT:
        raise GateError(
            f"{path} has baseline format {data.get('format')!r}, this gate reads {BASELINE_FORMAT}"
        )
    return data


def baseline_entry(
    baseline: dict[str, Any], python: str, steps: int, calibration_steps: int
) -> dict[str, Any]:
    """Return the recorded figure for ``python`` (a key of ``_python_key``), checking it was made
    with the same workload."""
    entry: dict[str, Any] | None = baseline.get("entries", {}).get(python)
    if entry is None:
        known = ", ".join(sorted(baseline.get("entries", {}))) or "none"
        raise GateError(
            f"no baseline for {python} (recorded: {known}); record one on a quiet machine with "
            f"`python -m benchmarks.gate --update-baseline`"
        )
    recorded = (entry["steps"], entry["calibration_steps"])
    if recorded != (steps, calibration_steps):
        raise GateError(
            f"the {python} baseline was recorded with (steps, calibration steps) = {recorded}, "
            f"this run uses {(steps, calibration_steps)}; re-record it with --update-baseline"
        )
    return entry


def _check_calibration_version(entry: dict[str, Any], m: Measurement) -> None:
    """Refuse to compare figures made with different calibration workloads."""
    if entry["calibration_version"] != m.raw["calibration_version"]:
        raise GateError(
            f"the baseline was recorded with calibration version {entry['calibration_version']}, "
            f"the worker runs version {m.raw['calibration_version']}; re-record the baseline "
            f"with --update-baseline"
        )


def judge(
    measurements: Sequence[Measurement], baseline: float, tolerance: float = TOLERANCE
) -> Verdict:
    """Pass unless every measurement is slower than ``baseline`` by more than ``tolerance``."""
    # The best of the measurements decides: a real slowdown shows in all of them, a burst of
    # load from another process rarely does twice in a row.
    factor = min(m.normalised for m in measurements) / baseline
    return Verdict(
        ok=factor <= tolerance,
        factor=factor,
        baseline=baseline,
        tolerance=tolerance,
        measurements=list(measurements),
    )


def run_gate(
    *,
    baseline_path: Path = DEFAULT_BASELINE,
    rounds: int = ROUNDS,
    steps: int | None = None,
    calibration_steps: int = CALIBRATION_STEPS,
    tolerance: float = TOLERANCE,
    engine_path: Path | None = None,
    confirm: bool = True,
    log: Any = print,
    workload: str = "engine",
) -> Verdict:
    """Measure one workload, compare with its baseline and, on a failure, confirm with a second
    measurement."""
    steps = WORKLOADS[workload] if steps is None else steps
    key = _python_key(workload)
    entry = baseline_entry(load_baseline(baseline_path), key, steps, calibration_steps)
    base = float(entry["normalised"])

    def once() -> Measurement:
        return measure(rounds, steps, calibration_steps, engine_path=engine_path, workload=workload)

    first = once()
    _check_calibration_version(entry, first)
    _log_measurement(first, log)
    verdict = judge([first], base, tolerance)
    if not verdict.ok and confirm:
        log(f"  {verdict.factor:.2f}x the baseline: measuring again to rule out a burst of load")
        second = once()
        _log_measurement(second, log)
        verdict = judge([first, second], base, tolerance)
    return verdict


def _log_measurement(m: Measurement, log: Any) -> None:
    """Print one measurement's figures."""
    deciles = statistics.quantiles(m.ratios, n=10) if len(m.ratios) > 1 else m.ratios * 9
    log(
        f"  {len(m.ratios)} rounds: engine round median {m.engine_median * 1000:.1f} ms, "
        f"calibration round median {m.calibration_median * 1000:.1f} ms (process CPU time)"
    )
    log(
        f"  normalised = engine / calibration: median {m.normalised:.4f} "
        f"(p10 {deciles[0]:.4f}, p90 {deciles[-1]:.4f})"
    )


def update_baseline(
    path: Path,
    *,
    rounds: int = ROUNDS,
    steps: int | None = None,
    calibration_steps: int = CALIBRATION_STEPS,
    repeats: int = 3,
    engine_path: Path | None = None,
    log: Any = print,
    workload: str = "engine",
) -> dict[str, Any]:
    """Record this interpreter's normalised figure for ``workload``: the median of ``repeats``
    measurements."""
    steps = WORKLOADS[workload] if steps is None else steps
    runs = [
        measure(rounds, steps, calibration_steps, engine_path=engine_path, workload=workload)
        for _ in range(repeats)
    ]
    for m in runs:
        _log_measurement(m, log)
    figures = [m.normalised for m in runs]
    entry = {
        "normalised": statistics.median(figures),
        "runs": figures,
        "steps": steps,
        "calibration_steps": calibration_steps,
        "calibration_version": runs[0].raw["calibration_version"],
        "rounds": rounds,
        "python_version": platform.python_version(),
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
        "engine_round_s": statistics.median(m.engine_median for m in runs),
        "calibration_round_s": statistics.median(m.calibration_median for m in runs),
        "recorded": datetime.date.today().isoformat(),
    }
    data = load_baseline(path)
    data["format"] = BASELINE_FORMAT
    data.setdefault("entries", {})[_python_key(workload)] = entry
    data["entries"] = dict(sorted(data["entries"].items()))
    path.write_text(json.dumps(data, indent=2) + "\n")
    return entry


def _positive_int(text: str) -> int:
    """Parse an integer >= 1 for argparse."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _tolerance(text: str) -> float:
    """Parse a tolerance factor > 1 for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 1, got {text!r}") from None
    if not value > 1.0:
        raise argparse.ArgumentTypeError(f"expected a number > 1, got {text!r}")
    return value


WHAT = {"engine": "the training loop", "harness": "the harness"}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gate from the command line; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gate",
        description="Fail if the engine's training loop or the harness is slower than the "
        "recorded baseline.",
    )
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, help="baseline JSON")
    parser.add_argument("--rounds", type=_positive_int, default=ROUNDS, help="measured rounds")
    parser.add_argument(
        "--tolerance", type=_tolerance, default=TOLERANCE, help="allowed slowdown factor"
    )
    parser.add_argument(
        "--workload",
        choices=WORKLOADS,
        action="append",
        help="measure only this workload (repeatable; default: all of them)",
    )
    parser.add_argument(
        "--engine-path",
        type=Path,
        help="measure the micrograd package inside this directory instead of the installed one",
    )
    parser.add_argument(
        "--harness-path",
        type=Path,
        help="measure the conformance package inside this directory instead of the installed one",
    )
    parser.add_argument(
        "--update-baseline",
        action="store_true",
        help="record this Python's normalised figures in the baseline instead of checking them",
    )
    args = parser.parse_args(argv)
    paths = {"engine": args.engine_path, "harness": args.harness_path}
    for workload, path in paths.items():
        if path is not None and not (path / PACKAGES[workload]).is_dir():
            option = f"--{workload}-path"
            parser.error(f"{option} {path} holds no {PACKAGES[workload]}/ package")
    failed = False
    for workload in args.workload or list(WORKLOADS):
        try:
            if args.update_baseline:
                key = _python_key(workload)
                print(f"gate: recording the {key} baseline in {args.baseline}")
                entry = update_baseline(
                    args.baseline,
                    rounds=args.rounds,
                    engine_path=paths[workload],
                    workload=workload,
                )
                print(
                    f"recorded normalised figure {entry['normalised']:.4f} (runs {entry['runs']})"
                )
                continue
            print(f"gate: {WHAT[workload]}, {_python_key(workload)}, baseline {args.baseline}")
            verdict = run_gate(
                baseline_path=args.baseline,
                rounds=args.rounds,
                tolerance=args.tolerance,
                engine_path=paths[workload],
                workload=workload,
            )
        except GateError as exc:
            print(f"gate: error: {exc}", file=sys.stderr)
            return 2
        print(f"  code measured: {verdict.measurements[-1].engine_file}")
        print(
            f"  {verdict.factor:.2f}x the baseline figure {verdict.baseline:.4f} "
            f"(limit {verdict.tolerance:.2f}x)"
        )
        if verdict.factor < 1.0 / verdict.tolerance:
            print("  note: much faster than the baseline; record the gain with --update-baseline")
        if verdict.ok:
            print("PASS")
        else:
            print(f"FAIL: {WHAT[workload]} is slower than the baseline allows")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
