"""The one map between netinspect's dtype names and ONNX element types.

netinspect names a tensor's element type by numpy's name for it ("float32", "int64", "bool"; the
ml_dtypes names for the types numpy lacks: "bfloat16", "float8_e4m3fn", "int4", ...) and "string".
ONNX names the same types by the TensorProto.DataType numbers below, fixed by onnx.proto, and by
the short names its schemas use in type strings ("tensor(float)"). Every reader, writer, runtime
and report converts through this module, so a new type is added in one place. It imports neither
onnx nor numpy: the IR and the CLI use it without loading either.
"""

from __future__ import annotations

# (netinspect name, TensorProto.DataType, ONNX schema name, bytes per element as numpy stores it)
_TABLE: tuple[tuple[str, int, str, int], ...] = (
    ("float32", 1, "float", 4),
    ("uint8", 2, "uint8", 1),
    ("int8", 3, "int8", 1),
    ("uint16", 4, "uint16", 2),
    ("int16", 5, "int16", 2),
    ("int32", 6, "int32", 4),
    ("int64", 7, "int64", 8),
    ("string", 8, "string", 0),
    ("bool", 9, "bool", 1),
    ("float16", 10, "float16", 2),
    ("float64", 11, "double", 8),
    ("uint32", 12, "uint32", 4),
    ("uint64", 13, "uint64", 8),
    ("complex64", 14, "complex64", 8),
    ("complex128", 15, "complex128", 16),
    ("bfloat16", 16, "bfloat16", 2),
    ("float8_e4m3fn", 17, "float8e4m3fn", 1),
    ("float8_e4m3fnuz", 18, "float8e4m3fnuz", 1),
    ("float8_e5m2", 19, "float8e5m2", 1),
    ("float8_e5m2fnuz", 20, "float8e5m2fnuz", 1),
    ("uint4", 21, "uint4", 1),
    ("int4", 22, "int4", 1),
    ("float4_e2m1fn", 23, "float4e2m1", 1),
    ("float8_e8m0fnu", 24, "float8e8m0", 1),
    ("uint2", 25, "uint2", 1),
    ("int2", 26, "int2", 1),
    ("float6_e2m3fn", 27, "float6e2m3", 1),
    ("float6_e3m2fn", 28, "float6e3m2", 1),
)

UNDEFINED = 0
ELEM_TYPES: dict[str, int] = {name: code for name, code, _, _ in _TABLE}
"""netinspect dtype name → TensorProto.DataType."""
DTYPES: dict[int, str] = {code: name for name, code, _, _ in _TABLE}
"""TensorProto.DataType → netinspect dtype name."""
ONNX_NAMES: dict[str, str] = {name: onnx_name for name, _, onnx_name, _ in _TABLE}
"""netinspect dtype name → the name ONNX schemas use inside "tensor(...)"."""
ITEMSIZE: dict[str, int] = {name: size for name, _, _, size in _TABLE}

NUMPY_VIEWABLE = frozenset(
    {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"}
    | {"uint64", "bool", "complex64", "complex128"}
)
"""Types whose little-endian raw bytes numpy views directly, one element per itemsize."""


def elem_type(dtype: str | None) -> int:
    """The TensorProto.DataType of a dtype name (UNDEFINED for None); KeyError names an unknown one."""
    if dtype is None:
        return UNDEFINED
    try:
        return ELEM_TYPES[dtype]
    except KeyError:
        raise KeyError(f"no ONNX element type for dtype {dtype!r}") from None


def dtype_name(code: int) -> str | None:
    """The dtype name of a TensorProto.DataType; None for UNDEFINED and for numbers newer than this table."""
    return DTYPES.get(code)


def itemsize(dtype: str) -> int:
    """Bytes per element as numpy (with ml_dtypes) stores it; 0 for strings."""
    return ITEMSIZE[dtype]
