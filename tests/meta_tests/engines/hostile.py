"""Hostile engines: they hang, crash or misbehave, and the harness must survive them."""

from __future__ import annotations

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
