"""The reference wire-protocol driver: serves a micrograd-style Python engine over docs/PROTOCOL.md.

    python -m conformance.drivers.micrograd [TARGET] [--alias METHOD=NAME ...]

TARGET is anything the harness can load (``package.module:Value``, ``path/file.py:Value``, an
adapter); without it the bundled ``micrograd.engine:Value`` is served. Each request is rebuilt as a
Program and run by the harness's own in-process backend, so a program means exactly the same over
the wire as in-process (constants on the left become reflected ops, and so on). It is also the
worker of ``--isolate`` (conformance.backends.isolated).

File descriptor 1 carries the protocol only: the engine's prints (from Python or from C) go to
stderr, so an engine that prints cannot corrupt the answers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from conformance.backends import (
    DEFAULT_TARGET,
    BackendBase,
    BackendError,
    TargetError,
    load_backend,
)
from conformance.backends.guard import EngineGuard
from conformance.config import ConfigError, parse_aliases
from conformance.ops import OPS
from conformance.program import ProgramError
from conformance.protocol import (
    ProtocolError,
    UnknownOp,
    decode_request,
    encode_line,
    encode_result,
    hello,
)

__all__ = ["answer", "main", "serve"]


def _error(
    request_id: object, kind: str, message: str, *, op: str | None = None, exception: str = ""
) -> dict[str, Any]:
    """An ``error`` message."""
    reply: dict[str, Any] = {"type": "error", "id": request_id, "kind": kind}
    if op is not None:
        reply["op"] = op
    if exception:
        reply["exception"] = exception
    reply["message"] = message
    return reply


def answer(backend: BackendBase, line: bytes) -> dict[str, Any]:
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
        program = decode_request(request)
    except UnknownOp as exc:
        return _error(request_id, "unsupported_op", str(exc), op=exc.op)
    except (ProtocolError, ProgramError) as exc:
        return _error(request_id, "invalid_request", str(exc))
    try:
        evaluation = backend.run(program)
    except BackendError as exc:
        kind = "unsupported_op" if exc.kind == "unsupported" else "engine_error"
        reply = _error(request_id, kind, str(exc), exception=exc.exception_type)
        # Where it raised, for telling bugs apart (optional fields: docs/PROTOCOL.md).
        reply.update({k: v for k, v in (("phase", exc.phase), ("where", exc.where)) if v})
        if exc.kind == "protocol" and exc.not_a_number:  # a .data or .grad that is no float
            reply["not_a_number"] = exc.not_a_number
        elif exc.kind == "protocol" and exc.where:  # an op that returned None (see base.build)
            reply["returned"] = "None"
        return reply
    except BaseException as exc:  # the engine is under test: any exception is its answer
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _error(
            request_id, "engine_error", f"{type(exc).__name__}: {exc}", exception=type(exc).__name__
        )
    return encode_result(request_id, len(program.nodes), evaluation.values, evaluation.grads)


def serve(backend: BackendBase, engine: str, requests: IO[bytes], responses: IO[bytes]) -> None:
    """Say hello (claiming every op of conformance.ops), then answer each request line until EOF."""

    def send(message: dict[str, Any]) -> None:
        responses.write(encode_line(message))
        responses.flush()

    # Every op is claimed: what the engine lacks is found by running it, exactly as in-process.
    send(hello(engine, sorted(OPS)))
    for line in requests:
        if line.strip():
            send(answer(backend, line))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m conformance.drivers.micrograd [TARGET] [--alias ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m conformance.drivers.micrograd",
        description="Serve a micrograd-style Python engine over the wire protocol.",
    )
    parser.add_argument("target", nargs="?", default=DEFAULT_TARGET)
    parser.add_argument("--alias", action="append", default=[], metavar="METHOD=NAME")
    args = parser.parse_args(argv)
    try:
        backend = load_backend(args.target, aliases=parse_aliases(args.alias))
    except (TargetError, TypeError, ConfigError) as exc:
        print(f"cannot load {args.target!r}: {exc}", file=sys.stderr)
        return 2
    guard = getattr(backend, "guard", None)
    if isinstance(guard, EngineGuard):  # stderr here is the harness's bounded file: keep it
        guard.null_descriptors = False
    sys.stdout.flush()
    # The protocol keeps its own copy of descriptor 1; descriptor 1 itself becomes stderr, so
    # whatever the engine prints (Python's print or C's printf) lands there.
    protocol_out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    with contextlib.redirect_stdout(sys.stderr):
        serve(backend, backend.name, sys.stdin.buffer, protocol_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
