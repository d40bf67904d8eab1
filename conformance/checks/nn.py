"""The ``nn`` check: micrograd-style MLPs, every value and parameter gradient against torch.nn.

``nn`` draws an MLP (sizes, activations, weights, an input vector), writes its forward pass as a
program exactly as a micrograd ``Neuron`` computes it (``b + w0*x0 + w1*x1 + ...``, then the
activation), sums the outputs and checks every value and every parameter (and input) gradient.
Where the oracle has an independent neural-network reference (torch: ``torch.nn.Linear`` with the
weights copied in), the neuron-level numbers come from it, independently of the program machinery;
otherwise (mpmath) from the program oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from conformance.backends.base import BackendError, Evaluation
from conformance.checks.base import Check, CheckContext, Outcome, run_guarded
from conformance.checks.mlp import (
    Layout,
    MLPSpec,
    build_mlp_program,
    grid,
    mlp_specs,
)
from conformance.program import Program
from conformance.strategies import LARGE_VALUES, SPECIAL_VALUES
from conformance.tolerance import Verdict, compare

__all__ = ["NN", "NNCheck", "NNExample", "nn_examples"]


@dataclass(frozen=True)
class NNExample:
    """One drawn MLP and the input vector it is run on."""

    spec: MLPSpec
    x: tuple[float, ...]


_INPUTS = st.one_of(st.sampled_from(SPECIAL_VALUES), grid(8.0, 20), st.sampled_from(LARGE_VALUES))


@st.composite
def nn_examples(draw: Any, activations: Sequence[str]) -> NNExample:
    """An MLP of 1-3 layers of 1-6 neurons on 1-4 inputs, and an input vector."""
    spec = draw(mlp_specs(activations))
    x = tuple(draw(_INPUTS) for _ in range(spec.nin))
    return NNExample(spec, x)


@dataclass
class _DescribedVerdict(Verdict):
    """A verdict whose description starts with the example and names the mismatched nodes."""

    context: str = ""
    names: dict[int, str] = field(default_factory=dict)

    def describe(self) -> str:
        """The example, then the usual lines, then what each mismatched node is."""
        lines = [self.context, super().describe()]
        named = sorted({m.node for m in self.mismatches if m.node in self.names})
        lines += [f"  v{n} = {self.names[n]}" for n in named[:12]]
        return "\n".join(line for line in lines if line)


def _nn_expected(
    ctx: CheckContext, example: NNExample, program: Program, layout: Layout
) -> Evaluation:
    """The program oracle's evaluation, with the oracle's neural-network numbers in place."""
    expected = ctx.oracle.run(program)
    ref = ctx.oracle.nn_reference(example.spec, example.x)
    if ref is None:
        return expected
    values = dict(expected.values)
    grads = dict(expected.grads)
    for li, (pre_nodes, act_nodes) in enumerate(zip(layout.pre, layout.act, strict=True)):
        for ni, (p, a) in enumerate(zip(pre_nodes, act_nodes, strict=True)):
            values[p] = ref["pre"][li][ni]
            values[a] = ref["act"][li][ni]
    values[program.output] = ref["out"]
    k = 0
    for li, rows in enumerate(example.spec.weights):
        for ni, row in enumerate(rows):
            for wi in range(len(row)):
                grads[layout.params[k]] = ref["weight_grads"][li][ni][wi]
                k += 1
            grads[layout.params[k]] = ref["bias_grads"][li][ni]
            k += 1
    for i, g in enumerate(ref["x_grad"]):
        grads[program.inputs[i]] = g
    return Evaluation(values, grads)


@dataclass
class NNCheck(Check):
    """Random MLPs: every neuron's value and every parameter gradient against torch.nn."""

    def strategy(self, ctx: CheckContext) -> st.SearchStrategy[Any] | str:
        """MLPs over the activations the backend supports."""
        acts = ["linear"] + [a for a in ("relu", "tanh") if ctx.supports(a, "v")]
        return nn_examples(acts)

    def run_example(self, ctx: CheckContext, example: Any) -> Outcome:
        """Run the MLP program on the backend; compare with torch.nn (or the program oracle)."""
        ex: NNExample = example
        program, layout = build_mlp_program(ex.spec, ex.x)
        try:
            expected = _nn_expected(ctx, ex, program, layout)
        except BackendError as exc:
            return Outcome(Verdict("unchecked", error=f"oracle failed: {exc}"), program)
        if not expected.all_finite():
            return Outcome(Verdict("unchecked"), program, expected)
        try:
            got: Evaluation | None = run_guarded(ctx.backend, program, ctx.timeout)
            error = None
        except BackendError as exc:
            got, error = None, str(exc)
        plain = compare(program, expected, got, error)
        context = f"{ex.spec.describe()}, output = sum of the outputs"
        verdict = _DescribedVerdict(
            plain.status, plain.mismatches, plain.error, context=context, names=layout.names
        )
        return Outcome(verdict, program, expected, got)


NN = NNCheck(
    "nn",
    "micrograd-style MLPs (relu/tanh/linear): every value and parameter gradient vs torch.nn",
    {"quick": 40, "default": 200, "thorough": 3000},
    cost=20.0,
    needs=(("mul", "vv"), ("add", "vv")),
)
