"""How a backend is chosen: the one place that turns a TARGET into a Backend."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from conformance.backends.adapter import AdapterBackend, is_adapter
from conformance.backends.base import (
    Backend,
    BackendBase,
    BackendError,
    BackendTimeout,
    Evaluation,
    as_backend,
)
from conformance.backends.python import PythonValueBackend
from conformance.targets import Located, is_path, locate_file, split_target

__all__ = [
    "DEFAULT_TARGET",
    "Backend",
    "BackendBase",
    "BackendError",
    "BackendTimeout",
    "Evaluation",
    "TargetError",
    "load_backend",
    "load_object",
]

DEFAULT_TARGET = "micrograd.engine:Value"


class TargetError(Exception):
    """The target could not be loaded or is not something the harness can check (exit 2)."""


def load_backend(target: Any = None, *, aliases: Mapping[str, str] | None = None) -> BackendBase:
    """Turn a TARGET (string, Value class, adapter, or Backend) into a Backend.

    Strings are ``package.module:Attr`` or ``path/to/file.py:Attr`` (``Attr`` may be dotted and
    defaults to ``Value``); None means the bundled engine. ``aliases`` gives a Value class's own
    names for the table's methods (``{"log": "ln"}``).
    """
    spec: str | None = None
    if target is None:
        if importlib.util.find_spec("micrograd") is None:
            raise TargetError(
                f"no TARGET given, and the default, {DEFAULT_TARGET}, is not installed: install "
                "the reference engine (python -m pip install ./engine, from this repository), or "
                "name your engine: python -m conformance path/to/engine.py:Value"
            )
        target = DEFAULT_TARGET
    if isinstance(target, str):
        spec = target
        obj = load_object(target)
    else:
        obj = target
    backend = _as_backend(obj, spec, aliases)
    if aliases and not isinstance(backend, PythonValueBackend):
        raise TargetError(
            f"aliases ({', '.join(f'{k}={v}' for k, v in aliases.items())}) apply to a Python "
            f"Value class, and {spec or backend.name} is not one"
        )
    return backend


def _as_backend(
    obj: Any, spec: str | None, aliases: Mapping[str, str] | None = None
) -> BackendBase:
    label = spec or getattr(obj, "__qualname__", None) or type(obj).__name__
    if isinstance(obj, type):
        if callable(getattr(obj, "leaf", None)):
            try:
                instance = obj()
            except Exception as exc:
                raise TargetError(
                    f"adapter class {label} could not be instantiated without arguments: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            return AdapterBackend(instance, target=spec)
        return PythonValueBackend(obj, name=spec, target=spec, aliases=aliases)
    if callable(getattr(obj, "run", None)) and isinstance(getattr(obj, "name", None), str):
        return as_backend(obj)
    if is_adapter(obj):
        return AdapterBackend(obj, target=spec)
    raise TargetError(
        f"{label} is {type(obj).__name__!s} {obj!r:.80}, not a Value class, an adapter "
        "(leaf/data/grad/backward) or a Backend (name + run)"
    )


def load_object(spec: str) -> Any:
    """Import ``module:attr`` or ``file.py:attr``; TargetError saying what failed."""
    module_part, attr = split_target(spec)
    if not module_part:
        raise TargetError(
            f"target {spec!r} names no module; expected module:Value or file.py:Value"
        )
    if is_path(module_part):
        module = _load_file(module_part, spec)
    else:
        module = _guarded_import(spec, module_part, lambda: importlib.import_module(module_part))
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            available = sorted(n for n in dir(module) if not n.startswith("_"))[:20]
            raise TargetError(
                f"{module_part!r} has no attribute {attr!r} (target {spec!r}); "
                f"public names: {', '.join(available) or 'none'}"
            ) from None
    return obj


def _guarded_import(spec: str, what: str, load: Callable[[], ModuleType]) -> ModuleType:
    """``load()``, with any failure of the target's own code as a TargetError naming it."""
    try:
        return load()
    except TargetError:
        raise
    except ImportError as exc:
        raise TargetError(f"cannot import {what!r} of target {spec!r}: {exc}") from exc
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise TargetError(
            f"importing {what!r} of target {spec!r} raised {type(exc).__name__}: {exc}"
        ) from exc


def _load_file(path_text: str, spec: str) -> ModuleType:
    """A module by file path: by its dotted name from its package's root, or a loose file."""
    located = locate_file(path_text)
    if not located.path.is_file():
        raise TargetError(f"file {path_text!r} of target {spec!r} does not exist")
    if located.module:
        module = _guarded_import(spec, path_text, lambda: _import_from_root(located))
    else:
        module = _guarded_import(spec, path_text, lambda: _exec_loose_file(located.path))
    origin = getattr(module, "__file__", None)
    if origin is None or Path(origin).resolve() != located.path:
        raise TargetError(
            f"importing {located.module or path_text!r} for target {spec!r} gave {origin!r}, "
            f"not {str(located.path)!r}"
        )
    return module


def _import_from_root(located: Located) -> ModuleType:
    """Import a file inside a package under its dotted name, so relative imports work.

    The package's root goes first on ``sys.path``, so ``import pkg`` finds this file's package
    even where another package of that name is installed (a fork beside Karpathy's micrograd)
    or half-removed (a namespace left by ``pip uninstall``). Only when a package of that name is
    already imported in this process is this one loaded under a private alias instead.
    """
    top, _, rest = located.module.partition(".")
    own = located.root / top
    if top not in sys.modules or _importable_from_elsewhere(top, own) is not True:
        if str(located.root) in sys.path:
            sys.path.remove(str(located.root))
        sys.path.insert(0, str(located.root))
        importlib.invalidate_caches()
        return importlib.import_module(located.module)
    alias = _private_name(own)
    _exec_file(alias, own / "__init__.py", package=True)
    return importlib.import_module(f"{alias}.{rest}" if rest else alias)


def _importable_from_elsewhere(top: str, own: Path) -> bool | None:
    """Whether ``import top`` finds a package other than ``own`` (None: it finds nothing)."""
    module = sys.modules.get(top)
    if module is not None:
        locations = list(getattr(module, "__path__", None) or [])
        origin = getattr(module, "__file__", None)
    else:
        try:
            found = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        if found is None:
            return None
        locations = list(found.submodule_search_locations or [])
        origin = found.origin
    if origin:
        locations.append(str(Path(origin).parent))
    here = own.resolve()
    return not any(Path(location).resolve() == here for location in locations)


def _exec_loose_file(path: Path) -> ModuleType:
    """A file outside any package, run under a private name with its folder on sys.path."""
    # A loose file may import its siblings, as it would when run as a script.
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    return _exec_file(_private_name(path), path, package=False)


def _private_name(path: Path) -> str:
    """A module name for ``path`` that no installed package can have."""
    return "_conformance_target_" + "".join(c if c.isalnum() else "_" for c in str(path))


def _exec_file(name: str, path: Path, *, package: bool) -> ModuleType:
    """Run ``path`` as module ``name`` (a package whose folder holds its submodules, if asked)."""
    if name in sys.modules:
        return sys.modules[name]
    locations = [str(path.parent)] if package else None
    module_spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=locations
    )
    if module_spec is None or module_spec.loader is None:
        raise TargetError(f"cannot load {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
