"""Is a file a Caffe net? A .caffemodel has no magic number and a prototxt no header, so both are
recognised by parsing their first bytes as a `NetParameter`, binary or text (importing no converter;
see netinspect.registry)."""

from __future__ import annotations

import re

from netinspect.converters.caffe.schema import MESSAGES
from netinspect.protowire import LENGTH, WireError, fields, varint
from netinspect.registry import Companion, Probe, Reader, Runtime

_NET_FIELDS = {name for name, _ in MESSAGES["NetParameter"].values()} | {"force_backward", "debug_info"}
_TEXT_FIELD = re.compile(r"\s*([A-Za-z_]+)\s*(:|\{)")
_COMMENT = re.compile(r"#[^\n]*")
_LAYER_TEXT = re.compile(r"\b(layers?)\s*:?\s*[{<]")


def is_caffemodel(head: bytes, size: int) -> bool:
    """The head parses as NetParameter fields up to a layer (V1 `layers` = 2, V2 `layer` = 100)
    whose own fields, as far as the head holds them, include a printable name."""
    pos = 0
    try:
        while pos < len(head):
            key, after = varint(head, pos, len(head))
            number, wire = key >> 3, key & 7
            if number == 4 and wire == 0:  # input_dim
                pos = varint(head, after, len(head))[1]
                continue
            if wire != LENGTH or number not in (1, 2, 3, 4, 6, 8, 100):
                return False
            length, start = varint(head, after, len(head))
            if start + length > size:
                return False
            if number in (2, 100):
                return _looks_like_layer(head, start, min(start + length, len(head)), v1=number == 2)
            if number in (1, 3) and start + length <= len(head) and not _text(head[start : start + length]):
                return False
            pos = start + length
    except WireError:
        return False
    return False


def _looks_like_layer(buf: bytes, start: int, end: int, v1: bool) -> bool:
    name_field = 4 if v1 else 1
    try:
        for f in fields(buf, start, end):
            if f.number == name_field and f.wire == LENGTH:
                return _text(buf[f.start : f.end])
    except WireError:
        return False  # the head ends inside the layer before its name
    return False


def _text(raw: bytes) -> bool:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return text.isprintable()


def is_prototxt(head: bytes) -> bool:
    """Text whose first field is a NetParameter field, with a `layer {`/`layers {` or `input:`."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:
            return False
        text = head[: e.start].decode("utf-8")
    if "\0" in text:
        return False
    text = _COMMENT.sub("", text)
    first = _TEXT_FIELD.match(text)
    if first is None or first.group(1) not in _NET_FIELDS:
        return False
    return bool(_LAYER_TEXT.search(text)) or bool(re.search(r"\binput\s*:", text))


def match(probe: Probe) -> str | None:
    if is_prototxt(probe.head):
        return "prototxt"
    if is_caffemodel(probe.head, probe.size):
        return "caffemodel"
    return None


READER = Reader(
    name="caffe",
    description="Caffe nets: deploy .prototxt (+ --weights .caffemodel) or a .caffemodel alone; V1, V2",
    supports="read, convert to ONNX, check against OpenCV's Caffe importer",
    match=match,
    open="netinspect.converters.caffe.reader:open_graph",
    runtime=Runtime(
        "caffe-opencv",
        "netinspect.check.runtimes.caffe",
        "OpenCVCaffeRunner.from_probe",
        "netinspect[caffe]",
        ("cv2",),
    ),
    priority=50,  # text and untagged protobuf: tried after every format with a signature
    companions=(Companion("weights", "the .caffemodel holding a deploy prototxt's weights."),),
)
