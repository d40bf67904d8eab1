"""The reference wire-protocol driver: serves a micrograd-style Python engine over docs/PROTOCOL.md.

    python -m conformance.drivers.micrograd [TARGET]

TARGET is anything the harness can load (``package.module:Value``, ``path/file.py:Value``, an
adapter); without it the bundled ``micrograd.engine:Value`` is served. Each request is rebuilt as a
Program and run by the harness's own in-process backend, so a program means exactly the same over
the wire as in-process (constants on the left become reflected ops, and so on).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Sequence
from typing import IO, Any

from conformance.backends import Backend, BackendError, TargetError, load_backend
from conformance.ops import OPS
from conformance.program import Node, Program, ProgramError

PROTOCOL_VERSION = 1
"""The version of docs/PROTOCOL.md this driver speaks."""
DEFAULT_TARGET = "micrograd.engine:Value"
"""Served when no TARGET is given."""

_NON_FINITE_IN = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class RequestError(ValueError):
    """A request that does not follow the protocol (answered with kind ``invalid_request``)."""


class UnknownOp(RequestError):
    """A request with an op this driver does not serve (answered with kind ``unsupported_op``)."""

    def __init__(self, op: str) -> None:
        super().__init__(f"this driver serves no op named {op!r}; it serves {sorted(OPS)}")
        self.op = op


def _number(x: object, where: str) -> float:
    """A float of a request: a JSON number or one of the protocol's non-finite strings."""
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    if isinstance(x, str) and x in _NON_FINITE_IN:
        return _NON_FINITE_IN[x]
    raise RequestError(f"{where} must be a number or 'NaN'/'Infinity'/'-Infinity', got {x!r}")


def _index(x: object, where: str, limit: int) -> int:
    """A node index of a request: an int in ``[0, limit)``."""
    if not isinstance(x, int) or isinstance(x, bool) or not 0 <= x < limit:
        raise RequestError(f"{where} must be a node index in [0, {limit}), got {x!r}")
    return x


def decode_program(request: dict[str, Any]) -> Program:
    """The Program in a ``run`` request; RequestError names the first field that is wrong.

    An op name outside ``conformance.ops.OPS`` raises UnknownOp; a program that breaks the IR's
    rules (wrong operand kinds, say) raises ProgramError."""
    raw_nodes = request.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise RequestError(f"'nodes' must be a non-empty list, got {raw_nodes!r:.80}")
    nodes: list[Node] = []
    for i, raw in enumerate(raw_nodes):
        if not isinstance(raw, list) or not raw or not isinstance(raw[0], str):
            raise RequestError(
                f"node {i} must be a list [op, ...] with an op name, got {raw!r:.80}"
            )
        op = raw[0]
        if op in ("input", "const"):
            if len(raw) != 2:
                raise RequestError(f"node {i} must be [{op!r}, number], got {raw!r:.80}")
            nodes.append(Node(op, (), _number(raw[1], f"node {i}'s value")))
        elif op not in OPS:
            raise UnknownOp(op)
        else:
            args = tuple(_index(a, f"operand {k} of node {i}", i) for k, a in enumerate(raw[1:]))
            nodes.append(Node(op, args))
    output = _index(request.get("output"), "'output'", len(nodes))
    passes = request.get("backward_passes", 1)
    if not isinstance(passes, int) or isinstance(passes, bool) or passes < 1:
        raise RequestError(f"'backward_passes' must be an int >= 1, got {passes!r}")
    return Program(tuple(nodes), output, passes)


def _encode_number(x: float) -> float | str:
    """A float as the protocol writes it."""
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return "NaN"
    return "Infinity" if x > 0 else "-Infinity"


def _error(
    request_id: object, kind: str, message: str, *, op: str | None = None, exception: str = ""
) -> dict[str, Any]:
    """An ``error`` message."""
    answer: dict[str, Any] = {"type": "error", "id": request_id, "kind": kind}
    if op is not None:
        answer["op"] = op
    if exception:
        answer["exception"] = exception
    answer["message"] = message
    return answer


def answer(backend: Backend, line: bytes) -> dict[str, Any]:
    """The response to one request line."""
    try:
        request = json.loads(line)
    except ValueError as exc:
        return _error(None, "invalid_request", f"the request is not JSON: {exc}")
    if not isinstance(request, dict):
        return _error(
            None, "invalid_request", f"the request must be a JSON object, got {request!r:.80}"
        )
    request_id = request.get("id")
    if request.get("type") != "run" or not isinstance(request_id, int):
        return _error(request_id, "invalid_request", "expected {'type': 'run', 'id': <int>, ...}")
    try:
        program = decode_program(request)
    except UnknownOp as exc:
        return _error(request_id, "unsupported_op", str(exc), op=exc.op)
    except (RequestError, ProgramError) as exc:
        return _error(request_id, "invalid_request", str(exc))
    try:
        evaluation = backend.run(program)
    except BackendError as exc:
        kind = "unsupported_op" if exc.kind == "unsupported" else "engine_error"
        return _error(request_id, kind, str(exc), exception=exc.exception_type)
    except Exception as exc:  # the engine is under test: any exception is its answer
        return _error(
            request_id, "engine_error", f"{type(exc).__name__}: {exc}", exception=type(exc).__name__
        )
    n = len(program.nodes)
    values = [
        _encode_number(evaluation.values[i]) if i in evaluation.values else None for i in range(n)
    ]
    grads = [
        _encode_number(evaluation.grads[i]) if i in evaluation.grads else None for i in range(n)
    ]
    return {"type": "result", "id": request_id, "values": values, "grads": grads}


def serve(backend: Backend, engine: str, requests: IO[bytes], responses: IO[bytes]) -> None:
    """Say hello (claiming every op of conformance.ops), then answer each request line until EOF."""

    def send(message: dict[str, Any]) -> None:
        responses.write(
            json.dumps(message, separators=(",", ":"), allow_nan=False).encode() + b"\n"
        )
        responses.flush()

    # Every op is claimed: what the engine lacks is found by running it, exactly as in-process.
    send({"type": "hello", "protocol": PROTOCOL_VERSION, "engine": engine, "ops": sorted(OPS)})
    for line in requests:
        if line.strip():
            send(answer(backend, line))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m conformance.drivers.micrograd [TARGET]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__, file=sys.stderr)
        return 2
    target = args[0] if args else DEFAULT_TARGET
    try:
        backend = load_backend(target)
    except (TargetError, TypeError) as exc:
        print(f"cannot load {target!r}: {exc}", file=sys.stderr)
        return 2
    protocol_out = sys.stdout.buffer
    # Whatever the engine prints must not corrupt the protocol: stdout goes to stderr meanwhile.
    with contextlib.redirect_stdout(sys.stderr):
        serve(backend, backend.name, sys.stdin.buffer, protocol_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
