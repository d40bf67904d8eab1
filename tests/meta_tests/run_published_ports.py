"""Run the conformance harness on micrograd ports published on PyPI (a script, not a test).

    python tests/meta_tests/run_published_ports.py                  # every port below
    python tests/meta_tests/run_published_ports.py femtograd        # one of them
    python tests/meta_tests/run_published_ports.py --oracle mpmath --strict --keep /tmp/ports

The tests cannot fetch packages (no network in tests beyond the project's own dependencies), and
several ports are named ``micrograd`` like the bundled engine, so none is ever installed into the
environment: pip installs each pinned release, and the dependencies it needs at import, into a
directory of its own (``pip install --target``), and the harness checks it by TARGET in a
subprocess whose working directory and PYTHONPATH are that directory (``--keep DIR`` keeps it, so
that the reproducers a run prints can be rerun there). Each port's report is printed, then one
line per port. What they found is recorded in docs/BUGS_CAUGHT.md.

Exit status: 0 when the script ran every port it was asked for (whatever the verdicts), 2 when
a port could not be installed or its run did not finish.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Port:
    """A published port: its pinned release, its TARGET once installed, what it imports."""

    requirement: str
    target: str
    """The engine's Value class, relative to the install directory."""
    needs: tuple[str, ...] = ()
    """Packages it imports that its release does not declare or that pip must add."""


PORTS = {
    "micrograd": Port("micrograd==0.1.0", "micrograd/engine.py:Value"),
    "femtograd": Port("femtograd==0.0.5", "femtograd/femtograd.py:value"),
    "scalargrad": Port("scalargrad==1.0.5", "scalargrad.core:Scalar", needs=("rich",)),
    "minigrad": Port("minigrad==0.0.6", "minigrad.engine:Value"),  # C API: pip builds it (gcc)
}
"""Karpathy's original and ports of it by others, each with a Value class of micrograd's API."""

RUN_LIMIT = 600.0
"""Seconds a port's whole run may take (a default run takes about 30)."""


def install(port: Port, into: Path) -> None:
    """pip-install the port (without its declared dependencies) and what it needs into ``into``."""
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(into)]
    subprocess.run([*pip, "--no-deps", port.requirement], check=True)
    if port.needs:
        subprocess.run([*pip, *port.needs], check=True)


def check(port: Port, where: Path, args: argparse.Namespace) -> tuple[int, dict[str, object]]:
    """Run the harness on the installed port; its exit status and JSON report."""
    report = where / "report.json"
    command = [sys.executable, "-m", "conformance", port.target, "--seed", str(args.seed)]
    command += ["--profile", args.profile, "--oracle", args.oracle, "--json", str(report)]
    command += ["--strict"] * args.strict + ["-v"] * args.verbose
    env = dict(os.environ, PYTHONPATH=str(where))
    done = subprocess.run(command, cwd=where, env=env, timeout=RUN_LIMIT)
    return done.returncode, json.loads(report.read_text()) if report.is_file() else {}


def main(argv: list[str] | None = None) -> int:
    """Install and check each port asked for; print the reports and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ports", nargs="*", metavar="PORT", help=f"any of {', '.join(PORTS)}")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--oracle", default="auto", choices=["auto", "torch", "mpmath"])
    parser.add_argument("--strict", action="store_true", help="semantics checks fail too")
    parser.add_argument("-v", "--verbose", action="store_true", help="print full reproducers")
    parser.add_argument("--keep", type=Path, help="install into this directory and keep it")
    args = parser.parse_args(argv)
    unknown = [name for name in args.ports if name not in PORTS]
    if unknown:
        parser.error(f"unknown port {unknown[0]!r}: expected one of {', '.join(PORTS)}")
    names = args.ports or list(PORTS)
    summary: list[str] = []
    with tempfile.TemporaryDirectory(prefix="published-ports-") as tmp:
        root = args.keep.resolve() if args.keep else Path(tmp)
        for name in names:
            port = PORTS[name]
            where = root / name
            print(f"=== {port.requirement}: python -m conformance {port.target}", flush=True)
            started = time.perf_counter()
            try:
                install(port, where)
                status, report = check(port, where, args)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                print(f"{port.requirement}: {exc}", file=sys.stderr)
                return 2
            seconds = time.perf_counter() - started
            problems = report.get("problems", [])
            signatures = [str(p.get("signature")) for p in problems if isinstance(p, dict)]
            verdict = {0: "CONFORMANT", 1: "NOT CONFORMANT"}.get(status, f"exit {status}")
            summary.append(
                f"{port.requirement:20} {verdict:15} {seconds:5.0f} s  {', '.join(signatures)}"
            )
            if status not in (0, 1):
                print("\n".join(summary), file=sys.stderr)
                return 2
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
