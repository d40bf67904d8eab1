"""What an in-process engine can do to the harness, contained.

An engine under test runs in the harness's own interpreter. ``EngineGuard`` wraps each program's
run so that the engine:

* **keeps its recursion limit**: an engine that raises it at import (a recursive topological
  sort with ``sys.setrecursionlimit(10**6)``, common in micrograd ports) gets it back inside
  Hypothesis, which lowers the limit while a test runs, so a program that passes alone passes here;
* **cannot flood the terminal**: what it prints to ``sys.stdout``/``sys.stderr`` is counted and
  dropped, and file descriptors 1 and 2 point to the null device while it runs, so that what C
  code writes there is dropped too (POSIX; a few microseconds per program);
* **cannot end the run**: ``SystemExit`` or any other exception from its code is a failure of that
  program, as pytest treats ``SystemExit`` in a test (only Ctrl-C and the harness's own time limit
  pass through).

A crash of the interpreter itself (a segfault in a C extension, ``os._exit``, a C-stack overflow)
cannot be contained in-process; ``--isolate`` (conformance.backends.isolated) runs the engine in a
worker process instead, and the deep check does so by default.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator

from conformance.backends.base import BackendError, TimeLimitExceeded

__all__ = ["EngineGuard", "OutputSink", "passes_through"]


class _ByteSink(io.RawIOBase):
    """``sys.stdout.buffer`` of the sink: counts the bytes written to it."""

    def __init__(self, owner: OutputSink) -> None:
        self.owner = owner

    def writable(self) -> bool:
        """Always."""
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        """Count and drop."""
        size = len(data)
        self.owner.chars += size
        return size


class OutputSink(io.TextIOBase):
    """A text stream that counts what is written to it and keeps none of it."""

    def __init__(self) -> None:
        self.chars = 0
        self._buffer = _ByteSink(self)

    @property
    def buffer(self) -> _ByteSink:
        """The byte-level stream (``sys.stdout.buffer.write``)."""
        return self._buffer

    def writable(self) -> bool:
        """Always."""
        return True

    def write(self, text: str) -> int:
        """Count and drop."""
        self.chars += len(text)
        return len(text)


def passes_through(exc: BaseException) -> bool:
    """Whether an exception from engine code is the harness's, not the engine's (Ctrl-C, the
    per-program time limit, a BackendError already classified)."""
    return isinstance(exc, (KeyboardInterrupt, TimeLimitExceeded, BackendError))


_NULL_FD: int | None = None


@contextlib.contextmanager
def _descriptors_to_null() -> Iterator[None]:
    """Point file descriptors 1 and 2 at the null device for the block (POSIX only)."""
    global _NULL_FD
    if os.name != "posix":
        yield
        return
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:  # what the harness printed goes out before the switch
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    if _NULL_FD is None:
        _NULL_FD = os.open(os.devnull, os.O_WRONLY)
    saved = []
    try:
        for fd in (1, 2):
            saved.append((fd, os.dup(fd)))
            os.dup2(_NULL_FD, fd)
    except OSError:  # a closed descriptor: nothing to protect
        pass
    try:
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


class EngineGuard:
    """The context each program of an in-process engine runs in (see the module docstring)."""

    def __init__(self) -> None:
        self.recursion_limit = sys.getrecursionlimit()
        """The limit when the engine was loaded: its own, if it set one at import."""
        self.output = OutputSink()
        self.null_descriptors = True
        """Point descriptors 1 and 2 at the null device while the engine runs (a worker process
        turns this off: its stderr is a bounded file whose tail explains a crash)."""

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        """Run the block with the engine's recursion limit and its output dropped."""
        limit = sys.getrecursionlimit()
        if limit < self.recursion_limit:
            sys.setrecursionlimit(self.recursion_limit)
        try:
            with (
                contextlib.redirect_stdout(self.output),
                contextlib.redirect_stderr(self.output),
                _descriptors_to_null() if self.null_descriptors else contextlib.nullcontext(),
            ):
                yield
        finally:
            if sys.getrecursionlimit() != limit:
                sys.setrecursionlimit(limit)

    @property
    def printed(self) -> int:
        """Characters the engine printed (and the guard dropped) so far."""
        return self.output.chars
