"""A Python target run in a worker process, so that nothing it does can take the harness down.

``--isolate`` (and, by default, the deep check of a Python target) runs the engine in a worker:
``python -m conformance.drivers.micrograd TARGET`` speaking the wire protocol, driven by the
subprocess backend. A segfault in a C extension, ``os._exit``, a C-stack overflow of a recursive
sort on a long chain, or a hang kills only the worker: that program fails, the worker restarts,
and the run goes on. Reproducers and replay commands stay those of the Python target itself, so
what a user reruns is their own engine in their own interpreter.
"""

from __future__ import annotations

import os
import sys

from conformance.backends.base import BackendBase
from conformance.backends.subprocess import DEFAULT_TIMEOUT, SubprocessBackend
from conformance.reproducers.recipes import Recipe

__all__ = ["IsolatedBackend", "can_isolate", "compiled_engine"]


def can_isolate(backend: BackendBase) -> bool:
    """Whether ``backend`` is a Python target a worker process can load again by its TARGET."""
    return (
        isinstance(backend.target, str)
        and not backend.target.startswith("--exec")
        and not isinstance(backend, SubprocessBackend)
    )


def compiled_engine(backend: BackendBase) -> str:
    """The extension module of a compiled Python target that can run isolated ("" otherwise):
    a crash in it would take the interpreter down, so runs isolate it unless told not to."""
    compiled = str(getattr(backend, "compiled", "") or "")
    return compiled if compiled and can_isolate(backend) else ""


class IsolatedBackend(SubprocessBackend):
    """``inner``'s engine, served by a worker process (see the module docstring)."""

    def __init__(
        self,
        inner: BackendBase,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        cwd: str | None = None,
        asked: bool = True,
    ) -> None:
        """Start the worker for ``inner``'s TARGET (TargetError if it cannot start); ``asked``:
        the user asked for it (``--isolate``), so replay commands say so too."""
        if not can_isolate(inner) or inner.target is None:
            raise ValueError(f"{inner.name} has no TARGET a worker process could load")
        aliases: dict[str, str] = dict(getattr(inner, "aliases", {}) or {})
        argv = [sys.executable, "-m", "conformance.drivers.micrograd", inner.target]
        argv += [f"--alias={method}={name}" for method, name in sorted(aliases.items())]
        env = dict(os.environ)
        # The worker imports what this interpreter can: the same paths, in the same order.
        env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
        super().__init__(argv, timeout=timeout, cwd=cwd, env=env)
        self.numbers_on_either_side = inner.numbers_on_either_side
        self.inner = inner
        self.aliases = aliases
        """The engine's own names (``--alias``), which the worker uses and reproducers print."""
        self.asked = asked
        self.name = inner.name
        self.target = inner.target
        self.description = inner.description

    def recipe(self) -> Recipe:
        """The Python target's recipe: a reproducer runs the engine in the user's interpreter."""
        return self.inner.recipe()

    def replay_args(self) -> list[str]:
        """The Python target's, with ``--isolate`` where the user asked for it."""
        return [*self.inner.replay_args(), *(["--isolate"] if self.asked else [])]
