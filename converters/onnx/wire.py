"""Protobuf wire-format access to ONNX files, so weights are neither parsed nor held in memory.

`onnx.load` materialises every weight byte; a 1 GB model would cost over 1 GB just to list its
layers. Instead we walk the file's fields over an mmap, copy everything except large initializer
payloads into a small skeleton that onnx parses, and remember where each payload lies. Writing
mirrors this: the graph's lengths are computed up front, then each tensor is streamed into place.
"""

from __future__ import annotations

from dataclasses import dataclass

from netinspect.io.files import MappedFile
from netinspect.protowire import LENGTH, encode_varint, fields, key

# Field numbers from onnx.proto.
MODEL_GRAPH = 7
GRAPH_INITIALIZER = 5
TENSOR_FLOAT_DATA = 4
TENSOR_RAW_DATA = 9
TENSOR_DOUBLE_DATA = 10
PACKED_DATA = (TENSOR_RAW_DATA, TENSOR_FLOAT_DATA, TENSOR_DOUBLE_DATA)

# Payloads smaller than this stay in the skeleton: parsing them costs nothing and keeps the
# constants that shape inference needs (Reshape shapes and the like).
LAZY_THRESHOLD = 1024


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


def scan_model(buf: MappedFile | bytes) -> ScannedModel:
    """Split a serialized ModelProto into a skeleton and the locations of large payloads."""
    size = len(buf)
    skeleton = bytearray()
    initializers: list[ScannedInitializer] = []
    order: list[int] = []
    kept = 0
    for field in fields(buf, 0, size):
        if field.number != MODEL_GRAPH or field.wire != LENGTH:
            skeleton += buf[field.tag : field.end]
            continue
        graph = bytearray()
        for g in fields(buf, field.start, field.end):
            scanned = None
            if g.number == GRAPH_INITIALIZER and g.wire == LENGTH and g.end - g.start > LAZY_THRESHOLD:
                scanned = _scan_tensor(buf, g.start, g.end)
            if scanned is None:
                graph += buf[g.tag : g.end]
                if g.number == GRAPH_INITIALIZER:
                    order.append(-1 - kept)
                    kept += 1
            else:
                order.append(len(initializers))
                initializers.append(scanned)
        skeleton += key(MODEL_GRAPH, LENGTH) + encode_varint(len(graph)) + graph
    return ScannedModel(bytes(skeleton), initializers, order)


def _scan_tensor(buf: MappedFile | bytes, start: int, end: int) -> ScannedInitializer | None:
    header = bytearray()
    payload = None
    for field in fields(buf, start, end):
        packed = field.wire == LENGTH and field.number in PACKED_DATA
        if packed and payload is None:
            payload = Payload(field.number, field.start, field.end - field.start)
        else:
            header += buf[field.tag : field.end]
    return None if payload is None else ScannedInitializer(bytes(header), payload)


def initializer_prefix(header: bytes, payload_length: int) -> bytes:
    """Bytes that precede a tensor's raw data when it is streamed as a GraphProto initializer."""
    raw_key = key(TENSOR_RAW_DATA, LENGTH) + encode_varint(payload_length)
    body_length = len(header) + len(raw_key) + payload_length
    return key(GRAPH_INITIALIZER, LENGTH) + encode_varint(body_length) + header + raw_key


def graph_field_prefix(graph_length: int) -> bytes:
    return key(MODEL_GRAPH, LENGTH) + encode_varint(graph_length)
