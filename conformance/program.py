"""The program IR: a straight-line DAG of inputs, constants and ops over earlier nodes."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.ops import OPS

__all__ = ["Node", "Program", "ProgramError", "format_float"]


class ProgramError(ValueError):
    """A program that breaks the IR's rules (bad op, forward reference, wrong operand kinds)."""


@dataclass(frozen=True)
class Node:
    """One node: an input, a constant, or an op applied to earlier nodes."""

    op: str
    args: tuple[int, ...] = ()
    value: float | None = None


@dataclass(frozen=True)
class Program:
    """A straight-line program; ``output`` is the node on which backward() is called."""

    nodes: tuple[Node, ...]
    output: int
    backward_passes: int = 1

    def __post_init__(self) -> None:
        self.validate()

    def prefix(self, end: int) -> Program:
        """The program cut after node ``end`` (a Value node), which becomes the output."""
        if self.nodes[end].op == "const":
            raise ProgramError(f"node {end} is a constant and cannot be an output")
        cut = object.__new__(Program)
        # A prefix of a valid program is valid: skip re-validating (deep chains are long).
        object.__setattr__(cut, "nodes", self.nodes[: end + 1])
        object.__setattr__(cut, "output", end)
        object.__setattr__(cut, "backward_passes", self.backward_passes)
        return cut

    def with_inputs(self, values: Sequence[float]) -> Program:
        """The same program with its input nodes (in order) holding ``values``."""
        inputs = self.inputs
        if len(values) != len(inputs):
            raise ProgramError(f"{len(inputs)} inputs, got {len(values)} values: {values!r:.80}")
        nodes = list(self.nodes)
        for i, x in zip(inputs, values, strict=True):
            nodes[i] = Node("input", value=float(x))
        copy = object.__new__(Program)
        # Only leaf values change: the structure was validated already.
        object.__setattr__(copy, "nodes", tuple(nodes))
        object.__setattr__(copy, "output", self.output)
        object.__setattr__(copy, "backward_passes", self.backward_passes)
        return copy

    def pruned(self) -> Program:
        """The program without the nodes the output does not depend on (renumbered)."""
        live = {self.output}
        for i in range(self.output, -1, -1):
            if i in live:
                live.update(self.nodes[i].args)
        if len(live) == len(self.nodes):
            return self
        index: dict[int, int] = {}
        nodes: list[Node] = []
        for i in sorted(live):
            node = self.nodes[i]
            index[i] = len(nodes)
            nodes.append(Node(node.op, tuple(index[j] for j in node.args), node.value))
        return Program(tuple(nodes), index[self.output], self.backward_passes)

    def __repr__(self) -> str:
        if len(self.nodes) > 40:
            return f"<Program of {len(self.nodes)} nodes, output {self.output}>"
        return f"Program.from_json({self.to_json()!r})"

    def validate(self) -> None:
        """Raise ProgramError naming the first node that breaks the IR's rules."""
        kinds: list[str] = []
        for i, node in enumerate(self.nodes):
            if node.op in ("input", "const"):
                if node.args or not isinstance(node.value, (int, float)):
                    raise ProgramError(
                        f"node {i}: {node.op} needs a number and no args, got {node}"
                    )
                kinds.append("v" if node.op == "input" else "c")
                continue
            op = OPS.get(node.op)
            if op is None:
                raise ProgramError(f"node {i}: unknown op {node.op!r}; expected one of {list(OPS)}")
            if len(node.args) != op.arity:
                raise ProgramError(
                    f"node {i}: {node.op} takes {op.arity} operands, got {node.args}"
                )
            for j in node.args:
                if not 0 <= j < i:
                    raise ProgramError(f"node {i}: operand {j} is not an earlier node")
            form = "".join(kinds[j] for j in node.args)
            if form not in op.forms:
                raise ProgramError(
                    f"node {i}: {node.op} does not accept operand kinds {form!r} "
                    f"(accepts {op.forms}; v = Value, c = constant)"
                )
            kinds.append("v")
        if not 0 <= self.output < len(self.nodes) or kinds[self.output] != "v":
            raise ProgramError(f"output {self.output} is not a Value node of this program")
        if self.backward_passes < 1:
            raise ProgramError(f"backward_passes must be >= 1, got {self.backward_passes}")

    @property
    def inputs(self) -> list[int]:
        """Indices of the input nodes."""
        return [i for i, n in enumerate(self.nodes) if n.op == "input"]

    @property
    def value_nodes(self) -> list[int]:
        """Indices of every non-constant node (the ones whose values are compared)."""
        return [i for i, n in enumerate(self.nodes) if n.op != "const"]

    def form(self, index: int) -> str:
        """Operand kinds of node ``index`` ("v", "vv", "vc" or "cv"; "" for leaves)."""
        return "".join("c" if self.nodes[j].op == "const" else "v" for j in self.nodes[index].args)

    def variants(self) -> set[tuple[str, str]]:
        """The (op, form) pairs this program uses."""
        return {
            (node.op, self.form(i))
            for i, node in enumerate(self.nodes)
            if node.op not in ("input", "const")
        }

    # --- JSON ------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: nodes as [op, args, value] triples."""
        return {
            "nodes": [[n.op, list(n.args), _json_float(n.value)] for n in self.nodes],
            "output": self.output,
            "backward_passes": self.backward_passes,
        }

    def to_json(self) -> str:
        """The program as compact JSON text."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Program:
        """Rebuild a program from ``to_dict`` output; ProgramError if it is malformed."""
        try:
            nodes = tuple(
                Node(str(op), tuple(int(a) for a in args), _from_json_float(value))
                for op, args, value in data["nodes"]
            )
            return cls(nodes, int(data["output"]), int(data.get("backward_passes", 1)))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ProgramError):
                raise
            raise ProgramError(f"not a program dict: {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> Program:
        """Rebuild a program from ``to_json`` output."""
        return cls.from_dict(json.loads(text))

    # --- Python rendering ----------------------------------------------------------------

    def to_python(
        self,
        value_class: str = "Value",
        *,
        inputs: str = "",
        aliases: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Straight-line Python statements that rebuild the program (``v{i}`` per node).

        ``inputs`` is what an input node holds, formatted with its index ``i`` (``"P[{i}]"``);
        by default its number. ``aliases`` renames methods (``{"log": "ln"}``)."""
        lines: list[str] = []
        for i, node in enumerate(self.nodes):
            if node.op == "input":
                x = inputs.format(i=i) if inputs else format_float(node.value, argument=True)
                lines.append(f"v{i} = {value_class}({x})")
            elif node.op != "const":
                lines += self.node_source(i, aliases)
        return lines

    def node_source(self, index: int, aliases: Mapping[str, str] | None = None) -> list[str]:
        """The Python statements of op node ``index`` (``v5 = v3 * 2.0``), from its op's row."""
        names = [self.operand_source(j) for j in self.nodes[index].args]
        return self.op_source(self.nodes[index].op, f"v{index}", *names, aliases=aliases)

    @staticmethod
    def op_source(
        op_name: str, out: str, *operands: str, aliases: Mapping[str, str] | None = None
    ) -> list[str]:
        """The statements that apply an op to operand expressions, binding ``out``."""
        op = OPS[op_name]
        template = op.source
        if aliases and op.method and op.method in aliases:
            template = template.replace(f".{op.method}()", f".{aliases[op.method]}()")
        b = operands[1] if len(operands) > 1 else ""
        return template.format(out=out, a=operands[0], b=b).split("\n")

    def operand_source(self, index: int) -> str:
        """How node ``index`` appears as an operand: ``v3`` or a parenthesised constant."""
        node = self.nodes[index]
        return format_float(node.value) if node.op == "const" else f"v{index}"

    def __len__(self) -> int:
        return len(self.nodes)


def format_float(x: float | None, *, argument: bool = False) -> str:
    """A float as Python source that evaluates back to exactly it (negatives parenthesised,
    unless it is an ``argument`` of a call: ``Value(-1.0)``)."""
    if x is None:
        raise ProgramError("leaf node without a value")
    x = float(x)
    if math.isnan(x):
        return 'float("nan")'
    if math.isinf(x):
        return 'float("inf")' if x > 0 else ('-float("inf")' if argument else '(-float("inf"))')
    text = repr(x)
    return f"({text})" if text.startswith("-") and not argument else text


def _json_float(x: float | None) -> float | str | None:
    if x is None or math.isfinite(x):
        return x
    return repr(float(x))


def _from_json_float(x: Any) -> float | None:
    if x is None:
        return None
    return float(x)
