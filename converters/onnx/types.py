"""ONNX TypeProto ↔ IR value types, both directions: tensors (dtype and shape), sequences, maps
and optionals, so a value of any ONNX type reads into the IR and writes back unchanged."""

from __future__ import annotations

import onnx

from netinspect.dtypes import ONNX_NAMES, dtype_name, elem_type
from netinspect.ir import Dim, MapType, OptionalType, SequenceType, TensorType, Value, ValueType


class UnsupportedType(ValueError):
    """A type the IR does not represent (sparse tensors)."""


def shape_of(tensor_type: onnx.TypeProto.Tensor) -> tuple[Dim, ...] | None:
    if not tensor_type.HasField("shape"):
        return None
    return tuple(
        d.dim_value if d.HasField("dim_value") else (d.dim_param if d.HasField("dim_param") else None)
        for d in tensor_type.shape.dim
    )


def from_proto(t: onnx.TypeProto) -> ValueType | None:
    """The IR type of a TypeProto; None when the proto holds no type at all."""
    kind = t.WhichOneof("value")
    if kind is None:
        return None
    if kind == "tensor_type":
        return TensorType(dtype_name(t.tensor_type.elem_type), shape_of(t.tensor_type))
    if kind == "sequence_type":
        return SequenceType(_required(from_proto(t.sequence_type.elem_type)))
    if kind == "map_type":
        key = dtype_name(t.map_type.key_type)
        return MapType(key or "?", _required(from_proto(t.map_type.value_type)))
    if kind == "optional_type":
        return OptionalType(_required(from_proto(t.optional_type.elem_type)))
    raise UnsupportedType(kind)


def _required(t: ValueType | None) -> ValueType:
    return t if t is not None else TensorType(None)


def value_from_proto(v: onnx.ValueInfoProto) -> Value:
    t = from_proto(v.type)
    value = Value(v.name) if t is None else Value.of_type(v.name, t)
    value.doc = v.doc_string
    value.metadata = {p.key: p.value for p in v.metadata_props}
    return value


def to_proto(t: ValueType) -> onnx.TypeProto:
    proto = onnx.TypeProto()
    if isinstance(t, TensorType):
        proto.tensor_type.elem_type = elem_type(t.dtype)
        if t.shape is not None:
            _set_shape(proto.tensor_type, t.shape)
    elif isinstance(t, SequenceType):
        proto.sequence_type.elem_type.CopyFrom(to_proto(t.elem))
    elif isinstance(t, MapType):
        proto.map_type.key_type = elem_type(t.key)
        proto.map_type.value_type.CopyFrom(to_proto(t.value))
    else:
        proto.optional_type.elem_type.CopyFrom(to_proto(t.elem))
    return proto


def _set_shape(tensor_type: onnx.TypeProto.Tensor, shape: tuple[Dim, ...]) -> None:
    tensor_type.shape.SetInParent()  # a rank-0 shape is present but has no dims
    for d in shape:
        dim = tensor_type.shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        elif d is not None:
            dim.dim_value = int(d)


def value_to_proto(v: Value) -> onnx.ValueInfoProto:
    """A ValueInfoProto; an unknown type is written as a tensor of UNDEFINED element type."""
    info = onnx.ValueInfoProto(name=v.name)
    if v.doc:
        info.doc_string = v.doc
    info.type.CopyFrom(to_proto(v.type if v.type is not None else TensorType(v.dtype, v.shape)))
    for key, value in v.metadata.items():
        info.metadata_props.add(key=key, value=value)
    return info


def type_name(t: onnx.TypeProto) -> str | None:
    """ONNX's own type string ("tensor(float)", "seq(tensor(int64))"), as schemas spell them."""
    kind = t.WhichOneof("value")
    if kind == "tensor_type":
        name = dtype_name(t.tensor_type.elem_type)
        return None if name is None else f"tensor({ONNX_NAMES[name]})"
    if kind == "sequence_type":
        inner = type_name(t.sequence_type.elem_type)
        return None if inner is None else f"seq({inner})"
    if kind == "map_type":
        key = dtype_name(t.map_type.key_type)
        inner = type_name(t.map_type.value_type)
        return None if key is None or inner is None else f"map({ONNX_NAMES[key]}, {inner})"
    if kind == "optional_type":
        inner = type_name(t.optional_type.elem_type)
        return None if inner is None else f"optional({inner})"
    return None
