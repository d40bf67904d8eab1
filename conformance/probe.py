"""What a backend supports, decided by its behaviour: one tiny program per op variant.

A variant is *not supported* when it raises while the program is being built (the forward pass)
on every one of a few ordinary operands with an exception that says "not here": an
AttributeError for a missing method, a TypeError for a refused number, a bare
``assert isinstance(other, (int, float))``, a NotImplementedError, the engine's own error
class, or a bare ``Exception`` that says so (``"only float and int are supported"``). It is
listed as skipped, with its error. Any other built-in exception (RecursionError,
ZeroDivisionError, SystemExit...) says the op is there and broken; so does working on some
operands and raising on others, or raising only in backward: such a variant is supported, and the
checks report it.

Two facts about micrograd's API come out of probing too:

* ``Value(x)`` must keep ``x`` exactly (an engine that stores float32 fails everything else);
* ``+ - * /`` take a number on either side: where ``v * 2`` works and ``2 * v`` raises, the
  engine lacks ``__rmul__``, a problem that fails the run rather than a skipped variant. This
  holds a Python Value class to micrograd's API; an engine behind a driver or an adapter has
  the API of its own language, so a form it lacks is only skipped (docs/PROTOCOL.md).
"""

from __future__ import annotations

import builtins
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from conformance.backends.base import BackendBase, BackendError
from conformance.checks.base import run_guarded
from conformance.config import API_NAMES
from conformance.ops import OPS, Variant, all_variants
from conformance.program import Node, Program

__all__ = [
    "ABSENT",
    "LEAF_VALUES",
    "PROBE_LEAF",
    "PROBE_POINTS",
    "Gap",
    "Probe",
    "probe",
    "probe_program",
]

PROBE_POINTS = ((0.75, 1.25), (2.0, 0.5), (1.5, 3.0))
"""Ordinary operands (a, b) a variant is tried on; the constant of vc/cv forms is b or a."""

PROBE_LEAF = 0.75
"""The first thing tried: ``Value(0.75)`` with ``backward()``."""

LEAF_VALUES = (0.1, -2.5, 1e-300, 3e300, 5e-324, 1.0 / 3.0)
"""Numbers ``Value(x).data`` must give back exactly."""


def probe_program(name: str, form: str, a: float, b: float) -> Program:
    """The one-op program of a variant (operands as its form says: input or constant)."""
    if form == "v":
        return Program((Node("input", value=a), Node(name, (0,))), 1)
    kinds = {"v": "input", "c": "const"}
    nodes = (Node(kinds[form[0]], value=a), Node(kinds[form[1]], value=b), Node(name, (0, 1)))
    return Program(nodes, 2)


@dataclass(frozen=True)
class Gap:
    """A number form micrograd's API has that the engine lacks while it has the op."""

    variant: Variant
    error: str
    """What ``v * 2`` (or ``2 * v``) raised."""


@dataclass
class Probe:
    """What probing found."""

    supported: list[Variant] = field(default_factory=list)
    skipped: dict[Variant, str] = field(default_factory=dict)
    """Variants not supported (or left out with --skip-op), with why."""
    fatal: str | None = None
    """Set when even ``Value(x)`` with ``backward()`` fails: nothing can be checked."""
    gaps: list[Gap] = field(default_factory=list)
    leaf: tuple[float, float] | None = None
    """(x, Value(x).data) where ``Value(x)`` does not keep x (None when it keeps them all)."""
    seed: float | None = None
    """``v.grad`` after ``v = Value(x); v.backward()`` where it is not 1 (None where it is)."""

    @property
    def checked_of(self) -> tuple[int, int]:
        """(variants checked, variants the table has)."""
        return len(self.supported), len(all_variants())


ABSENT = frozenset({"AttributeError", "TypeError", "NotImplementedError", "AssertionError"})
"""Built-in exceptions that mean an op (or a number form of it) is not there."""


def _forward_error(error: BackendError) -> bool:
    """Whether a failure says the op is not there: raised while building the program, by an
    exception of the "not here" kind (see the module docstring)."""
    if error.phase:  # a backend that knows: only the forward pass counts
        if error.phase != "forward" or error.kind not in ("unsupported", "error"):
            return False
        name = error.exception_type
        if name == "Exception":  # raise Exception("only float and int are supported")
            return error.kind == "unsupported"
        return not name or name in ABSENT or not isinstance(getattr(builtins, name, None), type)
    return error.kind == "unsupported"  # a process: only its explicit `unsupported_op`


_STEPS = {
    "forward": f"`Value({PROBE_LEAF!r})` fails",
    "backward": f"`Value({PROBE_LEAF!r}).backward()` fails",
    "read": f"reading `.data` and `.grad` of `Value({PROBE_LEAF!r})` after backward() fails",
}


def _fatal(backend: BackendBase, error: BackendError) -> str:
    """What failed of ``Value(x).backward()`` and reading it back, and, where the class has
    another API, what to do about it: the ``--alias`` to try, or an adapter."""
    if error.not_a_number:  # .data or .grad gave no number (a method, say)
        step = _STEPS["read"]
    else:
        step = _STEPS.get(error.phase, "a single input Value with backward() fails")
        if error.exception_type != "AttributeError" or error.phase not in ("backward", "read"):
            return f"{step}: {error}"
    # Every name the class spells its own way at once, not one per rerun.
    # Quoted as a shell needs it: grad=grad() is a syntax error unquoted.
    fixes = [
        f"--alias {shlex.quote(f'{n}={own}')}" for n in API_NAMES if (own := backend.own_name(n))
    ]
    fix = f"try {' '.join(fixes)}, or" if fixes else "for another API,"
    return (
        f"{step}: {error} (the harness drives micrograd's API, Value(x), backward(), .data and "
        f".grad; {fix} TARGET can name an adapter: docs/CONFORMANCE.md, 'Adapters')"
    )


def _first_line(error: BackendError) -> str:
    text = str(error).splitlines()[0] if str(error) else error.kind
    return text[:160]


def probe(
    backend: BackendBase, timeout: float | None = 5.0, *, skip: Iterable[Variant] = ()
) -> Probe:
    """Probe every variant of the op table (see the module docstring)."""
    result = Probe()
    leaf = Program((Node("input", value=PROBE_LEAF),), 0)
    try:
        alone = run_guarded(backend, leaf, timeout)
    except BackendError as exc:
        result.fatal = _fatal(backend, exc)
        return result
    seed = alone.grads.get(0)
    if seed is not None and seed != 1.0:
        result.seed = seed
    result.leaf = _leaf_problem(backend, timeout)
    skipped_by_user = set(skip)
    for name, form in all_variants():
        if (name, form) in skipped_by_user:
            result.skipped[(name, form)] = "left out with --skip-op"
            continue
        errors: list[BackendError] = []
        for a, b in PROBE_POINTS:
            try:
                run_guarded(backend, probe_program(name, form, a, b), timeout)
            except BackendError as exc:
                if _forward_error(exc):
                    errors.append(exc)
                    continue
            break
        if len(errors) == len(PROBE_POINTS):
            result.skipped[(name, form)] = _first_line(errors[0]) + _alias_hint(backend, name)
        else:
            result.supported.append((name, form))
    if backend.numbers_on_either_side:
        result.gaps = _gaps(result, skipped_by_user)
    return result


def _alias_hint(backend: BackendBase, name: str) -> str:
    """Where the engine has the op's method under another spelling: the ``--alias`` to use."""
    method = OPS[name].method
    own = backend.own_name(method) if method else None
    return f" (it has {own}: --alias {method}={own})" if own else ""


def _leaf_problem(backend: BackendBase, timeout: float | None) -> tuple[float, float] | None:
    for x in LEAF_VALUES:
        try:
            got = run_guarded(backend, Program((Node("input", value=x),), 0), timeout)
        except BackendError:
            continue
        value = got.values.get(0)
        if value is not None and value != x:
            return (x, value)
    return None


def _gaps(result: Probe, by_user: set[Variant]) -> list[Gap]:
    """Number forms of ``+ - * /`` missing while another form of the op works."""
    supported = set(result.supported)
    gaps: list[Gap] = []
    for name, op in OPS.items():
        if not op.either_side or not any((name, f) in supported for f in op.forms):
            continue
        for form in ("vc", "cv"):
            variant = (name, form)
            if variant not in supported and variant not in by_user and variant in result.skipped:
                gaps.append(Gap(variant, result.skipped[variant]))
    return gaps
