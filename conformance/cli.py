"""`python -m conformance [TARGET]`: check a backend and print the verdict.

Exit status: 0 conformant, 1 not conformant, 2 target not loadable or bad arguments, 3 an
internal error of the harness (with its traceback).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.checks import CHECKS
from conformance.ops import OPS
from conformance.profiles import PROFILES
from conformance.report import CheckResult, Report

if TYPE_CHECKING:
    from conformance.backends import BackendBase

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_NOT_CONFORMANT, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_BROKEN_PIPE = 141
"""The shell's status for a program stopped by a closed pipe (128 + SIGPIPE): no verdict."""

STORAGE_VARIABLE = "HYPOTHESIS_STORAGE_DIRECTORY"
"""Where Hypothesis keeps what it stores (its documented environment variable)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but bad arguments exit with status 2 and a message naming the problem."""

    def error(self, message: str) -> Any:
        """Print usage and the problem, exit 2."""
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed {text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed {text!r} must be >= 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    names = [c.name for c in CHECKS]
    parser = _Parser(
        prog="python -m conformance",
        description="Check a micrograd-style autograd engine against PyTorch float64.",
        epilog="Exit status: 0 conformant, 1 not conformant, 2 bad target or arguments, "
        "3 internal error of the harness.",
    )
    parser.add_argument(
        "target",
        nargs="?",
        default=None,
        help="package.module:Value, path/to/file.py:Value, or module:ADAPTER "
        "(default: the bundled micrograd.engine:Value)",
    )
    parser.add_argument("--profile", choices=PROFILES, default="default", help="how many examples")
    parser.add_argument("--seed", type=_seed, default=None, help="Hypothesis seed (replays a run)")
    parser.add_argument(
        "--check",
        action="append",
        dest="checks",
        metavar="NAME",
        help=f"run only this check (repeatable): {', '.join(names)}",
    )
    parser.add_argument("--strict", action="store_true", help="semantics checks fail the run too")
    parser.add_argument(
        "--oracle",
        choices=("auto", "torch", "mpmath"),
        default="auto",
        help="auto (default): torch if installed, else mpmath",
    )
    parser.add_argument(
        "--accuracy", action="store_true", help="also print each op's worst error in ULPs"
    )
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the report")
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=5.0,
        help="seconds per program (deep chains get one more per 25,000 nodes)",
    )
    parser.add_argument(
        "--exec",
        dest="exec_command",
        default=None,
        metavar="COMMAND",
        help="check an engine in any language: COMMAND speaks docs/PROTOCOL.md",
    )
    parser.add_argument(
        "--replay",
        type=Path,
        default=None,
        metavar="FILE",
        help="run the reproducer lines in FILE ('-': stdin) on the engine and say what differs; "
        "no checks, no oracle",
    )
    parser.add_argument("--list-checks", action="store_true", help="list the checks and exit")
    parser.add_argument(
        "--list-ops",
        action="store_true",
        help="list the op table (names, forms, spelling) and exit",
    )
    parser.add_argument(
        "--skip-op",
        action="append",
        default=[],
        metavar="NAME[:FORM]",
        help="leave an op (or one form of it, e.g. pow:vv) out of the run (repeatable)",
    )
    parser.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="METHOD=NAME",
        help="the engine's own name for a method of the op table (log=ln) or for micrograd's "
        "backward, data or grad (backward=backwards, data=value, 'grad=grad()' for a method) "
        "(repeatable)",
    )
    parser.add_argument(
        "--xfail",
        type=Path,
        default=None,
        metavar="FILE",
        help="expected failures (problem signatures, op variants or ops, one per line): "
        "reported, but they do not fail the run",
    )
    parser.add_argument(
        "--repro-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="write each problem's standalone script and wire-protocol line into DIR",
    )
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run a Python TARGET in a worker process, so that a segfault, os._exit or a C-stack "
        "overflow fails one program instead of the run (default: only an engine compiled into "
        "an extension module; the deep check always does)",
    )
    parser.add_argument(
        "--database",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep each check's failing programs in DIR and judge them first on the next run "
        "(nothing is written without it)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print full reproducers and wire lines"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print one line per problem and the verdict"
    )
    return parser


def _replay(source: Path, backend: BackendBase, args: argparse.Namespace) -> int:
    """``--replay FILE``: each reproducer line run on the engine; exit 1 when one differs."""
    from conformance.backends import TargetError
    from conformance.backends.isolated import compiled_engine
    from conformance.replay import render, replay_lines

    try:
        if str(source) == "-":
            text, label = sys.stdin.read(), "stdin"
        else:
            text, label = source.read_text(encoding="utf-8"), str(source)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {source}: {exc}", file=sys.stderr)
        backend.close()
        return EXIT_USAGE
    from conformance.backends.subprocess import SubprocessBackend

    try:
        if args.isolate or (args.isolate is None and compiled_engine(backend)):
            from conformance.backends.isolated import IsolatedBackend

            backend = IsolatedBackend(backend, timeout=args.timeout)
        if isinstance(backend, SubprocessBackend):
            backend.verify_release = True  # a line's death while releasing it is that line's
        results = replay_lines(backend, text.splitlines(), args.timeout)
    except TargetError as exc:
        print(f"error: cannot load target: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        backend.close()
    report, passed = render(results, label, backend.name)
    print(report)
    if not results:
        return EXIT_USAGE
    return EXIT_OK if passed else EXIT_NOT_CONFORMANT


def op_table() -> str:
    """The op table as the wire protocol and the docs name it: one line per op."""
    rows = [("op", "forms", "Python spelling", "torch's conventions")]
    for name, op in OPS.items():
        spelling = op.source.format(out="t", a="a", b="b").replace("\n", "; ")
        rows.append((name, ",".join(op.forms), spelling, op.conventions))
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip()
        for r in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def _hypothesis_storage(database: Path | None) -> None:
    """Point what Hypothesis stores (its cache of the constants in local code) into
    ``--database DIR``, or at a scratch folder removed on exit: never at a ``.hypothesis/`` in
    the user's working directory. A storage directory the user set in the
    environment is theirs and is left alone."""
    if os.environ.get(STORAGE_VARIABLE):
        return
    if database is not None:
        os.environ[STORAGE_VARIABLE] = str((database / "hypothesis").resolve())
        return
    scratch = tempfile.mkdtemp(prefix="conformance-hypothesis-")
    os.environ[STORAGE_VARIABLE] = scratch
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (3 and a traceback for a fault of the harness)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more can be shown; say nothing either.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception:
        print(
            "internal error of the conformance harness (not a verdict on the engine); "
            "please report it with this traceback:",
            file=sys.stderr,
        )
        traceback.print_exc()
        return EXIT_INTERNAL


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_checks:
        for c in CHECKS:
            kind = " (semantics: fails only with --strict)" if c.semantics else ""
            print(f"{c.name:18} {c.description}{kind}")
        return EXIT_OK
    if args.list_ops:
        print(op_table())
        return EXIT_OK
    names = [c.name for c in CHECKS]
    for name in args.checks or []:
        if name not in names:
            parser.error(f"unknown check {name!r}; choose from {', '.join(names)}")
    _hypothesis_storage(args.database)

    from conformance import target_label
    from conformance.backends import TargetError, load_backend
    from conformance.config import (
        ConfigError,
        Settings,
        parse_aliases,
        parse_skip,
        project_settings,
        read_xfail_file,
    )
    from conformance.oracles import OracleUnavailable, load_oracle
    from conformance.report import write_reproducers
    from conformance.runner import run_checks

    if args.exec_command is not None and args.target is not None:
        parser.error("give a TARGET or --exec COMMAND, not both")
    try:
        settings = project_settings().merged(
            Settings(
                parse_skip(args.skip_op),
                parse_aliases(args.alias),
                read_xfail_file(args.xfail) if args.xfail is not None else [],
            )
        )
    except ConfigError as exc:
        parser.error(str(exc))
    try:
        if args.exec_command is not None:
            from conformance.backends.subprocess import SubprocessBackend

            if settings.aliases:
                parser.error("--alias applies to Python targets, not to --exec drivers")
            if args.isolate:
                parser.error("--isolate applies to Python targets: an --exec engine runs apart")
            backend: BackendBase = SubprocessBackend(args.exec_command, timeout=args.timeout)
        else:
            backend = load_backend(args.target, aliases=settings.aliases)
    except (TargetError, ValueError) as exc:
        print(f"error: cannot load target: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.replay is not None:
        return _replay(args.replay, backend, args)
    try:
        oracle = load_oracle(args.oracle)
    except OracleUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def started(report: Report) -> None:
        if not args.quiet:
            print(report.header(), flush=True)
            print(flush=True)

    def finished(result: CheckResult) -> None:
        if not args.quiet:
            print(
                f"  {result.name:18} {result.status:8} {result.examples:6} examples  "
                f"{result.seconds:6.1f}s",
                flush=True,
            )

    try:
        report = run_checks(
            backend,
            oracle,
            target=(
                f"--exec {args.exec_command}"
                if args.exec_command is not None
                else target_label(args.target)
            ),
            profile=args.profile,
            seed_value=args.seed,
            strict=args.strict,
            checks=args.checks,
            timeout=args.timeout,
            on_result=finished,
            on_start=started,
            skip_ops=settings.skip,
            xfail=settings.xfail,
            isolate=args.isolate,
            database=str(args.database) if args.database is not None else None,
        )
    except TargetError as exc:  # a worker process (--isolate) could not load the target
        print(f"error: cannot load target: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        print()
    print(report.text(verbose=args.verbose) if not args.quiet else report.brief())
    if args.accuracy:
        from conformance.accuracy import run_accuracy

        print()
        print(run_accuracy(backend, profile=args.profile, seed=report.seed))
    status = EXIT_OK if report.ok else EXIT_NOT_CONFORMANT
    for path, write in (
        (args.json, lambda p: p.write_text(report.to_json() + "\n")),
        (args.repro_dir, lambda p: write_reproducers(report, p)),
    ):
        if path is None:
            continue
        try:
            write(path)
        except OSError as exc:
            print(f"error: cannot write {path}: {exc}", file=sys.stderr)
            status = EXIT_USAGE
    return status
