"""The adapter protocol: how to check an engine whose API is not micrograd's shape.

An adapter is any object with four methods (and optionally ``name`` and ``apply``)::

    class MyAdapter:
        name = "my-engine"
        def leaf(self, x: float) -> Any: ...          # a new input Value holding x
        def data(self, v: Any) -> float: ...          # the forward value of v
        def grad(self, v: Any) -> float: ...          # the gradient of v after backward
        def backward(self, v: Any) -> None: ...       # run backpropagation from v
        def apply(self, op: str, *operands: Any) -> Any: ...   # optional

``apply`` receives the op name from ``conformance.ops.OPS`` and the operands (backend values, or
plain floats for constants); it returns the result, or ``NotImplemented`` to fall back to the
micrograd-style call of the op table (``a + b``, ``a.exp()``, ...). Raise AttributeError,
TypeError or NotImplementedError for an op the engine does not have: probing then lists it as
not supported.

TARGET names an adapter instance (``mod:ADAPTER``) or an adapter class (a class with a ``leaf``
attribute, instantiated without arguments).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from conformance.backends.base import BackendBase, BackendError, Evaluation, build
from conformance.backends.guard import EngineGuard, passes_through
from conformance.ops import OPS
from conformance.program import Program
from conformance.reproducers.recipes import AdapterRecipe, Recipe

__all__ = [
    "Adapter",
    "AdapterBackend",
    "classify",
    "is_adapter",
    "read_gradients",
    "read_number",
    "read_numbers",
]

_UNSUPPORTED_TYPES = (AttributeError, TypeError, NotImplementedError)
_UNSUPPORTED_TEXT = re.compile(r"support|implement", re.IGNORECASE)


@runtime_checkable
class Adapter(Protocol):
    """The four methods every adapter has."""

    def leaf(self, x: float) -> Any:
        """A new input Value holding x."""
        ...

    def data(self, v: Any) -> float:
        """The forward value of v."""
        ...

    def grad(self, v: Any) -> float:
        """The gradient of v after backward."""
        ...

    def backward(self, v: Any) -> None:
        """Backpropagate from v."""
        ...


def is_adapter(obj: object) -> bool:
    """Whether obj (an instance) implements the adapter protocol."""
    return all(callable(getattr(obj, name, None)) for name in ("leaf", "data", "grad", "backward"))


def classify(exc: BaseException, phase: str = "") -> BackendError:
    """Wrap an exception raised by backend code into a BackendError with the right kind."""
    text = f"{type(exc).__name__}: {exc}"
    unsupported = isinstance(exc, _UNSUPPORTED_TYPES) or bool(_UNSUPPORTED_TEXT.search(str(exc)))
    kind = "unsupported" if unsupported else "error"
    return BackendError(
        text, kind=kind, exception_type=type(exc).__name__, phase=phase, where=_raised_in(exc)
    )


_HARNESS = str(Path(__file__).resolve().parents[1])


def _raised_in(exc: BaseException) -> str:
    """The innermost function outside this harness in ``exc``'s traceback ("" if none)."""
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if not code.co_filename.startswith(_HARNESS):
            where = code.co_name
        tb = tb.tb_next
    return where


def read_number(x: Any, what: str, phase: str = "") -> float:
    """float(x), or a protocol BackendError saying what was not a number.

    ``phase`` is the pass whose result it is: a complex ``.data`` is a fault of the forward
    pass, a complex ``.grad`` one of the backward pass."""
    if type(x) is float:
        return x
    try:
        return float(x)
    except Exception as exc:
        raise BackendError(
            f"{what} is not a number: {x!r:.80} ({type(exc).__name__}: {exc})",
            kind="protocol",
            phase=phase,
            not_a_number=type(x).__name__,
        ) from None


def read_numbers(raw: dict[int, Any], what: str, phase: str = "") -> dict[int, float]:
    """Every entry as a float; ``what`` names an entry with ``{}`` for its node index."""
    return {
        i: x if type(x) is float else read_number(x, what.format(i), phase) for i, x in raw.items()
    }


def read_gradients(raw: dict[int, Any], what: str) -> dict[int, float]:
    """The inputs' gradients as floats, a ``None`` read as 0.

    An engine may leave ``.grad`` None until a gradient flows into it, as torch does: None
    then says backward() never reached the input, whose gradient is 0. Where the output does
    depend on the input, the 0 is judged like any other number ("0 instead of 2")."""
    return read_numbers({i: 0.0 if g is None else g for i, g in raw.items()}, what, "backward")


class AdapterBackend(BackendBase):
    """Runs programs through an adapter object."""

    def __init__(self, adapter: Any, name: str | None = None, target: str | None = None) -> None:
        if not is_adapter(adapter):
            raise TypeError(
                f"{adapter!r} is not an adapter: it needs leaf(), data(), grad() and backward()"
            )
        self.adapter = adapter
        self.guard = EngineGuard()
        self.name = name or str(getattr(adapter, "name", type(adapter).__name__))
        self.target = target
        apply = getattr(adapter, "apply", None)
        self._calls = {
            name: _through(apply, name, op.call) if callable(apply) else op.call
            for name, op in OPS.items()
        }

    def run(self, program: Program) -> Evaluation:
        """Build the program with the adapter, backpropagate, read values and gradients."""
        adapter = self.adapter
        phase = "forward"
        try:
            with self.guard():
                built = build(program, adapter.leaf, self._calls)
                phase = "backward"
                for _ in range(program.backward_passes):
                    adapter.backward(built[program.output])
                phase = "read"
                values = {i: adapter.data(built[i]) for i in program.value_nodes}
                grads = {i: adapter.grad(built[i]) for i in program.inputs}
                phase = "release"
                del built
                # float() of what the engine returned runs its code too (a __float__).
                phase = "read"
                return Evaluation(
                    read_numbers(values, "value of node {}", "forward"),
                    read_gradients(grads, "gradient of input {}"),
                )
        except BaseException as exc:
            if passes_through(exc):
                raise
            raise classify(exc, phase) from exc

    @property
    def printed(self) -> int:
        """Characters the engine printed to sys.stdout/sys.stderr (dropped)."""
        return self.guard.printed

    def recipe(self) -> Recipe:
        """The script imports the adapter and drives it the same way."""
        return AdapterRecipe(self.target or self.name)


def _through(
    apply: Callable[..., Any], name: str, fallback: Callable[..., Any]
) -> Callable[..., Any]:
    """Call ``apply(name, *operands)``, falling back to the op table's call on NotImplemented."""

    def call(*operands: Any) -> Any:
        result = apply(name, *operands)
        return fallback(*operands) if result is NotImplemented else result

    return call
