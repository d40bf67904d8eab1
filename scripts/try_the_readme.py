"""Run the README's first command as a newcomer would: a fresh virtualenv without torch.

    python scripts/try_the_readme.py                # 10 seeds
    python scripts/try_the_readme.py --seeds 2      # what CI runs (tox -e readme)

It creates a virtualenv in a temporary directory, runs the README's install command in it (from
PyPI: hypothesis, mpmath; never torch), checks that torch is not importable there, then runs
``python -m conformance --seed S`` (the README's check, with a seed so that a slow run can be
replayed) from an empty working directory, once per seed. Each run must exit 0 within
LIMIT_SECONDS, the time the README states, and leave the working directory empty. Exit status 0
when every run did; 1 otherwise; 2 when the virtualenv could not be set up.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_SECONDS = 60.0
"""What the README promises for `python -m conformance` (about a minute, with either oracle)."""
INSTALL = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
INSTALL += ["-e", str(ROOT), "-e", str(ROOT / "engine")]


def setup(where: Path) -> Path:
    """A fresh virtualenv with the README's install command run in it; its python."""
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    subprocess.run([str(python), *INSTALL], check=True, cwd=ROOT)
    has_torch = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('torch') is not None)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if has_torch != "False":
        raise SystemExit("torch is importable in the fresh virtualenv: not a newcomer's setup")
    return python


def run_once(python: Path, seed: int) -> tuple[float, int, str, bool]:
    """(seconds, exit status, verdict line, whether the working directory stayed empty)."""
    with tempfile.TemporaryDirectory(prefix="readme-cwd-") as cwd:
        started = time.perf_counter()
        done = subprocess.run(
            [str(python), "-m", "conformance", "--seed", str(seed)],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=LIMIT_SECONDS * 5,
            check=False,
        )
        seconds = time.perf_counter() - started
        clean = not any(Path(cwd).iterdir())
    lines = [line for line in done.stdout.splitlines() if "CONFORMANT" in line]
    return seconds, done.returncode, (lines[-1] if lines else done.stderr[-300:]), clean


def main(argv: list[str] | None = None) -> int:
    """Set up, run each seed, print the table; exit 0 when every run conformed in time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="how many seeds (default 10)")
    parser.add_argument(
        "--first-seed",
        type=int,
        help="seeds from here (default: random; 0 in CI, like the harness)",
    )
    args = parser.parse_args(argv)
    first = args.first_seed
    if first is None:
        in_ci = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
        first = 0 if in_ci else random.SystemRandom().randrange(2**31)
    with tempfile.TemporaryDirectory(prefix="readme-venv-") as tmp:
        try:
            python = setup(Path(tmp) / "venv")
        except (subprocess.CalledProcessError, OSError) as exc:
            print(f"cannot set up the virtualenv: {exc}", file=sys.stderr)
            return 2
        print(f"python -m conformance, fresh virtualenv without torch ({sys.version.split()[0]})")
        times, ok = [], True
        for seed in range(first, first + args.seeds):
            seconds, status, verdict, clean = run_once(python, seed)
            times.append(seconds)
            good = status == 0 and seconds <= LIMIT_SECONDS and clean
            ok = ok and good
            litter = "" if clean else "  (wrote into the working directory)"
            mark = "ok" if good else "FAIL"
            print(f"  seed {seed:>10}: {seconds:5.1f} s  exit {status}  {verdict}{litter}  {mark}")
    print(
        f"{len(times)} runs: median {statistics.median(times):.1f} s, "
        f"min {min(times):.1f} s, max {max(times):.1f} s (limit {LIMIT_SECONDS:.0f} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
