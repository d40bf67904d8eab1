"""A correct engine with a recursive topological sort that raises the recursion limit at import,
as many micrograd ports do: the harness must give it its limit back inside Hypothesis (which lowers
it), so that a program that passes alone passes in the harness too."""

from __future__ import annotations

import sys

from .reference import Value as _Reference

sys.setrecursionlimit(max(sys.getrecursionlimit(), 200_000))


class Value(_Reference):
    """The reference engine, with micrograd 0.1.0's recursive build_topo."""

    def backward(self) -> None:
        """Topological order by recursion (deep graphs need the raised limit), then the rules."""
        topo: list[_Reference] = []
        visited: set[int] = set()

        def build_topo(v: _Reference) -> None:
            if id(v) not in visited:
                visited.add(id(v))
                for child in v._prev:
                    build_topo(child)
                topo.append(v)

        build_topo(self)
        for node in topo:
            if node._prev:  # intermediate gradients are per pass; leaves accumulate
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(topo):
            node._backward()
