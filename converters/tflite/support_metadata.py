"""TFLite Support metadata (the "TFLITE_METADATA" buffer, file identifier "M001"): what the model's
author says about its inputs and outputs, read without the tflite-support package.

Only the fields netinspect uses are read, by their slot in tensorflow/tflite-support's
metadata_schema.fbs (ModelMetadata: name 0, description 1, version 2, subgraph_metadata 3, author 4,
license 5; SubGraphMetadata: input_tensor_metadata 2, output_tensor_metadata 3; TensorMetadata:
content 3, process_units 4, associated_files 6; Content: content_properties union 0/1;
ImageProperties: color_space 0; ProcessUnit: options union 0/1, NormalizationOptions = 1 with
mean 0, std 1; AssociatedFile: name 0, type 2, TENSOR_AXIS_LABELS = 2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flatbuffers import number_types
from flatbuffers.table import Table

IDENTIFIER = b"M001"
IMAGE_PROPERTIES = 2
NORMALIZATION = 1
TENSOR_AXIS_LABELS = 2
COLOR_SPACES = {1: "RGB", 2: "GRAYSCALE"}


@dataclass
class TensorInfo:
    name: str = ""
    description: str = ""
    image: bool = False
    color_space: str | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    label_files: list[str] = field(default_factory=list)


@dataclass
class SupportMetadata:
    name: str = ""
    description: str = ""
    version: str = ""
    author: str = ""
    license: str = ""
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)


def _offset(t: Table, slot: int) -> int:
    return int(t.Offset(4 + 2 * slot))


def _string(t: Table, slot: int) -> str:
    o = _offset(t, slot)
    return t.String(o + t.Pos).decode("utf-8", "replace") if o else ""


def _byte(t: Table, slot: int) -> int:
    o = _offset(t, slot)
    return int(t.Get(number_types.Uint8Flags, o + t.Pos)) if o else 0


def _table(t: Table, slot: int) -> Table | None:
    o = _offset(t, slot)
    return Table(t.Bytes, t.Indirect(o + t.Pos)) if o else None


def _tables(t: Table, slot: int) -> list[Table]:
    o = _offset(t, slot)
    if not o:
        return []
    start, count = t.Vector(o), t.VectorLen(o)
    return [Table(t.Bytes, t.Indirect(start + 4 * i)) for i in range(count)]


def _floats(t: Table, slot: int) -> list[float] | None:
    o = _offset(t, slot)
    if not o:
        return None
    return [float(v) for v in np.asarray(t.GetVectorAsNumpy(number_types.Float32Flags, o))]


def _tensor(t: Table) -> TensorInfo:
    info = TensorInfo(_string(t, 0), _string(t, 1))
    content = _table(t, 3)
    if content is not None and _byte(content, 0) == IMAGE_PROPERTIES:
        info.image = True
        properties = _table(content, 1)
        if properties is not None:
            info.color_space = COLOR_SPACES.get(_byte(properties, 0))
    for unit in _tables(t, 4):
        options = _table(unit, 1)
        if _byte(unit, 0) == NORMALIZATION and options is not None:
            info.mean, info.std = _floats(options, 0), _floats(options, 1)
    info.label_files = [_string(f, 0) for f in _tables(t, 6) if _byte(f, 2) == TENSOR_AXIS_LABELS]
    return info


def read_support_metadata(data: bytes) -> SupportMetadata | None:
    """The metadata, or None when the buffer is not an M001 flatbuffer (or is corrupt: it is advisory)."""
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        return None
    try:
        (root,) = struct.unpack_from("<I", data, 0)
        model = Table(bytearray(data), root)
        result = SupportMetadata(*(_string(model, slot) for slot in (0, 1, 2)))
        result.author, result.license = _string(model, 4), _string(model, 5)
        subgraphs = _tables(model, 3)
        if subgraphs:
            result.inputs = [_tensor(t) for t in _tables(subgraphs[0], 2)]
            result.outputs = [_tensor(t) for t in _tables(subgraphs[0], 3)]
    except (struct.error, IndexError, ValueError, UnicodeDecodeError):
        return None
    return result


def preprocessing_fields(info: TensorInfo, shape: tuple[Any, ...]) -> dict[str, Any]:
    """Preprocessing (netinspect.ir) fields for an image input described by `info` (NHWC `shape`)."""
    fields: dict[str, Any] = {}
    channels = shape[-1] if len(shape) == 4 and isinstance(shape[-1], int) else None
    if info.mean is not None:
        fields["mean"] = info.mean * channels if channels and len(info.mean) == 1 else info.mean
    if info.std is not None:
        fields["std"] = info.std * channels if channels and len(info.std) == 1 else info.std
    if info.image:
        fields["value_range"] = (0.0, 255.0)
        if len(shape) == 4 and all(isinstance(d, int) for d in shape[1:3]):
            fields["image_size"] = (shape[1], shape[2])
    if info.color_space:
        fields["channel_order"] = info.color_space
    return fields
