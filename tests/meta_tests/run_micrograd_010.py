"""Run the conformance harness on Karpathy's micrograd 0.1.0 engine (a script, not a test).

The tests cannot fetch micrograd 0.1.0 (no network in tests beyond the project's own dependencies,
and the package is named ``micrograd`` like the bundled engine, so it must never be installed into
the environment). This script downloads the wheel from PyPI with pip into a temporary directory,
unpacks it, and points the harness at the file ``micrograd/engine.py:Value`` by path.

    python tests/meta_tests/run_micrograd_010.py                  # download, default profile
    python tests/meta_tests/run_micrograd_010.py --wheel FILE.whl  # use a wheel you already have
    python tests/meta_tests/run_micrograd_010.py --strict --keep /tmp/mg010  # keep the engine

What it found is recorded in docs/BUGS_CAUGHT.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import conformance

VERSION = "0.1.0"


def fetch_wheel(into: Path) -> Path:
    """Download micrograd==0.1.0 (without dependencies) into ``into`` with pip; return the wheel."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"micrograd=={VERSION}",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(into),
            "--quiet",
        ],
        check=True,
    )
    wheels = sorted(into.glob(f"micrograd-{VERSION}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download left no micrograd-{VERSION} wheel in {into}")
    return wheels[0]


def unpack_engine(wheel: Path, into: Path) -> Path:
    """Extract the wheel and return the path of its ``micrograd/engine.py``."""
    if not zipfile.is_zipfile(wheel):
        raise SystemExit(f"--wheel {wheel}: not a wheel (zip) file")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(into)
    engine = into / "micrograd" / "engine.py"
    if not engine.is_file():
        raise SystemExit(f"{wheel} has no micrograd/engine.py")
    return engine


def main(argv: list[str] | None = None) -> int:
    """Check micrograd 0.1.0 and print the harness's report; exit 0 if conformant, 1 if not."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a micrograd-0.1.0 wheel (else: pip download)")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strict", action="store_true", help="semantics checks fail too")
    parser.add_argument("--json", type=Path, help="also write the JSON report here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print full reproducers")
    parser.add_argument(
        "--keep", type=Path, help="unpack into this directory and keep it (reproducers import it)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="micrograd-010-") as tmp:
        work = args.keep.resolve() if args.keep else Path(tmp)
        wheel = args.wheel if args.wheel else fetch_wheel(work / "dist")
        engine = unpack_engine(wheel, work / "unpacked")
        report = conformance.check(
            f"{engine}:Value", profile=args.profile, seed=args.seed, strict=args.strict
        )
        print(report.header())
        print()
        print(report.text(verbose=args.verbose))
        if args.json:
            args.json.write_text(report.to_json())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
