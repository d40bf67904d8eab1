"""A micrograd-style Python class as a backend: ``Value(x)``, operators, ``.data``, ``.grad``."""

from __future__ import annotations

from typing import Any

from conformance.backends.adapter import classify, read_numbers
from conformance.backends.base import BackendBase, BackendError, Evaluation, build
from conformance.ops import OPS
from conformance.program import Program
from conformance.reproducers.recipes import Recipe, ValueClassRecipe

__all__ = ["PythonValueBackend"]


class PythonValueBackend(BackendBase):
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
        self._calls = {name: op.call for name, op in OPS.items()}

    def run(self, program: Program) -> Evaluation:
        """Build the program from Value objects and operators, call backward(), read the results."""
        try:
            built: list[Any] = build(program, self.value_class, self._calls)
            out = built[program.output]
            for _ in range(program.backward_passes):
                out.backward()
            values = {i: built[i].data for i in program.value_nodes}
            grads = {i: built[i].grad for i in program.inputs}
        except BackendError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        return Evaluation(
            read_numbers(values, "value of node {} (.data)"),
            read_numbers(grads, "gradient of input {} (.grad)"),
        )

    def recipe(self) -> Recipe:
        """The script imports the class and uses its own operators."""
        return ValueClassRecipe(self.target or self.name)
