"""How a backend is chosen: the one place that turns a TARGET into a Backend."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

from conformance.backends.adapter import AdapterBackend, is_adapter
from conformance.backends.base import Backend, BackendError, BackendTimeout, Evaluation
from conformance.backends.python import PythonValueBackend

__all__ = [
    "DEFAULT_TARGET",
    "Backend",
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


def load_backend(target: Any = None) -> Backend:
    """Turn a TARGET (string, Value class, adapter, or Backend) into a Backend.

    Strings are ``package.module:Attr`` or ``path/to/file.py:Attr`` (``Attr`` may be dotted and
    defaults to ``Value``); None means the bundled engine.
    """
    spec: str | None = None
    if target is None:
        target = DEFAULT_TARGET
    if isinstance(target, str):
        spec = target
        obj = load_object(target)
    else:
        obj = target
    return _as_backend(obj, spec)


def _as_backend(obj: Any, spec: str | None) -> Backend:
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
        return PythonValueBackend(obj, name=spec, target=spec)
    if callable(getattr(obj, "run", None)) and isinstance(getattr(obj, "name", None), str):
        return obj  # type: ignore[no-any-return]
    if is_adapter(obj):
        return AdapterBackend(obj, target=spec)
    raise TargetError(
        f"{label} is {type(obj).__name__!s} {obj!r:.80}, not a Value class, an adapter "
        "(leaf/data/grad/backward) or a Backend (name + run)"
    )


def _is_path(module_part: str) -> bool:
    return module_part.endswith(".py") or "/" in module_part or os.sep in module_part


def load_object(spec: str) -> Any:
    """Import ``module:attr`` or ``file.py:attr``; TargetError saying what failed."""
    module_part, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", "Value")
    # A Windows drive letter ("C:\\x.py") is not a module:attr separator.
    if len(module_part) == 1 and module_part.isalpha():
        module_part, attr = spec, "Value"
    attr = attr or "Value"
    if not module_part:
        raise TargetError(
            f"target {spec!r} names no module; expected module:Value or file.py:Value"
        )
    if _is_path(module_part):
        module = _load_file(module_part, spec)
    else:
        try:
            module = importlib.import_module(module_part)
        except ImportError as exc:
            raise TargetError(
                f"cannot import module {module_part!r} of target {spec!r}: {exc}"
            ) from exc
        except Exception as exc:
            raise TargetError(
                f"importing {module_part!r} of target {spec!r} raised {type(exc).__name__}: {exc}"
            ) from exc
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


def _load_file(path_text: str, spec: str) -> Any:
    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise TargetError(f"file {path_text!r} of target {spec!r} does not exist")
    # A file loaded by path may import its siblings, as it would when run as a script.
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = "_conformance_target_" + "".join(c if c.isalnum() else "_" for c in str(path))
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise TargetError(f"cannot load {path_text!r} as a Python module (target {spec!r})")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise TargetError(
            f"executing {path_text!r} (target {spec!r}) raised {type(exc).__name__}: {exc}"
        ) from exc
    return module
