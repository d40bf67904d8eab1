"""A wire-protocol driver that serves the bundled engine correctly until a trigger, then misbehaves.

    python hostile_driver.py MODE [--min-nodes N]

It misbehaves on every request whose program has at least N nodes (default 0: every request), so a
harness run sees both good and bad programs. Deliberately small (json, the op table and the engine
only) so that restarting it is fast.

MODES: segfault, abort, rust-stack-overflow, exit, hang, hang-with-child, deaf, garbage, wrong-id,
wrong-type, short-values, partial-line, bad-hello, no-hello, print-banner; die-after-answer and
hang-after-answer answer correctly, then die or hang (as a recursive Drop of a long graph does).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from typing import Any

from conformance.ops import OPS
from micrograd.engine import Value


def number(x: float) -> Any:
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def evaluate(request: dict[str, Any]) -> dict[str, Any]:
    built: list[Any] = []
    for node in request["nodes"]:
        op = node[0]
        if op in ("input", "const"):
            x = float(node[1])  # float() also reads "NaN", "Infinity", "-Infinity"
            built.append(Value(x) if op == "input" else x)
        else:
            built.append(OPS[op].call(*(built[j] for j in node[1:])))
    for _ in range(request.get("backward_passes", 1)):
        built[request["output"]].backward()
    return {
        "type": "result",
        "id": request["id"],
        "values": [number(v.data) if isinstance(v, Value) else None for v in built],
        "grads": [number(v.grad) if isinstance(v, Value) else None for v in built],
    }


def send(message: Any) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def misbehave(mode: str, request: dict[str, Any]) -> None:
    if mode == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif mode == "abort":
        os.abort()
    elif mode == "rust-stack-overflow":
        # What a Rust binary does when its recursion overflows the stack.
        sys.stderr.write(
            "\nthread 'main' has overflowed its stack\nfatal runtime error: stack overflow\n"
        )
        sys.stderr.flush()
        os.abort()
    elif mode == "exit":
        sys.exit(3)
    elif mode == "hang":
        time.sleep(3600)
    elif mode == "hang-with-child":
        # The child inherits stdout: only killing the whole process group ends it.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        sys.stderr.write(f"child pid {child.pid}\n")
        sys.stderr.flush()
        time.sleep(3600)
    elif mode == "garbage":
        sys.stdout.write("Segmentation fault? no: just some debug output\n")
        sys.stdout.flush()
    elif mode == "wrong-id":
        answer = evaluate(request)
        answer["id"] = request["id"] + 1000
        send(answer)
    elif mode == "wrong-type":
        send({"type": "hello", "protocol": 1, "engine": "again", "ops": []})
    elif mode == "short-values":
        answer = evaluate(request)
        answer["values"] = answer["values"][:-1]
        send(answer)
    elif mode in ("die-after-answer", "hang-after-answer"):
        send(evaluate(request))
        if mode == "hang-after-answer":
            time.sleep(3600)
        sys.stderr.write(
            "\nthread 'main' has overflowed its stack\nfatal runtime error: stack overflow\n"
        )
        sys.stderr.flush()
        os.abort()
    elif mode == "partial-line":
        sys.stdout.write('{"type": "result", "id": ')
        sys.stdout.flush()
        time.sleep(3600)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


def main() -> None:
    mode = sys.argv[1]
    min_nodes = int(sys.argv[sys.argv.index("--min-nodes") + 1]) if "--min-nodes" in sys.argv else 0
    ops = sorted(OPS)
    if mode == "bad-hello":
        send({"type": "hello", "protocol": 99, "engine": "from the future", "ops": ops})
    elif mode == "no-hello":
        time.sleep(3600)
    elif mode == "print-banner":
        print("Welcome to my engine!")
    send({"type": "hello", "protocol": 1, "engine": f"hostile ({mode})", "ops": ops})
    if mode == "deaf":
        time.sleep(3600)
    for line in sys.stdin:
        request = json.loads(line)
        if len(request["nodes"]) >= min_nodes:
            misbehave(mode, request)
        else:
            send(evaluate(request))


if __name__ == "__main__":
    main()
