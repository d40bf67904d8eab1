"""Engines with several bugs at once: each class combines deliberately broken engines that
re-state different methods, so every bug is there, independently of the others (one also
builds ``/`` of other ops, as micrograd does).

A run of the harness must name each bug exactly once (its signature in ``EXPECTED``) and
nothing else: the diagnosis meta-test.
"""

from __future__ import annotations

import math

from . import broken as b
from .reference import Number, Value, ieee_pow


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


class MicrogradNegationOverAssigningMul(b.GradAssignedNotAccumulated, b.WrongTanhDerivative):
    """micrograd's ``-a`` (``a * -1``) and ``a - b`` (``a + (-b)``) over a ``*`` that assigns
    its operands' gradients, and tanh': every program that negates or subtracts meets mul's
    bug, which is mul's however many programs negate."""

    def __neg__(self) -> Value:
        """micrograd's ``-a``: no rule of its own."""
        return self * -1.0

    def __sub__(self, other: Value | Number) -> Value:
        """micrograd's ``a - b``: no rule of its own."""
        return self + (-self._lift(other))


class MicrogradSubtractionOverMergingEquals(b.ValueEqualityMergesNodes, b.WrongExpDerivative):
    """micrograd's ``-a`` and ``a - b`` over Values that compare and hash by their data, kept
    in a set of operands (``_prev = set(children)``, as micrograd does), and exp': ``a + (-b)``
    at b = -a keeps ``a`` and drops ``-b``, whose rule never runs. The merging is one bug,
    however many ops are built where it shows."""

    @staticmethod
    def _store_children(children: tuple[Value, ...]) -> tuple[Value, ...]:
        """micrograd's set of operands: equal ones (by data, here) are kept once."""
        return tuple(set(children))

    def __neg__(self) -> Value:
        """micrograd's ``-a``: no rule of its own."""
        return self * -1.0

    def __sub__(self, other: Value | Number) -> Value:
        """micrograd's ``a - b``: no rule of its own."""
        return self + (-self._lift(other))


class RulesApartAndDepthFirstPreorder(b.WrongRpowDerivative, b.DepthFirstPreorder):
    """Two bugs in each of two ops, and a backward order that is not topological: ``v ** c``
    differentiated through its result (``c * out / v``: 0 / 0 at v = 0) beside ``c ** v``
    by the power rule; a sigmoid that overflows below -709 beside a sigmoid' of x, not of the
    result. Each op's two bugs are apart, and neither may hide the other."""

    def __pow__(self, other: Value | Number) -> Value:
        """``v ** c`` differentiated through its result; ``v ** w`` as the reference's."""
        if isinstance(other, Value):
            return self._pow_value(other)
        exponent = float(other)
        out = self._result(ieee_pow(self.data, exponent), (self,), f"**{exponent:g}")

        def _backward() -> None:
            if exponent != 0.0:
                # BUG: c * x ** c / x is c * x ** (c - 1) but at x = 0 (ZeroDivisionError)
                # and where x ** c rounds otherwise (nan for x < 0 and c = 1e-30)
                self.grad += exponent * out.data / self.data * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        """The logistic function."""
        out = self._result(1.0 / (1.0 + math.exp(-self.data)), (self,), "sigmoid")  # BUG

        def _backward() -> None:
            self.grad += self.data * (1.0 - self.data) * out.grad  # BUG: x for the result

        out._backward = _backward
        return out


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
    MicrogradNegationOverAssigningMul: {"graph:mul", "op:tanh:gradient"},
    MicrogradSubtractionOverMergingEquals: {"graph:equal-values", "op:exp:gradient"},
    RulesApartAndDepthFirstPreorder: {
        "op:pow:gradient",
        "op:pow:gradient:edges",
        "op:sigmoid:value",
        "op:sigmoid:gradient",
        "graph:any-op",
    },
}
"""Each multi-bug engine's problems, by signature: exactly these, each once."""

TORCH_ONLY: dict[type, set[str]] = {MicrogradDivisionOverAssigningPow: {"op:div:gradient"}}
"""Problems against torch's formulas only: ``a * b ** -1`` computes ``b ** -2``, inf for
``|b| <= 1e-155`` where torch's ``a / b / b`` is finite; the mpmath oracle leaves a gradient
whose overflow depends on the formula unjudged."""
