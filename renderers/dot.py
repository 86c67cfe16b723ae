"""`netinspect view`: the graph drawn by Graphviz (DOT text, or SVG/PNG/PDF through `dot`).

Element ids, stable so tests and tools can find things in the SVG (each is the `<title>` of
its `<g class="node">`):
  * `n<k>`      the IR node at position k of `Graph.walk()` (depth first, subgraph nodes right
                after their owner) — the same id as in `info --nodes --json`;
  * `in<g>_<i>` / `out<g>_<i>`  input/output i of graph g, where g is 0 for the model and
                1, 2, ... for subgraphs in walk order (drawn inside their cluster `cluster_<g>`).
Constant inputs (weights) are folded into their consumer's label, never drawn as nodes.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import graphviz

from netinspect.analysis.summary import jsonable
from netinspect.errors import MissingDependencyError, OutputError
from netinspect.fileio import atomic_write, check_output
from netinspect.ir import Graph, Node
from netinspect.renderers import ops
from netinspect.renderers.formatting import format_shape, format_value
from netinspect.walk import Scope, constant_inputs, node_id, subgraph_attributes

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}
"""Output suffix → Graphviz format; None means the DOT text itself, which needs no `dot` binary."""

ATTRIBUTES_SHOWN = 5
TEXT_WIDTH = 48
LARGE_GRAPH = 1000
"""Above this many nodes, bound dot's crossing minimisation and network simplex (the x-placement
pass dominates on big graphs: 49 s for 3000 nodes unbounded, 7 s capped), and put edge shapes
in xlabels, so layout stays in seconds; the layout is then valid but less compact."""
SIMPLEX_ITERATIONS = 500


def _escape(text: str) -> str:
    """User text (layer names, shapes) as a DOT string piece: backslashes lose their meaning."""
    return text.replace("\\", "\\\\")


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


def to_dot(graph: Graph) -> str:
    """The graph as DOT text (no Graphviz binary needed)."""
    dot = graphviz.Digraph(name="netinspect")
    dot.attr(
        "graph",
        rankdir="TB",
        fontname="DejaVu Sans",
        fontsize="11",
        labelloc="t",
        label=_label([f"{graph.name or 'model'} ({graph.metadata.source_format or 'graph'})"]),
        nodesep="0.25",
        ranksep="0.35",
    )
    count = sum(1 for _ in graph.walk())
    if count > LARGE_GRAPH:
        per_node = f"{SIMPLEX_ITERATIONS / count:.4f}"  # Graphviz multiplies nslimit by the node count
        dot.attr("graph", mclimit="0.2", nslimit=per_node, nslimit1=per_node, remincross="false")
    dot.attr("node", fontname="DejaVu Sans", fontsize="9", shape="box", style="rounded,filled")
    dot.attr("edge", fontname="DejaVu Sans", fontsize="8", color="#555555", arrowsize="0.6")
    drawing = _Drawing(graph.opset, label_key="xlabel" if count > LARGE_GRAPH else "label")
    _draw_graph(dot, graph, Scope((graph,)), drawing)
    for tail, head, attrs in drawing.edges:
        dot.edge(tail, head, **attrs)
    return dot.source


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
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
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
    tooltip = [f"{node.name or '(unnamed)'}: {op}"]
    for position, name in enumerate(node.inputs):
        if not name:
            continue
        tensor = scope.tensor(name)
        if tensor is not None:
            dtype = "" if tensor.dtype == "float32" else f" {tensor.dtype}"
            role = ops.input_name(node.op_type, node.domain, version, position)
            lines.append(f"{role} ⟨{format_shape(tensor.shape)}⟩{dtype}")
            tooltip.append(f"{role}: {name} {tensor.dtype} {format_shape(tensor.shape)}")
            continue
        source = drawing.source(name)
        if source is not None:
            drawing.edges.append((source, node_id(index), _edge_label(scope, name, drawing)))
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


def _attribute(value: object) -> str:
    text = format_value(jsonable(value))
    if isinstance(value, list | tuple) and value and all(isinstance(v, int) for v in value):
        text = ",".join(map(str, value))
    return text


def render(graph: Graph, path: str | Path) -> None:
    """Draw the graph to `path`; its suffix (.svg .png .pdf .dot .gv) picks the format."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        known = " ".join(FORMATS)
        raise OutputError(f"unknown output format {suffix or '(none)'!r}; use one of {known}", path)
    check_output(path, [])
    source = to_dot(graph)
    fmt = FORMATS[suffix]
    data = source.encode("utf-8") if fmt is None else _run_dot(source, fmt, path)
    with atomic_write(path) as f:
        f.write(data)


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
