"""The run's report: the summary table and the JSON report."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from typing import Any

from conformance.program import Program

__all__ = ["CheckResult", "Failure", "Report", "versions"]

REPORT_VERSION = 1


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

    ``status`` is ``passed``, ``failed``, ``warned`` (a semantics check that failed without
    --strict), or ``skipped`` (with ``note`` saying why).
    """

    name: str
    status: str
    examples: int = 0
    seconds: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    description: str = ""
    unchecked: int = 0
    note: str = ""

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
            "failures": [f.to_dict() for f in self.failures],
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


@dataclass
class Report:
    """Everything a run found; ``ok`` is the verdict."""

    target: str
    backend: str
    oracle: str
    seed: int
    profile: str
    strict: bool
    supported: list[tuple[str, str]] = field(default_factory=list)
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=versions)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings and skips do not count)."""
        return all(c.status != "failed" for c in self.checks)

    @property
    def failures(self) -> list[Failure]:
        """Every failure of every check, including warned semantics checks."""
        return [f for c in self.checks for f in c.failures]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole report."""
        return {
            "report_version": REPORT_VERSION,
            "ok": self.ok,
            "target": self.target,
            "backend": self.backend,
            "oracle": self.oracle,
            "seed": self.seed,
            "profile": self.profile,
            "strict": self.strict,
            "seconds": round(self.seconds, 3),
            "versions": self.versions,
            "supported_ops": [f"{n}:{f}" for n, f in self.supported],
            "skipped_ops": {f"{n}:{f}": why for (n, f), why in self.skipped.items()},
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self) -> str:
        """The --json report text."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def header(self) -> str:
        """Target, oracle, seed, profile, and the op support probing found."""
        lines = [
            f"target:  {self.target}",
            f"oracle:  {self.oracle}",
            f"seed:    {self.seed}    profile: {self.profile}"
            + ("    strict" if self.strict else ""),
        ]
        ops = sorted({n for n, _ in self.supported})
        lines.append(f"ops:     {', '.join(ops) if ops else 'none'}")
        if self.skipped:
            lines.append("skipped (not supported by the target):")
            for (name, form), why in self.skipped.items():
                lines.append(f"  {name}:{form:<3} {why}")
        return "\n".join(lines)

    def table(self) -> str:
        """The summary table: each check, its status, examples run, time."""
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
        verdict = "CONFORMANT" if self.ok else "NOT CONFORMANT"
        lines.append(f"{verdict} ({self.seconds:.1f}s)")
        return "\n".join(lines)

    def failure_text(self) -> str:
        """Every failure: what differs, the reproducer script, and the replay command."""
        blocks = []
        for c in self.checks:
            for f in c.failures:
                label = "WARNING" if c.status == "warned" else "FAILURE"
                blocks.append(
                    f"=== {label} in check {c.name!r}: {c.description}\n{f.summary}\n\n"
                    f"--- reproducer (save as repro.py, run: python repro.py) ---\n"
                    f"{f.reproducer}--- replay: {f.replay}\n"
                )
        return "\n".join(blocks)
