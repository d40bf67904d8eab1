"""The Backend protocol, the Evaluation it returns, and the errors a backend run may raise.

A *backend* is anything with a ``name`` and a ``run(program)`` method (the ``Backend`` protocol).
The harness itself only ever handles ``BackendBase`` objects: the bundled backends and oracles
inherit from it, and ``as_backend`` wraps anything else, so the optional facts about a backend
(does it enforce its own timeout, how a standalone script loads it, how it is replayed) are
attributes with defaults, read directly, never probed with ``getattr``.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol, runtime_checkable

from conformance.program import Program
from conformance.reproducers.recipes import HarnessRecipe, Recipe

__all__ = [
    "Backend",
    "BackendBase",
    "BackendError",
    "BackendTimeout",
    "Evaluation",
    "OracleBase",
    "TimeLimitExceeded",
    "as_backend",
    "as_oracle",
    "build",
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

    def settled_by(self, oracle: object) -> Evaluation:
        """The numbers ``oracle`` settles: without NaN gradients where it reports gradients
        through inf/nan as undetermined (``determines_nonfinite_gradients``), so that a
        reproducer never demands a NaN the oracle only meant as "not known"."""
        if getattr(oracle, "determines_nonfinite_gradients", True):
            return self
        return Evaluation(dict(self.values), {i: g for i, g in self.grads.items() if g == g})


class BackendError(Exception):
    """A backend failed to run a program (it raised, hung, crashed, or answered nonsense).

    ``kind`` classifies the cause for probing and reports: ``"unsupported"`` (the op does not
    exist on the backend), ``"error"`` (it raised), ``"timeout"``, ``"protocol"`` (it answered
    something that is not a number). ``phase`` says when it raised, where the backend knows:
    ``"forward"`` (building the program), ``"backward"``, ``"read"`` (reading ``.data``/``.grad``).
    ``where`` names the engine function that raised (for telling bugs apart).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "error",
        exception_type: str = "",
        phase: str = "",
        where: str = "",
        not_a_number: str = "",
        fatal: bool = False,
        brief: str = "",
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.exception_type = exception_type
        self.phase = phase
        self.where = where
        self.not_a_number = not_a_number
        """The type of what was read where a float was expected (``complex``), if that was it."""
        self.fatal = fatal
        """The engine hung, or its process died or answered garbage: wrong whatever the
        program's numbers should be (an exception raised and reported is not fatal)."""
        self.brief = brief
        """What happened in a few words that stay the same from program to program (``hangs``,
        ``kills the process (SIGSEGV)``), where the message carries request numbers."""


class BackendTimeout(BackendError):
    """The backend ran longer than the per-program time limit."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"timed out after {seconds:.3g} s (hang?)", kind="timeout", fatal=True, brief="hangs"
        )
        self.seconds = seconds


@runtime_checkable
class Backend(Protocol):
    """Anything that can run a program; raises BackendError on failure."""

    name: str

    def run(self, program: Program) -> Evaluation:
        """Run ``program`` and return its values and input gradients."""
        ...


class BackendBase:
    """A backend as the harness handles it: ``run`` plus optional facts with defaults."""

    name: str = "backend"
    target: str | None = None
    """The TARGET string it was loaded from (``module:Value``, ``file.py:Value``), if any."""
    description: str = ""
    """What the report header says about it (defaults to its name)."""
    handles_timeout: bool = False
    """It enforces the per-program timeout itself (a subprocess backend kills and restarts its
    process), so the harness runs it without an in-process alarm."""
    numbers_on_either_side: bool = False
    """It is held to micrograd's Python API, where ``+ - * /`` take a number on either side: a
    missing form is a problem. Elsewhere (a driver, an adapter) it is only a form skipped."""

    def run(self, program: Program) -> Evaluation:
        """Run ``program`` and return its values and input gradients."""
        raise NotImplementedError

    def recipe(self) -> Recipe:
        """How a standalone reproducer script loads and drives this backend."""
        if self.target is None:
            return HarnessRecipe(
                ["# this backend was passed as an object: load it here", "backend = ..."]
            )
        return HarnessRecipe(
            [
                "from conformance.backends import load_backend",
                f"backend = load_backend({self.target!r})",
            ]
        )

    def replay_args(self) -> list[str]:
        """The ``python -m conformance`` arguments that check this backend again."""
        return [self.target or self.name]

    @property
    def printed(self) -> int:
        """Characters the engine printed during the run (and the harness dropped)."""
        return 0

    def run_limited(self, program: Program, seconds: float | None) -> Evaluation:
        """``run(program)``, interrupted after ``seconds`` (None: no limit) by TimeLimitExceeded;
        a backend that runs programs elsewhere (a process) enforces the limit its own way."""
        with time_limit(seconds):
            return self.run(program)

    def take_released_deaths(self) -> list[tuple[Program, str]]:
        """Programs after whose answer the engine's process died, found out only at a later
        program, with how it died (conformance.backends.subprocess); in-process: none."""
        return []

    def own_name(self, method: str) -> str | None:
        """The engine's own spelling of the op table's ``method`` where it has one under another
        name (``ReLU`` for ``relu``), for a "not supported" line to suggest ``--alias``; None."""
        return None

    def close(self) -> None:
        """Release what the backend holds (a process); the default holds nothing."""


class OracleBase(BackendBase):
    """A trusted evaluator: a backend plus what it can settle."""

    determines_nonfinite_gradients: bool = True
    """Whether its gradients through inf/nan are torch's exact pattern (else nan: undetermined)."""

    def nn_reference(self, spec: Any, x: Any) -> dict[str, Any] | None:
        """An MLP's numbers from an independent neural-network library, or None (see checks.nn)."""
        return None

    def run_batch(
        self, program: Program, inputs: Sequence[Sequence[float]]
    ) -> list[Evaluation | BackendError]:
        """``program`` with its inputs set to each row of ``inputs`` in turn, each evaluated (or
        the error for that row). Oracles that can evaluate many rows at once override it."""
        results: list[Evaluation | BackendError] = []
        for row in inputs:
            try:
                results.append(self.run(program.with_inputs(row)))
            except BackendError as exc:
                results.append(exc)
        return results


class _Foreign(BackendBase):
    """Any object with ``name`` and ``run``, given the defaults of a BackendBase."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = str(inner.name)
        self.description = str(getattr(inner, "description", "") or "")
        target = getattr(inner, "target", None)
        self.target = target if isinstance(target, str) else None

    def run(self, program: Program) -> Evaluation:
        """Delegate to the wrapped object."""
        return self.inner.run(program)


class _ForeignOracle(OracleBase, _Foreign):
    """An oracle object that is not an OracleBase; it settles what torch settles."""

    def __init__(self, inner: Backend) -> None:
        _Foreign.__init__(self, inner)
        determines = getattr(inner, "determines_nonfinite_gradients", True)
        self.determines_nonfinite_gradients = bool(determines)


def as_backend(obj: Backend) -> BackendBase:
    """``obj`` as a BackendBase (wrapped if it only has ``name`` and ``run``)."""
    return obj if isinstance(obj, BackendBase) else _Foreign(obj)


def as_oracle(obj: Backend) -> OracleBase:
    """``obj`` as an OracleBase (wrapped if it only has ``name`` and ``run``)."""
    return obj if isinstance(obj, OracleBase) else _ForeignOracle(obj)


def build(
    program: Program,
    leaf: Callable[[float], Any],
    calls: Mapping[str, Callable[..., Any]],
) -> list[Any]:
    """Every node of ``program`` built on a backend: leaves through ``leaf``, constants as plain
    floats, ops through ``calls[op](*operands)``. The one loop every in-process backend runs."""
    built: list[Any] = []
    append = built.append
    for node in program.nodes:
        op = node.op
        if op == "input":
            append(leaf(node.value))  # type: ignore[arg-type]
        elif op == "const":
            append(node.value)
        else:
            args = node.args
            if len(args) == 2:
                out = calls[op](built[args[0]], built[args[1]])
            else:
                out = calls[op](built[args[0]])
            if out is None:
                # A method that forgot its `return out`: said here, where the op is known, not
                # as an AttributeError of whatever touches the None next.
                raise BackendError(
                    f"{op} returned None, not a Value (a missing `return`?)",
                    kind="protocol",
                    phase="forward",
                    where=op,
                    brief="returns None, not a Value",
                )
            append(out)
    return built


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
