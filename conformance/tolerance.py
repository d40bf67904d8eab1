"""The scale-aware comparison of a backend's evaluation with the oracle's.

A fixed relative tolerance fails on cancellation (``(a + b) - a`` legitimately differs between
correct engines by many ulps of its tiny result) and is too loose on well-conditioned nodes. So
every value and gradient gets its own error *scale*, a running-error bound propagated through the
program alongside the oracle's values (first-order forward error analysis):

* value scale ``S(y) = |y| + sum_k |dy/dx_k| * S(x_k)`` with ``S = 0`` for inputs and constants,
  so ``a + b`` carries ``|a| + |b|`` and ``exp(a)`` carries ``exp(a) * S(a)``;
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
from conformance.ops import OPS
from conformance.program import Program

__all__ = [
    "ABS",
    "REL",
    "Mismatch",
    "Scales",
    "Verdict",
    "compare",
    "compare_semantics",
    "scales",
]

REL = 2.0**-36
ABS = 2.0**-1000


@dataclass
class Scales:
    """Per-node error scales of a program (see the module docstring)."""

    values: dict[int, float]
    grads: dict[int, float]

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


def scales(program: Program, expected: Evaluation) -> Scales:
    """Error scales of every value and input gradient, from the oracle's values."""
    nodes = program.nodes
    n = len(nodes)
    values = expected.values
    val: list[float] = [0.0] * n
    fwd: list[float] = [0.0] * n
    partials: list[tuple[float, float]] = [(0.0, 0.0)] * n
    extras: list[tuple[float, float]] = [(0.0, 0.0)] * n
    for i, node in enumerate(nodes):
        op_name = node.op
        if op_name == "input" or op_name == "const":
            val[i] = float(node.value)  # type: ignore[arg-type]
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
        s = abs(y) + _times(_magnitude(pa), sa) + _times(_magnitude(pb), sb)
        fwd[i] = s
        partials[i] = (pa, pb)
        extras[i] = op.partial_scales_at(a, b, y, sa, sb)

    # Backward: adjoint magnitude bound A and adjoint error scale E.
    adj = [0.0] * n
    err = [0.0] * n
    adj[program.output] = float(program.backward_passes)
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
            adj[j] += _times(pk, ai)
            err[j] += _times(pk, ei + ai) + _times(_magnitude(x[k]), ai)
    return Scales(
        {i: fwd[i] for i in program.value_nodes},
        {i: adj[i] + err[i] for i in program.inputs},
    )


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

    @property
    def failed(self) -> bool:
        """True for a failure of the backend."""
        return self.status == "fail"

    def describe(self) -> str:
        """A few lines explaining the verdict."""
        if self.error:
            return f"the backend raised: {self.error}"
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
        return Verdict("unchecked")
    if got is None:
        return Verdict("fail", error=error or "no evaluation")
    tol = scales(program, expected)
    mismatches: list[Mismatch] = []
    for i, e in expected.values.items():
        g = got.values.get(i)
        t = tol.value_tolerance(i)
        if g is None or not math.isfinite(g) or abs(g - e) > t:
            mismatches.append(Mismatch("value", i, e, g, t))
    for i, e in expected.grads.items():
        g = got.grads.get(i)
        t = tol.grad_tolerance(i)
        if g is None or not math.isfinite(g) or abs(g - e) > t:
            mismatches.append(Mismatch("grad", i, e, g, t))
    return Verdict("fail" if mismatches else "pass", mismatches)


def _same_nonfinite(e: float, g: float) -> bool:
    if math.isnan(e):
        return math.isnan(g)
    return e == g


def compare_semantics(
    program: Program, expected: Evaluation, got: Evaluation | None, error: str | None = None
) -> Verdict:
    """Like compare, but non-finite oracle numbers must be reproduced (nan as nan, inf signed).

    Finite numbers are compared with the usual tolerance where their scale is finite.
    """
    if got is None:
        return Verdict("fail", error=error or "no evaluation")
    tol = scales(program, expected)
    mismatches: list[Mismatch] = []
    pairs = [("value", expected.values, got.values, tol.value_tolerance)]
    pairs.append(("grad", expected.grads, got.grads, tol.grad_tolerance))
    for kind, exp_map, got_map, tolerance in pairs:
        for i, e in exp_map.items():
            g = got_map.get(i)
            if g is None:
                mismatches.append(Mismatch(kind, i, e, g, math.nan))
            elif not math.isfinite(e):
                if not _same_nonfinite(e, g):
                    mismatches.append(Mismatch(kind, i, e, g, 0.0))
            else:
                t = tolerance(i)
                if not math.isfinite(g) or (math.isfinite(t) and abs(g - e) > t):
                    mismatches.append(Mismatch(kind, i, e, g, t))
    return Verdict("fail" if mismatches else "pass", mismatches)
