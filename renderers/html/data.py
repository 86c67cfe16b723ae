"""The data the HTML page shows, built from the IR: what is drawn (compact, read first) and what the
side panel shows on a click (details, weight statistics, operator docs; read when first needed).

Node ids are `walk.node_id` in `walk_scoped` order and graph input/output ids are `in<g>_<i>` /
`out<g>_<i>`, exactly as in `info --nodes` and the SVG, so one id names one node everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from netinspect.analysis.summary import jsonable, transform_counts
from netinspect.analysis.tensors import Budget, many_stats
from netinspect.ir import Graph, Node, SourceTensor, Tensor, Value
from netinspect.renderers import ops
from netinspect.renderers.formatting import format_shape, format_value
from netinspect.renderers.groups import build_tree, describe_ops, expanded_within
from netinspect.renderers.html.graph_layout import layout
from netinspect.renderers.html.op_docs import operator_doc
from netinspect.renderers.html.records import (
    RECORDS,
    WEIGHT_FIELDS,
    AttributeRow,
    EdgeRow,
    GroupRow,
    InputRow,
    Item,
    LayerRow,
    NodeRow,
    OutputRow,
    ProvenanceRow,
    SettingRow,
    SourceTensorRow,
    StepRow,
    SubgraphRow,
    ValueRow,
)
from netinspect.renderers.source_graph import (
    UNTRANSLATED,
    SourceGraph,
    layer_id,
    layers_of_nodes,
    source_graph,
)
from netinspect.walk import Scope, constant_inputs, node_id, op_key, subgraph_attributes, walk_scoped

UNTRANSLATED_COLOUR = "#e9d5ff"
"""A source layer shown without a translation (convert refuses it)."""
SETTING_WIDTH = 400
CHUNK = 1000
"""Node rows per script element: a click parses one such chunk."""
NAME_WIDTH = 30
OPEN_BUDGET = 150
"""Boxes shown when a graph opens: groups open breadth first while the count stays within this."""
CHAR_PX = 6.6
LINE_PX = 14


def _short(text: str, width: int = NAME_WIDTH) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def box_size(lines: list[str]) -> tuple[int, int]:
    """Box width and height in CSS pixels for the label lines (the page draws them at 11 px)."""
    widest = max((len(line) for line in lines), default=4)
    return int(min(230, max(64, widest * CHAR_PX + 20))), len(lines) * LINE_PX + 10


@dataclass
class _Graph:
    """One graph being described: its items (inputs, nodes, outputs) and where values come from."""

    index: int
    graph: Graph
    scope: Scope
    title: str
    owner: int | None
    up: int | None
    """The graph holding the owner node (None for the model)."""
    items: list[Item] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    item_ops: list[str | None] = field(default_factory=list)
    source: dict[str, int] = field(default_factory=dict)
    edges: list[tuple[int, int]] = field(default_factory=list)
    edge_values: list[str] = field(default_factory=list)


@dataclass
class _Builder:
    root: Graph
    budget: Budget
    ids: dict[int, int]
    graphs: list[_Graph] = field(default_factory=list)
    nodes: list[NodeRow | None] = field(default_factory=list)
    pending: dict[str, Tensor] = field(default_factory=dict)
    """Weights to measure, by panel key; measured together at the end (analysis.tensors.many_stats)."""
    operators: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    values: dict[str, ValueRow] = field(default_factory=dict)
    owners: dict[str, list[int]] = field(default_factory=dict)
    """Top-level node name → the source layers it came from (source_graph.layers_of_nodes)."""

    roles: dict[tuple[str, str, int, int], str] = field(default_factory=dict)
    defaults: dict[tuple[str, str, int, str, str], bool] = field(default_factory=dict)
    """Schema answers by op and opset: a 50,000-node graph asks about a handful of distinct ops."""

    def version(self, domain: str) -> int:
        opset = self.root.opset
        return int(opset.get("" if domain == "ai.onnx" else domain, opset.get("", 17)))

    def role(self, node: Node, version: int, position: int) -> str:
        """The schema's name of input `position` (X, W, B…)."""
        key = (node.op_type, node.domain, version, position)
        role = self.roles.get(key)
        if role is None:
            role = self.roles[key] = ops.input_name(node.op_type, node.domain, version, position)
        return role

    def is_default(self, node: Node, version: int, attr: str, value: Any, text: str) -> bool:
        """Whether the attribute holds its schema default; `text` (its shown text) stands for its value."""
        key = (node.op_type, node.domain, version, attr, text)
        known = self.defaults.get(key)
        if known is None:
            known = self.defaults[key] = ops.is_default(node.op_type, node.domain, version, attr, value)
        return known


def page_data(
    graph: Graph, budget: Budget | None = None, expand: bool = False, start: str = "source"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(view, details): `view` is what the first paint and the model panel need; `details` feeds the
    side panel and search, and the page parses it only when first asked (a click, a search).

    A model read from another format gets a second drawing, its source layers (`view.source`, the
    index of that graph); the page opens on it unless `start` is "onnx". An ONNX file has none."""
    walked = list(walk_scoped(graph))
    builder = _Builder(graph, budget or Budget(), {id(node): k for k, (node, _) in enumerate(walked)})
    builder.nodes = [None] * len(walked)
    builder.owners = layers_of_nodes(graph)
    _describe(builder, graph, Scope((graph,)), "model", None, None)
    drawn = source_graph(graph)
    source = None if drawn is None else len(builder.graphs)
    layers = [] if drawn is None else _describe_source(builder, graph, drawn)
    view = {
        "model": {
            "name": graph.name or "model",
            "format": graph.metadata.source_format,
            "nodes": len(walked),
            "layers": len(layers),
        },
        "summary": _model_summary(graph, builder),
        "fields": RECORDS,
        "chunk": CHUNK,
        "categories": {**ops.COLOUR, UNTRANSLATED: UNTRANSLATED_COLOUR},
        "graphs": [_graph_view(g, expand) for g in builder.graphs],
        "source": source,
        "start": source if source is not None and start == "source" else 0,
    }
    measured = many_stats(list(builder.pending.values()), builder.budget)
    details = {
        "nodes": builder.nodes,
        "values": builder.values,
        "weights": {
            key: [stats.get(f) for f in WEIGHT_FIELDS[:-2]]
            + [
                stats["histogram"]["counts"] if "histogram" in stats else None,
                stats.get("problem"),
            ]
            for key, stats in zip(builder.pending, measured, strict=True)
        },
        "operators": builder.operators,
        "layers": layers,
    }
    return view, details


def _model_summary(graph: Graph, builder: _Builder) -> dict[str, Any]:
    """What the model panel shows; the cheap parts of `info` (its FLOPs estimate is left to `info`)."""
    meta = graph.metadata
    weights = builder.pending.values()
    return {
        "format": {
            "source_format": meta.source_format,
            "format_version": meta.format_version,
            "producer": meta.producer,
        },
        "doc": meta.doc,
        "opset": {domain or "ai.onnx": version for domain, version in graph.opset.items()},
        "parameters": {"count": sum(math.prod(t.shape) for t in weights), "tensors": len(weights)},
        "inputs": [_value_summary(v) for v in graph.inputs if v.name not in graph.tensors],
        "outputs": [_value_summary(v) for v in graph.outputs],
        "properties": {str(k): str(v)[:400] for k, v in meta.properties.items()},
        "notes": [str(n) for n in meta.notes],
        "labels": None if meta.labels is None else len(meta.labels),
        "transforms": [
            {"kind": kind, "text": text, "count": count}
            for kind, text, count in transform_counts(builder.nodes)
        ],
    }


def _value_summary(value: Value) -> dict[str, Any]:
    return {"name": value.name, "dtype": value.dtype, "shape": format_shape(value.shape)}


def _describe(
    builder: _Builder, graph: Graph, scope: Scope, title: str, owner: int | None, up: int | None
) -> None:
    """Add `graph` (then, depth first, the subgraphs of its nodes) to the builder."""
    g = _Graph(len(builder.graphs), graph, scope, title, owner, up)
    builder.graphs.append(g)
    constants = constant_inputs(graph)
    for i, value in enumerate(v for v in graph.inputs if v.name not in constants):
        ident = f"in{g.index}_{i}"
        _add_item(g, ident, "input", [value.name, f"{value.dtype or '?'} {format_shape(value.shape)}"])
        g.names.append("")
        g.item_ops.append(None)
        g.source[value.name] = len(g.items) - 1
        builder.values[f"{g.index}:{value.name}"] = ValueRow(
            value.dtype, format_shape(value.shape), ident, []
        )
    for node in graph.nodes:
        k = builder.ids[id(node)]
        item = len(g.items)
        _add_node(builder, g, node, k)
        for name in node.outputs:
            if name:
                g.source[name] = item
        for attr, sub in subgraph_attributes(node):  # subgraphs come right after their owner in walk order
            builder.nodes[k].subgraphs.append(SubgraphRow(attr, len(builder.graphs)))  # type: ignore[union-attr]
            inner = scope.enter(sub, f"{node_id(k)}/{attr}")
            _describe(builder, sub, inner, f"{node_id(k)} {node.op_type} · {attr}", k, g.index)
    for i, value in enumerate(graph.outputs):
        ident = f"out{g.index}_{i}"
        _add_item(g, ident, "output", [value.name, f"{value.dtype or '?'} {format_shape(value.shape)}"])
        g.names.append("")
        g.item_ops.append(None)
        source = g.source.get(value.name)
        if source is not None:
            g.edges.append((source, len(g.items) - 1))
            g.edge_values.append(value.name)
        known = builder.values.get(f"{g.index}:{value.name}")
        if known is not None:
            known.users.append(ident)


def _add_item(g: _Graph, ident: str, kind: str, lines: list[str], category: str | None = None) -> None:
    shown = [_short(line) for line in lines if line]
    w, h = box_size(shown)
    g.items.append(Item(ident, kind, shown, category or kind, w, h))


def _describe_source(builder: _Builder, graph: Graph, drawn: SourceGraph) -> list[LayerRow]:
    """Add the source graph (one box per source layer) to the builder; the layers' panel rows."""
    g = _Graph(len(builder.graphs), graph, Scope((graph,)), "source layers", None, None)
    builder.graphs.append(g)
    where: dict[str, int] = {}

    def add(ident: str, kind: str, lines: list[str], name: str, op: str | None, category: str | None) -> None:
        where[ident] = len(g.items)
        _add_item(g, ident, kind, lines, category)
        g.names.append(name)
        g.item_ops.append(op)

    for i, tensor in enumerate(drawn.inputs):
        add(
            f"sin{i}",
            "input",
            [tensor.name, f"{tensor.dtype or '?'} {format_shape(tensor.shape)}"],
            "",
            None,
            None,
        )
    node_ids = {node.name: node_id(builder.ids[id(node)]) for node in graph.nodes}
    rows = []
    for k, (layer, category) in enumerate(zip(drawn.layers, drawn.categories, strict=True)):
        shape = layer.outputs[0].shape if layer.outputs else None
        lines = [
            layer.type,
            layer.name if layer.name != layer.type else "",
            format_shape(shape) if shape else "",
        ]
        add(layer_id(k), "layer", lines, layer.name, layer.type, category)
        rows.append(
            LayerRow(
                id=layer_id(k),
                name=layer.name,
                type=layer.type,
                config=[SettingRow(str(key), _setting_text(value)) for key, value in layer.config.items()],
                inputs=[_source_tensor(builder, graph, t, False) for t in layer.inputs],
                outputs=[_source_tensor(builder, graph, t, False) for t in layer.outputs],
                weights=[_source_tensor(builder, graph, t, True) for t in layer.weights],
                nodes=[node_ids[n] for n in layer.nodes if n in node_ids],
                supported=layer.supported,
                note=layer.note,
            )
        )
    for i, tensor in enumerate(drawn.outputs):
        lines = [tensor.name, f"{tensor.dtype or '?'} {format_shape(tensor.shape)}"]
        add(f"sout{i}", "output", lines, "", None, None)
    for source, target, name in drawn.edges:
        g.edges.append((where[source], where[target]))
        g.edge_values.append(name)
    return rows


def _source_tensor(builder: _Builder, graph: Graph, tensor: SourceTensor, stored: bool) -> SourceTensorRow:
    """A source tensor's row; a stored weight that became an IR constant gets that constant's
    statistics (the same values, whatever order the layout pass put them in)."""
    key = None
    if stored and tensor.value and tensor.value in graph.tensors:
        key = f"0:{tensor.value}"
        builder.pending.setdefault(key, graph.tensors[tensor.value])
    shape = format_shape(tensor.shape) if tensor.shape is not None else "?"
    return SourceTensorRow(
        tensor.name, tensor.dtype, shape, tensor.layout, jsonable(tensor.quantization), tensor.value, key
    )


def _setting_text(value: Any) -> str:
    text = _attribute_text(value)
    return text if len(text) <= SETTING_WIDTH else text[: SETTING_WIDTH - 1] + "…"


def _add_node(builder: _Builder, g: _Graph, node: Node, k: int) -> None:
    op = op_key(node)
    version = builder.version(node.domain)
    scope = g.scope
    out_value = scope.value(node.outputs[0]) if node.outputs and node.outputs[0] else None
    third = format_shape(out_value.shape) if out_value is not None and out_value.shape is not None else ""
    lines = [op, node.name if node.name != node.op_type else "", third]
    shown = [_short(line) for line in lines if line]
    w, h = box_size(shown)
    g.items.append(Item(node_id(k), "node", shown, ops.category(node.op_type), w, h))
    g.names.append(node.name)
    g.item_ops.append(op)
    item = len(g.items) - 1

    inputs = []
    for position, name in enumerate(node.inputs):
        role = builder.role(node, version, position)
        if not name:
            inputs.append(InputRow(role, "", None, "", "omitted"))
            continue
        tensor = scope.tensor(name)
        if tensor is not None:
            key = f"{g.index}:{name}"
            builder.pending.setdefault(key, tensor)
            shape = format_shape(tensor.shape)
            record = builder.values.setdefault(key, ValueRow(tensor.dtype, shape, None, []))
            record.users.append(node_id(k))  # a weight: no producer, its users (so search finds them)
            inputs.append(InputRow(role, name, tensor.dtype, shape, "weight", key))
            continue
        value = scope.value(name)
        dtype = value.dtype if value else None
        shape = format_shape(value.shape) if value else "?"
        source = g.source.get(name)
        if source is not None:
            g.edges.append((source, item))
            g.edge_values.append(name)
        known = _known_value(builder, g, name)
        if known is not None:
            known.users.append(node_id(k))
        inputs.append(InputRow(role, name, dtype, shape, "value" if source is not None else "outer"))
    outputs = []
    for name in node.outputs:
        value = scope.value(name) if name else None
        dtype = value.dtype if value else None
        shape = format_shape(value.shape) if value else "?"
        outputs.append(OutputRow(name, dtype, shape))
        if name:
            builder.values[f"{g.index}:{name}"] = ValueRow(dtype, shape, node_id(k), [])

    attributes = []
    for attr, value in node.attributes.items():
        if isinstance(value, Graph) or (isinstance(value, list) and any(isinstance(v, Graph) for v in value)):
            continue
        text = _attribute_text(value)
        key = None
        if isinstance(value, Tensor):
            key = f"{g.index}:{node_id(k)}.{attr}"
            builder.pending[key] = value
            default = ops.is_default(node.op_type, node.domain, version, attr, value)
        else:
            default = builder.is_default(node, version, attr, value, text)
        attributes.append(AttributeRow(attr, text, default, key))
    schema_key = f"{node.domain}:{node.op_type}:{version}"
    if schema_key not in builder.operators:
        builder.operators[schema_key] = operator_doc(node.op_type, node.domain, version)
    prov = node.provenance
    builder.nodes[k] = NodeRow(
        id=node_id(k),
        name=node.name,
        op=op,
        domain=node.domain,
        graph=g.index,
        scope=scope.path,
        attributes=attributes,
        inputs=inputs,
        outputs=outputs,
        provenance=None
        if prov is None
        else ProvenanceRow(
            prov.framework, prov.layer, prov.layer_type, [StepRow(s.kind, s.text) for s in prov.steps]
        ),
        layout=node.layout,
        doc=node.doc,
        metadata={str(k): str(v) for k, v in node.metadata.items()},
        operator=schema_key if builder.operators[schema_key] else None,
        subgraphs=[],
        layers=[layer_id(j) for j in builder.owners.get(node.name, [])] if g.index == 0 else [],
    )


def _known_value(builder: _Builder, g: _Graph, name: str) -> ValueRow | None:
    """The value record of `name` as seen from graph g (its own, else an enclosing graph's)."""
    own = builder.values.get(f"{g.index}:{name}")
    if own is not None:
        return own
    index = g.owner
    while index is not None:
        owner_graph = builder.nodes[index].graph  # type: ignore[union-attr]
        found = builder.values.get(f"{owner_graph}:{name}")
        if found is not None:
            return found
        index = builder.graphs[owner_graph].owner
    return None


def _attribute_text(value: Any) -> str:
    if isinstance(value, list | tuple) and value and all(isinstance(v, int) for v in value):
        return "[" + ", ".join(map(str, value)) + "]"
    return format_value(jsonable(value))


def _sources_late(g: _Graph) -> None:
    """Reorder items so a node fed by no other item (Constant, ConstantOfShape) comes right before its
    first user: still a topological order, and scope runs and ranks then keep makers with users."""
    count = len(g.items)
    fed = [False] * count
    first_user = [count] * count
    for u, v in g.edges:
        fed[v] = True
        first_user[u] = min(first_user[u], v)
    late = [
        g.items[i].kind in ("node", "layer") and not fed[i] and first_user[i] < count for i in range(count)
    ]
    waiting: dict[int, list[int]] = {}
    for i in range(count):
        if late[i]:
            waiting.setdefault(first_user[i], []).append(i)
    order: list[int] = []
    for i in range(count):
        order.extend(waiting.get(i, []))
        if not late[i]:
            order.append(i)
    where = {old: new for new, old in enumerate(order)}
    g.items = [g.items[i] for i in order]
    g.names = [g.names[i] for i in order]
    g.item_ops = [g.item_ops[i] for i in order]
    g.edges = [(where[u], where[v]) for u, v in g.edges]


def _graph_view(g: _Graph, expand: bool) -> dict[str, Any]:
    """Items, groups with their level layouts, and edges of one graph, as compact arrays; `open`
    lists the groups open at first (all of them with `expand`)."""
    _sources_late(g)
    tree = build_tree(g.names, g.item_ops, g.edges)
    labels = [
        [f"▸ {_short(group.label or 'model')}", f"{group.size} nodes", describe_ops(group.ops, 3)]
        for group in tree.groups
    ]
    group_sizes = [box_size(lines) for lines in labels]

    def size(kind: str, index: int) -> tuple[float, float]:
        return (g.items[index].w, g.items[index].h) if kind == "item" else group_sizes[index]

    levels, placed = layout(tree, g.edges, size)
    groups = []
    for group, level, lines, (w, h) in zip(tree.groups, levels, labels, group_sizes, strict=True):
        members = [i if kind == "item" else -(i + 1) for kind, i in group.members]
        groups.append(
            GroupRow(
                group.name,
                lines,
                group.parent,
                w,
                h,
                members,
                level.rank,
                level.order,
                level.virtual,
                level.edges,
            )
        )
    edges = [
        EdgeRow(u, v, name, lv, le)
        for (u, v), name, (lv, le) in zip(g.edges, g.edge_values, placed, strict=True)
    ]
    return {
        "title": g.title,
        "owner": g.owner,
        "up": g.up,
        "open": list(range(len(tree.groups))) if expand else sorted(expanded_within(tree, OPEN_BUDGET)),
        "items": g.items,
        "names": g.names,
        "parent": tree.parent,
        "groups": groups,
        "edges": edges,
    }
