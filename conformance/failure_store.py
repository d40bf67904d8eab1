"""``--database DIR``: the failing programs of earlier runs, replayed first.

Each check keeps the shrunk programs of the problems it found in ``DIR/<check>/<digest>.json``
(the program's JSON form: stable across Hypothesis versions, readable, and exactly what the
report printed). The next run of that check judges them before it generates anything, so a CI
run sees a known failure at once, whatever the seed; a stored program that passes now is deleted,
so the folder holds only bugs that are still there.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from conformance.program import Program, ProgramError

__all__ = ["MAX_STORED_NODES", "FailureStore"]

MAX_STORED_NODES = 2_000
"""Longer programs (a deep chain) are not stored: the deep check finds them again by itself."""


class FailureStore:
    """Failing programs, per check, in a folder."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def _path(self, check: str, program: Program) -> Path:
        digest = hashlib.sha256(program.to_json().encode()).hexdigest()[:16]
        return self.directory / check / f"{digest}.json"

    def programs(self, check: str) -> list[Program]:
        """The stored programs of ``check`` (unreadable files are skipped, never fatal)."""
        folder = self.directory / check
        found: list[Program] = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                found.append(Program.from_json(path.read_text()))
            except (OSError, ValueError, ProgramError, json.JSONDecodeError):
                continue
        return found

    def keep(self, check: str, program: Program) -> None:
        """Store ``program`` as a failure of ``check`` (short programs only)."""
        if len(program.nodes) > MAX_STORED_NODES:
            return
        path = self._path(check, program)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(program.to_json() + "\n")

    def forget(self, check: str, program: Program) -> None:
        """Delete a stored program that no longer fails."""
        self._path(check, program).unlink(missing_ok=True)
