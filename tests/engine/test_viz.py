"""micrograd.viz: DOT text for any graph, SVG through the optional graphviz package."""

from __future__ import annotations

import re
import sys
import types

import pytest

from micrograd import viz
from micrograd.engine import Value


def node_lines(dot: str) -> list[str]:
    """The Value boxes of a DOT text."""
    return re.findall(r"^  v\d+ \[label=.*$", dot, flags=re.MULTILINE)


def test_dot_shows_every_value_once_with_its_op_data_and_grad() -> None:
    a, b = Value(2.0), Value(-3.0)
    c = a * b
    d = (c + c).tanh()  # c is shared: one box, two edges
    d.backward()
    dot = viz.to_dot(d)
    assert dot.startswith("digraph micrograd {") and dot.rstrip().endswith("}")
    assert len(node_lines(dot)) == 5  # d, c + c, c, a, b
    assert '[label="tanh", shape=ellipse]' in dot and '[label="*", shape=ellipse]' in dot
    assert "data -12" in dot and "data 2 " in dot and f"grad {d.grad:.4g}" in dot
    ids = {v: f"v{i}" for i, v in enumerate(viz.graph_nodes(d))}
    assert dot.count(f"  {ids[c]} -> ") == 2  # both operands of c + c


def test_operands_are_drawn_in_order() -> None:
    a, b = Value(5.0), Value(1.0)
    nodes = viz.graph_nodes(a - b)
    assert nodes[1] is a and nodes[2] is b
    dot = viz.to_dot(a - b)
    assert dot.index("v1 -> v0_op") < dot.index("v2 -> v0_op")


def test_infinities_nans_and_record_specials_are_written_safely() -> None:
    x = Value(0.0)
    y = x.log() + Value(float("nan"))
    dot = viz.to_dot(y)
    assert "data -inf" in dot and "data nan" in dot
    assert viz._record('a{b}|<c>"d\\') == 'a\\{b\\}\\|\\<c\\>\\"d\\\\'


def test_dot_handles_a_deep_graph_iteratively() -> None:
    x = Value(1.0)
    y = x
    for _ in range(20_000):  # far beyond the recursion limit
        y = y * 1.0
    dot = viz.to_dot(y)
    assert len(node_lines(dot)) == 40_001


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(TypeError, match="float"):
        viz.to_dot(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rankdir"):
        viz.to_dot(Value(1.0), rankdir="up")
    with pytest.raises(ValueError, match="precision"):
        viz.to_dot(Value(1.0), precision=0)


def test_svg_without_the_graphviz_package_raises_a_clear_import_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)
    with pytest.raises(ImportError, match="pip install graphviz"):
        viz.to_svg(Value(1.0))
    assert viz.repr_svg(Value(1.0)) is None


class FakeSource:
    """Records what the viz module hands to graphviz.Source."""

    def __init__(self, source: str, format: str = "svg") -> None:
        self.source = source
        self.format = format

    def pipe(self, format: str, encoding: str) -> str:
        return f"<svg>{len(self.source)} {format} {encoding}</svg>"


def test_svg_renders_the_dot_text_through_graphviz(monkeypatch) -> None:
    fake = types.ModuleType("graphviz")
    fake.Source = FakeSource  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "graphviz", fake)
    v = Value(2.0) * 3
    assert viz.draw_dot(v).source == viz.to_dot(v)
    assert viz.to_svg(v) == f"<svg>{len(viz.to_dot(v))} svg utf-8</svg>"
    assert viz.repr_svg(v) == viz.to_svg(v)


def test_jupyter_display_falls_back_to_text_for_graphs_too_large_to_draw(monkeypatch) -> None:
    fake = types.ModuleType("graphviz")
    fake.Source = FakeSource  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "graphviz", fake)
    big = Value.sum([Value(float(i)) for i in range(viz.MAX_DISPLAY_NODES)])
    assert viz.repr_svg(big) is None
    assert viz.repr_svg(big, max_nodes=viz.MAX_DISPLAY_NODES + 1) is not None


def test_a_value_has_a_jupyter_svg_hook(monkeypatch) -> None:
    fake = types.ModuleType("graphviz")
    fake.Source = FakeSource  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "graphviz", fake)
    v = Value(1.0).exp()
    assert v._repr_svg_() == viz.repr_svg(v)
