"""Print docs/BUGS_CAUGHT.md's table: a full run on each deliberately broken engine (a script).

    python tests/meta_tests/bugs_table.py                 # every engine, default profile, seed 0
    python tests/meta_tests/bugs_table.py WrongTanhDerivative RsubSwapped

Each engine gets the whole run a user would do (``python -m conformance broken.py:NAME --seed 0``,
``--strict`` for the semantics bugs); a row says the problems it named, the checks that saw them,
whether that is exactly the engine's bug (``Bug.problems``) and how long the run took.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import conformance  # noqa: E402
from tests.meta_tests.engines import broken  # noqa: E402

ENGINES = Path(__file__).resolve().parent / "engines"


def row(bug: broken.Bug, seed: int, profile: str) -> str:
    """One markdown row: the engine, its bug, what the harness named, and the time."""
    started = time.perf_counter()
    report = conformance.check(
        f"{ENGINES / 'broken.py'}:{bug.name}", profile=profile, seed=seed, strict=bug.strict_only
    )
    seconds = time.perf_counter() - started
    named = [p for p in report.problems if p.severity == "error" or bug.strict_only]
    signatures = [str(p.signature) for p in named]
    checks = sorted({c for p in named for c in p.checks})
    exact = "yes" if sorted(signatures) == sorted(bug.problems) else f"no (expected {bug.problems})"
    name = f"{bug.name} (strict)" if bug.strict_only else bug.name
    return (
        f"| {name} | {bug.what} | {bug.source} | {', '.join(f'`{s}`' for s in signatures)} | "
        f"{', '.join(checks)} | {exact} | {seconds:.0f} |"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the table; exit 1 if some engine was not named exactly by its bug."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="only these engines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", default="default")
    args = parser.parse_args(argv)
    bugs = [b for b in broken.BUGS if not args.names or b.name in args.names]
    print("| engine | what real ports got wrong | source | named as | seen by | exactly | s |")
    print("| --- | --- | --- | --- | --- | --- | ---: |")
    ok = True
    for bug in bugs:
        line = row(bug, args.seed, args.profile)
        ok = ok and "| yes |" in line
        print(line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
