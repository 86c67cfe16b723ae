"""IR → ONNX. In memory for small models (`to_model_proto`), streamed to disk for any size
(`save`): the protobuf skeleton is built without weights, its lengths computed up front, and each
tensor is written into place one at a time, so peak memory is one tensor, not the whole model.
Past 2 GB (protobuf's limit) weights go to an external data file beside the model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnx
from onnx import helper, numpy_helper

from netinspect.converters.onnx import wire as onnx_wire
from netinspect.errors import NetinspectError, OutputError
from netinspect.fileio import atomic_write, check_output
from netinspect.ir import Graph, Node, Provenance, Tensor, Value

PROP_PREFIX = "netinspect."
PROTOBUF_LIMIT = 2**31 - 2**20  # leave room for the graph around the weights
EXTERNAL_ALIGNMENT = 4096
PRODUCER = "netinspect"


class ExportError(NetinspectError):
    """The IR cannot be expressed as a valid ONNX model."""


def _elem_type(dtype: str | None) -> int:
    if dtype is None:
        return onnx.TensorProto.UNDEFINED
    if dtype == "string":
        return onnx.TensorProto.STRING
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _raw_streamable(tensor: Tensor) -> bool:
    return tensor.dtype != "string" and tensor.nbytes > onnx_wire.LAZY_THRESHOLD


def to_model_proto(
    graph: Graph,
    opset: int | None = None,
    with_preprocessing: bool = False,
    include_weights: bool = True,
) -> onnx.ModelProto:
    """Build the ModelProto; with include_weights=False large tensors are left out of the graph
    (the caller streams them)."""
    if with_preprocessing:
        graph = _with_preprocessing(graph)
    provenance: dict[str, Any] = {}
    graph_proto = _graph_proto(graph, provenance, include_weights)
    opsets = [helper.make_opsetid(domain, version) for domain, version in sorted(graph.opset.items())]
    model = helper.make_model(graph_proto, opset_imports=opsets, producer_name=PRODUCER)
    from netinspect import __version__

    model.producer_version = __version__
    model.ir_version = helper.find_min_ir_version_for(opsets, ignore_unknown=True)
    model.doc_string = graph.metadata.doc
    _metadata_props(model, graph, provenance)
    if opset is not None and opset != graph.opset.get("", opset):
        model = _convert_opset(model, opset)
    return model


def _convert_opset(model: onnx.ModelProto, target: int) -> onnx.ModelProto:
    from onnx import version_converter

    try:
        converted = version_converter.convert_version(model, target)
    except Exception as e:  # the converter raises bare RuntimeErrors naming the op it cannot adapt
        raise ExportError(f"cannot convert to opset {target}: {e}") from e
    converted.ir_version = helper.find_min_ir_version_for(list(converted.opset_import), ignore_unknown=True)
    return converted


def _metadata_props(model: onnx.ModelProto, graph: Graph, provenance: dict[str, Any]) -> None:
    meta = graph.metadata
    props: dict[str, str] = dict(meta.properties)
    if meta.source_format and meta.source_format != "onnx":
        props[PROP_PREFIX + "source_format"] = meta.source_format
    if meta.labels:
        props[PROP_PREFIX + "labels"] = json.dumps(meta.labels)
    if meta.label_descriptions:
        props[PROP_PREFIX + "label_descriptions"] = json.dumps(meta.label_descriptions)
    pre = meta.preprocessing
    if not pre.is_empty():
        props[PROP_PREFIX + "preprocessing"] = json.dumps(_preprocessing_json(pre), default=str)
    if provenance:
        props[PROP_PREFIX + "provenance"] = json.dumps(provenance, ensure_ascii=False)
    helper.set_model_props(model, props)


def _preprocessing_json(pre: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in ("mean", "std", "image_size", "channel_order", "input_layout", "value_range"):
        value = getattr(pre, field)
        if value is not None:
            out[field] = list(value) if isinstance(value, tuple) else value
    if pre.mean_image is not None:
        out.setdefault("extra", {})["mean_image_shape"] = list(pre.mean_image.shape)
    if pre.extra:
        out.setdefault("extra", {}).update(pre.extra)
    return out


def _graph_proto(graph: Graph, provenance: dict[str, Any], include_weights: bool = True) -> onnx.GraphProto:
    nodes = [_node_proto(n, graph, provenance) for n in graph.nodes]
    initializers = [
        _tensor_proto(t) for t in graph.tensors.values() if include_weights or not _raw_streamable(t)
    ]
    known = {v.name for v in (*graph.inputs, *graph.outputs)}
    value_info = [_value_info(v) for name, v in graph.values.items() if name not in known and v.dtype]
    return helper.make_graph(
        nodes,
        graph.name or "graph",
        [_value_info(v) for v in graph.inputs],
        [_value_info(v) for v in graph.outputs],
        initializer=initializers,
        value_info=value_info,
    )


def _value_info(v: Value) -> onnx.ValueInfoProto:
    shape = None if v.shape is None else [d if d is not None else None for d in v.shape]
    info = helper.make_tensor_value_info(v.name, _elem_type(v.dtype), shape)
    if v.shape is not None and None in v.shape:
        for dim, d in zip(info.type.tensor_type.shape.dim, v.shape, strict=True):
            if d is None:
                dim.Clear()
    return info


def _tensor_proto(tensor: Tensor) -> onnx.TensorProto:
    array = tensor.numpy()
    if tensor.dtype == "string":
        return helper.make_tensor(
            tensor.name, onnx.TensorProto.STRING, tensor.shape, array.flatten().tolist()
        )
    return numpy_helper.from_array(np.require(array, requirements="C"), tensor.name)


def _node_proto(node: Node, graph: Graph, provenance: dict[str, Any]) -> onnx.NodeProto:
    proto = helper.make_node(
        node.op_type, node.inputs, node.outputs, name=node.name, domain=node.domain or None
    )
    for key, value in node.attributes.items():
        proto.attribute.append(_attribute(key, value, node, graph, provenance))
    doc = node.doc
    p = node.provenance
    if p is not None and (p.steps or p.framework != "onnx"):
        provenance[node.name] = {
            "framework": p.framework,
            "layer": p.layer,
            "layer_type": p.layer_type,
            "steps": [[s.kind, s.text] for s in p.steps],
        }
        doc = _provenance_sentence(p)
    if doc:
        proto.doc_string = doc
    return proto


def _provenance_sentence(p: Provenance) -> str:
    steps = "; ".join(f"{s.kind}: {s.text}" for s in p.steps)
    return f"from {p.framework} {p.layer_type} {p.layer!r}" + (f" ({steps})" if steps else "")


def _attribute(
    key: str, value: Any, node: Node, graph: Graph, provenance: dict[str, Any]
) -> onnx.AttributeProto:
    if isinstance(value, Tensor):
        return helper.make_attribute(key, _tensor_proto(value))
    if isinstance(value, Graph):
        return helper.make_attribute(key, _graph_proto(value, provenance))
    if isinstance(value, list) and value and isinstance(value[0], Tensor):
        return helper.make_attribute(key, [_tensor_proto(v) for v in value])
    if isinstance(value, list) and value and isinstance(value[0], Graph):
        return helper.make_attribute(key, [_graph_proto(v, provenance) for v in value])
    if isinstance(value, list) and not value:
        return helper.make_attribute(key, [], attr_type=_schema_attr_type(node, key, graph))
    if isinstance(value, np.generic):
        value = value.item()
    return helper.make_attribute(key, value)


def _schema_attr_type(node: Node, key: str, graph: Graph) -> int:
    """An empty list carries no type of its own; the operator's schema knows it."""
    try:
        schema = onnx.defs.get_schema(node.op_type, graph.opset.get(node.domain, 1), node.domain)
        return int(schema.attributes[key].type)
    except (onnx.defs.SchemaError, KeyError):
        return int(onnx.AttributeProto.INTS)


def _with_preprocessing(graph: Graph) -> Graph:
    """A copy of the graph whose first input takes raw images: (x - mean) / std inserted first."""
    pre = graph.metadata.preprocessing
    if pre.mean is None and pre.mean_image is None and pre.std is None:
        raise ExportError("the model records no preprocessing (mean/std) to add")
    source = graph.inputs[0]
    raw_name, current = source.name, f"{source.name}_preprocessed"
    nodes: list[Node] = []
    tensors = dict(graph.tensors)
    prov = Provenance(graph.metadata.source_format or "netinspect", "preprocessing", "normalization")
    if pre.mean_image is not None:
        mean = pre.mean_image.map(
            lambda a: a.reshape((1, *a.shape)), (1, *pre.mean_image.shape), "preprocessing_mean"
        )
        prov.add("param", f"subtract the mean image {pre.mean_image.shape}")
    elif pre.mean is not None:
        mean = Tensor.from_array("preprocessing_mean", np.asarray(pre.mean, np.float32).reshape(1, -1, 1, 1))
        prov.add("param", f"subtract the per-channel mean {[round(float(m), 4) for m in pre.mean]}")
    else:
        mean = None
    steps: list[tuple[str, Tensor]] = []
    if mean is not None:
        steps.append(("Sub", mean))
    if pre.std is not None:
        std = Tensor.from_array("preprocessing_std", np.asarray(pre.std, np.float32).reshape(1, -1, 1, 1))
        prov.add("param", f"divide by the per-channel std {list(pre.std)}")
        steps.append(("Div", std))
    value = raw_name
    for i, (op, constant) in enumerate(steps):
        out = current if i == len(steps) - 1 else f"{current}_{i}"
        tensors[constant.name] = constant
        nodes.append(Node(f"preprocessing_{op.lower()}", op, [value, constant.name], [out], provenance=prov))
        value = out
    renamed = [
        Node(
            n.name,
            n.op_type,
            [current if i == raw_name else i for i in n.inputs],
            n.outputs,
            n.attributes,
            n.domain,
            n.provenance,
            n.doc,
        )
        for n in graph.nodes
    ]
    values = dict(graph.values)
    values[current] = Value(current, source.dtype, source.shape)
    return Graph(
        graph.name, graph.inputs, graph.outputs, nodes + renamed, tensors, values, graph.metadata, graph.opset
    )


def save(
    graph: Graph,
    path: str | os.PathLike,
    opset: int | None = None,
    with_preprocessing: bool = False,
    inputs: list[Path] | None = None,
    check: bool = True,
) -> Path:
    """Write the graph to `path` (atomically), streaming weights; external data past 2 GB."""
    path = Path(path)
    check_output(path, inputs or [])
    if with_preprocessing:
        graph = _with_preprocessing(graph)
    model = to_model_proto(graph, opset=opset, include_weights=False)
    streamed = [t for t in graph.tensors.values() if _raw_streamable(t)]
    weight_bytes = sum(t.nbytes for t in streamed)
    if check:
        _check_skeleton(model, streamed)
    if model.ByteSize() + weight_bytes + 64 * len(streamed) < PROTOBUF_LIMIT:
        with atomic_write(path) as f:
            _write_inline(f, model, streamed)
    else:
        _write_external(path, model, streamed)
    return path


def _check_skeleton(model: onnx.ModelProto, streamed: list[Tensor]) -> None:
    """Run onnx's full checker (with shape inference) on the model with its large weights declared
    as graph inputs instead, so a 1 GB model is checked without building a 1 GB protobuf."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    declared = {i.name for i in probe.graph.input}
    for t in streamed:
        if t.name not in declared:
            probe.graph.input.append(helper.make_tensor_value_info(t.name, _elem_type(t.dtype), t.shape))
    try:
        onnx.checker.check_model(probe, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ExportError(f"the exported model fails onnx.checker: {str(e).splitlines()[0]}") from e


def _write_tensor(f: BinaryIO, tensor: Tensor) -> None:
    """Write a tensor's raw little-endian bytes, piece by piece when its reader streams it
    (Tensor.chunks), so a big weight is never held whole."""
    written = 0
    for part in tensor.iter_chunks():
        array = np.require(part, requirements="C")
        if array.dtype.name != tensor.dtype:
            array = array.astype(tensor.dtype)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        data = memoryview(array).cast("B")
        written += len(data)
        if written > tensor.nbytes:
            break
        f.write(data)
    if written != tensor.nbytes:
        raise ExportError(f"tensor {tensor.name!r} gave {written} bytes, expected {tensor.nbytes}")


def _header(tensor: Tensor) -> bytes:
    return onnx.TensorProto(
        name=tensor.name, dims=tensor.shape, data_type=_elem_type(tensor.dtype)
    ).SerializeToString()


def _write_inline(f: BinaryIO, model: onnx.ModelProto, streamed: list[Tensor]) -> None:
    graph_bytes = model.graph.SerializeToString()
    prefixes = [onnx_wire.initializer_prefix(_header(t), t.nbytes) for t in streamed]
    graph_length = len(graph_bytes) + sum(len(p) + t.nbytes for p, t in zip(prefixes, streamed, strict=True))
    outer = onnx.ModelProto()
    outer.CopyFrom(model)
    outer.ClearField("graph")
    f.write(outer.SerializeToString())
    f.write(onnx_wire.graph_field_prefix(graph_length))
    f.write(graph_bytes)
    for prefix, tensor in zip(prefixes, streamed, strict=True):
        f.write(prefix)
        _write_tensor(f, tensor)


def _write_external(path: Path, model: onnx.ModelProto, streamed: list[Tensor]) -> None:
    data_path = path.with_name(path.name + ".data")
    offset = 0
    with atomic_write(data_path) as f:
        for tensor in streamed:
            padding = -offset % EXTERNAL_ALIGNMENT
            f.write(b"\0" * padding)
            offset += padding
            proto = onnx.TensorProto(name=tensor.name, dims=tensor.shape, data_type=_elem_type(tensor.dtype))
            proto.data_location = onnx.TensorProto.EXTERNAL
            for k, v in (
                ("location", data_path.name),
                ("offset", str(offset)),
                ("length", str(tensor.nbytes)),
            ):
                proto.external_data.add(key=k, value=v)
            model.graph.initializer.append(proto)
            _write_tensor(f, tensor)
            offset += tensor.nbytes
    if model.ByteSize() >= PROTOBUF_LIMIT:
        raise OutputError("the graph itself (without weights) exceeds protobuf's 2 GB limit", path)
    with atomic_write(path) as f:
        f.write(model.SerializeToString())
