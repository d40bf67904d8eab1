"""The op table's own float64 evaluation: a cheap reference for programs too long for the oracles.

Values are each row's IEEE float64 value, gradients reverse mode through each row's float64
partials: the harness's calculus, independent of the engine's rules, at the cost of a few float64
roundings per node (which the tolerance's error scales cover: they bound any correct float64
evaluation, this one included). The deep check uses it for chains beyond what torch or mpmath
evaluate within its budget (a million nodes).
"""

from __future__ import annotations

from conformance.backends.base import Evaluation, OracleBase
from conformance.ops import OPS
from conformance.program import Program

__all__ = ["TableOracle"]


class TableOracle(OracleBase):
    """Evaluates programs in float64 with the op table's IEEE values and partials."""

    name = "op-table-float64"
    description = "the op table's float64 evaluation (reverse mode through its partials)"
    determines_nonfinite_gradients = False
    """Its partials at inf/nan are not torch's backward formulas: such gradients are not judged."""

    def run(self, program: Program) -> Evaluation:
        """Values of every non-const node and the gradient of every input."""
        values, adjoint = self.evaluate(program)
        return Evaluation(
            {i: values[i] for i in program.value_nodes}, {i: adjoint[i] for i in program.inputs}
        )

    def evaluate(self, program: Program) -> tuple[list[float], list[float]]:
        """Every node's value and adjoint (d output / d node), constants included."""
        nodes = program.nodes
        n = len(nodes)
        values = [0.0] * n
        for i, node in enumerate(nodes):
            args = node.args
            if not args:
                values[i] = float(node.value)  # type: ignore[arg-type]
            elif len(args) == 2:
                values[i] = OPS[node.op].ieee(values[args[0]], values[args[1]])
            else:
                values[i] = OPS[node.op].ieee(values[args[0]], 0.0)
        adjoint = [0.0] * n
        adjoint[program.output] = float(program.backward_passes)
        for i in range(program.output, -1, -1):
            g = adjoint[i]
            args = nodes[i].args
            if not args:
                continue  # a zero adjoint still meets the partials: 0 * inf is nan, as in torch
            a = values[args[0]]
            b = values[args[1]] if len(args) == 2 else 0.0
            pa, pb = OPS[nodes[i].op].partials_at(a, b, values[i])
            adjoint[args[0]] += pa * g
            if len(args) == 2:
                adjoint[args[1]] += pb * g
        return values, adjoint
