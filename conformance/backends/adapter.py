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
from typing import Any, Protocol, runtime_checkable

from conformance.backends.base import BackendError, Evaluation
from conformance.ops import OPS
from conformance.program import Program

__all__ = ["Adapter", "AdapterBackend", "classify", "is_adapter", "read_number"]

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


def classify(exc: BaseException) -> BackendError:
    """Wrap an exception raised by backend code into a BackendError with the right kind."""
    text = f"{type(exc).__name__}: {exc}"
    unsupported = isinstance(exc, _UNSUPPORTED_TYPES) or bool(_UNSUPPORTED_TEXT.search(str(exc)))
    kind = "unsupported" if unsupported else "error"
    return BackendError(text, kind=kind, exception_type=type(exc).__name__)


def read_number(x: Any, what: str) -> float:
    """float(x), or a protocol BackendError saying what was not a number."""
    try:
        return float(x)
    except Exception as exc:
        raise BackendError(
            f"{what} is not a number: {x!r} ({type(exc).__name__}: {exc})", kind="protocol"
        ) from None


class AdapterBackend:
    """Runs programs through an adapter object."""

    def __init__(self, adapter: Any, name: str | None = None, target: str | None = None) -> None:
        if not is_adapter(adapter):
            raise TypeError(
                f"{adapter!r} is not an adapter: it needs leaf(), data(), grad() and backward()"
            )
        self.adapter = adapter
        self.name = name or str(getattr(adapter, "name", type(adapter).__name__))
        self.target = target
        apply = getattr(adapter, "apply", None)
        self._apply: Callable[..., Any] | None = apply if callable(apply) else None

    def run(self, program: Program) -> Evaluation:
        """Build the program with the adapter, backpropagate, read values and gradients."""
        adapter = self.adapter
        apply = self._apply
        built: list[Any] = []
        try:
            for node in program.nodes:
                if node.op == "input":
                    built.append(adapter.leaf(node.value))
                elif node.op == "const":
                    built.append(node.value)
                else:
                    operands = [built[j] for j in node.args]
                    result: Any = NotImplemented
                    if apply is not None:
                        result = apply(node.op, *operands)
                    if result is NotImplemented:
                        result = OPS[node.op].call(*operands)
                    built.append(result)
            for _ in range(program.backward_passes):
                adapter.backward(built[program.output])
            raw_values = {i: adapter.data(built[i]) for i in program.value_nodes}
            raw_grads = {i: adapter.grad(built[i]) for i in program.inputs}
        except BackendError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        return Evaluation(
            {i: read_number(x, f"value of node {i}") for i, x in raw_values.items()},
            {i: read_number(x, f"gradient of input {i}") for i, x in raw_grads.items()},
        )
