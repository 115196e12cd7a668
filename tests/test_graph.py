"""softgrad.graph: the nodes and edges of a traced call, stop_gradient cuts, Parameters, DOT text, rendering."""

import shutil

import numpy as np
import pytest

import softgrad as sg
from softgrad import ops
from softgrad.autodiff.graph import notes_graph, tutorial_graph
from softgrad.cli.main import main


def test_nodes_edges_and_kinds():
    w = sg.Parameter(np.ones(2), name="w")
    g = sg.graph(lambda x: ops.exp(x * w).sum(), np.array([1.0, 2.0]), weights=[w], names=["x"])
    assert [(n.kind, n.label, n.shape) for n in g.nodes] == [
        ("input", "x", (2,)), ("parameter", "w", (2,)), ("op", "mul", (2,)), ("op", "exp", (2,)),
        ("op", "sum", ()), ("output", "output", ())]
    assert g.edges == [(0, 2, "data"), (1, 2, "data"), (2, 3, "data"), (3, 4, "data"), (4, 5, "data")]


def test_a_stop_gradient_is_a_cut_edge_and_constants_are_nodes():
    g = sg.graph(lambda x: x * sg.stop_gradient(ops.exp(x)) + np.arange(3.0), np.ones(3))
    kinds = {(g.nodes[s].label, g.nodes[t].label): k for s, t, k in g.edges}
    assert kinds[("exp", "mul")] == "cut" and kinds[("x0", "mul")] == "data"
    assert any(n.kind == "constant" and n.label == "constant (3,)" for n in g.nodes)
    assert 'style=dashed, color="#c0392b", label="stop_gradient"' in g.to_dot()


def test_the_notes_and_tutorial_graphs():
    notes = notes_graph()
    assert [n.label for n in notes.nodes if n.kind == "op"] == ["softmax", "log", "mul", "sum", "neg"]
    assert {n.label for n in notes.nodes if n.kind == "input"} == {"s", "t"}
    tutorial = tutorial_graph()
    assert [n.label for n in tutorial.nodes if n.kind == "op"][:3] == ["matmul", "add",
                                                                       "binary_cross_entropy_with_logits"]
    assert {n.label for n in tutorial.nodes if n.kind == "parameter"} == {"w", "b"}
    dot = tutorial.to_dot()
    assert dot.startswith('digraph "<lambda>" {') and dot.count("->") == len(tutorial.edges)


def test_render_draws_with_graphviz_or_says_how_to_install_it(tmp_path):
    g = notes_graph()
    with pytest.raises(ValueError, match="must end in .png or .svg"):
        g.render(tmp_path / "g.pdf")
    if shutil.which("dot"):
        assert g.render(tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in g.render(tmp_path / "g.svg").read_text()
    else:
        with pytest.raises(FileNotFoundError, match="apt-get install graphviz"):
            g.render(tmp_path / "g.png")


def test_the_graph_command(tmp_path, capsys):
    assert main(["graph", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "notes.dot").read_text().startswith("digraph")
    assert (tmp_path / "tutorial.png").exists() == bool(shutil.which("dot"))


def test_the_backward_graph_labels_each_cotangent_with_its_rule():
    g = sg.graph(lambda x, y: (x * y).sum(), np.ones(2), np.ones(2), backward=True)
    cotangents = {n.label for n in g.nodes if n.kind == "cotangent"}
    assert "ḡ mul\n∂/∂x = y, ∂/∂y = x" in cotangents and "ḡ sum\n∂/∂x = 1 (g spread over the summed axes)" in cotangents
    backward = [(g.nodes[s].label.split("\n")[0], g.nodes[t].label) for s, t, k in g.edges if k == "backward"]
    assert ("ḡ sum", "ḡ mul\n∂/∂x = y, ∂/∂y = x") in backward and ("ḡ mul", "ḡ x0") in backward
