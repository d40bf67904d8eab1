"""The PyTorch float64 oracle: the reference every backend is compared with."""

from __future__ import annotations

from typing import Any

from conformance.backends.base import BackendError, Evaluation
from conformance.ops import OPS
from conformance.program import Program

__all__ = ["TorchOracle"]


class TorchOracle:
    """Evaluates programs with torch autograd in float64 on the CPU."""

    name = "torch-float64"

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.version = str(torch.__version__)
        self.description = f"torch {self.version} float64"

    def run(self, program: Program) -> Evaluation:
        """Values of every non-const node and input gradients, torch's conventions at kinks."""
        torch = self.torch
        inputs = program.inputs
        leaf = torch.tensor(
            [program.nodes[i].value for i in inputs], dtype=torch.float64, requires_grad=True
        )
        leaves = iter(leaf.unbind(0))
        torch_refs = {name: op.torch for name, op in OPS.items()}
        built: list[Any] = []
        append = built.append
        try:
            for node in program.nodes:
                op = node.op
                if op == "input":
                    append(next(leaves))
                elif op == "const":
                    append(node.value)
                elif len(node.args) == 2:
                    append(torch_refs[op](built[node.args[0]], built[node.args[1]]))
                else:
                    append(torch_refs[op](built[node.args[0]]))
            out = built[program.output]
            passes = program.backward_passes
            for k in range(passes):
                out.backward(retain_graph=k < passes - 1)
        except RuntimeError as exc:
            raise BackendError(f"torch failed: {exc}") from exc
        value_nodes = program.value_nodes
        with torch.no_grad():
            values = torch.stack([built[i] for i in value_nodes]).tolist()
        grads = leaf.grad.tolist() if leaf.grad is not None else [0.0] * len(inputs)
        return Evaluation(
            dict(zip(value_nodes, values, strict=True)), dict(zip(inputs, grads, strict=True))
        )
