"""Protobuf wire-format access to ONNX files, so weights are neither parsed nor held in memory.

`onnx.load` materialises every weight byte; a 1 GB model would cost over 1 GB just to list its
layers. Instead we walk the file's fields over an mmap, copy everything except large initializer
payloads into a small skeleton that onnx parses, and remember where each payload lies. Writing
mirrors this: the graph's lengths are computed up front, then each tensor is streamed into place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from netinspect.io.files import MappedFile

# Field numbers from onnx.proto.
MODEL_GRAPH = 7
GRAPH_INITIALIZER = 5
TENSOR_FLOAT_DATA = 4
TENSOR_RAW_DATA = 9
TENSOR_DOUBLE_DATA = 10

WIRE_VARINT, WIRE_64BIT, WIRE_LEN, WIRE_32BIT = 0, 1, 2, 5

# Payloads smaller than this stay in the skeleton: parsing them costs nothing and keeps the
# constants that shape inference needs (Reshape shapes and the like).
LAZY_THRESHOLD = 1024


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


@dataclass(frozen=True)
class Payload:
    """Where an initializer's packed data lies in the file."""

    field: int
    offset: int
    length: int


@dataclass
class ScannedInitializer:
    """An initializer with its payload cut out: `header` is the TensorProto without it."""

    header: bytes
    payload: Payload


@dataclass
class ScannedModel:
    skeleton: bytes
    initializers: list[ScannedInitializer]
    order: list[int]
    """For each initializer in file order: index into `initializers` if lazy, else -1-k where k is
    its index among the initializers left in the skeleton."""


def read_varint(buf: MappedFile | bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError(f"truncated or overlong varint at byte {pos}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def key(field: int, wire_type: int) -> bytes:
    return encode_varint(field << 3 | wire_type)


def iter_fields(buf: MappedFile | bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """Yield (field, wire_type, field_start, value_start, field_end) for each field in [start, end)."""
    pos = start
    while pos < end:
        field_start = pos
        tag, pos = read_varint(buf, pos, end)
        field, wire_type = tag >> 3, tag & 7
        if field == 0:
            raise WireError(f"field number 0 at byte {field_start}")
        if wire_type == WIRE_VARINT:
            _, value_end = read_varint(buf, pos, end)
            value_start = pos
        elif wire_type == WIRE_64BIT:
            value_start, value_end = pos, pos + 8
        elif wire_type == WIRE_32BIT:
            value_start, value_end = pos, pos + 4
        elif wire_type == WIRE_LEN:
            length, value_start = read_varint(buf, pos, end)
            value_end = value_start + length
        else:
            raise WireError(f"unsupported wire type {wire_type} at byte {field_start}")
        if value_end > end:
            raise WireError(f"field {field} at byte {field_start} runs past the end of its message")
        pos = value_end
        yield field, wire_type, field_start, value_start, value_end


def scan_model(buf: MappedFile | bytes) -> ScannedModel:
    """Split a serialized ModelProto into a skeleton and the locations of large payloads."""
    size = len(buf)
    skeleton = bytearray()
    initializers: list[ScannedInitializer] = []
    order: list[int] = []
    kept = 0
    for field, wire_type, f_start, v_start, v_end in iter_fields(buf, 0, size):
        if field != MODEL_GRAPH or wire_type != WIRE_LEN:
            skeleton += buf[f_start:v_end]
            continue
        graph = bytearray()
        for g_field, g_wire, g_start, gv_start, gv_end in iter_fields(buf, v_start, v_end):
            scanned = None
            if g_field == GRAPH_INITIALIZER and g_wire == WIRE_LEN and gv_end - gv_start > LAZY_THRESHOLD:
                scanned = _scan_tensor(buf, gv_start, gv_end)
            if scanned is None:
                graph += buf[g_start:gv_end]
                if g_field == GRAPH_INITIALIZER:
                    order.append(-1 - kept)
                    kept += 1
            else:
                order.append(len(initializers))
                initializers.append(scanned)
        skeleton += key(MODEL_GRAPH, WIRE_LEN) + encode_varint(len(graph)) + graph
    return ScannedModel(bytes(skeleton), initializers, order)


def _scan_tensor(buf: MappedFile | bytes, start: int, end: int) -> ScannedInitializer | None:
    header = bytearray()
    payload = None
    for field, wire_type, f_start, v_start, v_end in iter_fields(buf, start, end):
        packed = wire_type == WIRE_LEN and field in (TENSOR_RAW_DATA, TENSOR_FLOAT_DATA, TENSOR_DOUBLE_DATA)
        if packed and payload is None:
            payload = Payload(field, v_start, v_end - v_start)
        else:
            header += buf[f_start:v_end]
    return None if payload is None else ScannedInitializer(bytes(header), payload)


def initializer_prefix(header: bytes, payload_length: int) -> bytes:
    """Bytes that precede a tensor's raw data when it is streamed as a GraphProto initializer."""
    raw_key = key(TENSOR_RAW_DATA, WIRE_LEN) + encode_varint(payload_length)
    body_length = len(header) + len(raw_key) + payload_length
    return key(GRAPH_INITIALIZER, WIRE_LEN) + encode_varint(body_length) + header + raw_key


def graph_field_prefix(graph_length: int) -> bytes:
    return key(MODEL_GRAPH, WIRE_LEN) + encode_varint(graph_length)
