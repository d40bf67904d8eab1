"""Hostile engines: they hang, crash or misbehave, and the harness must survive them."""

from __future__ import annotations

import ctypes
import os

from .reference import Value


class HangsOnBigGraphs(Value):
    """backward() never returns once the graph has more than four nodes."""

    def backward(self) -> None:
        seen: list[Value] = []
        stack: list[Value] = [self]
        while stack:
            node = stack.pop()
            seen.append(node)
            stack.extend(node._prev)
        while len(seen) > 4:
            pass
        super().backward()


def _walk(root: Value) -> list[Value]:
    """Every node of root's graph, once."""
    seen: dict[int, Value] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen[id(node)] = node
            stack.extend(node._prev)
    return list(seen.values())


class RaisesInInit(Value):
    """Value(x) raises, whatever x: nothing can be built."""

    def __init__(self, data: float, _children: tuple[Value, ...] = (), _op: str = "") -> None:
        raise RuntimeError("this engine refuses to construct a Value")


class TextInGrad(Value):
    """After backward(), every leaf's .grad is a string."""

    def backward(self) -> None:
        super().backward()
        for node in _walk(self):
            if not node._prev:
                node.grad = f"grad={node.grad}"  # type: ignore[assignment]


class SystemExitInMul(Value):
    """``*`` calls sys.exit(3): in-process, that must fail the program, not end the run."""

    def __mul__(self, other: Value | float) -> Value:
        raise SystemExit(3)


class OsExitInBackward(Value):
    """backward() ends the process with os._exit(7) (only a worker process survives that)."""

    def backward(self) -> None:
        os._exit(7)


class InfiniteRecursion(Value):
    """tanh() calls itself until RecursionError."""

    def tanh(self) -> Value:
        return self.tanh()


class SegfaultInBackward(Value):
    """backward() reads address 0 through ctypes: a segfault of the interpreter."""

    def backward(self) -> None:
        ctypes.string_at(0)


class DiesOfAccumulation(Value):
    """Every Value leaks a little (as a reference-count error in C does): the 300th Value a
    process makes ends it with os._exit(3), in whichever program that happens."""

    made = 0

    def __init__(self, data: float, _children: tuple[Value, ...] = (), _op: str = "") -> None:
        DiesOfAccumulation.made += 1
        if DiesOfAccumulation.made >= 300:
            os._exit(3)
        super().__init__(data, _children, _op)


class Chatty(Value):
    """Correct, but prints a megabyte at every backward() (to stdout, and to stderr from C)."""

    def backward(self) -> None:
        print("." * 1_000_000)
        os.write(2, b"!" * 1000)
        super().backward()
