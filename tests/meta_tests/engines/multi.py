"""Engines with several bugs at once: each class combines deliberately broken engines that
re-state different methods, so every bug is there, independently of the others (one also
builds ``/`` of other ops, as micrograd does).

A run of the harness must name each bug exactly once (its signature in ``EXPECTED``) and
nothing else: the diagnosis meta-test.
"""

from __future__ import annotations

from . import broken as b
from .reference import Number, Value


class OpsAndRecursion(
    b.WrongTanhDerivative,
    b.RsubSwapped,
    b.SigmoidViaExpOverflows,
    b.RecursiveTopoSort,
    b.InplaceAddMutatesOperand,
):
    """Four op bugs (tanh', 2 - v, sigmoid overflow, += mutating) and a recursive sort."""


class OpsAndTopologicalOrder(
    b.WrongDivDerivative,
    b.ReluGradOneAtZero,
    b.TopoSortWithoutDedup,
    b.PowViaExpLog,
    b.AbsGradOneAtZero,
):
    """Four op bugs (d/db a/b, relu'(0), pow via exp(log), abs'(0)) and a sort without dedup."""


class OpsAndAccumulation(
    b.GradAssignedNotAccumulated,
    b.WrongLogDerivative,
    b.RtruedivSwapped,
    b.WrongSinDerivative,
    b.BackwardResetsLeafGradients,
):
    """mul assigning its gradients, log', 2 / v swapped, sin', and no accumulation across
    backward passes (a semantics difference: it fails only with --strict)."""


class MicrogradDivisionOverAssigningPow(b.PowGradAssigned, b.WrongSinDerivative):
    """micrograd's ``/`` (``a * b ** -1``) over a ``**`` that assigns its operand's gradient
    (AnmolS99/micrograd), and sin': every program that divides meets pow's bug, which is pow's
    however many programs divide. (Built so, ``/`` differs from torch's far out: see
    ``TORCH_ONLY``.)"""

    def __truediv__(self, other: Value | Number) -> Value:
        """micrograd's ``a / b``: no rule of its own."""
        return self * self._lift(other) ** -1.0


EXPECTED: dict[type, set[str]] = {
    OpsAndRecursion: {
        "op:tanh:gradient",
        "op:sub:value",
        "op:sigmoid:value",
        "op:add:operand",
        "raises:RecursionError:visit",
    },
    OpsAndTopologicalOrder: {
        "op:div:gradient",
        "op:relu:gradient",
        "graph:any-op",
        "op:pow:value",
        "op:abs:gradient",
    },
    OpsAndAccumulation: {
        "graph:mul",
        "op:log:gradient",
        "op:div:value",
        "op:sin:gradient",
        "semantics:repeated-backward",
    },
    MicrogradDivisionOverAssigningPow: {"graph:pow", "op:sin:gradient"},
}
"""Each multi-bug engine's problems, by signature: exactly these, each once."""

TORCH_ONLY: dict[type, set[str]] = {MicrogradDivisionOverAssigningPow: {"op:div:gradient"}}
"""Problems against torch's formulas only: ``a * b ** -1`` computes ``b ** -2``, inf for
``|b| <= 1e-155`` where torch's ``a / b / b`` is finite; the mpmath oracle leaves a gradient
whose overflow depends on the formula unjudged."""
