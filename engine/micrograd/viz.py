"""Pictures of computation graphs: Graphviz DOT text for any Value, SVG with ``graphviz`` installed.

:func:`to_dot` needs nothing beyond the standard library and works on graphs of any size (the walk
is iterative and every shared node appears once). :func:`to_svg` and :func:`draw_dot` use the
optional ``graphviz`` Python package (and its ``dot`` program); :func:`repr_svg` is what
``Value._repr_svg_`` calls so that a Value shows its graph in Jupyter.
"""

from __future__ import annotations

from typing import Any

from micrograd.engine import Value

__all__ = ["MAX_DISPLAY_NODES", "draw_dot", "graph_nodes", "repr_svg", "to_dot", "to_svg"]

MAX_DISPLAY_NODES = 500
"""Jupyter shows graphs up to this many Values; larger ones fall back to the text ``repr``."""

_RANKDIRS = ("LR", "RL", "TB", "BT")
_RECORD_SPECIALS = str.maketrans({c: "\\" + c for c in '{}|<>"\\'})


def graph_nodes(root: Value, limit: int | None = None) -> list[Value]:
    """Return every Value reachable from ``root``, each once, ``root`` first (depth-first preorder).

    With ``limit``, stop after ``limit + 1`` Values (enough to tell the graph is too large).
    """
    if not isinstance(root, Value):
        raise TypeError(f"expected a Value, got {root!r} of type {type(root).__name__}")
    seen: set[int] = set()
    order: list[Value] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        if limit is not None and len(order) > limit:
            break
        # Reversed so that the first operand is visited (and numbered) first.
        stack.extend(reversed(node._prev))
    return order


def _number(x: float, precision: int) -> str:
    """Format a float compactly, keeping inf and nan readable."""
    return f"{x:.{precision}g}"


def _record(text: str) -> str:
    """Escape ``text`` for a field of a Graphviz record label."""
    return text.translate(_RECORD_SPECIALS)


def to_dot(root: Value, *, rankdir: str = "LR", precision: int = 4) -> str:
    """Return Graphviz DOT source drawing the graph that produced ``root``.

    Each Value is a box showing its data and grad; each op is an oval between the Values it reads
    and the Value it makes, so ``a - b`` reads left to right with operands in order.
    """
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}, got {rankdir!r}")
    if isinstance(precision, bool) or not isinstance(precision, int) or precision < 1:
        raise ValueError(f"precision must be a positive integer, got {precision!r}")
    nodes = graph_nodes(root)
    ids = {id(v): f"v{i}" for i, v in enumerate(nodes)}
    lines = [
        "digraph micrograd {",
        f"  graph [rankdir={rankdir}];",
        '  node [shape=record, fontname="Helvetica"];',
    ]
    edges: list[str] = []
    for v in nodes:
        vid = ids[id(v)]
        data = _record(f"data {_number(v.data, precision)}")
        grad = _record(f"grad {_number(v.grad, precision)}")
        lines.append(f'  {vid} [label="{{ {data} | {grad} }}"];')
        if v._prev:
            op = v._op.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'  {vid}_op [label="{op}", shape=ellipse];')
            edges.append(f"  {vid}_op -> {vid};")
            edges.extend(f"  {ids[id(child)]} -> {vid}_op;" for child in v._prev)
    lines.extend(edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _graphviz() -> Any:
    """Import the optional ``graphviz`` package, or explain how to get it."""
    try:
        import graphviz
    except ImportError as exc:
        raise ImportError(
            "drawing a graph as SVG needs the graphviz Python package (and Graphviz's `dot` "
            "program), which is not installed; install it with: pip install graphviz  "
            "(or the project's [graphviz] extra). micrograd.viz.to_dot() works without it."
        ) from exc
    return graphviz


def draw_dot(root: Value, *, format: str = "svg", rankdir: str = "LR") -> Any:
    """Return a ``graphviz.Source`` of the graph (Jupyter shows it; ``.render()`` saves it)."""
    return _graphviz().Source(to_dot(root, rankdir=rankdir), format=format)


def to_svg(root: Value, *, rankdir: str = "LR") -> str:
    """Return ``root``'s graph as SVG text (needs the ``graphviz`` package and ``dot`` program)."""
    svg: str = draw_dot(root, rankdir=rankdir).pipe(format="svg", encoding="utf-8")
    return svg


def repr_svg(root: Value, max_nodes: int = MAX_DISPLAY_NODES) -> str | None:
    """Jupyter's SVG for ``root``, or None (text ``repr`` instead) if too large or not drawable."""
    if len(graph_nodes(root, limit=max_nodes)) > max_nodes:
        return None
    try:
        return to_svg(root)
    except ImportError:
        return None
    except Exception as exc:
        # graphviz raises ExecutableNotFound (a RuntimeError) when the `dot` program is missing.
        if type(exc).__name__ == "ExecutableNotFound":
            return None
        raise
