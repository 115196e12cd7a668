"""``graph(fn, *inputs)``: the computation graph of one call, read off the tape a transform records.

Nodes are the differentiated inputs, the Parameters, every primitive applied (its name and output shape) and the
constants it took; edges carry values. A value taken through ``stop_gradient`` reaches its consumer as a
constant: that edge is drawn dashed, marked as a cut (no gradient flows back along it). ``to_dot()`` writes
Graphviz's DOT text (no dependency); ``render(path)`` runs Graphviz's ``dot`` for a PNG or SVG.

>>> import softgrad as sg
>>> g = sg.graph(lambda x: sg.ops.exp(x) * 2.0, sg.Tensor([1.0, 2.0]))
>>> [node.label for node in g.nodes]
['x0', 'exp', 'mul', 'output']
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from softgrad.autodiff.transforms import _Trace, _flatten, _weights
from softgrad.ops._primitive import shape_of
from softgrad.tensor import Tensor, concrete


@dataclass
class Node:
    index: int
    kind: str  # 'input', 'parameter', 'op', 'constant', 'output' or 'cotangent'
    label: str
    shape: tuple = ()


@dataclass
class Graph:
    """The nodes and edges ``(source, target, kind)`` of a traced call; kind 'data', 'cut' or 'backward'."""

    nodes: list[Node] = field(default_factory=list)
    edges: list[tuple[int, int, str]] = field(default_factory=list)
    name: str = "fn"

    def _add(self, kind: str, label: str, shape=()) -> int:
        self.nodes.append(Node(len(self.nodes), kind, label, tuple(shape)))
        return len(self.nodes) - 1

    def to_dot(self) -> str:
        """The graph in Graphviz's DOT language: inputs and Parameters as boxes, ops as ellipses with their output
        shape, constants small and grey, outputs double-bordered; a cut (stop_gradient) as a dashed red edge."""
        style = {"input": 'shape=box, style="rounded,filled", fillcolor="#cfe2ff"',
                 "parameter": 'shape=box, style="rounded,filled", fillcolor="#ffe5b4"',
                 "op": 'shape=ellipse, style=filled, fillcolor="#e8e8e8"',
                 "constant": 'shape=plaintext, fontcolor="#777777", fontsize=10',
                 "output": 'shape=doubleoctagon, style=filled, fillcolor="#d4edda"',
                 "cotangent": 'shape=note, style=filled, fillcolor="#fde2e4", fontsize=10'}
        lines = [f'digraph "{self.name}" {{', "  rankdir=LR;", '  node [fontname="Helvetica"];']
        for node in self.nodes:
            shape = f"\\n{node.shape}" if node.kind in ("input", "parameter", "op", "output", "cotangent") else ""
            lines.append(f'  n{node.index} [label="{_escape(node.label)}{shape}", {style[node.kind]}];')
        edge_style = {"cut": ' [style=dashed, color="#c0392b", label="stop_gradient"]',
                      "backward": ' [color="#c2185b", arrowhead=vee]', "data": ""}
        for source, target, kind in self.edges:
            attributes = edge_style[kind]
            lines.append(f"  n{source} -> n{target}{attributes};")
        return "\n".join(lines + ["}"]) + "\n"

    def render(self, path) -> Path:
        """Write the graph drawn by Graphviz's ``dot`` to ``path`` (its suffix, .png or .svg, is the format)."""
        path = Path(path)
        if path.suffix not in (".png", ".svg"):
            raise ValueError(f"render: path must end in .png or .svg, got {path.name!r}")
        dot = shutil.which("dot")
        if dot is None:
            raise FileNotFoundError("render needs Graphviz's `dot` program (apt-get install graphviz, brew install "
                                    "graphviz); to_dot() gives the DOT text without it")
        subprocess.run([dot, f"-T{path.suffix[1:]}", "-o", str(path)], input=self.to_dot().encode(), check=True)
        return path


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _shape(value) -> tuple:
    return tuple(shape_of(value))


def graph(fn: Callable, *inputs, weights=None, names=None, backward: bool = False) -> Graph:
    """The graph of ``fn(*inputs)`` (inputs named x0, x1, … or by ``names``; ``weights`` the Parameters to show
    as such, e.g. ``cell.trainable_params()``). ``backward=True`` adds the backward graph: a cotangent node ḡ per
    op, labelled with its derivative rule (from the op's docstring), the edges running from the output back to
    the inputs."""
    weight_list = _weights(weights)[0] if weights is not None else ()
    trace = _Trace(fn, inputs, range(len(inputs)), weight_list)
    result = Graph(name=getattr(fn, "__name__", "fn"))
    node_of: dict[int, int] = {}  # tape entry -> graph node
    value_of_entry: dict[int, int] = {}  # id(ans) -> graph node, to find values cut by stop_gradient
    labels = list(names or [f"x{i}" for i in range(len(inputs))])
    labels += [w.name or f"w{i}" for i, w in enumerate(weight_list)]
    leaves = {node: i for i, (node, _) in enumerate(trace.leaves)}
    for index, (prim, ans, args, params, parents) in enumerate(trace.tape):
        if prim is None:
            kind = "input" if leaves[index] < len(inputs) else "parameter"
            node_of[index] = result._add(kind, labels[leaves[index]], _shape(ans))
        else:
            node_of[index] = result._add("op", prim.name, _shape(ans))
            for arg, parent in zip(args, parents):
                _connect(result, node_of[index], arg, node_of.get(parent), value_of_entry)
        value_of_entry[id(concrete(ans))] = node_of[index]
    for out in _flatten(trace.output):
        if isinstance(out, Tensor) and out._trace == trace.level:
            result.edges.append((node_of[out._node], result._add("output", "output", _shape(out)), "data"))
    if backward:
        _add_backward(result, trace.tape, node_of)
    return result


def _rule_text(name: str) -> str:
    """The derivative rule an op's docstring states (its text from the first "∂"), or the op's name."""
    from softgrad import ops

    doc = getattr(getattr(ops, name, None), "__doc__", None) or ""
    text = " ".join(doc.split())
    start = text.find("∂")
    if start < 0:
        return f"the rule of {name}"
    rule = text[start:].split(">>>")[0].split(", with ")[0].split(". ")[0].replace("``", "")
    return rule.strip().rstrip(".")[:60]


def _add_backward(result: Graph, tape: list, node_of: dict) -> None:
    """Cotangent nodes, one per op, labelled with its rule; edges from each op's cotangent to its parents'."""
    cotangent_of = {}
    for index in range(len(tape) - 1, -1, -1):
        prim, ans, _, _, parents = tape[index]
        label = f"ḡ {result.nodes[node_of[index]].label}"
        if prim is not None:
            label += f"\n{_rule_text(prim.name)}"
        cotangent_of[index] = result._add("cotangent", label, _shape(ans))
    for index, (prim, _, _, _, parents) in enumerate(tape):
        for parent in set(p for p in parents if p >= 0) if prim is not None else ():
            result.edges.append((cotangent_of[index], cotangent_of[parent], "backward"))


def _connect(result: Graph, target: int, arg, source, value_of_entry) -> None:
    """The edge into op ``target`` for one argument: from its tape node, from the node whose value it is (a
    stop_gradient cut), or from a constant node (arrays that are not scalars; scalars are left out)."""
    if source is not None:
        result.edges.append((source, target, "data"))
    elif isinstance(arg, np.ndarray) and id(arg) in value_of_entry:
        result.edges.append((value_of_entry[id(arg)], target, "cut"))
    elif isinstance(arg, (np.ndarray, np.generic)) and np.size(arg) > 1:
        result.edges.append((result._add("constant", f"constant {np.shape(arg)}"), target, "data"))


# ----- the two graphs of the notes -----


def tutorial_graph() -> Graph:
    """MindSpore's tutorial: z = x·w + b, loss = BCE-with-logits(z, y) — matmul → add → the loss."""
    from softgrad.ops import binary_cross_entropy_with_logits, matmul, ones, zeros
    from softgrad.tensor import Parameter

    w = Parameter(np.full((5, 3), 0.1, np.float32), name="w")
    b = Parameter(np.zeros(3, np.float32), name="b")
    return graph(lambda x, y: binary_cross_entropy_with_logits(matmul(x, w) + b, y), ones(5), zeros(3),
                 weights=[w, b], names=["x", "y"], backward=True)


def notes_graph() -> Graph:
    """The notes' s → p → o ← t: scores s, p = softmax(s), o = −Σ t log p against the target t (a constant)."""
    from softgrad.ops import log, softmax, sum as total

    scores, target = np.array([1.0, 2.0, 0.5], np.float32), np.array([0.0, 1.0, 0.0], np.float32)
    return graph(lambda s, t: -total(t * log(softmax(s))), scores, target, names=["s", "t"])


__all__ = ["Node", "Graph", "graph", "tutorial_graph", "notes_graph"]
