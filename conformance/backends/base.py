"""The Backend protocol, the Evaluation it returns, and the errors a backend run may raise."""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Protocol, runtime_checkable

from conformance.program import Program

__all__ = [
    "Backend",
    "BackendError",
    "BackendTimeout",
    "Evaluation",
    "TimeLimitExceeded",
    "time_limit",
]


@dataclass
class Evaluation:
    """The outcome of running a program: every non-const node's value, every input's gradient."""

    values: dict[int, float] = field(default_factory=dict)
    grads: dict[int, float] = field(default_factory=dict)

    def all_finite(self) -> bool:
        """True when every value and gradient is a finite number."""
        return all(math.isfinite(x) for x in self.values.values()) and all(
            math.isfinite(x) for x in self.grads.values()
        )


class BackendError(Exception):
    """A backend failed to run a program (it raised, hung, crashed, or answered nonsense).

    ``kind`` classifies the cause for probing and reports: ``"unsupported"`` (the op does not
    exist on the backend), ``"error"`` (it raised), ``"timeout"``, ``"protocol"`` (it answered
    something that is not a number).
    """

    def __init__(self, message: str, *, kind: str = "error", exception_type: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.exception_type = exception_type


class BackendTimeout(BackendError):
    """The backend ran longer than the per-program time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {seconds:g} s (hang?)", kind="timeout")
        self.seconds = seconds


@runtime_checkable
class Backend(Protocol):
    """Anything that can run a program; raises BackendError on failure."""

    name: str

    def run(self, program: Program) -> Evaluation:
        """Run ``program`` and return its values and input gradients."""
        ...


class TimeLimitExceeded(BaseException):
    """Raised inside backend code when its time is up.

    A BaseException so that a backend's own ``except Exception`` cannot swallow it."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block with TimeLimitExceeded after ``seconds`` (POSIX main thread only).

    Elsewhere (Windows, worker threads) the block runs unguarded: Python offers no safe way to
    interrupt a thread, and subprocess backends enforce their own timeouts.
    """
    usable = (
        seconds is not None
        and seconds > 0
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))  # type: ignore[arg-type]
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        signal.signal(signal.SIGALRM, previous)
