"""The run's report: the problems, the per-op table, the check table, and the JSON report.

The terminal report leads with the bug list ("N problems found"), each problem a one-line
diagnosis with a few lines of code that show it; then the per-op table (each op variant's value
and gradients: ok, WRONG, or warn where it differs only where torch gives inf/nan); then the
check table and the verdict.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.diagnosis.problems import Problem, Problems
from conformance.ops import all_variants
from conformance.program import Program

if TYPE_CHECKING:
    from conformance.checks.per_op import VariantResult

__all__ = ["CheckResult", "Failure", "Report", "versions", "write_reproducers"]

REPORT_VERSION = 2


@dataclass
class Failure:
    """One shrunk failing example with its reproducer and replay command."""

    check: str
    summary: str
    reproducer: str
    replay: str
    program: Program | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "check": self.check,
            "summary": self.summary,
            "replay": self.replay,
            "program": self.program.to_dict() if self.program is not None else None,
            "reproducer": self.reproducer,
        }


@dataclass
class CheckResult:
    """The outcome of one named check.

    ``status`` is ``passed``, ``failed``, ``warned`` (only semantics differences, without
    --strict), ``expected`` (only problems listed as expected failures) or ``skipped`` (with
    ``note`` saying why).
    """

    name: str
    status: str
    examples: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    description: str = ""
    unchecked: int = 0
    note: str = ""
    problems: list[str] = field(default_factory=list)
    """Signatures of the problems this check saw."""
    incomplete: bool = False
    """It failed without a verdict on the engine: nothing ran, or the harness itself failed."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "status": self.status,
            "description": self.description,
            "examples": self.examples,
            "unchecked": self.unchecked,
            "seconds": round(self.seconds, 3),
            "note": self.note,
            "problems": list(self.problems),
        }


def versions() -> dict[str, str]:
    """Versions of Python and the libraries the verdict depends on."""
    out = {"python": platform.python_version()}
    for name in ("hypothesis", "torch", "mpmath", "micrograd-conformance"):
        try:
            from importlib.metadata import version

            out[name] = version(name)
        except Exception:
            out[name] = "not installed"
    return out


def _matches(entry: str, problem: Problem) -> bool:
    """Whether an xfail entry names this problem (its signature, one of its ops, an op name)."""
    if entry == str(problem.signature):
        return True
    return any(entry == op or entry == op.split(":")[0] for op in problem.ops)


@dataclass
class Report:
    """Everything a run found; ``ok`` is the verdict."""

    target: str
    backend: str
    oracle: str
    seed: int
    profile: str
    strict: bool
    target_file: str = ""
    """Where the target lives (a Python file), or what runs it."""
    runs_in: str = ""
    """Where the engine runs when the harness chose it (a worker process for a compiled one)."""
    supported: list[tuple[str, str]] = field(default_factory=list)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    problems: Problems = field(default_factory=Problems)
    op_results: dict[tuple[str, str], VariantResult] = field(default_factory=dict)
    replay: str = ""
    """The command that runs this whole run again."""
    unexpected_passes: list[str] = field(default_factory=list)
    """Expected failures (xfail entries) that no problem matched: the xfail list is stale."""
    versions: dict[str, str] = field(default_factory=versions)
    seconds: float = 0.0
    printed: int = 0
    """Characters the engine printed during the run (dropped, so the report stays readable)."""

    @property
    def ok(self) -> bool:
        """True when no problem fails the run and no check failed for another reason."""
        if any(p.fails_run or (self.strict and not p.expected) for p in self.problems):
            return False
        return all(c.status != "failed" for c in self.checks)

    @property
    def failures(self) -> list[Failure]:
        """Every failure of every check (the first example of each new problem)."""
        return [f for c in self.checks for f in c.failures]

    def apply_xfail(self, entries: Iterable[str]) -> None:
        """Mark the problems the entries name as expected; note entries nothing matched."""
        for entry in entries:
            matched = [p for p in self.problems if _matches(entry, p)]
            for problem in matched:
                problem.expected = True
            if not matched:
                self.unexpected_passes.append(entry)

    # --- JSON ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole report."""
        return {
            "report_version": REPORT_VERSION,
            "ok": self.ok,
            "target": self.target,
            "target_file": self.target_file,
            "runs_in": self.runs_in,
            "backend": self.backend,
            "oracle": self.oracle,
            "seed": self.seed,
            "profile": self.profile,
            "strict": self.strict,
            "seconds": round(self.seconds, 3),
            "engine_printed_chars": self.printed,
            "replay": self.replay,
            "versions": self.versions,
            "supported_ops": [f"{n}:{f}" for n, f in self.supported],
            "skipped_ops": {f"{n}:{f}": why for (n, f), why in self.skipped.items()},
            "problems": [p.to_dict() for p in self.problems],
            "unexpected_passes": list(self.unexpected_passes),
            "op_table": {
                f"{n}:{f}": {q: r.status(q) for q in ("value", "grad a", "grad b", "a", "b")}
                for (n, f), r in self.op_results.items()
            },
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self) -> str:
        """The --json report text."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    # --- terminal --------------------------------------------------------------------------

    def header(self) -> str:
        """Target, oracle, seed, profile, and how much of the op table is checked."""
        target = self.target + (f"  ({self.target_file})" if self.target_file else "")
        lines = [f"target:  {target}"]
        if self.runs_in:
            lines.append(f"runs in: {self.runs_in}")
        lines += [
            f"oracle:  {self.oracle}",
            f"seed:    {self.seed}    profile: {self.profile}"
            + ("    strict" if self.strict else ""),
        ]
        checked, total = len(self.supported), len(all_variants())
        lines.append(f"checked {checked} of {total} op variants" + (":" if self.skipped else ""))
        if self.skipped:
            width = max(len(f"{n}:{f}") for n, f in self.skipped)
            lines.append("  not supported (or left out):")
            for (name, form), why in self.skipped.items():
                lines.append(f"    {f'{name}:{form}':<{width}}  {why}")
        return "\n".join(lines)

    def problem_text(self, *, verbose: bool = False) -> str:
        """The bug list: each problem once, with a few lines of code that show it."""
        problems = list(self.problems)
        failing = [p for p in problems if not p.expected]
        if not problems and not self.unexpected_passes:
            return "no problems found"
        errors = sum(1 for p in failing if p.severity == "error")
        semantics = len(failing) - errors
        head = f"{errors} problem{'s' if errors != 1 else ''} found"
        if semantics:
            head += f", {semantics} semantics difference{'s' if semantics != 1 else ''}"
            head += " (fail only with --strict)" if not self.strict else ""
        expected = len(problems) - len(failing)
        if expected:
            head += f", {expected} expected (xfail)"
        lines = [head, ""]
        for number, problem in enumerate(problems, 1):
            lines += _problem_lines(number, problem, verbose)
        for entry in self.unexpected_passes:
            lines.append(f"  expected to fail but did not: {entry} (remove it from the xfail list)")
        return "\n".join(lines).rstrip()

    def op_table(self) -> str:
        """Each op variant's value, gradients and operands: ok / WRONG / warn / -."""
        if not self.op_results:
            return ""
        columns = ("value", "grad a", "grad b", "a", "b")
        labels = ("value", "grad a", "grad b", "keeps a", "keeps b")
        rows: list[tuple[str, ...]] = [("op variant", *labels)]
        clean = 0
        for (name, form), result in self.op_results.items():
            statuses = [result.status(q) for q in columns]
            if all(s in ("ok", "-") for s in statuses):
                clean += 1
                continue
            rows.append((f"{name}:{form}", *statuses))
        if len(rows) == 1:
            return f"op variants: all {clean} ok alone (values, gradients, operands)"
        widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.insert(1, "-" * max(len(line) for line in lines))
        lines.append(f"(the other {clean} op variants: ok in every column)")
        return "\n".join(lines)

    def table(self) -> str:
        """The check table: each check, its status, examples run, time; then the verdict."""
        rows = [("check", "status", "examples", "time")]
        for c in self.checks:
            status = c.status.upper() if c.status in ("failed", "warned") else c.status
            rows.append((c.name, status, str(c.examples), f"{c.seconds:.1f}s"))
        widths = [max(len(r[k]) for r in rows) for k in range(4)]
        lines = []
        for k, row in enumerate(rows):
            lines.append(
                f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  "
                f"{row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}"
            )
            if k == 0:
                lines.append("-" * len(lines[0]))
        for c in self.checks:
            if c.note:
                lines.append(f"  {c.name}: {c.note}")
        if self.printed:
            lines.append(f"  the engine printed {self.printed:,} characters (not shown)")
        lines.append(self.verdict())
        return "\n".join(lines)

    def verdict(self) -> str:
        """``CONFORMANT`` or ``NOT CONFORMANT``, with the count and the time."""
        failing = [p for p in self.problems if p.fails_run or (self.strict and not p.expected)]
        if self.ok:
            return f"CONFORMANT ({self.seconds:.1f}s)"
        count = f": {len(failing)} problem{'s' if len(failing) != 1 else ''}" if failing else ""
        return f"NOT CONFORMANT{count} ({self.seconds:.1f}s)"

    def brief(self) -> str:
        """One line per problem (its signature and diagnosis), then the verdict: for -q."""
        lines = []
        for number, problem in enumerate(self.problems, 1):
            tag = "[expected] " if problem.expected else ""
            summary = (
                problem.summary if len(problem.summary) <= 100 else problem.summary[:97] + "..."
            )
            lines.append(f"{number:>2}. {tag}{problem.signature}: {summary}")
        lines += [f"  expected to fail but did not: {e}" for e in self.unexpected_passes]
        lines.append(self.verdict())
        return "\n".join(lines)

    def text(self, *, verbose: bool = False) -> str:
        """The whole terminal report (after the header): problems, per-op table, checks."""
        parts = [self.problem_text(verbose=verbose), self.op_table(), self.table()]
        if self.replay:
            parts.append(f"replay: {self.replay}")
        return "\n\n".join(part for part in parts if part)

    def failure_text(self) -> str:
        """Every check's first failures: what differs, the reproducer script, the replay."""
        blocks = []
        for c in self.checks:
            for f in c.failures:
                label = "WARNING" if c.status == "warned" else "FAILURE"
                blocks.append(
                    f"=== {label} in check {c.name!r}: {c.description}\n{f.summary}\n\n"
                    f"--- reproducer (save as repro.py, run: python repro.py) ---\n"
                    f"{f.reproducer}--- replay: {f.replay}\n"
                )
        for problem in self.problems:
            if not any(problem.checks and problem.checks[0] == c.name for c in self.checks):
                blocks.append(
                    f"=== PROBLEM (probing): {problem.summary}\n" + "\n".join(problem.short) + "\n"
                )
        return "\n".join(blocks)


def _problem_lines(number: int, problem: Problem, verbose: bool) -> list[str]:
    tag = "" if problem.severity == "error" else "[semantics] "
    if problem.expected:
        tag = "[expected] " + tag
    lines = [f"{number:>2}. {tag}{problem.summary}"]
    details = problem.details if verbose else problem.details[:2]
    shown = [d for d in details if d not in problem.summary]
    lines += [f"      {line}" for line in shown]
    lines += [f"      {line}" for line in problem.short]
    seen = f"seen by: {', '.join(problem.checks)}"
    lines.append(f"      {seen}    signature: {problem.signature}")
    if verbose:
        if problem.wire:
            lines.append(f"      wire: {problem.wire}")
        if problem.reproducer:
            lines.append("      --- reproducer ---")
            lines += [f"      {line}" for line in problem.reproducer.rstrip().splitlines()]
    lines.append("")
    return lines


def write_reproducers(report: Report, directory: str | Path) -> list[str]:
    """Write each problem's script (``problem-01.py``) and wire line (``.wire``); the paths."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for number, problem in enumerate(report.problems, 1):
        stem = folder / f"problem-{number:02d}"
        if problem.reproducer:
            stem.with_suffix(".py").write_text(problem.reproducer)
            written.append(str(stem.with_suffix(".py")))
        if problem.wire:
            stem.with_suffix(".wire").write_text(problem.wire + "\n")
            written.append(str(stem.with_suffix(".wire")))
    return written
