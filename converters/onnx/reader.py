"""ONNX → IR. Weights stay in the file (mmap) until read; external data is resolved only inside
the model's own folder; netinspect's own provenance and metadata, if present, are restored."""

from __future__ import annotations

import json
import mmap
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper

from netinspect.converters.onnx import wire as onnx_wire
from netinspect.errors import ModelFormatError, UnsupportedError
from netinspect.fileio import resolve_inside
from netinspect.ir import Graph, Metadata, Node, Preprocessing, Provenance, Step, Tensor, Value
from netinspect.registry import LoadOptions, Probe, Reader

PROP_PREFIX = "netinspect."

# Dtypes whose raw_data numpy can view directly (little-endian, one element per itemsize).
_PLAIN_DTYPES = {
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "complex64",
    "complex128",
}


def dtype_name(elem_type: int) -> str | None:
    if elem_type == onnx.TensorProto.UNDEFINED:
        return None
    if elem_type == onnx.TensorProto.STRING:
        return "string"
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name


def _match(probe: Probe) -> str | None:
    """An ONNX file is a ModelProto: it starts with field 1 (ir_version, varint) in practice,
    but exporters may order fields freely, so we accept any well-formed leading ModelProto field
    and confirm a graph field exists within the head."""
    head = probe.head
    if not head or head[0] not in (0x08, 0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42):
        return None
    try:
        fields = []
        for field, wire, *_ in onnx_wire.iter_fields(head, 0, len(head)):
            fields.append((field, wire))
            if len(fields) >= 3:
                break
    except onnx_wire.WireError as e:
        # A field that runs past the head is fine (the graph usually does); garbage is not.
        if "runs past the end" not in str(e):
            return None
    wire_of = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}
    if fields and all(wire_of.get(f) == w for f, w in fields):
        return "onnx"
    if not fields and head[0] == 0x3A:  # a lone graph field larger than the head
        return "onnx"
    return None


def _open(probe: Probe, tag: str, options: LoadOptions) -> Graph:
    return read_onnx(probe.path)


def read_onnx(path: Path) -> Graph:
    try:
        with path.open("rb") as f:
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:
        raise ModelFormatError(f"cannot map file: {e}", path) from e
    try:
        scanned = onnx_wire.scan_model(buf)
        model = onnx.ModelProto.FromString(scanned.skeleton)
    except (onnx_wire.WireError, DecodeError, RuntimeError) as e:
        raise ModelFormatError(f"not a valid ONNX file (truncated or corrupted): {e}", path) from e
    if not model.HasField("graph") or not model.opset_import:
        raise ModelFormatError("not a valid ONNX file: it has no graph or no opset_import", path)
    return _ModelReader(path, model, scanned, buf).graph()


class _ModelReader:
    def __init__(self, path: Path, model: onnx.ModelProto, scanned: onnx_wire.ScannedModel, buf: mmap.mmap):
        self.path = path
        self.model = model
        self.scanned = scanned
        self.buf = buf
        self.unsupported: list[str] = []
        self.props = {p.key: p.value for p in model.metadata_props}
        self.provenance = self._json_prop("provenance") or {}

    def _json_prop(self, name: str) -> Any:
        text = self.props.get(PROP_PREFIX + name)
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelFormatError(f"metadata {PROP_PREFIX + name} is not valid JSON: {e}", self.path) from e

    def graph(self) -> Graph:
        if self.model.functions:
            names = [f"function {f.domain}:{f.name}" for f in self.model.functions]
            self.unsupported.extend(names)
        opset = {o.domain if o.domain != "ai.onnx" else "": o.version for o in self.model.opset_import}
        graph = self._graph(self.model.graph, opset, top=True)
        if self.unsupported:
            raise UnsupportedError(sorted(set(self.unsupported)), self.path, what="ONNX features")
        graph.metadata = self._metadata()
        graph.values.update(self._inferred_values(graph))
        return graph

    def _metadata(self) -> Metadata:
        m = self.model
        producer = " ".join(x for x in (m.producer_name, m.producer_version) if x)
        opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import)
        meta = Metadata(
            source_format=self.props.get(PROP_PREFIX + "source_format", "onnx"),
            format_version=f"IR {m.ir_version}, opset {opsets}",
            producer=producer,
            doc=m.doc_string,
            labels=self._json_prop("labels"),
            label_descriptions=self._json_prop("label_descriptions"),
            properties={k: v for k, v in self.props.items() if not k.startswith(PROP_PREFIX)},
        )
        pre = self._json_prop("preprocessing")
        if pre:
            meta.preprocessing = Preprocessing(
                mean=pre.get("mean"),
                std=pre.get("std"),
                image_size=tuple(pre["image_size"]) if pre.get("image_size") else None,
                channel_order=pre.get("channel_order"),
                input_layout=pre.get("input_layout"),
                value_range=tuple(pre["value_range"]) if pre.get("value_range") else None,
                extra=pre.get("extra", {}),
            )
        return meta

    def _graph(self, g: onnx.GraphProto, opset: dict[str, int], top: bool = False) -> Graph:
        if g.sparse_initializer:
            self.unsupported.append(f"sparse initializers in graph {g.name!r}")
        graph = Graph(
            name=g.name,
            inputs=[self._value(v) for v in g.input],
            outputs=[self._value(v) for v in g.output],
            opset=opset,
        )
        graph.values = {v.name: self._value(v) for v in g.value_info}
        tensors = self._top_initializers(g) if top else [self._tensor(t) for t in g.initializer]
        for tensor in tensors:
            graph.tensors[tensor.name] = tensor
        used: set[str] = set()
        for index, n in enumerate(g.node):
            graph.nodes.append(self._node(n, index, opset, used))
        return graph

    def _top_initializers(self, g: onnx.GraphProto) -> list[Tensor]:
        tensors = []
        for slot in self.scanned.order:
            if slot < 0:
                tensors.append(self._tensor(g.initializer[-1 - slot]))
            else:
                tensors.append(self._lazy_tensor(self.scanned.initializers[slot]))
        return tensors

    def _value(self, v: onnx.ValueInfoProto) -> Value:
        kind = v.type.WhichOneof("value")
        if kind != "tensor_type":
            if kind is not None:
                self.unsupported.append(f"value {v.name!r} of type {kind}")
            return Value(v.name)
        t = v.type.tensor_type
        shape = None
        if t.HasField("shape"):
            shape = tuple(
                d.dim_value if d.HasField("dim_value") else (d.dim_param if d.HasField("dim_param") else None)
                for d in t.shape.dim
            )
        return Value(v.name, dtype_name(t.elem_type), shape)

    def _tensor(self, t: onnx.TensorProto) -> Tensor:
        dtype = dtype_name(t.data_type)
        if dtype is None:
            raise ModelFormatError(f"initializer {t.name!r} has no data type", self.path)
        if t.data_location == onnx.TensorProto.EXTERNAL:
            return self._external_tensor(t, dtype)
        return Tensor(t.name, dtype, tuple(t.dims), loader=lambda: numpy_helper.to_array(t))

    def _external_tensor(self, t: onnx.TensorProto, dtype: str) -> Tensor:
        info = {e.key: e.value for e in t.external_data}
        target = resolve_inside(self.path.parent, info.get("location", ""), self.path)
        try:
            offset = int(info.get("offset", 0))
            length = int(info["length"]) if "length" in info else None
        except ValueError as e:
            raise ModelFormatError(
                f"initializer {t.name!r}: bad external data offset/length", self.path
            ) from e
        if not target.is_file():
            raise ModelFormatError(
                f"initializer {t.name!r}: external data file {target.name!r} is missing", self.path
            )
        size = target.stat().st_size
        count = int(np.prod(t.dims, dtype=np.int64))
        if dtype in _PLAIN_DTYPES:
            expected = count * np.dtype(dtype).itemsize
            if (length is not None and length != expected) or offset < 0 or offset + expected > size:
                raise ModelFormatError(
                    f"initializer {t.name!r}: external data {target.name!r} is shorter than its "
                    f"{expected} bytes at offset {offset}",
                    self.path,
                )

            def load() -> np.ndarray:
                data = np.fromfile(
                    target, dtype=np.dtype(dtype).newbyteorder("<"), count=count, offset=offset
                )
                return data.reshape(tuple(t.dims))

            return Tensor(t.name, dtype, tuple(t.dims), loader=load)

        def load_other() -> np.ndarray:
            with target.open("rb") as f:
                f.seek(offset)
                raw = f.read(length if length is not None else size - offset)
            proto = onnx.TensorProto()
            proto.CopyFrom(t)
            proto.ClearField("external_data")
            proto.data_location = onnx.TensorProto.DEFAULT
            proto.raw_data = raw
            return numpy_helper.to_array(proto)

        return Tensor(t.name, dtype, tuple(t.dims), loader=load_other)

    def _lazy_tensor(self, scanned: onnx_wire.ScannedInitializer) -> Tensor:
        header = onnx.TensorProto.FromString(scanned.header)
        dtype = dtype_name(header.data_type)
        if dtype is None:
            raise ModelFormatError(f"initializer {header.name!r} has no data type", self.path)
        shape = tuple(header.dims)
        count = int(np.prod(shape, dtype=np.int64))
        payload, buf = scanned.payload, self.buf
        field_dtype = {onnx_wire.TENSOR_FLOAT_DATA: "float32", onnx_wire.TENSOR_DOUBLE_DATA: "float64"}
        view_dtype = field_dtype.get(payload.field, dtype)
        if view_dtype in _PLAIN_DTYPES and view_dtype == dtype:
            if payload.length != count * np.dtype(dtype).itemsize:
                raise ModelFormatError(
                    f"initializer {header.name!r}: holds {payload.length} bytes, its shape {shape} needs "
                    f"{count * np.dtype(dtype).itemsize}",
                    self.path,
                )

            def load() -> np.ndarray:
                array = np.frombuffer(buf, np.dtype(dtype).newbyteorder("<"), count, payload.offset)
                return array.reshape(shape)

            return Tensor(header.name, dtype, shape, loader=load)

        def load_other() -> np.ndarray:
            proto = onnx.TensorProto.FromString(scanned.header)
            data = buf[payload.offset : payload.offset + payload.length]
            if payload.field == onnx_wire.TENSOR_RAW_DATA:
                proto.raw_data = data
            else:  # float_data/double_data used for a type numpy cannot view (e.g. complex)
                proto.MergeFromString(
                    onnx_wire.key(payload.field, onnx_wire.WIRE_LEN)
                    + onnx_wire.encode_varint(len(data))
                    + data
                )
            return numpy_helper.to_array(proto)

        return Tensor(header.name, dtype, shape, loader=load_other)

    def _node(self, n: onnx.NodeProto, index: int, opset: dict[str, int], used: set[str]) -> Node:
        name = n.name or f"{n.op_type}_{index}"
        while name in used:
            name = f"{name}_{index}"
        used.add(name)
        attributes = {a.name: self._attribute(a, n, opset) for a in n.attribute}
        stored = self.provenance.get(name)
        if stored:
            provenance = Provenance(
                stored["framework"],
                stored["layer"],
                stored["layer_type"],
                [Step(kind, text) for kind, text in stored.get("steps", [])],
            )
            doc = ""
        else:
            provenance = Provenance("onnx", name, n.op_type if not n.domain else f"{n.domain}:{n.op_type}")
            doc = n.doc_string
        return Node(name, n.op_type, list(n.input), list(n.output), attributes, n.domain, provenance, doc)

    def _attribute(self, a: onnx.AttributeProto, n: onnx.NodeProto, opset: dict[str, int]) -> Any:
        kind = onnx.AttributeProto
        if a.ref_attr_name:
            self.unsupported.append(f"attribute reference {a.name!r} in node {n.name!r}")
            return None
        if a.type == kind.TENSOR:
            return self._tensor(a.t)
        if a.type == kind.TENSORS:
            return [self._tensor(t) for t in a.tensors]
        if a.type == kind.GRAPH:
            return self._graph(a.g, opset)
        if a.type == kind.GRAPHS:
            return [self._graph(g, opset) for g in a.graphs]
        if a.type in (kind.SPARSE_TENSOR, kind.SPARSE_TENSORS, kind.TYPE_PROTO, kind.TYPE_PROTOS):
            self.unsupported.append(f"attribute {a.name!r} of node {n.name!r} ({n.op_type}) of type {a.type}")
            return None
        value = helper.get_attribute_value(a)
        if a.type == kind.STRING:
            return _text(value)
        if a.type == kind.STRINGS:
            return [_text(v) for v in value]
        if a.type in (kind.FLOATS, kind.INTS):
            return list(value)
        return value

    def _inferred_values(self, graph: Graph) -> dict[str, Value]:
        """Shapes of intermediate values by onnx shape inference, run on the weightless skeleton
        (large initializers declared as inputs, so nothing needs their bytes)."""
        model = onnx.ModelProto()
        model.CopyFrom(self.model)
        declared = {i.name for i in model.graph.input}
        for scanned in self.scanned.initializers:
            header = onnx.TensorProto.FromString(scanned.header)
            if header.name not in declared:
                model.graph.input.append(
                    helper.make_tensor_value_info(header.name, header.data_type, header.dims)
                )
        if model.ir_version < 4:
            model.ir_version = 4  # inference tolerates inputs without initializers only from IR 4
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
        except Exception:  # inference is a best effort: an odd model still reads without shapes
            return {}
        known = {v.name for v in (*graph.inputs, *graph.outputs)} | set(graph.values)
        values = {}
        for v in inferred.graph.value_info:
            if v.name not in known and v.type.WhichOneof("value") == "tensor_type":
                values[v.name] = self._value(v)
        return values


def _text(value: bytes) -> str | bytes:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


READER = Reader(
    name="onnx",
    description="ONNX model (ModelProto protobuf)",
    supports="IR 3+, every opset the installed onnx knows; If/Loop/Scan subgraphs; external data "
    "(inside the model's folder only); weights read lazily",
    runtime="onnxruntime",
    match=_match,
    open=_open,
)
