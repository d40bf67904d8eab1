"""The PyTorch float64 oracle: the reference every backend is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conformance.backends.base import BackendError, Evaluation, OracleBase, build
from conformance.ops import OPS
from conformance.program import Program

__all__ = ["TorchOracle"]


class TorchOracle(OracleBase):
    """Evaluates programs with torch autograd in float64 on the CPU."""

    name = "torch-float64"

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.version = str(torch.__version__)
        self.description = f"torch {self.version} float64"
        self._calls = {name: op.torch for name, op in OPS.items()}

    def run(self, program: Program) -> Evaluation:
        """Values of every non-const node and input gradients, torch's conventions at kinks."""
        torch = self.torch
        inputs = program.inputs
        leaf = torch.tensor(
            [program.nodes[i].value for i in inputs], dtype=torch.float64, requires_grad=True
        )
        leaves = iter(leaf.unbind(0))
        try:
            built = build(program, lambda x: next(leaves), self._calls)
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

    def run_batch(
        self, program: Program, inputs: Sequence[Sequence[float]]
    ) -> list[Evaluation | BackendError]:
        """Every row at once: each input node a vector, one backward pass of the outputs' sum
        (rows are independent, so each row's gradient is its own)."""
        rows = [list(map(float, row)) for row in inputs]
        if len(rows) < 2:
            return super().run_batch(program, rows)
        torch = self.torch
        leaf = torch.tensor(rows, dtype=torch.float64).T.contiguous().requires_grad_(True)
        leaves = iter(leaf.unbind(0))
        try:
            built = build(program, lambda x: next(leaves), self._calls)
            total = built[program.output].sum()
            passes = program.backward_passes
            for k in range(passes):
                total.backward(retain_graph=k < passes - 1)
        except RuntimeError:
            return super().run_batch(program, rows)
        value_nodes = program.value_nodes
        with torch.no_grad():
            values = torch.stack([built[i] for i in value_nodes]).T.tolist()
        grads = (
            leaf.grad.T.tolist() if leaf.grad is not None else [[0.0] * leaf.shape[0]] * len(rows)
        )
        inputs_ = program.inputs
        return [
            Evaluation(dict(zip(value_nodes, v, strict=True)), dict(zip(inputs_, g, strict=True)))
            for v, g in zip(values, grads, strict=True)
        ]

    def nn_reference(self, spec: Any, x: Any) -> dict[str, Any] | None:
        """The MLP's numbers from ``torch.nn.Linear`` layers with the weights copied in."""
        torch = self.torch
        f64 = torch.float64
        xt = torch.tensor(list(x), dtype=f64, requires_grad=True)
        h = xt
        layers, pres, acts = [], [], []
        for rows, bias, act in zip(spec.weights, spec.biases, spec.activations, strict=True):
            lin = torch.nn.Linear(len(rows[0]), len(rows), dtype=f64)
            with torch.no_grad():
                lin.weight.copy_(torch.tensor([list(r) for r in rows], dtype=f64))
                lin.bias.copy_(torch.tensor(list(bias), dtype=f64))
            pre = lin(h)
            h = pre if act == "linear" else OPS[act].torch(pre)
            layers.append(lin)
            pres.append(pre)
            acts.append(h)
        out = h.sum()
        out.backward()
        return {
            "pre": [p.detach().tolist() for p in pres],
            "act": [a.detach().tolist() for a in acts],
            "out": float(out.item()),
            "weight_grads": [lin.weight.grad.tolist() for lin in layers],
            "bias_grads": [lin.bias.grad.tolist() for lin in layers],
            "x_grad": xt.grad.tolist(),
        }
