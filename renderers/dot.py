"""`netinspect view`: the graph drawn by Graphviz (DOT text, or SVG/PNG/PDF through `dot`).

Element ids, stable so tests and tools can find things in the SVG (each is the `<title>` of
its `<g class="node">`):
  * `n<k>`      the IR node at position k of `Graph.walk()` (depth first, subgraph nodes right
                after their owner) — the same id as in `info --nodes --json`;
  * `in<g>_<i>` / `out<g>_<i>`  input/output i of graph g, where g is 0 for the model and
                1, 2, ... for subgraphs in walk order (drawn inside their cluster `cluster_<g>`).
Constant inputs (weights) are folded into their consumer's label, never drawn as nodes.

A model read from another format is drawn as its source by default (`drawing="source"`): one box per
source layer labelled with the file's own type (`Conv2D`, `CONV_2D`, `conv`), its configuration and
stored weights, ids `s<k>` / `sin<i>` / `sout<i>` (renderers.source_graph). `drawing="onnx"` draws the
converted graph; an ONNX file has only that one.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import graphviz

from netinspect.analysis.summary import jsonable
from netinspect.errors import MissingDependencyError, OutputError
from netinspect.io.files import atomic_write, check_output
from netinspect.ir import Graph, Node
from netinspect.renderers import ops
from netinspect.renderers.formatting import format_shape, format_value
from netinspect.renderers.groups import build_tree, describe_ops, expanded_within, visible
from netinspect.renderers.source_graph import SourceGraph, layer_id, source_graph
from netinspect.walk import Scope, constant_inputs, node_id, op_key, subgraph_attributes, walk_scoped

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}
"""Output suffix → Graphviz format; None means the DOT text itself, which needs no `dot` binary."""

ATTRIBUTES_SHOWN = 5
TEXT_WIDTH = 48
LARGE_GRAPH = 1000
"""Above this many nodes, bound dot's crossing minimisation and network simplex (the x-placement
pass dominates on big graphs: 49 s for 3000 nodes unbounded, 7 s capped), and put edge shapes
in xlabels, so layout stays in seconds; the layout is then valid but less compact."""
SIMPLEX_ITERATIONS = 500
SOURCE_COLOUR = {"untranslated": "#e9d5ff"}
"""A source layer shown without a translation (as in the HTML page)."""
TOOLTIP_ATTRIBUTES = 12
COLLAPSED_BOXES = 200
"""Above LARGE_GRAPH nodes (unless expand=True), name scopes are drawn as group nodes, opened breadth
first while at most this many boxes are drawn: a diagram a person can read, laid out in seconds."""


CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), 127]}
"""Control characters as `\\x..`: a Keras Lambda's config holds marshalled bytecode, and Graphviz
refuses a NUL in a label."""


def _escape(text: str) -> str:
    """User text (layer names, shapes, configs) as a DOT string piece: backslashes lose their
    meaning, control characters are spelled out."""
    return text.translate(CONTROL).replace("\\", "\\\\")


def _label(lines: list[str]) -> str:
    return graphviz.nohtml("\\n".join(_escape(_shorten(line)) for line in lines))


def _shorten(text: str) -> str:
    return text if len(text) <= TEXT_WIDTH else text[: TEXT_WIDTH - 1] + "…"


@dataclass
class _Drawing:
    """State while drawing: ids are handed out in walk order so they match the summary's."""

    opset: dict[str, int]
    next_node: int = 0
    next_graph: int = 0
    value_sources: list[dict[str, str]] = field(default_factory=list)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    """Edges go to the top-level graph: one written inside a cluster would pull both ends into it."""
    label_key: str = "label"
    """`xlabel` on large graphs: placed after layout, so labels add no virtual nodes to rank."""

    def version(self, domain: str) -> int:
        return int(self.opset.get("" if domain == "ai.onnx" else domain, self.opset.get("", 17)))

    def source(self, name: str) -> str | None:
        for sources in reversed(self.value_sources):
            if name in sources:
                return sources[name]
        return None


DRAWINGS = ("source", "onnx")
CONFIG_SHOWN = 5


def to_dot(graph: Graph, expand: bool = True, drawing: str = "source") -> str:
    """The graph as DOT text (no Graphviz binary needed); expand=False collapses large graphs;
    `drawing` is "source" (the file's own layers, when it is not ONNX) or "onnx"."""
    return _to_dot(graph, expand, drawing)[0]


def _to_dot(graph: Graph, expand: bool, drawing: str = "source") -> tuple[str, str | None]:
    """DOT text, and a note saying what was collapsed (None when every node is drawn)."""
    drawn = source_graph(graph) if drawing == "source" else None
    if drawn is not None:
        return _source_dot(graph, drawn), None
    dot = _digraph(graph, "")
    count = sum(1 for _ in graph.walk())
    _bound(dot, count)
    state = _Drawing(graph.opset, label_key="xlabel" if count > LARGE_GRAPH else "label")
    note = None
    if count > LARGE_GRAPH and not expand:
        alias, groups = _draw_collapsed(dot, graph, state)
        note = (
            f"{count:,} nodes (over {LARGE_GRAPH:,}): name scopes drawn as {groups} group nodes; "
            "--expand draws every node"
        )
        state.edges = _merge_edges(state.edges, alias)
    else:
        _draw_graph(dot, graph, Scope((graph,)), state)
    for tail, head, attrs in state.edges:
        dot.edge(tail, head, **attrs)
    return dot.source, note


def _digraph(graph: Graph, what: str) -> graphviz.Digraph:
    dot = graphviz.Digraph(name="netinspect")
    dot.attr(
        "graph",
        rankdir="TB",
        fontname="DejaVu Sans",
        fontsize="11",
        labelloc="t",
        label=_label([f"{graph.name or 'model'} ({graph.metadata.source_format or 'graph'}){what}"]),
        nodesep="0.25",
        ranksep="0.35",
    )
    dot.attr("node", fontname="DejaVu Sans", fontsize="9", shape="box", style="rounded,filled")
    dot.attr("edge", fontname="DejaVu Sans", fontsize="8", color="#555555", arrowsize="0.6")
    return dot


def _bound(dot: graphviz.Digraph, count: int) -> None:
    """Keep dot's layout in seconds on a graph of `count` boxes (see LARGE_GRAPH)."""
    if count > LARGE_GRAPH:
        per_node = f"{SIMPLEX_ITERATIONS / count:.4f}"  # Graphviz multiplies nslimit by the node count
        dot.attr("graph", mclimit="0.2", nslimit=per_node, nslimit1=per_node, remincross="false")


def _telling(key: str, value: object) -> bool:
    """Whether a setting says what the layer computes (the label's few lines): not its name, not
    what only training uses (initializers, regularizers, constraints, trainable), not an empty one."""
    training = key in ("name", "trainable", "dtype") or key.endswith(
        ("_initializer", "_regularizer", "_constraint")
    )
    return not training and value not in (None, "", [], {})


def _source_dot(graph: Graph, drawn: SourceGraph) -> str:
    """The source layers: type, name, the first configuration entries, stored weights (shape as
    stored, with its layout), output shape; the tooltip has the whole configuration and the ONNX
    nodes the layer became."""
    dot = _digraph(graph, " · source layers")
    _bound(dot, len(drawn.layers))
    for i, tensor in enumerate(drawn.inputs):
        label = _label([tensor.name, f"{tensor.dtype or '?'} {format_shape(tensor.shape)}"])
        dot.node(f"sin{i}", label, shape="invhouse", fillcolor="#dbeafe", style="filled")
    for k, (layer, category) in enumerate(zip(drawn.layers, drawn.categories, strict=True)):
        lines = [layer.type] + ([layer.name] if layer.name != layer.type else [])
        settings = [f"{key}={_attribute(value)}" for key, value in layer.config.items() if key != "name"]
        telling = [
            f"{key}={_attribute(value)}" for key, value in layer.config.items() if _telling(key, value)
        ]
        lines += telling[:CONFIG_SHOWN]
        if len(settings) > min(len(telling), CONFIG_SHOWN):
            lines.append(f"(+{len(settings) - min(len(telling), CONFIG_SHOWN)} settings)")
        for w in layer.weights:
            lines.append(
                f"{w.name.rsplit('/', 1)[-1]} ⟨{format_shape(w.shape)}⟩{' ' + w.layout if w.layout else ''}"
            )
        if not layer.supported:
            lines.append("(no translation: convert refuses it)")
        tooltip = [f"{layer.type} {layer.name} ({layer_id(k)})", *settings[:TOOLTIP_ATTRIBUTES]]
        tooltip.append("ONNX: " + (", ".join(layer.nodes) or "none (an identity at inference)"))
        dot.node(
            layer_id(k),
            _label(lines),
            fillcolor=SOURCE_COLOUR.get(category, ops.COLOUR.get(category, ops.COLOUR["other"])),
            tooltip=graphviz.nohtml("\\n".join(_escape(t) for t in tooltip)),
        )
    for i, tensor in enumerate(drawn.outputs):
        label = _label([tensor.name, f"{tensor.dtype or '?'} {format_shape(tensor.shape)}"])
        dot.node(f"sout{i}", label, shape="house", fillcolor="#fee2e2", style="filled")
    shapes = {t.name: t.shape for layer in drawn.layers for t in layer.outputs}
    shapes.update({t.name: t.shape for t in drawn.inputs})
    for tail, head, name in drawn.edges:
        shape = shapes.get(name)
        attrs = {} if shape is None else {"label": _label([format_shape(shape)])}
        dot.edge(tail, head, **attrs)
    return dot.source


def _draw_collapsed(dot: graphviz.Digraph, graph: Graph, drawing: _Drawing) -> tuple[dict[str, str], int]:
    """The model graph with closed scopes as group nodes; returns element id → drawn id, and the
    number of group nodes. Subgraphs (If/Loop/Scan bodies) are left out; `--expand` draws them."""
    constants = constant_inputs(graph)
    inputs = [v for v in graph.inputs if v.name not in constants]
    ids = [f"in0_{i}" for i in range(len(inputs))]
    names = [""] * len(inputs)
    item_ops: list[str | None] = [None] * len(inputs)
    indices = {id(node): k for k, (node, _) in enumerate(walk_scoped(graph))}
    for node in graph.nodes:
        ids.append(node_id(indices[id(node)]))
        names.append(node.name)
        item_ops.append(op_key(node))
    ids += [f"out0_{i}" for i in range(len(graph.outputs))]
    names += [""] * len(graph.outputs)
    item_ops += [None] * len(graph.outputs)
    tree = build_tree(names, item_ops)
    opened = expanded_within(tree, COLLAPSED_BOXES)
    alias: dict[str, str] = {}
    drawn_groups: set[int] = set()
    for item, ident in enumerate(ids):
        kind, index = visible(tree, opened, item)
        alias[ident] = ident if kind == "item" else f"group{index}"
        if kind == "group" and index not in drawn_groups:
            drawn_groups.add(index)
            group = tree.groups[index]
            ops_text = describe_ops(group.ops, 3)
            dot.node(
                f"group{index}",
                _label([f"▸ {group.label}", f"{group.size} nodes", ops_text]),
                shape="folder",
                fillcolor="#eeeeee",
                tooltip=graphviz.nohtml(
                    _escape(f"{group.name}: {group.size} nodes, {describe_ops(group.ops, 12)}")
                ),
            )
    scope = Scope((graph,))
    sources: dict[str, str] = {}
    drawing.value_sources.append(sources)
    for i, value in enumerate(inputs):
        sources[value.name] = f"in0_{i}"
        if alias[f"in0_{i}"] == f"in0_{i}":
            label = _label([value.name, f"{value.dtype or '?'} {format_shape(value.shape)}"])
            dot.node(f"in0_{i}", label, shape="invhouse", fillcolor="#dbeafe", style="filled")
    for node in graph.nodes:
        k = indices[id(node)]
        if alias[node_id(k)] == node_id(k):
            _draw_node(dot, node, k, scope, drawing)
        else:
            _node_edges(node, k, scope, drawing)
        for name in node.outputs:
            if name:
                sources[name] = node_id(k)
    for i, value in enumerate(graph.outputs):
        out = f"out0_{i}"
        if alias[out] == out:
            label = _label([value.name, f"{value.dtype or '?'} {format_shape(value.shape)}"])
            dot.node(out, label, shape="house", fillcolor="#fee2e2", style="filled")
        source = drawing.source(value.name)
        if source is not None:
            drawing.edges.append((source, out, _edge_label(scope, value.name, drawing)))
    return alias, len(drawn_groups)


def _merge_edges(
    edges: list[tuple[str, str, dict[str, str]]], alias: dict[str, str]
) -> list[tuple[str, str, dict[str, str]]]:
    """Edges between drawn elements: ends moved to their group node, duplicates and loops dropped."""
    merged: dict[tuple[str, str], tuple[dict[str, str], int]] = {}
    for tail, head, attrs in edges:
        a, b = alias.get(tail, tail), alias.get(head, head)
        if a == b:
            continue
        known = merged.get((a, b))
        merged[(a, b)] = (attrs, 1) if known is None else (known[0], known[1] + 1)
    out = []
    for (a, b), (attrs, n) in merged.items():
        if n > 1:
            attrs = {k: v for k, v in attrs.items() if k not in ("label", "xlabel")}
            attrs["penwidth"] = f"{min(4.0, 1 + n / 4):.1f}"
        out.append((a, b, attrs))
    return out


def _draw_graph(dot: graphviz.Digraph, graph: Graph, scope: Scope, drawing: _Drawing) -> list[str]:
    """Draw one (sub)graph's inputs, nodes and outputs; returns the ids of its output nodes."""
    g = drawing.next_graph
    drawing.next_graph += 1
    constants = constant_inputs(graph)
    sources: dict[str, str] = {}
    drawing.value_sources.append(sources)
    for i, value in enumerate(v for v in graph.inputs if v.name not in constants):
        sources[value.name] = f"in{g}_{i}"
        dot.node(
            f"in{g}_{i}",
            _label([value.name, f"{value.dtype or '?'} {format_shape(value.shape)}"]),
            shape="invhouse",
            fillcolor="#dbeafe",
            style="filled",
        )
    for node in graph.nodes:
        index = drawing.next_node
        drawing.next_node += 1
        _draw_node(dot, node, index, scope, drawing)
        for attr, sub in subgraph_attributes(node):
            cluster = graphviz.Digraph(name=f"cluster_{drawing.next_graph}")
            title = _label([f"{node.op_type} {node.name} · {attr}"])
            cluster.attr(label=title, style="dashed", color="#888888")
            outputs = _draw_graph(cluster, sub, scope.enter(sub, f"{node_id(index)}/{attr}"), drawing)
            dot.subgraph(cluster)
            for out in outputs:
                dashed = {"style": "dashed", "color": "#888888", "arrowhead": "empty"}
                drawing.edges.append((out, node_id(index), dashed))
        for name in node.outputs:
            if name:
                sources[name] = node_id(index)
    outputs = []
    for i, value in enumerate(graph.outputs):
        out = f"out{g}_{i}"
        outputs.append(out)
        dot.node(
            out,
            _label([value.name, f"{value.dtype or '?'} {format_shape(value.shape)}"]),
            shape="house",
            fillcolor="#fee2e2",
            style="filled",
        )
        source = drawing.source(value.name)
        if source is not None:
            drawing.edges.append((source, out, _edge_label(scope, value.name, drawing)))
    drawing.value_sources.pop()
    return outputs


def _edge_label(scope: Scope, name: str, drawing: _Drawing) -> dict[str, str]:
    known = scope.value(name)
    if known is None or known.shape is None:
        return {}
    return {drawing.label_key: _label([format_shape(known.shape)])}


def _draw_node(dot: graphviz.Digraph, node: Node, index: int, scope: Scope, drawing: _Drawing) -> None:
    version = drawing.version(node.domain)
    op = op_key(node)
    lines = [op]
    if node.name and node.name != node.op_type:
        lines.append(node.name)
    shown = [
        (k, v)
        for k, v in node.attributes.items()
        if not isinstance(v, Graph) and not ops.is_default(node.op_type, node.domain, version, k, v)
    ]
    lines += [f"{k}={_attribute(v)}" for k, v in shown[:ATTRIBUTES_SHOWN]]
    if len(shown) > ATTRIBUTES_SHOWN:
        lines.append(f"(+{len(shown) - ATTRIBUTES_SHOWN} attributes)")
    tooltip = [f"{op} {node.name or '(unnamed)'} ({node_id(index)})"]
    tooltip += [f"{k} = {_attribute(v)}" for k, v in shown[:TOOLTIP_ATTRIBUTES]]
    for position, name in enumerate(node.inputs):
        tensor = scope.tensor(name) if name else None
        if tensor is not None:
            dtype = "" if tensor.dtype == "float32" else f" {tensor.dtype}"
            role = ops.input_name(node.op_type, node.domain, version, position)
            lines.append(f"{role} ⟨{format_shape(tensor.shape)}⟩{dtype}")
            tooltip.append(f"{role}: {name} {tensor.dtype} {format_shape(tensor.shape)}")
    _node_edges(node, index, scope, drawing)
    prov = node.provenance
    if prov is not None:
        tooltip.append(f"from {prov.framework} {prov.layer_type} {prov.layer!r}")
        tooltip += [f"↺ {step.kind}: {step.text}" for step in prov.steps]
        if prov.steps:
            lines.append(f"↺ {len(prov.steps)} transform{'s' if len(prov.steps) > 1 else ''}")
    dot.node(
        node_id(index),
        _label(lines),
        fillcolor=ops.COLOUR[ops.category(node.op_type)],
        tooltip=graphviz.nohtml("\\n".join(_escape(t) for t in tooltip)),
    )


def _node_edges(node: Node, index: int, scope: Scope, drawing: _Drawing) -> None:
    """The edges into a node from the producers of its (non-constant) inputs."""
    for name in node.inputs:
        if not name or scope.tensor(name) is not None:
            continue
        source = drawing.source(name)
        if source is not None:
            drawing.edges.append((source, node_id(index), _edge_label(scope, name, drawing)))


def _attribute(value: object) -> str:
    text = format_value(jsonable(value))
    if isinstance(value, list | tuple) and value and all(isinstance(v, int) for v in value):
        text = ",".join(map(str, value))
    return text


def render(graph: Graph, path: str | Path, expand: bool = False, drawing: str = "source") -> str | None:
    """Draw the graph to `path`; its suffix (.svg .png .pdf .dot .gv) picks the format; `drawing`
    is "source" (the file's own layers, when it is not ONNX) or "onnx" (the converted graph).

    Graphs over LARGE_GRAPH nodes are drawn with name scopes collapsed unless `expand`; the
    returned note says so (None when every node was drawn)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        known = " ".join(FORMATS)
        raise OutputError(f"unknown output format {suffix or '(none)'!r}; use one of {known}", path)
    check_output(path, [])
    source, note = _to_dot(graph, expand, drawing)
    fmt = FORMATS[suffix]
    data = source.encode("utf-8") if fmt is None else _run_dot(source, fmt, path)
    with atomic_write(path) as f:
        f.write(data)
    return note


def _run_dot(source: str, fmt: str, path: Path) -> bytes:
    missing = MissingDependencyError("Graphviz 'dot' not found; install it (apt-get install graphviz)", path)
    if shutil.which("dot") is None:
        raise missing
    try:
        return graphviz.Source(source).pipe(format=fmt)
    except graphviz.ExecutableNotFound as e:
        raise missing from e
    except (graphviz.CalledProcessError, subprocess.CalledProcessError) as e:
        stderr = (e.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise OutputError(f"Graphviz 'dot' failed: {stderr[-1] if stderr else e}", path) from e
