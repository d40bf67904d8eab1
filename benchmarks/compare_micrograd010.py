"""Side-by-side comparison with micrograd 0.1.0: speed, peak memory and the loss trajectory.

    python benchmarks/compare_micrograd010.py            # the docs' tables (~6 min)
    python benchmarks/compare_micrograd010.py --steps 5  # a quick look (~1 min)

micrograd 0.1.0 is also named ``micrograd``, so it lives in its own virtualenv
(``benchmarks/.venv-micrograd010``, created and filled from PyPI on first use with the same
interpreter that runs this script). Every run is a fresh subprocess (``benchmarks/demo_child.py``)
on the same 100 moons points from ``micrograd.data.make_moons`` and from the same initial weights,
copied across as plain floats. The garbage collector stays on in every engine. Three measurements:

1. **Trajectory and memory**: each loop once for ``--steps`` steps (100): the loss at every step
   (ours must agree with 0.1.0's within 1e-9 relative), peak RSS, wall and CPU time.
2. **CPU time**: ``--repeats`` rounds (3) of ``--timing-steps`` steps (20, at most ``--steps``)
   of every loop, the engines alternating (0.1.0 first in even rounds, ours first in odd ones) so
   that a drift in load hits both. Process CPU time of the loop only, so waiting for a core does
   not count; each round gives one ratio, and the medians and the spread (min-max) are reported.
3. **Instruction counts**: ``--ir-repeats`` rounds (3), alternating likewise, of
   ``valgrind --tool=callgrind`` on an ``--ir-steps`` run (3, at most ``--steps``; 0.1.0 runs
   ~50x slower under callgrind) and on a startup-only run (0 steps: the same interpreter start,
   imports, data and model, no loop); the difference is the loop's instructions (Ir), which
   another process cannot change.

Measurements 2 and 3 also run a reference that is no engine at all (``floats``): the same network's
forward pass and loss on plain floats, in the cheapest pure Python we know, with no graph, no
gradient and no update (its first loss must equal 0.1.0's). Every engine does at least that work a
step, so 0.1.0's figure over this one bounds the speed-up any pure-Python engine can show on the
interpreter that runs the comparison.

A step's cost depends on how far the run has got, in opposite directions for the two engines:
0.1.0's garbage-collector passes grow with its heap of dead cyclic graphs (~0.8 s a step over 2
steps, ~1.3 s over 5, ~1.7 s over 100), while ours gets cheaper once most samples are outside the
SVM margin and send back zero gradients. Ratios from short runs therefore understate the demo's:
the one full run of measurement 1 gives the demo's own figure, the rounds its spread.

Timed and counted runs use ``PYTHONHASHSEED=0`` (a fixed dict layout, as the regression gate
does). The report names the CPU model, the core count and the Python that made the figures.

Exit status: 0 when every trajectory agrees with 0.1.0's within 1e-9 relative at every step
(and, with ``--require-targets``, both of our loops are >= 250x faster by CPU time and by
instruction count, medians, with <= 1/8 of 0.1.0's peak memory); 1 otherwise; 2 when the
environment cannot be set up (no virtualenv, no valgrind without ``--no-ir``, a crashed run).
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import venv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHILD = HERE / "demo_child.py"
DEFAULT_VENV = HERE / ".venv-micrograd010"
DEFAULT_OUT = HERE / "results"
PIN = "micrograd==0.1.0"
SEED = 1337
HIDDEN = [16, 16]
ALPHA = 1e-4
REL_TOL = 1e-9
SPEED_TARGET = 250.0  # ours >= 250x faster, by CPU time and by instruction count
MEMORY_TARGET = 8.0  # 0.1.0's peak RSS >= 8x ours

# The three loops: (key, label, whose interpreter runs it, loop name in the child's spec).
OLD = "old"
OURS_DEMO = "demo"
OURS_NOTEBOOK = "notebook"
FLOOR = "floats"
LABELS = {
    OURS_DEMO: "ours (`micrograd.demo.train`)",
    OURS_NOTEBOOK: "ours (0.1.0's notebook loop, unchanged)",
    OLD: "micrograd 0.1.0 (notebook loop)",
    FLOOR: "no engine: forward pass and loss on plain floats (the pure-Python bound)",
}
OURS = (OURS_DEMO, OURS_NOTEBOOK)
TIMED = (*OURS, FLOOR)  # what the CPU-time and instruction-count rounds run besides 0.1.0


class SetupError(Exception):
    """The comparison cannot run (no virtualenv, wrong package, no valgrind, a child crashed)."""


@dataclass(frozen=True)
class Spread:
    """The median and the range of a few repeated figures."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """Summarise ``values`` (at least one)."""
        return cls(float(statistics.median(values)), float(min(values)), float(max(values)))

    def show(self, fmt: Callable[[float], str]) -> str:
        """``median (low-high)`` with each number formatted by ``fmt``."""
        return f"{fmt(self.median)} ({fmt(self.low)}-{fmt(self.high)})"


@dataclass
class Results:
    """Everything one comparison measured, per loop key (``old``, ``demo``, ``notebook``)."""

    trajectory: dict[str, dict[str, Any]] = field(default_factory=dict)
    cpu_per_step: dict[str, list[float]] = field(default_factory=dict)
    ir_per_step: dict[str, list[float]] = field(default_factory=dict)
    floor_first_loss: float | None = None  # the `floats` reference's loss (each step's is the same)

    def ratios(self, figures: dict[str, list[float]], key: str) -> list[float]:
        """0.1.0's figure over ours, round by round (round i of each engine ran side by side)."""
        return [old / ours for old, ours in zip(figures[OLD], figures[key], strict=True)]


def venv_python(venv_dir: Path) -> Path:
    """The interpreter inside ``venv_dir``."""
    sub = "Scripts/python.exe" if os.name == "nt" else "bin/python"
    return venv_dir / sub


def ensure_venv(venv_dir: Path, log: Any = print) -> Path:
    """Create ``venv_dir`` with micrograd 0.1.0 from PyPI unless it is already there; check it."""
    python = venv_python(venv_dir)
    if not python.exists():
        log(f"creating {venv_dir} with {PIN} (one-off)")
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PIN]
        proc = subprocess.run(pip, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SetupError(f"could not install {PIN} into {venv_dir}:\n{proc.stderr}")
    probe = (
        "import importlib.metadata as m, sys, micrograd.engine as e; "
        "print(m.version('micrograd'), sys.version_info[:2], e.__file__)"
    )
    proc = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, env=_clean_env(), check=False
    )
    if proc.returncode != 0:
        raise SetupError(f"{python} cannot import micrograd 0.1.0:\n{proc.stderr}")
    version, _, rest = proc.stdout.strip().partition(" ")
    if version != "0.1.0":
        raise SetupError(f"{venv_dir} holds micrograd {version}, expected 0.1.0")
    if f"({sys.version_info[0]}, {sys.version_info[1]})" not in rest:
        raise SetupError(
            f"{venv_dir} runs Python {rest.split(' ')[0]}, this script "
            f"{sys.version_info[0]}.{sys.version_info[1]}: delete it so it is rebuilt"
        )
    return python


def _clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH, so 0.1.0's interpreter cannot see our package."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def compile_engine() -> Path:
    """Byte-compile our ``micrograd`` package, as pip did 0.1.0's when it installed it.

    Otherwise, where bytecode is not cached (``PYTHONDONTWRITEBYTECODE``, a fresh checkout),
    every run of ours would compile the package first: ~4 ms and ~2 MiB of peak memory that
    0.1.0's runs do not pay.
    """
    import micrograd

    package = Path(micrograd.__file__).resolve().parent
    compileall.compile_dir(str(package), quiet=1)
    return package


def make_spec(loop: str, steps: int) -> dict[str, Any]:
    """The shared inputs: our moons data and our seeded initial weights, as plain numbers."""
    from micrograd.data import make_moons
    from micrograd.nn import MLP

    X, y = make_moons(100, 0.1, SEED)
    weights = [p.data for p in MLP(2, [*HIDDEN, 1], seed=SEED).parameters()]
    return {
        "loop": loop,
        "X": X,
        "y": y,
        "weights": weights,
        "steps": steps,
        "alpha": ALPHA,
        "hidden": HIDDEN,
    }


def run_child(
    python: Path | str,
    spec: dict[str, Any],
    env: dict[str, str],
    prefix: Sequence[str] = (),
) -> dict[str, Any]:
    """Run one loop in a fresh interpreter (under ``prefix``, e.g. valgrind) and return its report.

    With a ``prefix`` the report also holds the prefix tool's stderr as ``tool_stderr``.
    """
    proc = subprocess.run(
        [*prefix, str(python), str(CHILD)],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SetupError(f"{python} {CHILD.name} ({spec['loop']}) failed:\n{proc.stderr}")
    report: dict[str, Any] = json.loads(proc.stdout)
    if prefix:
        report["tool_stderr"] = proc.stderr
    return report


def callgrind_total(stderr: str) -> int:
    """The total instruction count (Ir) from callgrind's ``Collected : N`` line."""
    match = re.search(r"Collected\s*:\s*(\d+)", stderr)
    if match is None:
        raise SetupError(f"no 'Collected : N' line in callgrind's output:\n{stderr[-2000:]}")
    return int(match.group(1))


def max_rel_diff(a: Sequence[float], b: Sequence[float]) -> float:
    """The largest relative difference between two trajectories of equal length."""
    if len(a) != len(b):
        raise ValueError(f"trajectories of different lengths: {len(a)} and {len(b)}")
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        scale = max(abs(x), abs(y))
        if scale > 0.0:
            worst = max(worst, abs(x - y) / scale)
    return worst


def machine() -> dict[str, str]:
    """What made the figures: CPU model, cores, OS, Python, valgrind."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    valgrind = shutil.which("valgrind")
    version = "not installed"
    if valgrind is not None:
        proc = subprocess.run([valgrind, "--version"], capture_output=True, text=True, check=False)
        version = proc.stdout.strip() or "unknown version"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "valgrind": version,
    }


def _load() -> str:
    """The 1-minute load average, or '?' where the OS does not say."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


class Comparison:
    """Runs the loops of both engines: who runs what, with which interpreter and environment."""

    def __init__(self, old_python: Path, log: Any = print) -> None:
        self.old_python = old_python
        self.log = log
        timed = {"PYTHONHASHSEED": "0"}
        self.env = {OLD: {**_clean_env(), **timed}, OURS_DEMO: {**os.environ, **timed}}
        self.env[OURS_NOTEBOOK] = self.env[FLOOR] = self.env[OURS_DEMO]
        self.python = {OLD: str(old_python), OURS_DEMO: sys.executable}
        self.python[OURS_NOTEBOOK] = self.python[FLOOR] = sys.executable

    def run(self, key: str, steps: int, prefix: Sequence[str] = ()) -> dict[str, Any]:
        """One run of loop ``key`` for ``steps`` steps."""
        loop = key if key in (OURS_DEMO, FLOOR) else OURS_NOTEBOOK
        return run_child(self.python[key], make_spec(loop, steps), self.env[key], prefix)

    def trajectories(self, steps: int, results: Results) -> None:
        """Each loop once for ``steps`` steps: losses, memory, time."""
        for key in (OURS_DEMO, OURS_NOTEBOOK, OLD):
            if key == OLD:
                self.log(f"trajectory: micrograd 0.1.0, {steps} steps (the slow one)")
            results.trajectory[key] = report = self.run(key, steps)
            self.log(f"  {LABELS[key]}: {report['wall_s']:.2f} s wall, {report['cpu_s']:.2f} s CPU")

    def cpu_rounds(self, steps: int, repeats: int, results: Results) -> None:
        """``repeats`` interleaved rounds of every loop: loop CPU time per step."""
        for r in range(repeats):
            for key in _round_order(r):
                report = self.run(key, steps)
                results.cpu_per_step.setdefault(key, []).append(report["cpu_s"] / steps)
                if key == FLOOR:
                    results.floor_first_loss = report["losses"][0]
            self.log(
                f"CPU round {r + 1}/{repeats}: "
                + ", ".join(
                    f"{key} {results.cpu_per_step[key][-1] * 1000:.2f} ms/step"
                    for key in (OLD, *TIMED)
                )
                + f" (load {_load()})"
            )

    def ir_rounds(self, steps: int, repeats: int, valgrind: str, results: Results) -> None:
        """``repeats`` interleaved rounds of callgrind: the loop's instructions per step."""
        prefix = [valgrind, "--tool=callgrind", f"--callgrind-out-file={os.devnull}"]
        for r in range(repeats):
            for key in _round_order(r):
                loop = callgrind_total(self.run(key, steps, prefix)["tool_stderr"])
                startup = callgrind_total(self.run(key, 0, prefix)["tool_stderr"])
                results.ir_per_step.setdefault(key, []).append((loop - startup) / steps)
            self.log(
                f"Ir round {r + 1}/{repeats}: "
                + ", ".join(
                    f"{key} {results.ir_per_step[key][-1] / 1e6:.1f}M/step" for key in (OLD, *TIMED)
                )
            )


def _round_order(r: int) -> tuple[str, ...]:
    """The engines' order in round ``r``: 0.1.0 first in even rounds, last in odd ones."""
    return (OLD, *TIMED) if r % 2 == 0 else (*TIMED, OLD)


def _ms(x: float) -> str:
    return f"{x * 1000:.2f} ms"


def _ratio(x: float) -> str:
    return f"{x:.0f}x"


def _mir(x: float) -> str:
    return f"{x / 1e6:.2f}M"


def speed_table(results: Results, steps: int, ir_steps: int, with_ir: bool) -> str:
    """The markdown table of the repeated CPU-time and instruction-count runs."""
    header = f"| engine (loop) | CPU per step ({steps}-step runs) | speed-up by CPU time |"
    rule = "|---|---:|---:|"
    if with_ir:
        header += f" Ir per step ({ir_steps}-step runs) | speed-up by instructions |"
        rule += "---:|---:|"
    lines = [header, rule]
    for key in (*OURS, OLD, FLOOR):
        cpu = Spread.of(results.cpu_per_step[key])
        row = (
            f"| {LABELS[key]} | {cpu.show(_ms)} | {_speedup(results, results.cpu_per_step, key)} |"
        )
        if with_ir:
            ir = Spread.of(results.ir_per_step[key])
            row += f" {ir.show(_mir)} | {_speedup(results, results.ir_per_step, key)} |"
        lines.append(row)
    return "\n".join(lines)


def _speedup(results: Results, figures: dict[str, list[float]], key: str) -> str:
    """``median (min-max)`` of the per-round ratios, or ``1x`` for 0.1.0 itself."""
    if key == OLD:
        return "1x"
    return Spread.of(results.ratios(figures, key)).show(_ratio)


def memory_table(results: Results, steps: int) -> str:
    """The markdown table of the single full-length runs: time, memory, gc, trajectory."""
    ref = results.trajectory[OLD]
    lines = [
        f"| engine (loop), one {steps}-step run | wall | CPU | speed-up by CPU time | peak RSS "
        f"| RSS growth in loop | peak RSS vs 0.1.0 | gc runs (gen 0/1/2) | max rel. loss diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in (*OURS, OLD):
        r = results.trajectory[key]
        gc_runs = "/".join(str(n) for n in r["gc_collections"])
        lines.append(
            f"| {LABELS[key]} | {r['wall_s']:.2f} s | {r['cpu_s']:.2f} s "
            f"| {ref['cpu_s'] / r['cpu_s']:.0f}x | {_mib(r['peak_rss_kib']):.1f} MiB "
            f"| {_mib(r['peak_rss_kib'] - r['rss_before_kib']):.1f} MiB "
            f"| {r['peak_rss_kib'] / ref['peak_rss_kib']:.3f} | {gc_runs} "
            f"| {max_rel_diff(r['losses'], ref['losses']):.1e} |"
        )
    return "\n".join(lines)


def _mib(kib: float) -> float:
    return kib / 1024.0


def verdicts(
    results: Results, with_ir: bool, timing_steps: int, ir_steps: int
) -> list[tuple[bool, str]]:
    """Each target with whether it was met and a one-line account."""
    ref = results.trajectory[OLD]
    worst = max(max_rel_diff(results.trajectory[k]["losses"], ref["losses"]) for k in OURS)
    if results.floor_first_loss is not None:  # the bound only bounds if it does the same work
        worst = max(worst, max_rel_diff([results.floor_first_loss], ref["losses"][:1]))
    out = [
        (
            worst <= REL_TOL,
            f"loss trajectories (and the plain-float reference's first loss) agree with 0.1.0 "
            f"within {worst:.1e} (need 1e-9)",
        )
    ]
    steps = len(ref["losses"])
    for key in OURS:
        full = ref["cpu_s"] / results.trajectory[key]["cpu_s"]
        out.append(
            (
                full >= SPEED_TARGET,
                f"{LABELS[key]} is {full:.0f}x faster by CPU time over the whole {steps}-step run "
                f"(one run each; target {SPEED_TARGET:.0f}x)",
            )
        )
    measures = [(f"CPU time ({timing_steps}-step runs)", results.cpu_per_step)]
    if with_ir:
        measures.append((f"instruction count ({ir_steps}-step runs)", results.ir_per_step))
    for name, figures in measures:
        bound = Spread.of(results.ratios(figures, FLOOR)).median
        for key in OURS:
            ratios = Spread.of(results.ratios(figures, key))
            reachable = (
                ""
                if bound >= SPEED_TARGET
                else f"; out of reach for any pure-Python engine here: a forward pass on plain "
                f"floats alone is only {bound:.0f}x"
            )
            out.append(
                (
                    ratios.median >= SPEED_TARGET,
                    f"{LABELS[key]} is {ratios.show(_ratio)} faster by {name} "
                    f"(target {SPEED_TARGET:.0f}x, median{reachable})",
                )
            )
    for key in OURS:
        memory = ref["peak_rss_kib"] / results.trajectory[key]["peak_rss_kib"]
        out.append(
            (
                memory >= MEMORY_TARGET,
                f"0.1.0's peak RSS is {memory:.1f}x that of {LABELS[key]} "
                f"(target {MEMORY_TARGET:.0f}x)",
            )
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print the tables; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python benchmarks/compare_micrograd010.py",
        description="Compare our engine with micrograd 0.1.0 on the moons demo loop.",
    )
    parser.add_argument("--steps", type=int, default=100, help="steps of the trajectory run")
    parser.add_argument(
        "--timing-steps", type=int, default=20, help="steps of each timed run (<= --steps)"
    )
    parser.add_argument(
        "--ir-steps", type=int, default=3, help="steps of each callgrind run (<= --steps)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="rounds of CPU-time runs")
    parser.add_argument("--ir-repeats", type=int, default=3, help="rounds of callgrind runs")
    parser.add_argument("--no-ir", action="store_true", help="skip the instruction counts")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="0.1.0's virtualenv")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder for the .md and .json results"
    )
    parser.add_argument(
        "--require-targets",
        action="store_true",
        help="also fail unless ours is >= 250x faster (CPU time and instructions) with <= 1/8 "
        "of the peak memory",
    )
    args = parser.parse_args(argv)
    counts = (args.steps, args.timing_steps, args.ir_steps, args.repeats, args.ir_repeats)
    if min(counts) < 1:
        parser.error(f"--steps, --timing-steps, --ir-steps and the repeats must be >= 1: {counts}")
    args.timing_steps = min(args.timing_steps, args.steps)
    args.ir_steps = min(args.ir_steps, args.steps)
    valgrind = shutil.which("valgrind")
    with_ir = not args.no_ir
    results = Results()
    try:
        if with_ir and valgrind is None:
            raise SetupError(
                "valgrind is not installed (apt-get install valgrind), so the instruction "
                "counts cannot be made; pass --no-ir to compare by CPU time only"
            )
        comparison = Comparison(ensure_venv(args.venv))
        compile_engine()
        about = machine()
        load_before = _load()
        comparison.trajectories(args.steps, results)
        comparison.cpu_rounds(args.timing_steps, args.repeats, results)
        if with_ir:
            assert valgrind is not None
            comparison.ir_rounds(args.ir_steps, args.ir_repeats, valgrind, results)
        load_after = _load()
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = "python benchmarks/compare_micrograd010.py" + (
        " " + shlex.join(argv)
        if argv is not None
        else "".join(" " + shlex.quote(a) for a in sys.argv[1:])
    )
    engine_file = results.trajectory[OURS_DEMO]["engine_file"]
    ir_note = (
        f"; instructions: valgrind callgrind total Ir of a {args.ir_steps}-step run minus "
        f"that of a 0-step (startup-only) run, {args.ir_repeats} rounds"
        if with_ir
        else ""
    )
    text = "\n".join(
        [
            speed_table(results, args.timing_steps, args.ir_steps, with_ir),
            "",
            memory_table(results, args.steps),
            "",
            f"Made by `{command}` on {about['cpu']} ({about['cores']} cores, {about['os']}), "
            f"{about['python']}, {about['valgrind']}; load average {load_before} before, "
            f"{load_after} after. CPU time: process CPU time of the loop, {args.repeats} rounds "
            f"of {args.timing_steps} steps, engines alternating, median (min-max) over rounds"
            f"{ir_note}. Our engine: `{engine_file}`. gc enabled in every run: "
            f"{all(r['gc_enabled'] for r in results.trajectory.values())}. 100 moons points, "
            f"MLP(2, [16, 16, 1]), SVM loss + 1e-4 L2, the same initial weights.",
        ]
    )
    print()
    print(text)
    checks = verdicts(results, with_ir, args.timing_steps, args.ir_steps)
    print()
    for ok, message in checks:
        print(f"{'ok  ' if ok else 'MISS'} {message}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "micrograd010.md").write_text(text + "\n")
    (args.out / "micrograd010.json").write_text(
        json.dumps(
            {
                "command": command,
                "machine": about,
                "load": [load_before, load_after],
                "timing_steps": args.timing_steps,
                "ir_steps": args.ir_steps,
                "cpu_per_step": results.cpu_per_step,
                "ir_per_step": results.ir_per_step,
                "floor_first_loss": results.floor_first_loss,
                "trajectory": results.trajectory,
                "verdicts": [{"ok": ok, "message": m} for ok, m in checks],
            },
            indent=1,
        )
        + "\n"
    )
    print(f"\nwrote {args.out / 'micrograd010.md'} and {args.out / 'micrograd010.json'}")
    failed = not checks[0][0] or (args.require_targets and not all(ok for ok, _ in checks))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
