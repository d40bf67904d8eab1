"""The wire protocol's messages and number codec (docs/PROTOCOL.md), for both of its ends.

The harness end (``conformance.backends.subprocess``) encodes run requests and decodes results;
the driver end (``conformance.drivers.micrograd``) decodes requests and encodes results. Both use
this module, so a program means the same on either side of the pipe.
"""

from __future__ import annotations

import json
import math
from typing import Any

from conformance.ops import OPS
from conformance.program import Node, Program

__all__ = [
    "PROTOCOL_VERSION",
    "ProtocolError",
    "UnknownOp",
    "decode_number",
    "decode_request",
    "decode_result",
    "encode_line",
    "encode_number",
    "encode_request",
    "encode_result",
    "hello",
    "reproducer_line",
]

PROTOCOL_VERSION = 1
"""The version of docs/PROTOCOL.md both ends speak."""

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class ProtocolError(ValueError):
    """A message that does not follow the protocol; the text names the field that is wrong."""


class UnknownOp(ProtocolError):
    """A request with an op name outside the op table."""

    def __init__(self, op: str) -> None:
        super().__init__(f"no op named {op!r}; the op table has {sorted(OPS)}")
        self.op = op


def encode_number(x: float) -> float | str:
    """A float as the protocol writes it: a JSON number, or "NaN" / "Infinity" / "-Infinity"."""
    if math.isfinite(x):
        return float(x)
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def decode_number(x: object, where: str, *, null_is_nan: bool = False) -> float:
    """One number of a message; ``null_is_nan`` reads null as NaN (what JSON.stringify writes)."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    if isinstance(x, str) and x in _NON_FINITE:
        return _NON_FINITE[x]
    if x is None and null_is_nan:
        return math.nan
    raise ProtocolError(f"{where} is {x!r:.80}, expected a number or 'NaN'/'Infinity'/'-Infinity'")


def encode_line(message: dict[str, Any]) -> bytes:
    """One message as a JSON line (UTF-8, newline-terminated)."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def hello(engine: str, ops: list[str]) -> dict[str, Any]:
    """The hello message a driver sends first."""
    return {"type": "hello", "protocol": PROTOCOL_VERSION, "engine": engine, "ops": ops}


def encode_request(program: Program, request_id: int) -> dict[str, Any]:
    """The ``run`` request for ``program``."""
    nodes: list[list[Any]] = []
    for node in program.nodes:
        if node.op in ("input", "const"):
            if node.value is None:
                raise ProtocolError(f"an {node.op!r} node needs a value, got None")
            nodes.append([node.op, encode_number(node.value)])
        else:
            nodes.append([node.op, *node.args])
    return {
        "type": "run",
        "id": request_id,
        "nodes": nodes,
        "output": program.output,
        "backward_passes": program.backward_passes,
    }


def _index(x: object, where: str, limit: int) -> int:
    if not isinstance(x, int) or isinstance(x, bool) or not 0 <= x < limit:
        raise ProtocolError(f"{where} must be a node index in [0, {limit}), got {x!r:.80}")
    return x


def decode_request(request: dict[str, Any]) -> Program:
    """The Program in a ``run`` request; ProtocolError names the first field that is wrong.

    An op name outside the op table raises UnknownOp; a program that breaks the IR's rules
    (wrong operand kinds, say) raises ProgramError."""
    raw_nodes = request.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise ProtocolError(f"'nodes' must be a non-empty list, got {raw_nodes!r:.80}")
    nodes: list[Node] = []
    for i, raw in enumerate(raw_nodes):
        if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
            raise ProtocolError(
                f"node {i} must be a list [op, ...] with an op name, got {raw!r:.80}"
            )
        op = raw[0]
        if op in ("input", "const"):
            if len(raw) != 2:
                raise ProtocolError(f"node {i} must be [{op!r}, number], got {raw!r:.80}")
            nodes.append(Node(op, (), decode_number(raw[1], f"node {i}'s value")))
        elif op not in OPS:
            raise UnknownOp(op)
        else:
            args = tuple(raw[1:])
            # Checked in one pass; the message is built only for the operand that is wrong.
            if not all(type(a) is int and 0 <= a < i for a in args):
                for k, a in enumerate(args):
                    _index(a, f"operand {k} of node {i}", i)
            nodes.append(Node(op, args))
    output = _index(request.get("output"), "'output'", len(nodes))
    passes = request.get("backward_passes", 1)
    if not isinstance(passes, int) or isinstance(passes, bool) or passes < 1:
        raise ProtocolError(f"'backward_passes' must be an int >= 1, got {passes!r:.80}")
    return Program(tuple(nodes), output, passes)


def encode_result(
    request_id: int, n: int, values: dict[int, float], grads: dict[int, float]
) -> dict[str, Any]:
    """A ``result`` message for a program of ``n`` nodes (null where a number is not reported)."""
    return {
        "type": "result",
        "id": request_id,
        "values": [encode_number(values[i]) if i in values else None for i in range(n)],
        "grads": [encode_number(grads[i]) if i in grads else None for i in range(n)],
    }


def decode_result(message: dict[str, Any], program: Program) -> tuple[dict[int, float], ...]:
    """(values, grads) of a ``result`` message: every non-const value, every input's gradient."""
    n = len(program.nodes)
    columns = []
    for key in ("values", "grads"):
        column = message.get(key)
        if not isinstance(column, list) or len(column) != n:
            got = f"a list of {len(column)}" if isinstance(column, list) else repr(column)[:80]
            raise ProtocolError(
                f"result field {key!r} must be a list of {n} numbers (one per node), got {got}"
            )
        columns.append(column)
    values_in, grads_in = columns
    values: dict[int, float] = {}
    grads: dict[int, float] = {}
    for i, node in enumerate(program.nodes):
        if node.op == "const":
            continue
        values[i] = decode_number(values_in[i], f"values[{i}]", null_is_nan=True)
        if node.op == "input":
            grads[i] = decode_number(grads_in[i], f"grads[{i}]", null_is_nan=True)
    return values, grads


def _column(n: int, numbers: dict[int, float]) -> list[float | str | None]:
    return [encode_number(numbers[i]) if i in numbers else None for i in range(n)]


def reproducer_line(
    program: Program,
    values: dict[int, float],
    grads: dict[int, float],
    value_tolerances: dict[int, float],
    grad_tolerances: dict[int, float],
) -> str:
    """A failing program as one ``run`` request (id 0) that any driver can be fed, with the
    oracle's numbers and the allowed differences in an ``expect`` field drivers ignore."""
    n = len(program.nodes)
    request = encode_request(program, 0)
    request["expect"] = {
        "values": _column(n, values),
        "grads": _column(n, grads),
        "value_tolerances": _column(n, value_tolerances),
        "grad_tolerances": _column(n, grad_tolerances),
    }
    return encode_line(request).decode().rstrip("\n")
