"""IR → ONNX. In memory for small models (`to_model_proto`), streamed to disk for any size
(`save`): the protobuf skeleton is built without weights, its lengths computed up front, and each
tensor is written into place one at a time (netinspect.io.laid_out), so peak memory is one tensor,
not the whole model. Past 2 GB (protobuf's limit) weights go to an external data file beside the
model. This module only serializes protobuf; netinspect.io writes the bytes."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from netinspect.converters.onnx import metadata as onnx_metadata
from netinspect.converters.onnx import wire as onnx_wire
from netinspect.converters.onnx.opset import convert_opset, default_opset
from netinspect.converters.onnx.types import to_proto, value_to_proto
from netinspect.dtypes import ELEM_TYPES, elem_type
from netinspect.errors import ModelFormatError, NetinspectError, OutputError
from netinspect.io.files import check_output
from netinspect.io.laid_out import write_laid_out
from netinspect.ir import AttributeRef, Function, Graph, Node, Provenance, Tensor, Value, ValueType
from netinspect.walk import all_graphs

PROTOBUF_LIMIT = 2**31 - 2**20  # leave room for the graph around the weights
EXTERNAL_ALIGNMENT = 4096
_TYPE_OBJECTS = tuple(ValueType.__args__)


class ExportError(NetinspectError):
    """The IR cannot be expressed as a valid ONNX model."""


def _raw_streamable(tensor: Tensor) -> bool:
    return tensor.dtype != "string" and tensor.nbytes > onnx_wire.LAZY_THRESHOLD


def to_model_proto(
    graph: Graph,
    opset: int | None = None,
    with_preprocessing: bool = False,
    include_weights: bool = True,
    keep_unsupported: bool = False,
) -> onnx.ModelProto:
    """Build the ModelProto; with include_weights=False large tensors are left out of the graph
    (the caller streams them). A graph with layers shown without a translation is refused (all
    of them named) unless `keep_unsupported`: they are then written as ops of the custom domain
    `netinspect.<framework>`, for the user's own kernels to run."""
    if graph.refusal is not None and not keep_unsupported:
        raise graph.refusal
    if with_preprocessing:
        graph = _with_preprocessing(graph)
    provenance: dict[str, Any] = {}
    graph_proto = _graph_proto(graph, provenance, include_weights)
    opsets = [helper.make_opsetid(domain, version) for domain, version in sorted(graph.opset.items())]
    model = helper.make_model(graph_proto, opset_imports=opsets)
    model.functions.extend(_function_proto(f, provenance) for f in graph.functions)
    onnx_metadata.write(model, graph, provenance)
    needed = helper.find_min_ir_version_for(opsets, ignore_unknown=True)
    model.ir_version = max(graph.metadata.ir_version or 0, needed)
    if opset is not None and opset != default_opset(model):
        present = {t.name for t in model.graph.initializer}
        absent = [
            (t.name, elem_type(t.dtype), t.shape) for t in graph.tensors.values() if t.name not in present
        ]
        try:
            model = convert_opset(model, opset, absent)
        except NetinspectError as e:
            raise ExportError(e.message) from e
    return model


def _graph_proto(graph: Graph, provenance: dict[str, Any], include_weights: bool = True) -> onnx.GraphProto:
    nodes = [_node_proto(n, graph.opset, provenance) for n in graph.nodes]
    initializers = [
        _tensor_proto(t) for t in graph.tensors.values() if include_weights or not _raw_streamable(t)
    ]
    known = {v.name for v in (*graph.inputs, *graph.outputs)}
    value_info = [  # a type ONNX has no name for (a TFLite resource handle kept as is) stays undeclared
        value_to_proto(v)
        for name, v in graph.values.items()
        if name not in known and v.dtype and (v.type is not None or v.dtype in ELEM_TYPES)
    ]
    proto = helper.make_graph(
        nodes,
        graph.name or "graph",
        [value_to_proto(v) for v in graph.inputs],
        [value_to_proto(v) for v in graph.outputs],
        initializer=initializers,
        value_info=value_info,
    )
    if graph.doc:
        proto.doc_string = graph.doc
    return proto


def _function_proto(f: Function, provenance: dict[str, Any]) -> onnx.FunctionProto:
    caller = Node(f.name, f.name, [], [], domain=f.domain)
    proto = helper.make_function(
        f.domain,
        f.name,
        f.inputs,
        f.outputs,
        [_node_proto(n, f.opset, provenance) for n in f.nodes],
        [helper.make_opsetid(domain, version) for domain, version in sorted(f.opset.items())],
        attributes=f.attributes,
        attribute_protos=[
            _attribute(key, value, caller, f.opset, provenance) for key, value in f.attribute_defaults.items()
        ],
        doc_string=f.doc or None,
        overload=f.overload or None,
        value_info=[value_to_proto(v) for v in f.values.values()],
    )
    for key, value in f.metadata.items():
        proto.metadata_props.add(key=key, value=value)
    return proto


def _tensor_proto(tensor: Tensor) -> onnx.TensorProto:
    array = tensor.numpy()
    if tensor.dtype == "string":
        return helper.make_tensor(
            tensor.name, onnx.TensorProto.STRING, tensor.shape, array.flatten().tolist()
        )
    return numpy_helper.from_array(np.require(array, requirements="C"), tensor.name)


def _node_proto(node: Node, opset: dict[str, int], provenance: dict[str, Any]) -> onnx.NodeProto:
    proto = helper.make_node(
        node.op_type, node.inputs, node.outputs, name=node.name, domain=node.domain or None
    )
    for key, value in node.attributes.items():
        proto.attribute.append(_attribute(key, value, node, opset, provenance))
    doc = node.doc
    p = node.provenance
    if p is not None and (p.steps or p.framework != "onnx"):
        provenance[node.name] = onnx_metadata.provenance_json(p)
        doc = onnx_metadata.provenance_sentence(p)
    if doc:
        proto.doc_string = doc
    for key, value in node.metadata.items():
        proto.metadata_props.add(key=key, value=value)
    return proto


def _attribute(
    key: str, value: Any, node: Node, opset: dict[str, int], provenance: dict[str, Any]
) -> onnx.AttributeProto:
    if isinstance(value, AttributeRef):
        kind = onnx.AttributeProto.AttributeType.Value(value.type)
        return onnx.AttributeProto(name=key, ref_attr_name=value.name, type=kind)
    if isinstance(value, Tensor):
        return helper.make_attribute(key, _tensor_proto(value))
    if isinstance(value, Graph):
        return helper.make_attribute(key, _graph_proto(value, provenance))
    if isinstance(value, _TYPE_OBJECTS):
        return helper.make_attribute(key, to_proto(value))
    if isinstance(value, list) and value and isinstance(value[0], Tensor):
        return helper.make_attribute(key, [_tensor_proto(v) for v in value])
    if isinstance(value, list) and value and isinstance(value[0], Graph):
        return helper.make_attribute(key, [_graph_proto(v, provenance) for v in value])
    if isinstance(value, list) and value and isinstance(value[0], _TYPE_OBJECTS):
        return helper.make_attribute(key, [to_proto(v) for v in value], onnx.AttributeProto.TYPE_PROTOS)
    if isinstance(value, list) and not value:
        return helper.make_attribute(key, [], attr_type=_schema_attr_type(node, key, opset))
    if isinstance(value, np.generic):
        value = value.item()
    return helper.make_attribute(key, value)


def _schema_attr_type(node: Node, key: str, opset: dict[str, int]) -> int:
    """An empty list carries no type of its own; the operator's schema knows it."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset.get(node.domain, 1), node.domain)
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
    renamed = [replace(n, inputs=[current if i == raw_name else i for i in n.inputs]) for n in graph.nodes]
    values = dict(graph.values)
    values[current] = Value(current, source.dtype, source.shape)
    return replace(graph, nodes=nodes + renamed, tensors=tensors, values=values)


def save(
    graph: Graph,
    path: str | os.PathLike,
    opset: int | None = None,
    with_preprocessing: bool = False,
    inputs: list[Path] | None = None,
    check: bool = True,
    keep_unsupported: bool = False,
) -> Path:
    """Write the graph to `path` (atomically), streaming weights; external data past 2 GB."""
    path = Path(path)
    check_output(path, inputs or [])
    if graph.refusal is not None and not keep_unsupported:
        raise graph.refusal
    _refuse_missing_data(graph, inputs[0] if inputs else None)
    if with_preprocessing:
        graph = _with_preprocessing(graph)
    model = to_model_proto(graph, opset=opset, include_weights=False, keep_unsupported=keep_unsupported)
    streamed = [t for t in graph.tensors.values() if _raw_streamable(t)]
    weight_bytes = sum(t.nbytes for t in streamed)
    if check:
        source = inputs[0] if inputs else None
        converted = opset if opset is not None and opset != graph.opset.get("") else None
        _check_skeleton(model, streamed, graph.metadata.checker_error, source, converted)
    if model.ByteSize() + weight_bytes + 64 * len(streamed) < PROTOBUF_LIMIT:
        _write_inline(path, model, streamed)
    else:
        _write_external(path, model, streamed)
    return path


def _refuse_missing_data(graph: Graph, source: Path | None) -> None:
    """Converting needs every weight's bytes: name the missing external data files up front."""
    missing: dict[str, int] = {}
    for g in all_graphs(graph):
        for tensor in g.tensors.values():
            if tensor.missing:
                missing[tensor.missing] = missing.get(tensor.missing, 0) + 1
    if missing:
        files = ", ".join(
            f"{name!r} ({count} tensor{'s' if count > 1 else ''})" for name, count in missing.items()
        )
        raise ModelFormatError(f"cannot convert: external data file {files} is missing", source)


def _check_skeleton(
    model: onnx.ModelProto,
    streamed: list[Tensor],
    source_error: str | None = None,
    source: Path | None = None,
    converted_to: int | None = None,
) -> None:
    """Run onnx's full checker (with shape inference) on the model with its large weights declared
    as graph inputs instead, so a 1 GB model is checked without building a 1 GB protobuf.
    When the source itself failed the checker, the error says so: the fault is not the export's."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    declared = {i.name for i in probe.graph.input}
    for t in streamed:
        if t.name not in declared:
            probe.graph.input.append(helper.make_tensor_value_info(t.name, elem_type(t.dtype), t.shape))
    try:
        onnx.checker.check_model(probe, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        if source_error:
            raise ExportError(f"the source model fails onnx.checker: {source_error}", source) from e
        first = str(e).splitlines()[0]
        if converted_to is not None:
            raise ExportError(
                f"the model converted to opset {converted_to} fails onnx.checker (onnx's version converter "
                f"adapted an op wrongly): {first}",
                source,
            ) from e
        raise ExportError(f"the exported model fails onnx.checker: {first}") from e


def _header(tensor: Tensor) -> bytes:
    return onnx.TensorProto(
        name=tensor.name, dims=tensor.shape, data_type=elem_type(tensor.dtype)
    ).SerializeToString()


def _write_inline(path: Path, model: onnx.ModelProto, streamed: list[Tensor]) -> None:
    graph_bytes = model.graph.SerializeToString()
    prefixes = [onnx_wire.initializer_prefix(_header(t), t.nbytes) for t in streamed]
    graph_length = len(graph_bytes) + sum(len(p) + t.nbytes for p, t in zip(prefixes, streamed, strict=True))
    outer = onnx.ModelProto()
    outer.CopyFrom(model)
    outer.ClearField("graph")
    head = outer.SerializeToString() + onnx_wire.graph_field_prefix(graph_length) + graph_bytes
    write_laid_out(path, head, list(zip(prefixes, streamed, strict=True)))


def _write_external(path: Path, model: onnx.ModelProto, streamed: list[Tensor]) -> None:
    data_path = path.with_name(path.name + ".data")
    offset = 0
    pieces = []
    for tensor in streamed:
        padding = -offset % EXTERNAL_ALIGNMENT
        pieces.append((b"\0" * padding, tensor))
        offset += padding
        proto = onnx.TensorProto(name=tensor.name, dims=tensor.shape, data_type=elem_type(tensor.dtype))
        proto.data_location = onnx.TensorProto.EXTERNAL
        for k, v in (
            ("location", data_path.name),
            ("offset", str(offset)),
            ("length", str(tensor.nbytes)),
        ):
            proto.external_data.add(key=k, value=v)
        model.graph.initializer.append(proto)
        offset += tensor.nbytes
    write_laid_out(data_path, b"", pieces)
    if model.ByteSize() >= PROTOBUF_LIMIT:
        raise OutputError("the graph itself (without weights) exceeds protobuf's 2 GB limit", path)
    write_laid_out(path, model.SerializeToString())
