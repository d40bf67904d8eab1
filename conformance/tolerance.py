"""The scale-aware comparison of a backend's evaluation with the oracle's.

A fixed relative tolerance fails on cancellation (``(a + b) - a`` legitimately differs between
correct engines by many ulps of its tiny result) and is too loose on well-conditioned nodes. So
every value and gradient gets its own error *scale*, a running-error bound propagated through the
program alongside the oracle's values (first-order forward error analysis):

* value scale ``S(y) = |y| + sum_k |dy/dx_k| * S(x_k)`` with ``S = 0`` for inputs and constants,
  so ``a + b`` carries ``|a| + |b|`` and ``exp(a)`` carries ``exp(a) * S(a)``;
* every computed value and partial also carries ``UNDERFLOW = 2**-1021`` (its possible absolute
  error from a subnormal intermediate, in units of 2**-53);
* gradient scale, propagated backwards: ``A`` bounds the adjoint's magnitude
  (``A(x) += |p| A(y)``) and ``E`` its error (``E(x) += |p| (E(y) + A(y)) + P A(y)``), where ``P``
  is how far the partial ``p`` itself may move (its sensitivity to its operands' errors, plus the
  magnitude of the terms it is computed from, e.g. ``1 + t*t`` for ``1 - t*t``).

A difference passes when ``|got - expected| <= REL * scale + ABS``. ``REL = 2**-36`` allows
about 131,000 ulps of the scale: far more than correct float64 engines ever differ (libm
differences, other derivative formulas, other accumulation orders), and still 4096 times
tighter than the error of rounding one node to float32 (2**-24). ``ABS = 2**-1000`` only forgives
differences among numbers near the subnormal range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from conformance.backends.base import Evaluation
from conformance.ops import OPS, REL, ambiguous_zero
from conformance.program import Program

__all__ = [
    "ABS",
    "REL",
    "UNDERFLOW",
    "Mismatch",
    "Scales",
    "Verdict",
    "compare",
    "compare_semantic_values",
    "compare_semantics",
    "compare_settled",
    "compare_unsettled",
    "scales",
    "undetermined",
]

ABS = 2.0**-1000
UNDERFLOW = 2.0**-1021
"""Every computed number may carry an absolute error of 2**-1074 = 2**-53 * UNDERFLOW from
underflow inside its computation (``(a / b) / b`` going subnormal), which a large adjoint can
amplify: each value and each partial carries at least this much scale."""

TINY = 2.0**-1030
"""Scale of the absolute error (2**-1066, more than the 2**-1075 lost) of one product
``partial * adjoint`` that underflows; later partials may amplify it, so it is propagated."""

EXTREME_SMALL, EXTREME_LARGE = 2.0**-500, 2.0**500
"""Magnitudes whose squares leave float64's range: backward passes through them may overflow or
underflow in one correct evaluation order and not another, so the *pattern* of non-finite
gradients (inf, or nan from inf * 0) there is not a fact about the engine."""

OVERFLOW_RISK = 2.0**1000
"""A term of a gradient beyond this may overflow in one correct evaluation order and not in
another (``(g * c) * r * r`` vs ``g * (c * (r * r))``): such programs are unchecked."""


@dataclass
class Scales:
    """Per-node error scales of a program (see the module docstring)."""

    values: dict[int, float]
    grads: dict[int, float]
    fragile: str = ""
    """Why float64 itself cannot settle this program's gradients (then it is unchecked)."""

    def value_tolerance(self, index: int) -> float:
        """Allowed |difference| for the value of node ``index``."""
        return REL * self.values[index] + ABS

    def grad_tolerance(self, index: int) -> float:
        """Allowed |difference| for the gradient of input ``index``."""
        return REL * self.grads[index] + ABS


def _magnitude(x: float) -> float:
    return math.inf if math.isnan(x) else abs(x)


def _times(x: float, y: float) -> float:
    """x * y for magnitudes, with 0 * inf = 0: a zero partial passes no error along."""
    return 0.0 if x == 0.0 or y == 0.0 else x * y


def scales(
    program: Program, expected: Evaluation, input_scales: dict[int, float] | None = None
) -> Scales:
    """Error scales of every value and input gradient, from the oracle's values.

    ``input_scales`` gives inputs that are themselves uncertain (by REL * scale) a forward scale.
    """
    nodes = program.nodes
    n = len(nodes)
    values = expected.values
    val: list[float] = [0.0] * n
    fwd: list[float] = [0.0] * n
    partials: list[tuple[float, float]] = [(0.0, 0.0)] * n
    extras: list[tuple[float, float]] = [(0.0, 0.0)] * n
    amplified: list[tuple[float, float]] = [(0.0, 0.0)] * n
    for i, node in enumerate(nodes):
        op_name = node.op
        if op_name == "input" or op_name == "const":
            val[i] = float(node.value)  # type: ignore[arg-type]
            if input_scales and op_name == "input":
                fwd[i] = input_scales.get(i, 0.0)
            continue
        y = values[i]
        val[i] = y
        args = node.args
        op = OPS[op_name]
        a = val[args[0]]
        sa = fwd[args[0]]
        if len(args) == 2:
            b = val[args[1]]
            sb = fwd[args[1]]
        else:
            b = 0.0
            sb = 0.0
        pa, pb = op.partials_at(a, b, y)
        s = abs(y) + UNDERFLOW + _times(_magnitude(pa), sa) + _times(_magnitude(pb), sb)
        ambiguous = op.ambiguous_operands
        if (
            ambiguous
            and (
                (0 in ambiguous and ambiguous_zero(a, sa))
                or (1 in ambiguous and ambiguous_zero(b, sb))
            )
        ) or ((sa or sb) and op.first_order_breaks(a, b, REL * sa, REL * sb)):
            # A denominator (or log's operand) that may be 0, or v ** w with w = -87 +- 1e17
            # (after a cancellation), may be 0, 1 or inf in float64: first-order error analysis
            # around the oracle's point says nothing there, of the value or of the partials
            # (1 / a of an `a` that is all rounding error).
            s = math.inf
            extras[i] = (math.inf, math.inf)
            partials[i] = (pa, pb)
            fwd[i] = s
            continue
        elif op.bilinear:
            s += REL * _times(sa, sb)  # the second-order term of (a + da) * (b + db)
        fwd[i] = s
        partials[i] = (pa, pb)
        extras[i] = op.partial_scales_at(a, b, y, sa, sb)
        amplified[i] = op.amplification(a, b)

    # Backward: adjoint magnitude bound A and adjoint error scale E.
    adj = [0.0] * n
    err = [0.0] * n
    adj[program.output] = float(program.backward_passes)
    fragile = ""
    for i in range(n - 1, -1, -1):
        ai = adj[i]
        if ai == 0.0 and err[i] == 0.0:  # a zero adjoint may still carry an error bound
            continue
        node = nodes[i]
        args = node.args
        if not args:
            continue
        ei = err[i]
        p = partials[i]
        x = extras[i]
        for k, j in enumerate(args):
            if nodes[j].op == "const":
                continue
            pk = _magnitude(p[k])
            term = _times(pk, ai)
            if term > OVERFLOW_RISK and not fragile:
                fragile = f"a gradient term of v{i} -> v{j} is {term:.3g}, near float64's overflow"
            adj[j] += term
            err[j] += (
                _times(pk, ei + ai)
                + _times(_magnitude(x[k]) + UNDERFLOW, ai)
                + TINY * (1.0 + amplified[i][k])
            )
    return Scales(
        {i: fwd[i] for i in program.value_nodes},
        {i: adj[i] + err[i] for i in program.inputs},
        fragile,
    )


def undetermined(expected: float, scale: float) -> bool:
    """Whether the error scale leaves no digit of ``expected`` determined (nor its finiteness).

    Then first-order error analysis has broken down: a correct float64 engine may compute any
    value there, inf included (``(c / v) ** -4e65`` with c / v one ulp off 1).
    """
    bound = REL * scale
    return bound == math.inf or (expected != 0.0 and bound >= abs(expected))


@dataclass
class Mismatch:
    """One value or gradient that differs beyond tolerance."""

    kind: str  # "value" or "grad"
    node: int
    expected: float
    got: float | None
    tolerance: float

    def describe(self) -> str:
        """One line: which number, expected, got, difference and tolerance."""
        what = f"value of v{self.node}" if self.kind == "value" else f"grad of v{self.node}"
        if self.got is None:
            return f"{what}: expected {self.expected!r}, got nothing"
        if not math.isfinite(self.got) and math.isfinite(self.expected):
            return f"{what}: expected {self.expected!r}, got {self.got!r} (not a finite number)"
        diff = abs(self.got - self.expected) if math.isfinite(self.got) else math.inf
        return (
            f"{what}: expected {self.expected!r}, got {self.got!r} "
            f"(|diff| {diff:.3g} > tolerance {self.tolerance:.3g})"
        )


@dataclass
class Verdict:
    """The outcome of comparing one program: pass, fail, or unchecked (oracle not finite)."""

    status: str
    mismatches: list[Mismatch] = field(default_factory=list)
    error: str | None = None
    note: str = ""
    """Why a program is unchecked (or how it was judged)."""
    error_kind: str = ""
    """The BackendError kind when the backend failed (``timeout``, ``protocol``, ``error``...)."""
    error_type: str = ""
    """The exception the engine raised (``RecursionError``), where the backend knows it."""
    error_where: str = ""
    """The engine function that raised it (``visit``), where the backend knows it."""
    error_phase: str = ""
    """When it raised: ``forward``, ``backward``, ``read`` (or "" where unknown)."""
    severity: str = "error"
    """``error`` or ``semantics`` (a difference only where torch itself is inf/nan, or in the
    accumulation of repeated backward passes): how much a failure of this verdict weighs."""

    @property
    def failed(self) -> bool:
        """True for a failure of the backend."""
        return self.status == "fail"

    def describe(self) -> str:
        """A few lines explaining the verdict."""
        if self.error:
            return f"the backend raised: {self.error}"
        if self.note and not self.mismatches:
            return f"{self.status}: {self.note}"
        lines = [m.describe() for m in self.mismatches[:12]]
        if len(self.mismatches) > 12:
            lines.append(f"... and {len(self.mismatches) - 12} more")
        return "\n".join(lines) or self.status


def compare(
    program: Program, expected: Evaluation, got: Evaluation | None, error: str | None = None
) -> Verdict:
    """The verdict on one program.

    Unchecked when the oracle's values or gradients are not all finite; otherwise a failure
    when the backend raised (``error``), returned non-finite numbers, or differs beyond tolerance.
    """
    if not expected.all_finite():
        return Verdict("unchecked", note="the oracle's values or gradients are not all finite")
    if got is None:
        return Verdict("fail", error=error or "no evaluation")
    tol = scales(program, expected)
    if tol.fragile:
        # Only the values are settled; a wrong value is still a failure.
        values_only = _judge(expected.values, got.values, tol.values, "value")
        if isinstance(values_only, str) or not values_only:
            return Verdict("unchecked", note=f"gradients not judged: {tol.fragile}")
        return Verdict("fail", values_only)
    mismatches: list[Mismatch] = []
    for found in (
        _judge(expected.values, got.values, tol.values, "value"),
        _judge(expected.grads, got.grads, tol.grads, "grad"),
    ):
        if isinstance(found, str):
            return Verdict("unchecked", note=found)
        mismatches += found
    return Verdict("fail" if mismatches else "pass", mismatches)


def _judge(
    expected: dict[int, float], got: dict[int, float], scale: dict[int, float], kind: str
) -> list[Mismatch] | str:
    """The mismatches among these numbers, or why the program cannot be judged."""
    mismatches: list[Mismatch] = []
    for i, e in expected.items():
        g = got.get(i)
        s = scale[i]
        t = REL * s + ABS
        if g is None:
            mismatches.append(Mismatch(kind, i, e, g, t))
        elif not math.isfinite(g):
            if undetermined(e, s):
                return f"{kind} of v{i} is not determined in float64 (expected {e!r} +- {t:.3g})"
            mismatches.append(Mismatch(kind, i, e, g, t))
        elif abs(g - e) > t:
            mismatches.append(Mismatch(kind, i, e, g, t))
    return mismatches


def _same_nonfinite(e: float, g: float) -> bool:
    if math.isnan(e):
        return math.isnan(g)
    return e == g


def compare_semantics(
    program: Program,
    expected: Evaluation,
    got: Evaluation | None,
    error: str | None = None,
    *,
    gradients: bool = True,
    reference: Evaluation | None = None,
    open_gradients: bool = False,
) -> Verdict:
    """Like compare, but non-finite oracle numbers must be reproduced (nan as nan, inf signed).

    Finite numbers are compared with the usual tolerance where their scale is finite and they
    are determined in float64 (finite gradients not at all when the program is float64-fragile).
    ``gradients=False`` compares the values only (for an oracle that cannot determine
    non-finite gradients); ``open_gradients=True`` compares its finite gradients and skips the
    others (the mpmath oracle's nan is "not settled", not torch's nan). Where ``reference``
    (another float64 evaluation, the op table's) has a finite number for one the oracle has as
    inf or nan, that inf or nan comes from how the oracle evaluates (torch's ``c / v``
    overflowing its reciprocal), not from the program: it is not judged.
    """
    if got is None:
        return Verdict("fail", error=error or "no evaluation")
    tol = scales(program, expected)
    extreme = any(
        0.0 < abs(x) < EXTREME_SMALL or EXTREME_LARGE < abs(x) < math.inf
        for x in expected.values.values()
    )
    mismatches: list[Mismatch] = []
    pairs = [("value", expected.values, got.values, tol.values)]
    if gradients:
        pairs.append(("grad", expected.grads, got.grads, tol.grads))
    for kind, exp_map, got_map, scale in pairs:
        ref_map = (reference.values if kind == "value" else reference.grads) if reference else {}
        for i, e in exp_map.items():
            g = got_map.get(i)
            if g is None:
                mismatches.append(Mismatch(kind, i, e, g, math.nan))
            elif not math.isfinite(e):
                if math.isfinite(ref_map.get(i, math.nan)) or (kind == "grad" and open_gradients):
                    continue
                if kind == "grad" and extreme:
                    continue  # inf * 0 or inf: which one depends on where a product underflows
                if not _same_nonfinite(e, g):
                    mismatches.append(Mismatch(kind, i, e, g, 0.0))
            elif kind == "grad" and tol.fragile:
                continue
            else:
                s = scale[i]
                t = REL * s + ABS
                if not math.isfinite(g):
                    if not undetermined(e, s):
                        mismatches.append(Mismatch(kind, i, e, g, t))
                elif math.isfinite(t) and abs(g - e) > t:
                    mismatches.append(Mismatch(kind, i, e, g, t))
    note = "" if gradients else "values only: the oracle does not determine non-finite gradients"
    return Verdict("fail" if mismatches else "pass", mismatches, note=note)


def compare_settled(
    program: Program,
    expected: Evaluation,
    got: Evaluation | None,
    error: str | None = None,
    *,
    gradients: bool = True,
) -> Verdict:
    """``compare`` where torch's values and gradients are all finite (an error verdict), else
    ``compare_semantics`` (a difference that weighs only with --strict); ``gradients=False``
    judges the non-finite case on values only (an oracle that cannot settle such gradients)."""
    if expected.all_finite():
        return compare(program, expected, got, error)
    from conformance.oracles.table import TableOracle

    verdict = compare_semantics(
        program, expected, got, error, gradients=gradients, reference=TableOracle().run(program)
    )
    verdict.severity = "semantics"
    return verdict


def compare_unsettled(
    program: Program,
    expected: Evaluation,
    got: Evaluation | None,
    error: str | None = None,
    *,
    phase: str = "",
    nonfinite_gradients: bool = True,
) -> Verdict:
    """The verdict on a program whose numbers the oracle does not all settle as finite: torch's
    inf or nan, or gradients the mpmath oracle leaves open (``nonfinite_gradients=False``: its
    nan gradients are skipped, its finite ones judged).

    What is settled is judged, as ``compare_settled`` does, and weighs as a semantics difference
    (torch's conventions where it is inf or nan), except where the engine is plainly wrong: a
    value that differs beyond tolerance although it and every value it is computed from are
    finite, a gradient the mpmath oracle settles, or a raise in the forward pass (``phase``) of a
    program whose values are all finite and determined. A passing program stays ``unchecked``:
    the oracle did not settle all of it.
    """
    if got is None:
        tol = scales(program, expected)
        values_settled = all(
            math.isfinite(e) and not undetermined(e, tol.values[i])
            for i, e in expected.values.items()
        )
        forward = phase in ("forward", "")  # a raise of unknown phase prevented everything
        severity = "error" if forward and values_settled else "semantics"
        return Verdict("fail", error=error or "no evaluation", severity=severity)
    from conformance.oracles.table import TableOracle

    verdict = compare_semantics(
        program,
        expected,
        got,
        error,
        reference=TableOracle().run(program),
        open_gradients=not nonfinite_gradients,
    )
    if not verdict.failed:
        return Verdict("unchecked", note="not all of it settled by the oracle; the rest passed")
    clean = _finite_lineage(program, expected)
    plain = any(
        clean[m.node] if m.kind == "value" else not nonfinite_gradients for m in verdict.mismatches
    )
    verdict.severity = "error" if plain else "semantics"
    return verdict


def _finite_lineage(program: Program, expected: Evaluation) -> list[bool]:
    """Per node: whether its value and every value it is computed from are finite."""
    clean: list[bool] = []
    for i, node in enumerate(program.nodes):
        if node.op in ("input", "const"):
            clean.append(math.isfinite(float(node.value)))  # type: ignore[arg-type]
        else:
            value = expected.values.get(i, math.nan)
            clean.append(math.isfinite(value) and all(clean[j] for j in node.args))
    return clean


def compare_semantic_values(
    program: Program, expected: Evaluation, got: Evaluation | None, error: str | None = None
) -> Verdict:
    """compare_semantics on the values only."""
    return compare_semantics(program, expected, got, error, gradients=False)
