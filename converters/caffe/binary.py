"""A binary .caffemodel (a `NetParameter`) decoded by the field numbers in schema.py.

The file is mapped, not read: small fields are decoded, blob payloads are recorded as `BlobData`
segments (offset, count) so that weights are read only when converted, and packed float32 blobs
are copied file to file by the writer. Unknown fields are skipped by wire type, as protobuf does.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from netinspect.converters.caffe.message import BlobData, Msg, Segment
from netinspect.converters.caffe.schema import ENUMS, MESSAGES
from netinspect.io.files import map_file
from netinspect.protowire import (
    FIXED32,
    FIXED64,
    LENGTH,
    VARINT,
    WireError,
    fields,
    packed_varints,
    signed,
)

INT_KINDS = {"int32": 32, "int64": 64}


class CaffeModelFile:
    """A .caffemodel mapped read-only; `net` is its decoded NetParameter."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.buf: Any = map_file(path)
        self.net = decode(self.buf, 0, len(self.buf), "NetParameter")


def decode(buf: Any, start: int, end: int, type_name: str) -> Msg:
    """The message of `type_name` occupying buf[start:end]."""
    schema = MESSAGES[type_name]
    msg = Msg(type_name)
    for f in fields(buf, start, end):
        known = schema.get(f.number)
        if known is None:
            continue
        name, kind = known
        if kind == "blob data":
            blob = msg.get(name)
            if blob is None:
                blob = BlobData()
                msg.add(name, blob)
            _add_blob_values(blob, f.wire, f.start, f.end, 8 if name == "double_data" else 4)
        elif kind.startswith("msg:"):
            if f.wire != LENGTH:
                raise WireError(f"{type_name}.{name} is not a message (wire type {f.wire})")
            msg.add(name, decode(buf, f.start, f.end, kind[4:]))
        else:
            for value in _scalars(buf, f.wire, f.value, f.start, f.end, kind, f"{type_name}.{name}"):
                msg.add(name, value)
    return msg


def _add_blob_values(blob: BlobData, wire: int, start: int, end: int, itemsize: int) -> None:
    if wire == LENGTH:
        if (end - start) % itemsize:
            raise WireError(f"packed blob data of {end - start} bytes is not a whole number of values")
        blob.segments.append(Segment(start, (end - start) // itemsize, itemsize, itemsize))
        return
    if wire != (FIXED32 if itemsize == 4 else FIXED64):
        raise WireError(f"blob data with wire type {wire}")
    last = blob.segments[-1] if blob.segments else None
    stride = itemsize + 1  # one tag byte per unpacked value (fields 5 and 8 have one-byte tags)
    if last is not None and last.stride == stride and last.offset + last.count * stride == start:
        blob.segments[-1] = Segment(last.offset, last.count + 1, stride, itemsize)
    else:
        blob.segments.append(Segment(start, 1, stride, itemsize))


def _scalars(buf: Any, wire: int, value: int, start: int, end: int, kind: str, where: str) -> list[Any]:
    """A scalar field's value(s); a packed repeated field gives several."""
    if kind == "string":
        if wire != LENGTH:
            raise WireError(f"{where} is not a string (wire type {wire})")
        try:
            return [bytes(buf[start:end]).decode("utf-8")]
        except UnicodeDecodeError as e:
            raise WireError(f"{where} is not UTF-8 text") from e
    if kind == "float":
        if wire == FIXED32:
            return [struct.unpack("<f", value.to_bytes(4, "little"))[0]]
        if wire == LENGTH and (end - start) % 4 == 0:
            return list(struct.unpack(f"<{(end - start) // 4}f", bytes(buf[start:end])))
        raise WireError(f"{where} is not a float (wire type {wire})")
    if kind == "double":
        if wire == FIXED64:
            return [struct.unpack("<d", value.to_bytes(8, "little"))[0]]
        raise WireError(f"{where} is not a double (wire type {wire})")
    if wire == VARINT:
        raw = [value]
    elif wire == LENGTH:
        raw = packed_varints(buf, start, end)
    else:
        raise WireError(f"{where} is not an integer (wire type {wire})")
    if kind in INT_KINDS:
        return [signed(v, INT_KINDS[kind]) for v in raw]
    if kind == "uint32":
        return [v & 0xFFFFFFFF for v in raw]
    if kind == "bool":
        return [bool(v) for v in raw]
    if kind.startswith("enum:"):
        names = ENUMS[kind[5:]]
        return [names.get(signed(v, 32), signed(v, 32)) for v in raw]
    raise WireError(f"{where}: unknown kind {kind}")  # pragma: no cover (schema error)
