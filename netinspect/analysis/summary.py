"""What `netinspect info` reports: a JSON-ready dict with a stable, versioned schema.

The summary is computed from shapes and dtypes only. It never calls `Tensor.numpy()`, so a 1 GB
model is summarised without reading its weights (the memory target for `info`). Compute is an
estimate of the multiply-accumulates of the heavy operators (Conv, ConvTranspose, Gemm, MatMul)
for the declared input shapes: every symbolic dimension is taken as 1 (so a symbolic batch gives
the cost per batch item) and listed, so the caller can scale.
The schema is netinspect/schemas/info.schema.json; bump SCHEMA_VERSION on any breaking change.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netinspect.ir import (
    Graph,
    MapType,
    Node,
    OptionalType,
    Preprocessing,
    SequenceType,
    SourceLayer,
    SourceTensor,
    Tensor,
    TensorType,
    Value,
    dtype_itemsize,
    type_string,
)
from netinspect.jsonsafe import finite
from netinspect.walk import (
    Scope,
    all_graphs,
    constant_inputs,
    node_id,
    op_key,
    walk_scoped,
)

SCHEMA_VERSION = 2
"""2: `source` (the file's own layers) added."""
COMPUTE_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")
LABELS_SHOWN = 5
UNKNOWN_NODES_LISTED = 20
LONG_LIST = 64


# --- compute estimates ---------------------------------------------------------------------------


@dataclass
class _Dims:
    """Turns shapes into integers for the estimate, remembering which symbolic names were taken as 1."""

    symbolic: set[str] = field(default_factory=set)

    def ints(self, shape: tuple | None) -> list[int] | None:
        if shape is None:
            return None
        out: list[int] = []
        for d in shape:
            if isinstance(d, bool) or d is None:
                return None
            if isinstance(d, str):
                self.symbolic.add(d)
                out.append(1)
            elif isinstance(d, int | np.integer) and d >= 0:
                out.append(int(d))
            else:
                return None
        return out


def _shape(scope: Scope, node: Node, index: int, outputs: bool = False) -> tuple | None:
    names = node.outputs if outputs else node.inputs
    if index >= len(names) or not names[index]:
        return None
    known = scope.value(names[index])
    return None if known is None else known.shape


def _ints_attr(node: Node, name: str, default: list[int]) -> list[int]:
    value = node.attributes.get(name)
    return [int(v) for v in value] if isinstance(value, list | tuple) and value else default


def _conv_output_spatial(node: Node, x_spatial: list[int], kernel: list[int]) -> list[int] | None:
    """Conv output size from the ONNX attribute rules, for graphs whose readers left it unknown."""
    n = len(x_spatial)
    strides = _ints_attr(node, "strides", [1] * n)
    dilations = _ints_attr(node, "dilations", [1] * n)
    pads = _ints_attr(node, "pads", [0] * (2 * n))
    auto_pad = node.attributes.get("auto_pad", "NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if not (len(strides) == len(dilations) == len(kernel) == n and len(pads) == 2 * n):
        return None
    out = []
    for i in range(n):
        extent = dilations[i] * (kernel[i] - 1) + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(-(-x_spatial[i] // strides[i]))
        else:
            padded = x_spatial[i] + (0 if auto_pad == "VALID" else pads[i] + pads[i + n])
            out.append((padded - extent) // strides[i] + 1)
    return out if all(d > 0 for d in out) else None


def _conv_macs(node: Node, scope: Scope, dims: _Dims) -> int | None:
    """Output elements × (Cin/group × kernel size): the formula N·Cout·Hout·Wout·(Cin/group)·kH·kW."""
    x = dims.ints(_shape(scope, node, 0))
    w = dims.ints(_shape(scope, node, 1))
    y = dims.ints(_shape(scope, node, 0, outputs=True))
    if w is not None and len(w) >= 3:
        per_output = math.prod(w[1:])
        kernel = w[2:]
        out_channels = w[0]
    else:
        kernel = _ints_attr(node, "kernel_shape", [])
        group = int(node.attributes.get("group", 1))
        if x is None or len(x) < 3 or not kernel or y is None or group < 1:
            return None
        per_output = x[1] // group * math.prod(kernel)
        out_channels = y[1]
    if y is None or len(y) < 3:
        if x is None or len(x) != len(kernel) + 2:
            return None
        spatial = _conv_output_spatial(node, x[2:], kernel)
        if spatial is None:
            return None
        y = [x[0], out_channels, *spatial]
    return math.prod(y) * per_output


def _conv_transpose_macs(node: Node, scope: Scope, dims: _Dims) -> int | None:
    """Every input element is scattered through Cout/group × kernel weights: |X| · prod(W[1:])."""
    x = dims.ints(_shape(scope, node, 0))
    w = dims.ints(_shape(scope, node, 1))
    if x is None or w is None or len(w) < 3:
        return None
    return math.prod(x) * math.prod(w[1:])


def _gemm_macs(node: Node, scope: Scope, dims: _Dims) -> int | None:
    """M·K·N, reading A and B through transA/transB; M·N from the output when A is unknown."""
    a = dims.ints(_shape(scope, node, 0))
    b = dims.ints(_shape(scope, node, 1))
    y = dims.ints(_shape(scope, node, 0, outputs=True))
    if b is None or len(b) != 2:
        return None
    k, n = (b[1], b[0]) if node.attributes.get("transB", 0) else (b[0], b[1])
    if a is not None and len(a) == 2:
        m = a[1] if node.attributes.get("transA", 0) else a[0]
        return m * k * n
    return math.prod(y) * k if y is not None and len(y) == 2 else None


def _matmul_macs(node: Node, scope: Scope, dims: _Dims) -> int | None:
    """numpy.matmul semantics: batch × M·K·N (1-D operands promoted); |Y|·K when A is unknown."""
    a = dims.ints(_shape(scope, node, 0))
    b = dims.ints(_shape(scope, node, 1))
    if not b:
        return None
    b = [*b, 1] if len(b) == 1 else b
    if not a:
        y = dims.ints(_shape(scope, node, 0, outputs=True))
        return None if y is None else math.prod(y) * b[-2]
    a = [1, *a] if len(a) == 1 else a
    batch_a, batch_b = a[:-2], b[:-2]
    width = max(len(batch_a), len(batch_b))
    batch_a = [1] * (width - len(batch_a)) + batch_a
    batch_b = [1] * (width - len(batch_b)) + batch_b
    batch = math.prod(max(p, q) for p, q in zip(batch_a, batch_b, strict=True))
    return batch * a[-2] * a[-1] * b[-1]


_ESTIMATORS = {
    "Conv": _conv_macs,
    "ConvTranspose": _conv_transpose_macs,
    "Gemm": _gemm_macs,
    "MatMul": _matmul_macs,
}


def node_macs(node: Node, scope: Scope, symbolic: set[str] | None = None) -> int | None:
    """Multiply-accumulates of one node (symbolic dims as 1), or None when unknown or not estimated."""
    estimate = _ESTIMATORS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if estimate is None:
        return None
    dims = _Dims()
    macs = estimate(node, scope, dims)
    if macs is not None and symbolic is not None:
        symbolic |= dims.symbolic
    return macs


def _compute(walked: list[tuple[Node, Scope]]) -> dict[str, Any]:
    by_op: dict[str, dict[str, int]] = {}
    unknown: list[str] = []
    symbolic: set[str] = set()
    total = 0
    for index, (node, scope) in enumerate(walked):
        if node.op_type not in _ESTIMATORS or node.domain not in ("", "ai.onnx"):
            continue
        row = by_op.setdefault(node.op_type, {"nodes": 0, "macs": 0, "flops": 0, "unknown": 0})
        macs = node_macs(node, scope, symbolic)
        if macs is None:
            row["unknown"] += 1
            unknown.append(node.name or node_id(index))
            continue
        row["nodes"] += 1
        row["macs"] += macs
        row["flops"] += 2 * macs
        total += macs
    return {
        "macs": total,
        "flops": 2 * total,
        "ops_counted": list(COMPUTE_OPS),
        "by_op": dict(sorted(by_op.items())),
        "unknown": {"count": len(unknown), "nodes": unknown[:UNKNOWN_NODES_LISTED]},
        "symbolic_dims_as_1": sorted(symbolic),
        "note": (
            "FLOPs = 2 × MACs of Conv, ConvTranspose, Gemm and MatMul only (bias adds, activations and "
            "other operators not counted), for the declared input shapes with every symbolic dimension "
            "taken as 1 (so a symbolic batch gives the cost per batch item); nodes whose shapes are unknown "
            "are counted under 'unknown' and excluded; subgraph bodies are counted once."
        ),
    }


# --- the other sections ------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Attribute and metadata values as JSON: tensors by shape only, never their bytes."""
    if isinstance(value, Tensor):
        return {"tensor": value.name, "dtype": value.dtype, "shape": list(value.shape)}
    if isinstance(value, Graph):
        return {"graph": value.name, "nodes": len(value.nodes)}
    if isinstance(value, TensorType | SequenceType | MapType | OptionalType):
        return type_string(value)  # an ONNX type attribute (Optional's `type`)
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return finite(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"bytes": len(value)}
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.size <= LONG_LIST else value.ravel()[:LONG_LIST].tolist()
    if isinstance(value, list | tuple):
        items = [jsonable(v) for v in value[:LONG_LIST]]
        return items if len(value) <= LONG_LIST else {"length": len(value), "first": items}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def _shape_json(shape: tuple | None) -> list | None:
    return None if shape is None else [d if isinstance(d, str) or d is None else int(d) for d in shape]


def _value_json(value: Value | None, name: str) -> dict[str, Any]:
    if value is None:
        return {"name": name, "dtype": None, "shape": None}
    return {"name": name, "dtype": value.dtype, "shape": _shape_json(value.shape)}


Constant = tuple[str, str, int | None]
"""(source, dtype, element count or None when unknown) of one constant tensor."""


def _constant_tensors(walked: list[tuple[Node, Scope]], graph: Graph) -> Iterator[Constant]:
    """Every constant the model holds.

    Initializers, Constant node values, and the tensors a ConstantOfShape fills from a constant
    shape (some exporters store weights that way) — sized from the inferred output shape, since
    reading even the small shape tensor would break the rule that `info` reads no tensor bytes.
    """
    for g in all_graphs(graph):
        for tensor in g.tensors.values():
            yield "initializer", tensor.dtype, tensor.size
    for node, scope in walked:
        if node.domain not in ("", "ai.onnx"):
            continue
        if node.op_type == "Constant":
            for attr, value in node.attributes.items():
                if isinstance(value, Tensor):
                    yield "constant", value.dtype, value.size
                elif attr in ("value_float", "value_int"):
                    yield "constant", "float32" if attr == "value_float" else "int64", 1
                elif attr in ("value_floats", "value_ints") and isinstance(value, list):
                    yield "constant", "float32" if attr == "value_floats" else "int64", len(value)
        elif node.op_type == "ConstantOfShape" and node.inputs and scope.tensor(node.inputs[0]) is not None:
            yield _filled(node, scope)


def _filled(node: Node, scope: Scope) -> Constant:
    """The tensor a ConstantOfShape makes: dtype from its fill value, size from its output shape."""
    fill = node.attributes.get("value")
    out = scope.value(node.outputs[0]) if node.outputs else None
    dtype = fill.dtype if isinstance(fill, Tensor) else "float32"
    if out is None or out.shape is None or not all(isinstance(d, int) for d in out.shape):
        return "constant_of_shape", dtype, None
    return "constant_of_shape", dtype, math.prod(out.shape)


def _parameters(walked: list[tuple[Node, Scope]], graph: Graph) -> dict[str, Any]:
    by_dtype: dict[str, dict[str, int]] = {}
    by_source: dict[str, dict[str, int]] = {}
    unknown = 0
    for source, dtype, size in _constant_tensors(walked, graph):
        if size is None:
            unknown += 1
            continue
        nbytes = size * dtype_itemsize(dtype)
        for row in (by_dtype.setdefault(dtype, _zero()), by_source.setdefault(source, _zero())):
            row["tensors"] += 1
            row["count"] += size
            row["bytes"] += nbytes
    summary = {
        "count": sum(r["count"] for r in by_dtype.values()),
        "bytes": sum(r["bytes"] for r in by_dtype.values()),
        "tensors": sum(r["tensors"] for r in by_dtype.values()),
        "unknown_tensors": unknown,
        "by_dtype": dict(sorted(by_dtype.items())),
        "by_source": by_source,
    }
    missing = [t for g in all_graphs(graph) for t in g.tensors.values() if t.missing]
    if missing:
        summary["missing_data"] = {
            "tensors": len(missing),
            "bytes": sum(t.nbytes for t in missing),
            "files": dict(Counter(str(t.missing) for t in missing)),
            "names": [t.name for t in missing[:LONG_LIST]],
        }
    return summary


def parameter_count(graph: Graph) -> int:
    """The model's parameters as `info` counts them (initializers, Constant and ConstantOfShape
    values, subgraphs included), for every command that reports a count."""
    return _parameters(list(walk_scoped(graph)), graph)["count"]


def _zero() -> dict[str, int]:
    return {"tensors": 0, "count": 0, "bytes": 0}


def _preprocessing(pre: Preprocessing) -> dict[str, Any] | None:
    if pre.is_empty():
        return None
    mean_image = pre.mean_image
    return {
        "mean": jsonable(pre.mean),
        "mean_image": None
        if mean_image is None
        else {"dtype": mean_image.dtype, "shape": list(mean_image.shape)},
        "std": jsonable(pre.std),
        "image_size": jsonable(pre.image_size),
        "channel_order": pre.channel_order,
        "input_layout": pre.input_layout,
        "value_range": jsonable(pre.value_range),
        "extra": jsonable(pre.extra),
    }


def _metadata(graph: Graph) -> dict[str, Any]:
    meta = graph.metadata
    labels = None
    if meta.labels is not None:
        labels = {"count": len(meta.labels), "first": [str(x) for x in meta.labels[:LABELS_SHOWN]]}
        if meta.label_descriptions:
            labels["descriptions_first"] = [str(x) for x in meta.label_descriptions[:LABELS_SHOWN]]
    return {
        "preprocessing": _preprocessing(meta.preprocessing),
        "labels": labels,
        "properties": {str(k): str(v) for k, v in meta.properties.items()},
        "notes": [str(n) for n in meta.notes],
    }


def transform_counts(nodes: Iterable[Node | None]) -> list[tuple[str, str, int]]:
    """Each distinct transform (kind, text) and how many nodes it was applied to, most applied
    first and ties by kind and text, so one model always lists them in one order."""
    transforms: Counter[tuple[str, str]] = Counter()
    for node in nodes:
        if node is not None and node.provenance is not None:
            transforms.update({(step.kind, step.text) for step in node.provenance.steps})
    ordered = sorted(transforms.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(kind, text, count) for (kind, text), count in ordered]


def _provenance(graph: Graph) -> dict[str, Any]:
    frameworks: dict[str, dict[str, Any]] = {}
    for node in graph.walk():
        prov = node.provenance
        if prov is None:
            continue
        row = frameworks.setdefault(
            prov.framework, {"nodes": 0, "nodes_with_steps": 0, "steps": Counter(), "layer_types": Counter()}
        )
        row["nodes"] += 1
        row["nodes_with_steps"] += bool(prov.steps)
        row["layer_types"][prov.layer_type] += 1
        row["steps"].update(step.kind for step in prov.steps)
    return {
        "nodes": sum(r["nodes"] for r in frameworks.values()),
        "frameworks": {
            name: {
                **row,
                "steps": dict(sorted(row["steps"].items())),
                "layer_types": dict(row["layer_types"]),
            }
            for name, row in sorted(frameworks.items())
        },
        "transforms": [
            {"kind": kind, "text": text, "nodes": count}
            for kind, text, count in transform_counts(graph.walk())
        ],
    }


def _node_json(index: int, node: Node, scope: Scope) -> dict[str, Any]:
    inputs, weights = [], []
    for position, name in enumerate(node.inputs):
        if not name:
            continue
        tensor = scope.tensor(name)
        entry = {"index": position, **_value_json(scope.value(name), name)}
        (weights if tensor is not None else inputs).append(entry)
    prov = node.provenance
    return {
        "id": node_id(index),
        "name": node.name,
        "op": node.op_type,
        "domain": node.domain,
        "scope": scope.path,
        "inputs": inputs,
        "weights": weights,
        "outputs": [_value_json(scope.value(name), name) for name in node.outputs if name],
        "attributes": {k: jsonable(v) for k, v in node.attributes.items()},
        "macs": node_macs(node, scope),
        "provenance": None
        if prov is None
        else {
            "framework": prov.framework,
            "layer": prov.layer,
            "layer_type": prov.layer_type,
            "steps": [{"kind": s.kind, "text": s.text} for s in prov.steps],
        },
    }


CONFIG_HIDDEN = (
    "name", "trainable", "dtype", "batch_input_shape", "batch_shape", "build_config", "module",
    "registered_name", "input_dtype", "sparse", "ragged", "input_dim", "input_length",
    "learningRate", "weightDecay", "opts",
)  # fmt: skip
CONFIG_HIDDEN_ENDINGS = ("_initializer", "_regularizer", "_constraint", "_init")
CONFIG_SUMMARY_CHARS = 80
CONFIG_FIRST = (
    "filters", "units", "num_output", "kernel_size", "pool_size", "strides", "stride", "pad",
    "padding", "method", "activation", "use_bias", "rate", "axis",
)  # fmt: skip
"""Entries a reader of the configuration looks for first; the others follow in the file's order."""


def config_summary(config: dict[str, Any]) -> str:
    """The entries of a layer configuration a reader scans first (filters=16, kernel_size=[3, 3],
    padding=same…), skipping names, initializers, regularizers, nested configs and long lists."""
    parts: list[str] = []
    entries = []
    for key, value in config.items():  # Caffe's convolution_param { … } and the like: its fields
        nested = isinstance(value, dict) and key.endswith("_param")
        entries.extend(value.items() if nested else [(key, value)])
    rank = {key: k for k, key in enumerate(CONFIG_FIRST)}
    entries.sort(key=lambda entry: rank.get(entry[0], len(rank)))
    for key, value in entries:
        if key in CONFIG_HIDDEN or key.endswith(CONFIG_HIDDEN_ENDINGS) or value is None:
            continue
        if isinstance(value, dict) or (isinstance(value, list) and (len(value) > 8 or any(
            isinstance(v, dict | list) for v in value
        ))):  # fmt: skip
            continue
        shown = "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
        if not shown.isprintable():  # a Lambda's marshalled bytecode, binary options
            continue
        parts.append(f"{key}={shown[:40]}")
    text = ", ".join(parts)
    return text if len(text) <= CONFIG_SUMMARY_CHARS else text[: CONFIG_SUMMARY_CHARS - 1] + "…"


def _source_tensor_json(tensor: SourceTensor) -> dict[str, Any]:
    return {
        "name": tensor.name,
        "shape": _shape_json(tensor.shape),
        "dtype": tensor.dtype,
        "layout": tensor.layout,
        "quantization": None if tensor.quantization is None else jsonable(tensor.quantization),
        "value": tensor.value,
    }


def _source_layer_json(layer: SourceLayer) -> dict[str, Any]:
    parameters = sum(
        math.prod(d for d in w.shape if isinstance(d, int))
        for w in layer.weights
        if w.shape is not None and all(isinstance(d, int) for d in w.shape)
    )
    return {
        "name": layer.name,
        "type": layer.type,
        "config": jsonable(layer.config),
        "summary": config_summary(layer.config),
        "inputs": [_source_tensor_json(t) for t in layer.inputs],
        "outputs": [_source_tensor_json(t) for t in layer.outputs],
        "weights": [_source_tensor_json(t) for t in layer.weights],
        "parameters": parameters,
        "nodes": list(layer.nodes),
        "supported": layer.supported,
        "note": layer.note,
    }


def _source(graph: Graph) -> dict[str, Any] | None:
    """The file's own layers (None for an ONNX file, whose graph is its source)."""
    if not graph.source_layers:
        return None
    untranslated = graph.untranslated()
    return {
        "framework": graph.metadata.source_format,
        "layers": [_source_layer_json(layer) for layer in graph.source_layers],
        "untranslated": {
            "count": len(untranslated),
            "types": dict(Counter(layer.type for layer in untranslated)),
            "convert_refuses": None if graph.refusal is None else str(graph.refusal),
        },
    }


def _evaluated_at(graph: Graph, sized: Graph) -> dict[str, int]:
    """The symbolic input dims `sized` gives a size to, e.g. {"H": 224, "W": 224}."""
    at: dict[str, int] = {}
    given = {v.name: v.shape for v in sized.inputs}
    for value in graph.inputs:
        for dim, size in zip(value.shape or (), given.get(value.name) or (), strict=False):
            if isinstance(dim, str) and isinstance(size, int):
                at[dim] = size
    return at


def summarize(graph: Graph, nodes: bool = False, sized: Graph | None = None) -> dict[str, Any]:
    """The `info` report for a graph; with `nodes`, one entry per node (subgraph nodes included).

    `sized` is the same model loaded with its free input dims given sizes (a nominal image size,
    `info --dim`): compute and node shapes come from it, inputs and outputs from `graph`.
    """
    constants = constant_inputs(graph)
    walked = list(walk_scoped(graph))
    measured = walked if sized is None else list(walk_scoped(sized))
    meta = graph.metadata
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": {"name": graph.name, "doc": meta.doc},
        "format": {
            "source_format": meta.source_format,
            "format_version": meta.format_version,
            "producer": meta.producer,
        },
        "opset": {(domain or "ai.onnx"): int(version) for domain, version in sorted(graph.opset.items())},
        "inputs": [_value_json(v, v.name) for v in graph.inputs if v.name not in constants],
        "outputs": [_value_json(v, v.name) for v in graph.outputs],
        "nodes": {
            "count": len(graph.nodes),
            "total": len(walked),
            "subgraphs": sum(1 for _ in all_graphs(graph)) - 1,
        },
        "ops": dict(sorted(Counter(op_key(n) for n, _ in walked).items(), key=lambda kv: (-kv[1], kv[0]))),
        "parameters": _parameters(walked, graph),
        "compute": _compute(measured),
        "metadata": _metadata(graph),
        "provenance": _provenance(graph),
        "source": _source(graph),
    }
    if nodes:
        summary["nodes"]["list"] = [_node_json(i, node, scope) for i, (node, scope) in enumerate(measured)]
    if sized is not None:
        summary["compute"]["evaluated_at"] = _evaluated_at(graph, sized)
    return summary


def info_schema() -> dict[str, Any]:
    """The JSON Schema the summary follows (shipped as package data)."""
    import json
    from importlib import resources

    return json.loads(resources.files("netinspect").joinpath("schemas/info.schema.json").read_text("utf-8"))
