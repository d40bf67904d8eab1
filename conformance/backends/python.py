"""A micrograd-style Python class as a backend: ``Value(x)``, operators, ``.data``, ``.grad``."""

from __future__ import annotations

from typing import Any

from conformance.backends.adapter import classify, read_number
from conformance.backends.base import BackendError, Evaluation
from conformance.ops import OPS
from conformance.program import Program

__all__ = ["PythonValueBackend"]


class PythonValueBackend:
    """Runs programs on a Value class with micrograd's API (no adapter code needed)."""

    def __init__(
        self, value_class: type, name: str | None = None, target: str | None = None
    ) -> None:
        if not isinstance(value_class, type):
            raise TypeError(f"expected a Value class, got {value_class!r}")
        self.value_class = value_class
        module = getattr(value_class, "__module__", "?")
        self.name = name or f"{module}:{value_class.__qualname__}"
        self.target = target

    def run(self, program: Program) -> Evaluation:
        """Build the program from Value objects and operators, call backward(), read the results."""
        cls = self.value_class
        calls = {name: op.call for name, op in OPS.items()}
        built: list[Any] = []
        append = built.append
        try:
            for node in program.nodes:
                op = node.op
                if op == "input":
                    append(cls(node.value))
                elif op == "const":
                    append(node.value)
                else:
                    args = node.args
                    if len(args) == 2:
                        append(calls[op](built[args[0]], built[args[1]]))
                    else:
                        append(calls[op](built[args[0]]))
            out = built[program.output]
            for _ in range(program.backward_passes):
                out.backward()
            raw_values = {i: built[i].data for i in program.value_nodes}
            raw_grads = {i: built[i].grad for i in program.inputs}
        except BackendError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        values: dict[int, float] = {}
        for i, x in raw_values.items():
            values[i] = x if type(x) is float else read_number(x, f"value of node {i} (.data)")
        grads: dict[int, float] = {}
        for i, x in raw_grads.items():
            grads[i] = x if type(x) is float else read_number(x, f"gradient of input {i} (.grad)")
        return Evaluation(values, grads)
