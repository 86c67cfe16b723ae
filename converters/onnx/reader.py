"""ONNX → IR. Weights stay in the file (mmap) until read; external data is resolved only inside
the model's own folder (a missing data file still lets the graph be shown); netinspect's own
provenance and metadata, if present, are restored; defects netinspect can infer are repaired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, numpy_helper

from netinspect import protowire
from netinspect.converters.onnx import metadata as onnx_metadata
from netinspect.converters.onnx import repair as onnx_repair
from netinspect.converters.onnx import wire as onnx_wire
from netinspect.converters.onnx.types import UnsupportedType, from_proto, value_from_proto
from netinspect.dtypes import NUMPY_VIEWABLE, dtype_name
from netinspect.errors import ModelFormatError, UnsupportedError
from netinspect.io.files import MappedFile, map_file, resolve_inside
from netinspect.ir import AttributeRef, FileSpan, Function, Graph, Node, Provenance, Tensor, Value
from netinspect.registry import LoadOptions, Probe
from netinspect.walk import op_name


def open_graph(probe: Probe, tag: str, options: LoadOptions) -> Graph:
    return read_onnx(probe.path)


def read_onnx(path: Path) -> Graph:
    try:
        buf = map_file(path)
    except (OSError, ValueError) as e:
        raise ModelFormatError(f"cannot map file: {e}", path) from e
    try:
        scanned = onnx_wire.scan_model(buf)
        model = onnx.ModelProto.FromString(scanned.skeleton)
        headers = [onnx.TensorProto.FromString(s.header) for s in scanned.initializers]
    except (protowire.WireError, DecodeError, RuntimeError) as e:
        raise ModelFormatError(f"not a valid ONNX file (truncated or corrupted): {e}", path) from e
    if not model.HasField("graph") or not model.opset_import:
        raise ModelFormatError("not a valid ONNX file: it has no graph or no opset_import", path)
    repairs = onnx_repair.repair(model, headers)
    probe = onnx_repair.weightless(model, headers)
    graph = _ModelReader(path, model, scanned, buf).graph()
    graph.metadata.notes.extend(repairs)
    graph.metadata.checker_error = onnx_repair.checker_error(probe)
    if graph.metadata.checker_error:
        graph.metadata.notes.append(f"the source fails onnx.checker: {graph.metadata.checker_error}")
    graph.values.update(_inferred_values(probe, graph))
    return graph


def _inferred_values(probe: onnx.ModelProto, graph: Graph) -> dict[str, Value]:
    """Types and shapes of intermediate values by onnx shape inference, run on the weightless
    model (large initializers declared as inputs, so nothing needs their bytes)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(probe, strict_mode=False)
    except Exception:  # inference is a best effort: an odd model still reads without shapes
        return {}
    known = {v.name for v in (*graph.inputs, *graph.outputs)} | set(graph.values)
    values = {}
    for v in inferred.graph.value_info:
        if v.name not in known:
            try:
                values[v.name] = value_from_proto(v)
            except UnsupportedType:
                continue
    return values


class _ModelReader:
    def __init__(self, path: Path, model: onnx.ModelProto, scanned: onnx_wire.ScannedModel, buf: MappedFile):
        self.path = path
        self.model = model
        self.scanned = scanned
        self.buf = buf
        self.unsupported: list[str] = []
        self.metadata, self.provenance = onnx_metadata.read(model, path)

    def graph(self) -> Graph:
        opset = {o.domain if o.domain != "ai.onnx" else "": o.version for o in self.model.opset_import}
        graph = self._graph(self.model.graph, opset, top=True)
        graph.functions = [self._function(f) for f in self.model.functions]
        if self.unsupported:
            raise UnsupportedError(sorted(set(self.unsupported)), self.path, what="ONNX features")
        graph.metadata = self.metadata
        return graph

    def _function(self, f: onnx.FunctionProto) -> Function:
        opset = {o.domain if o.domain != "ai.onnx" else "": o.version for o in f.opset_import}
        used: set[str] = set()
        nodes = [self._node(n, i, opset, used) for i, n in enumerate(f.node)]
        for node, proto in zip(nodes, f.node, strict=True):
            node.name = proto.name  # nothing refers to a function's nodes by name: keep them as written
        return Function(
            name=f.name,
            domain=f.domain,
            inputs=list(f.input),
            outputs=list(f.output),
            nodes=nodes,
            opset=opset,
            attributes=list(f.attribute),
            attribute_defaults={a.name: self._attribute(a, f.name, opset) for a in f.attribute_proto},
            values={v.name: self._value(v) for v in f.value_info},
            doc=f.doc_string,
            overload=f.overload,
            metadata={p.key: p.value for p in f.metadata_props},
        )

    def _graph(self, g: onnx.GraphProto, opset: dict[str, int], top: bool = False) -> Graph:
        if g.sparse_initializer:
            self.unsupported.append(f"sparse initializers in graph {g.name!r}")
        graph = Graph(
            name=g.name,
            inputs=[self._value(v) for v in g.input],
            outputs=[self._value(v) for v in g.output],
            opset=opset,
            doc=g.doc_string,
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
        try:
            return value_from_proto(v)
        except UnsupportedType as e:
            self.unsupported.append(f"value {v.name!r} of type {e}")
            return Value(v.name)

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
            return self._missing_tensor(t, dtype, info.get("location", ""))
        size = target.stat().st_size
        count = int(np.prod(t.dims, dtype=np.int64))
        if dtype in NUMPY_VIEWABLE:
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

            span = FileSpan(target, offset, expected)
            return Tensor(t.name, dtype, tuple(t.dims), loader=load, span=span)

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

    def _missing_tensor(self, t: onnx.TensorProto, dtype: str, location: str) -> Tensor:
        """A tensor whose external data file is absent: its shape and type are known (so `info`
        and `view` work); reading it, as `convert` and `check` must, names the missing file."""
        path = self.path

        def load() -> np.ndarray:
            raise ModelFormatError(f"tensor {t.name!r}: its external data file {location!r} is missing", path)

        return Tensor(t.name, dtype, tuple(t.dims), loader=load, missing=location)

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
        if view_dtype in NUMPY_VIEWABLE and view_dtype == dtype:
            if payload.length != count * np.dtype(dtype).itemsize:
                raise ModelFormatError(
                    f"initializer {header.name!r}: holds {payload.length} bytes, its shape {shape} needs "
                    f"{count * np.dtype(dtype).itemsize}",
                    self.path,
                )

            def load() -> np.ndarray:
                array = np.frombuffer(buf, np.dtype(dtype).newbyteorder("<"), count, payload.offset)
                return array.reshape(shape)

            span = FileSpan(self.path, payload.offset, payload.length)  # little-endian on the wire
            return Tensor(header.name, dtype, shape, loader=load, span=span)

        def load_other() -> np.ndarray:
            proto = onnx.TensorProto.FromString(scanned.header)
            data = buf[payload.offset : payload.offset + payload.length]
            if payload.field == onnx_wire.TENSOR_RAW_DATA:
                proto.raw_data = data
            else:  # float_data/double_data used for a type numpy cannot view (e.g. complex)
                proto.MergeFromString(
                    protowire.key(payload.field, protowire.LENGTH)
                    + protowire.encode_varint(len(data))
                    + data
                )
            return numpy_helper.to_array(proto)

        return Tensor(header.name, dtype, shape, loader=load_other)

    def _node(self, n: onnx.NodeProto, index: int, opset: dict[str, int], used: set[str]) -> Node:
        name = n.name or f"{n.op_type}_{index}"
        while name in used:
            name = f"{name}_{index}"
        used.add(name)
        attributes = {a.name: self._attribute(a, name, opset) for a in n.attribute}
        stored = self.provenance.get(name)
        if stored:
            provenance, doc = stored, ""  # netinspect wrote the doc_string from this provenance
        else:
            provenance, doc = Provenance("onnx", name, op_name(n.domain, n.op_type)), n.doc_string
        node = Node(name, n.op_type, list(n.input), list(n.output), attributes, n.domain, provenance, doc)
        node.metadata = {p.key: p.value for p in n.metadata_props}
        return node

    def _attribute(self, a: onnx.AttributeProto, node: str, opset: dict[str, int]) -> Any:
        kind = onnx.AttributeProto
        if a.ref_attr_name:
            return AttributeRef(a.ref_attr_name, kind.AttributeType.Name(a.type))
        if a.type == kind.TENSOR:
            return self._tensor(a.t)
        if a.type == kind.TENSORS:
            return [self._tensor(t) for t in a.tensors]
        if a.type == kind.GRAPH:
            return self._graph(a.g, opset)
        if a.type == kind.GRAPHS:
            return [self._graph(g, opset) for g in a.graphs]
        if a.type in (kind.TYPE_PROTO, kind.TYPE_PROTOS):
            try:
                types = [from_proto(t) for t in (a.tps if a.type == kind.TYPE_PROTOS else [a.tp])]
            except UnsupportedType as e:
                self.unsupported.append(f"attribute {a.name!r} of node {node!r} of type {e}")
                return None
            return types if a.type == kind.TYPE_PROTOS else types[0]
        if a.type in (kind.SPARSE_TENSOR, kind.SPARSE_TENSORS):
            self.unsupported.append(f"attribute {a.name!r} of node {node!r}: sparse tensor")
            return None
        value = helper.get_attribute_value(a)
        if a.type == kind.STRING:
            return _text(value)
        if a.type == kind.STRINGS:
            return [_text(v) for v in value]
        if a.type in (kind.FLOATS, kind.INTS):
            return list(value)
        return value


def _text(value: bytes) -> str | bytes:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value
