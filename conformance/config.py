"""How users steer a run: op variants to leave out, method aliases, expected failures.

The same settings come from the command line (``--skip-op``, ``--alias``, ``--xfail FILE``) and
from the current project's ``pyproject.toml``::

    [tool.conformance]
    skip-op = ["pow:vv"]
    alias = ["log=ln", "relu=reLU"]
    xfail = ["op:tanh:value", "sub:cv", "raises:RecursionError:visit"]

An xfail entry names a problem by its signature (as the report prints it), by an op variant
(``sub:cv``) or by an op (``tanh``). Invalid entries are errors that name the entry.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.ops import OPS, Variant

__all__ = [
    "ConfigError",
    "Settings",
    "parse_aliases",
    "parse_skip",
    "parse_xfail",
    "project_settings",
    "read_xfail_file",
    "spelling",
]

SIGNATURE_KINDS = ("op", "api", "leaf", "raises", "hang", "crash", "protocol", "graph",
                   "semantics", "wrong")  # fmt: skip
"""The kinds a problem signature may have (``conformance.diagnosis``)."""


class ConfigError(ValueError):
    """A setting that does not parse; the message names it and what was expected."""


@dataclass
class Settings:
    """Everything a user can steer."""

    skip: list[Variant] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    xfail: list[str] = field(default_factory=list)

    def merged(self, other: Settings) -> Settings:
        """These settings with ``other``'s added (the command line after the project's)."""
        return Settings(
            list(dict.fromkeys([*self.skip, *other.skip])),
            {**self.aliases, **other.aliases},
            list(dict.fromkeys([*self.xfail, *other.xfail])),
        )


def parse_skip(entries: Iterable[str]) -> list[Variant]:
    """``tanh`` (every form) or ``pow:vv`` -> variants; ConfigError naming a bad entry."""
    variants: list[Variant] = []
    for entry in entries:
        name, _, form = entry.strip().partition(":")
        if name not in OPS:
            raise ConfigError(f"--skip-op {entry!r}: no op {name!r}; ops: {', '.join(OPS)}")
        forms = OPS[name].forms
        if form and form not in forms:
            raise ConfigError(
                f"--skip-op {entry!r}: {name} has no form {form!r}; forms: {', '.join(forms)}"
            )
        variants += [(name, f) for f in ([form] if form else forms)]
    return variants


API_NAMES = ("backward", "data", "grad")
"""micrograd's own API besides the op table, which an engine may spell its own way too
(``--alias backward=backwards``, ``--alias data=value``, ``--alias grad=grad()``)."""


def parse_aliases(entries: Iterable[str]) -> dict[str, str]:
    """``log=ln`` -> {"log": "ln"}: the engine's own name for a method of the op table or for
    ``backward``, ``data`` or ``grad``; ``data`` and ``grad`` may name a method (``grad()``)."""
    aliases: dict[str, str] = {}
    methods = sorted(op.method for op in OPS.values() if op.method)
    for entry in entries:
        ours, sep, theirs = entry.strip().partition("=")
        called = theirs.endswith("()")
        bare = theirs[:-2] if called else theirs
        if not sep or not bare.isidentifier():
            raise ConfigError(
                f"--alias {entry!r}: expected METHOD=NAME, such as log=ln, backward=backwards "
                "or data=value (data=NAME() for a method)"
            )
        if ours not in methods and ours not in API_NAMES:
            raise ConfigError(
                f"--alias {entry!r}: {ours!r} is neither a method of the op table nor one of "
                f"{', '.join(API_NAMES)}; methods: {', '.join(methods)}"
            )
        # Methods of the table and backward are called anyway: log=ln() means log=ln.
        aliases[ours] = theirs if ours in ("data", "grad") else bare
    return aliases


def spelling(name: str, aliases: Mapping[str, str] | None = None) -> str:
    """How code on a Value reads ``backward``, ``data`` or ``grad`` in the engine's own words:
    ``.backward()``, ``.value``, ``.grad()`` (``aliases`` as ``parse_aliases`` gives them)."""
    own = (aliases or {}).get(name, name)
    return f".{own}()" if name == "backward" else f".{own}"


def parse_xfail(entries: Iterable[str], where: str = "xfail") -> list[str]:
    """Validated xfail entries (signatures, variants or op names; comments and blanks dropped)."""
    out: list[str] = []
    for raw in entries:
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        head, _, rest = entry.partition(":")
        is_op = head in OPS and (not rest or rest in OPS[head].forms)
        if not is_op and head not in SIGNATURE_KINDS:
            raise ConfigError(
                f"{where} entry {entry!r}: expected a problem signature as the report prints it "
                f"(kinds: {', '.join(SIGNATURE_KINDS)}), an op variant (sub:cv) or an op (tanh)"
            )
        out.append(entry)
    return out


def read_xfail_file(path: str | Path) -> list[str]:
    """The entries of an xfail file: one per line, ``#`` starts a comment."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"--xfail {str(path)!r}: cannot read it: {exc}") from None
    return parse_xfail(text.splitlines(), f"--xfail {path}")


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as f:
            loaded: dict[str, Any] = tomllib.load(f)
            return loaded
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read it as TOML: {exc}") from None


def project_settings(directory: str | Path = ".") -> Settings:
    """``[tool.conformance]`` of ``directory``'s pyproject.toml (empty settings without one)."""
    path = Path(directory) / "pyproject.toml"
    if not path.is_file():
        return Settings()
    table = _load_toml(path).get("tool", {}).get("conformance", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.conformance] must be a table")
    unknown = set(table) - {"skip-op", "alias", "xfail"}
    if unknown:
        raise ConfigError(
            f"{path}: [tool.conformance] has unknown keys {sorted(unknown)}; "
            "expected skip-op, alias, xfail"
        )
    lists = {}
    for key in ("skip-op", "alias", "xfail"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise ConfigError(f"{path}: [tool.conformance] {key} must be a list of strings")
        lists[key] = value
    return Settings(
        parse_skip(lists["skip-op"]),
        parse_aliases(lists["alias"]),
        parse_xfail(lists["xfail"], f"{path} [tool.conformance] xfail"),
    )
