"""Engines with several bugs at once: each class combines deliberately broken engines that
re-state different methods, so every bug is there, independently of the others.

A run of the harness must name each bug exactly once (its signature in ``EXPECTED``) and
nothing else: the diagnosis meta-test.
"""

from __future__ import annotations

from . import broken as b


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
}
"""Each multi-bug engine's problems, by signature: exactly these, each once."""
