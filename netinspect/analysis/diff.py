"""`netinspect diff A B`: what changed between two models, of any formats the readers know (data
only; renderers/diff_text.py prints it).

Nodes are matched by name first (a converted model keeps its source's node names), then the
rest by aligning their operator sequences, so a renamed node reads as changed rather than as one
removal plus one addition. Weights are compared by name, and by position among the inputs of
matched nodes (so MatConvNet `conv1f` and ONNX `conv1_weight` still meet); one pair of
weights is loaded at a time.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netinspect.ir import Function, Graph, Metadata, Node, Tensor
from netinspect.jsonsafe import finite
from netinspect.registry import LoadOptions, load
from netinspect.renderers.formatting import format_shape
from netinspect.walk import op_key, op_name

ATTRIBUTE_RTOL = 1e-6


@dataclass
class NodeChange:
    a: str
    b: str
    op_type: str
    changes: list[str]


@dataclass
class WeightDiff:
    a: str
    b: str
    matched_by: str
    """"name" or "position" (the k-th weight input of a matched node)."""
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...]
    max_abs_diff: float | None
    """None when the shapes or dtypes differ, so values cannot be compared."""
    dtype_a: str = ""
    dtype_b: str = ""


@dataclass
class DiffResult:
    a: str
    b: str
    added: list[tuple[str, str]] = field(default_factory=list)
    """(node name, op) only in B."""
    removed: list[tuple[str, str]] = field(default_factory=list)
    """(node name, op) only in A."""
    changed: list[NodeChange] = field(default_factory=list)
    unchanged: int = 0
    interface: list[str] = field(default_factory=list)
    """Differences of graph inputs and outputs (names, dtypes, shapes)."""
    model: list[str] = field(default_factory=list)
    """Differences of the model as a whole: IR version, producer, opsets, doc strings, metadata,
    functions."""
    weights: list[WeightDiff] = field(default_factory=list)
    weights_compared: bool = True

    @property
    def identical(self) -> bool:
        weights_equal = all(w.max_abs_diff == 0.0 for w in self.weights)
        differ = self.added or self.removed or self.changed or self.interface or self.model
        return not differ and weights_equal


def diff_files(
    a: str | Path, b: str | Path, weights: bool = True, options: LoadOptions | None = None
) -> DiffResult:
    """Two model files compared; `options` read both (as `convert` would read each)."""
    return diff_graphs(load(a, options), load(b, options), str(a), str(b), weights=weights)


def diff_graphs(a: Graph, b: Graph, name_a: str = "A", name_b: str = "B", weights: bool = True) -> DiffResult:
    result = DiffResult(name_a, name_b, weights_compared=weights)
    result.interface = _interface(a, b)
    result.model = _model(a, b)
    pairs = _match_nodes(a.nodes, b.nodes)
    matched_a = {id(x) for x, _ in pairs}
    matched_b = {id(y) for _, y in pairs}
    result.removed = [(n.name, n.op_type) for n in a.nodes if id(n) not in matched_a]
    result.added = [(n.name, n.op_type) for n in b.nodes if id(n) not in matched_b]
    for node_a, node_b in pairs:
        changes = _node_changes(a, b, node_a, node_b)
        if changes:
            result.changed.append(NodeChange(node_a.name, node_b.name, node_a.op_type, changes))
        else:
            result.unchanged += 1
    if weights:
        result.weights = _weight_diffs(a, b, pairs)
    return result


def _match_nodes(nodes_a: list[Node], nodes_b: list[Node]) -> list[tuple[Node, Node]]:
    by_name = {n.name: n for n in nodes_b if n.name}
    pairs = [(n, by_name[n.name]) for n in nodes_a if n.name and n.name in by_name]
    taken_a = {id(x) for x, _ in pairs}
    taken_b = {id(y) for _, y in pairs}
    rest_a = [n for n in nodes_a if id(n) not in taken_a]
    rest_b = [n for n in nodes_b if id(n) not in taken_b]
    matcher = difflib.SequenceMatcher(
        a=[n.op_type for n in rest_a], b=[n.op_type for n in rest_b], autojunk=False
    )
    for block in matcher.get_matching_blocks():
        pairs.extend(
            zip(rest_a[block.a : block.a + block.size], rest_b[block.b : block.b + block.size], strict=True)
        )
    order = {id(n): i for i, n in enumerate(nodes_a)}
    return sorted(pairs, key=lambda p: order[id(p[0])])


def _shape_text(graph: Graph, name: str) -> str:
    value = graph.value(name)
    return format_shape(None if value is None else value.shape)


def _interface(a: Graph, b: Graph) -> list[str]:
    out = []
    for kind, values_a, values_b in (("input", a.inputs, b.inputs), ("output", a.outputs, b.outputs)):
        names_b = [v.name for v in values_b]
        if [v.name for v in values_a] != names_b:
            out.append(f"{kind}s: {', '.join(v.name for v in values_a)} → {', '.join(names_b)}")
        for va, vb in zip(values_a, values_b, strict=False):
            if va.dtype != vb.dtype and va.dtype and vb.dtype:
                out.append(f"{kind} {va.name}: dtype {va.dtype} → {vb.dtype}")
            if va.shape != vb.shape:
                out.append(f"{kind} {va.name}: shape {_shape_text(a, va.name)} → {_shape_text(b, vb.name)}")
    return out


def _model(a: Graph, b: Graph) -> list[str]:
    """Model-level differences, one line each ("IR version: 8 → 10"). ONNX-only facts (IR and model
    version) are compared only when both models have them, so a .mat and its ONNX conversion differ
    only in what really differs (the program that wrote the file)."""
    ma, mb = a.metadata, b.metadata
    out = []
    onnx_only = (ma.ir_version is not None and mb.ir_version is not None) or None
    fields = (
        ("format", ma.source_format, mb.source_format),
        ("IR version", onnx_only and ma.ir_version, onnx_only and mb.ir_version),
        ("producer", ma.producer, mb.producer),
        ("source producer", _source_producer(ma), _source_producer(mb)),
        ("model version", onnx_only and ma.model_version, onnx_only and mb.model_version),
        ("model domain", ma.domain, mb.domain),
        ("model doc", ma.doc, mb.doc),
        ("graph doc", a.doc, b.doc),
        ("labels", ma.labels, mb.labels),
        ("label descriptions", ma.label_descriptions, mb.label_descriptions),
        ("preprocessing", ma.preprocessing, mb.preprocessing),
        ("notes", ma.notes, mb.notes),
    )
    for what, x, y in fields:
        if x != y:
            out.append(f"{what}: {_short(x)} → {_short(y)}")
    out += _keyed("opset", _opsets(a), _opsets(b))
    out += _keyed("metadata", ma.properties, mb.properties)
    functions_a = {op_name(f.domain, f.name): f for f in a.functions}
    functions_b = {op_name(f.domain, f.name): f for f in b.functions}
    for name in sorted(set(functions_a) | set(functions_b)):
        fa, fb = functions_a.get(name), functions_b.get(name)
        if fa is None or fb is None:
            out.append(f"function {name} {'added' if fa is None else 'removed'}")
        elif not _same_function(fa, fb):
            out.append(f"function {name} changed")
    return out


def _opsets(graph: Graph) -> dict[str, int]:
    return {domain or "ai.onnx": version for domain, version in graph.opset.items()}


def _source_producer(meta: Metadata) -> str:
    """Who wrote the model's original file: recorded by netinspect on conversion, else the producer."""
    return " ".join(p for p in meta.source_producer if p) if meta.source_producer else meta.producer


def _keyed(what: str, x: dict[str, Any], y: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(x) | set(y)):
        if key not in y:
            out.append(f"{what} {key} removed (was {_short(x[key])})")
        elif key not in x:
            out.append(f"{what} {key} added ({_short(y[key])})")
        elif x[key] != y[key]:
            out.append(f"{what} {key}: {_short(x[key])} → {_short(y[key])}")
    return out


def _same_function(x: Function, y: Function) -> bool:
    if (x.inputs, x.outputs, x.attributes, x.opset) != (y.inputs, y.outputs, y.attributes, y.opset):
        return False
    if not _same_value(x.attribute_defaults, y.attribute_defaults) or len(x.nodes) != len(y.nodes):
        return False
    empty = Graph("", [], [])
    return all(not _node_changes(empty, empty, p, q) for p, q in zip(x.nodes, y.nodes, strict=True))


def _node_changes(a: Graph, b: Graph, x: Node, y: Node) -> list[str]:
    changes = []
    if (x.domain, x.op_type) != (y.domain, y.op_type):
        changes.append(f"op {op_key(x)} → {op_key(y)}")
    for key in sorted(set(x.attributes) | set(y.attributes)):
        if key not in y.attributes:
            changes.append(f"attribute {key} removed (was {_short(x.attributes[key])})")
        elif key not in x.attributes:
            changes.append(f"attribute {key} added ({_short(y.attributes[key])})")
        elif not _same_value(x.attributes[key], y.attributes[key]):
            changes.append(f"attribute {key}: {_short(x.attributes[key])} → {_short(y.attributes[key])}")
    if x.doc != y.doc:
        changes.append(f"doc: {_short(x.doc)} → {_short(y.doc)}")
    changes += _keyed("metadata", x.metadata, y.metadata)
    if len([i for i in x.inputs if i]) != len([i for i in y.inputs if i]):
        changes.append(f"inputs: {len([i for i in x.inputs if i])} → {len([i for i in y.inputs if i])}")
    for role, names_x, names_y in (("input", x.inputs, y.inputs), ("output", x.outputs, y.outputs)):
        for index, (nx, ny) in enumerate(zip(names_x, names_y, strict=False)):
            if not nx or not ny:
                continue
            sx, sy = _shape_text(a, nx), _shape_text(b, ny)
            if sx != sy and "?" not in (sx, sy):
                changes.append(f"{role} {index} shape {sx} → {sy}")
    return changes


def _same_value(u: Any, v: Any) -> bool:
    if isinstance(u, Tensor) and isinstance(v, Tensor):
        return u.shape == v.shape and u.dtype == v.dtype and bool(np.array_equal(u.numpy(), v.numpy()))
    if isinstance(u, Graph) and isinstance(v, Graph):
        return not (diff_graphs(u, v, weights=False).changed or len(u.nodes) != len(v.nodes))
    if isinstance(u, float) or isinstance(v, float):
        return (
            isinstance(u, int | float)
            and isinstance(v, int | float)
            and math.isclose(u, v, rel_tol=ATTRIBUTE_RTOL)
        )
    if isinstance(u, list) and isinstance(v, list):
        return len(u) == len(v) and all(_same_value(p, q) for p, q in zip(u, v, strict=True))
    if isinstance(u, dict) and isinstance(v, dict):
        return u.keys() == v.keys() and all(_same_value(u[k], v[k]) for k in u)
    return u == v


def _short(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"tensor {value.dtype}{list(value.shape)}"
    if isinstance(value, Graph):
        return f"subgraph ({len(value.nodes)} nodes)"
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _weight_diffs(a: Graph, b: Graph, pairs: list[tuple[Node, Node]]) -> list[WeightDiff]:
    diffs: list[WeightDiff] = []
    done_a: set[str] = set()
    done_b: set[str] = set()
    for name in a.tensors:
        if name in b.tensors:
            diffs.append(_compare_tensors(a.tensors[name], b.tensors[name], "name"))
            done_a.add(name)
            done_b.add(name)
    for x, y in pairs:
        weights_x = [i for i in x.inputs if i in a.tensors]
        weights_y = [i for i in y.inputs if i in b.tensors]
        for tx, ty in zip(weights_x, weights_y, strict=False):
            if tx in done_a or ty in done_b:
                continue
            diffs.append(_compare_tensors(a.tensors[tx], b.tensors[ty], "position"))
            done_a.add(tx)
            done_b.add(ty)
    return diffs


def _compare_tensors(x: Tensor, y: Tensor, how: str) -> WeightDiff:
    diff = WeightDiff(x.name, y.name, how, x.shape, y.shape, None, x.dtype, y.dtype)
    if x.shape != y.shape:
        return diff
    u, v = x.numpy(), y.numpy()
    if u.dtype.kind not in "biuf" or v.dtype.kind not in "biuf":
        diff.max_abs_diff = 0.0 if np.array_equal(u, v) else None
        return diff
    if u.size:
        delta = np.abs(u.astype(np.float64) - v.astype(np.float64))
        diff.max_abs_diff = float(np.nanmax(delta)) if not np.isnan(delta).all() else math.nan
    else:
        diff.max_abs_diff = 0.0
    return diff


def to_json(result: DiffResult) -> dict[str, Any]:
    return {
        "a": result.a,
        "b": result.b,
        "identical": result.identical,
        "interface": result.interface,
        "model": result.model,
        "nodes": {
            "unchanged": result.unchanged,
            "added": [{"name": n, "op_type": op} for n, op in result.added],
            "removed": [{"name": n, "op_type": op} for n, op in result.removed],
            "changed": [
                {"a": c.a, "b": c.b, "op_type": c.op_type, "changes": c.changes} for c in result.changed
            ],
        },
        "weights": None
        if not result.weights_compared
        else [
            {
                "a": w.a,
                "b": w.b,
                "matched_by": w.matched_by,
                "shape_a": list(w.shape_a),
                "shape_b": list(w.shape_b),
                "dtype_a": w.dtype_a,
                "dtype_b": w.dtype_b,
                "max_abs_diff": finite(w.max_abs_diff),
            }
            for w in result.weights
        ],
    }
