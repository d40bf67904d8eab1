"""Trusted evaluators: torch (float64) and mpmath (high precision)."""

from __future__ import annotations

import importlib
from typing import Any

from conformance.backends.base import OracleBase, as_oracle

__all__ = ["ORACLES", "OracleUnavailable", "load_oracle"]

ORACLES = {
    "torch": "conformance.oracles.torch:TorchOracle",
    "mpmath": "conformance.oracles.mpmath:MpmathOracle",
}
"""Oracle names (for --oracle) and the class implementing each."""


class OracleUnavailable(Exception):
    """The requested oracle cannot be used here (its library is not installed)."""


def load_oracle(oracle: Any = None) -> OracleBase:
    """An oracle by name ("torch", "mpmath"), an oracle object as is, or None for the default.

    The default is torch, falling back to mpmath where torch is not installed.
    """
    if oracle is not None and not isinstance(oracle, str):
        return as_oracle(oracle)
    if oracle == "auto":
        oracle = None
    names = [oracle] if oracle else list(ORACLES)
    problems: list[str] = []
    for name in names:
        if name not in ORACLES:
            raise OracleUnavailable(f"unknown oracle {name!r}; expected one of {list(ORACLES)}")
        module_name, _, class_name = ORACLES[name].partition(":")
        try:
            module = importlib.import_module(module_name)
            found = getattr(module, class_name)()
            if problems:  # the default fell back: the report header says why
                found.description = f"{found.description} (auto: torch is not installed)"
            return found  # type: ignore[no-any-return]
        except (ImportError, AttributeError) as exc:
            problems.append(f"{name}: {exc}")
    raise OracleUnavailable("no oracle is available (" + "; ".join(problems) + ")")
