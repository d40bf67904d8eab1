"""A micrograd-style Python class as a backend: ``Value(x)``, operators, ``.data``, ``.grad``."""

from __future__ import annotations

import importlib.machinery
import inspect
import sys
from collections.abc import Callable, Mapping
from operator import attrgetter, methodcaller
from typing import Any

from conformance.backends.adapter import classify, read_gradients, read_numbers
from conformance.backends.base import BackendBase, Evaluation, TimeLimitExceeded, build
from conformance.backends.guard import EngineGuard, passes_through
from conformance.config import API_NAMES, spelling
from conformance.ops import OPS
from conformance.program import Program
from conformance.reproducers.recipes import Recipe, ValueClassRecipe

__all__ = ["PythonValueBackend", "extension_file"]


class PythonValueBackend(BackendBase):
    """Runs programs on a Value class with micrograd's API (no adapter code needed)."""

    numbers_on_either_side = True

    def __init__(
        self,
        value_class: type,
        name: str | None = None,
        target: str | None = None,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(value_class, type):
            raise TypeError(f"expected a Value class, got {value_class!r}")
        self.value_class = value_class
        module = getattr(value_class, "__module__", "?")
        self.name = name or f"{module}:{value_class.__qualname__}"
        self.target = target
        self.aliases = dict(aliases or {})
        """Method names the engine uses for the table's (``{"log": "ln"}``)."""
        self._calls = {
            name: _method(self.aliases[op.method]) if op.method in self.aliases else op.call
            for name, op in OPS.items()
        }
        self._spelled = {name: spelling(name, self.aliases) for name in API_NAMES}
        self._backward = self.aliases.get("backward", "backward")
        self._backward_on_class = callable(getattr(value_class, self._backward, None))
        self._data = _reader(self._spelled["data"])
        self._grad = _reader(self._spelled["grad"])
        self.compiled = extension_file(value_class, target)
        """The compiled extension module that defines the class ("" for a Python class): a crash
        there takes the interpreter down, so runs isolate such an engine by default."""
        self.description = _where(value_class) or self.compiled
        self.guard = EngineGuard()

    def run(self, program: Program) -> Evaluation:
        """Build the program from Value objects and operators, call backward(), read the results."""
        phase = "forward"
        try:
            with self.guard():
                built: list[Any] = build(program, self.value_class, self._calls)
                out = built[program.output]
                phase = "backward"
                backward = getattr(out, self._backward)
                if not self._backward_on_class and _a_rule(out, self._backward):
                    raise AttributeError(_rule_not_method(out, self._backward))
                for _ in range(program.backward_passes):
                    backward()
                phase = "read"
                data, grad = self._data, self._grad
                values = {i: data(built[i]) for i in program.value_nodes}
                grads = {i: grad(built[i]) for i in program.inputs}
                # The graph is released here, inside the run (and its time limit): a teardown
                # that hangs or fails belongs to this program, not to the next one.
                phase = "release"
                del built, out
                # float() of what the engine returned runs its code too (a __float__).
                phase = "read"
                return Evaluation(
                    read_numbers(
                        values, f"value of node {{}} ({self._spelled['data']})", "forward"
                    ),
                    read_gradients(grads, f"gradient of input {{}} ({self._spelled['grad']})"),
                )
        except BaseException as exc:
            if passes_through(exc):
                raise
            raise classify(exc, phase) from exc

    def own_name(self, method: str) -> str | None:
        """A callable attribute of the class spelling ``method`` with other case or underscores
        (``ReLU``, ``Relu``, ``_relu``, ``__abs__``), when the class has no ``method`` itself.

        For ``backward``, ``data`` and ``grad`` (``API_NAMES``), which a Value may hold as
        instance attributes, a Value is made and asked: ``backwards``, ``value``, or ``grad()``
        where its ``grad`` (or the name given with ``--alias``) is a method."""
        if method in API_NAMES:
            return self._own_api_name(method)
        if callable(getattr(self.value_class, method, None)):
            return None  # it has the method: whatever made the op fail, a name is not it
        names = [n for n in dir(self.value_class) if _loose(n) == _loose(method)]
        names = [n for n in names if callable(getattr(self.value_class, n, None))]
        # A public spelling before a private one, then a fixed order.
        return min(names, key=lambda n: (n.startswith("_"), n), default=None)

    def _own_api_name(self, name: str) -> str | None:
        attributes: dict[str, Any] = {}
        try:
            with self.guard():
                v = self.value_class(0.75)  # the value the probe's lone leaf holds
                read = name != "backward"  # data and grad are read; backward is called
                for n in dir(v):
                    try:
                        # A node's own rule (self.backward = lambda: None) is no backward().
                        if not read and _a_rule(v, n):
                            continue
                        attributes[n] = getattr(v, n)
                    except Exception:
                        continue  # a property that fails is no name to suggest
        except Exception:
            return None  # Value(x) itself fails: the probe says so, with no name to suggest
        given = self.aliases.get(name)
        if given is not None:  # --alias grad=gradient, where gradient is a method to call
            called = read and not given.endswith("()") and callable(attributes.get(given))
            return f"{given}()" if called else None
        if name in attributes:
            # A data or grad that is a method is read by calling it; otherwise it is no name.
            return f"{name}()" if read and callable(attributes[name]) else None
        # The likeliest word first (value before item), a public spelling before a private one.
        # A number to read or a method to call, never a None, a grad_fn or a list of parents.
        fits: Callable[[Any], bool] = (lambda x: _number(x) or callable(x)) if read else callable
        rank = {_loose(w): i for i, w in enumerate((name, *_SYNONYMS[name]))}
        names = [n for n, x in attributes.items() if _loose(n) in rank and fits(x)]
        if names:
            own = min(names, key=lambda n: (rank[_loose(n)], n.startswith("_"), n))
            return f"{own}()" if read and callable(attributes[own]) else own
        # Else a longer word (grade, backwardpropagation) or, for data, the attribute holding
        # 0.75 (v.v): for a name that is read, a number only.
        fits = _number if read else callable
        names = [n for n, x in attributes.items() if _loose(n).startswith(name) and fits(x)]
        if not names and name == "data":
            names = [n for n, x in attributes.items() if _number(x) and x == 0.75]
        return min(names, key=lambda n: (n.startswith("_"), len(n), n), default=None)

    def hidden_methods(self, program: Program) -> list[str]:
        """The API methods (``backward``, and ``data`` or ``grad`` where they are methods) that
        the output of ``program`` hides behind instance attributes of the same name: an op that
        stores its rule as ``out.backward = _backward`` makes ``out.backward()`` run that rule
        alone, and leaves the ``_backward`` that backward() calls a no-op."""
        names = [self._backward] + [
            spelled.lstrip(".")[:-2]
            for spelled in (self._spelled["data"], self._spelled["grad"])
            if spelled.endswith("()")
        ]
        try:
            with self.guard():
                out = build(program, self.value_class, self._calls)[program.output]
                own = getattr(out, "__dict__", {})
                return [n for n in names if n in own and callable(getattr(type(out), n, None))]
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, TimeLimitExceeded)):
                raise
            return []  # the op itself fails: that is what the checks report

    def replay_args(self) -> list[str]:
        """The TARGET, with the engine's own method names (``--alias``)."""
        aliases = [f"--alias={method}={name}" for method, name in sorted(self.aliases.items())]
        return [self.target or self.name, *aliases]

    @property
    def printed(self) -> int:
        """Characters the engine printed to sys.stdout/sys.stderr (dropped)."""
        return self.guard.printed

    def recipe(self) -> Recipe:
        """The script imports the class and uses its own operators."""
        return ValueClassRecipe(self.target or self.name, self.aliases)


_SYNONYMS = {
    "backward": ("backwards", "backprop", "backpropagate", "backpropagation"),
    "data": ("value", "val", "item", "scalar", "number", "x"),
    "grad": ("gradient", "grads", "derivative", "partial", "adjoint"),
}
"""Other words ports use for micrograd's ``backward``, ``data`` and ``grad``."""


def _a_rule(v: object, name: str) -> bool:
    """Whether ``v.<name>`` is a function ``v`` holds for itself (``self.backward = lambda:
    None``, a node's rule), not a method: its class has none of that name, and it is not bound
    to ``v`` (``self.backward = self._backprop`` is a method)."""
    held = getattr(v, "__dict__", {}).get(name)
    return (
        callable(held)
        and getattr(held, "__self__", None) is not v
        and not callable(getattr(type(v), name, None))
    )


def _rule_not_method(v: object, name: str) -> str:
    """Why ``v.<name>()`` is no backward pass: the class has no such method, each Value holds a
    function of its own under that name (in micrograd, a node's rule is ``_backward``)."""
    return (
        f"{type(v).__name__!r} has no method {name!r}: each Value holds its own `{name}` "
        f"(`self.{name} = ...`), a node's rule, not a backward pass"
    )


def _number(x: object) -> bool:
    """An int or a float (not a bool): what a Value's data or grad holds."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _loose(name: str) -> str:
    """A method name without case or underscores: how ``own_name`` matches spellings."""
    return name.replace("_", "").lower()


def _reader(spelled: str) -> Callable[[Any], Any]:
    """Read ``.data`` (``.value``, ``.item()``...) of a Value, as ``spelling`` writes it."""
    name = spelled.lstrip(".")
    return methodcaller(name[:-2]) if name.endswith("()") else attrgetter(name)


def _method(name: str) -> Callable[[Any], Any]:
    """Call the unary method ``name`` (an engine's own name for one of the table's ops)."""

    def call(a: Any) -> Any:
        return getattr(a, name)()

    return call


def extension_file(cls: type, target: str | None = None) -> str:
    """The compiled extension module that defines ``cls`` ("" for a class written in Python).

    A C type may name no module (``tp_name = "Value"`` makes its ``__module__`` "builtins"), so
    the module of ``target`` (``minigrad.engine:Value``) is asked too. A class whose ``backward``
    or operators are not Python functions is compiled even where neither module says so (a C type
    that claims a Python module's name); it is then described by name."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    module_name = target.rpartition(":")[0] if target and not target.endswith(".py") else ""
    for name in (getattr(cls, "__module__", "") or "", module_name):
        path = str(getattr(sys.modules.get(name), "__file__", "") or "")
        if path.endswith(suffixes):
            return path
    methods = [getattr(cls, name, None) for name in ("backward", "__add__", "__mul__")]
    if any(m is not None and not inspect.isfunction(m) for m in methods):
        return f"{cls.__qualname__}, compiled (its methods are not Python functions)"
    return ""


def _where(cls: type) -> str:
    """The file that defines ``cls`` (what the report header shows), or ""."""
    try:
        return inspect.getsourcefile(cls) or ""
    except (TypeError, OSError):
        return ""
