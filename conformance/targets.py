"""TARGET strings: ``package.module:Attr`` or ``path/to/file.py:Attr``, split and located.

Shared by the loader (``conformance.backends``) and by reproducer scripts, so a script imports a
target exactly as the harness did. A file inside a package (a folder with ``__init__.py``, and its
parents likewise) is imported under its dotted name from the package's root, so its relative
imports work; a loose file is imported from its own folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_ATTR", "Located", "is_path", "locate_file", "split_target"]

DEFAULT_ATTR = "Value"


def split_target(spec: str) -> tuple[str, str]:
    """(module or path, attribute) of a TARGET; the attribute defaults to ``Value``."""
    module_part, _, attr = spec.rpartition(":") if ":" in spec else (spec, "", DEFAULT_ATTR)
    # A Windows drive letter ("C:\\x.py") is not a module:attr separator.
    if len(module_part) == 1 and module_part.isalpha():
        module_part, attr = spec, DEFAULT_ATTR
    return module_part, attr or DEFAULT_ATTR


def is_path(module_part: str) -> bool:
    """Whether the module part of a TARGET is a file path rather than a dotted module name."""
    return module_part.endswith(".py") or "/" in module_part or os.sep in module_part


@dataclass(frozen=True)
class Located:
    """Where a target file is imported from: ``root`` goes on sys.path, ``module`` is imported."""

    path: Path
    root: Path
    module: str
    """The dotted name (``pkg.engine``) of a file inside a package; "" for a loose file, which
    is loaded from its path under a private name."""


def locate_file(path_text: str) -> Located:
    """The package root and dotted module name of a Python file (walking up ``__init__.py``)."""
    path = Path(path_text).expanduser().resolve()
    folder = path.parent
    in_package = (folder / "__init__.py").is_file() and folder.name.isidentifier()
    if not in_package or not path.stem.isidentifier():
        return Located(path, folder, "")
    names = [] if path.stem == "__init__" else [path.stem]
    while (folder / "__init__.py").is_file() and folder.name.isidentifier():
        names.insert(0, folder.name)
        folder = folder.parent
    return Located(path, folder, ".".join(names))
