"""Is this file ONNX? Decided from its head bytes without importing onnx (see netinspect.registry)."""

from __future__ import annotations

from netinspect.protowire import WireError, fields
from netinspect.registry import Probe, Reader, Runtime


def match(probe: Probe) -> str | None:
    """An ONNX file is a ModelProto: it starts with field 1 (ir_version, varint) in practice,
    but exporters may order fields freely, so we accept any well-formed leading ModelProto field
    and confirm a graph field exists within the head."""
    head = probe.head
    if not head or head[0] not in (0x08, 0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42):
        return None
    try:
        leading = []
        for field in fields(head, 0, len(head)):
            leading.append((field.number, field.wire))
            if len(leading) >= 3:
                break
    except WireError as e:
        # A field that runs past the head is fine (the graph usually does); garbage is not.
        if "runs past" not in str(e):
            return None
    wire_of = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}
    if leading and all(wire_of.get(f) == w for f, w in leading):
        return "onnx"
    if not leading and head[0] == 0x3A:  # a lone graph field larger than the head
        return "onnx"
    return None


READER = Reader(
    name="onnx",
    description="ONNX model (ModelProto protobuf)",
    supports="IR 3+, every opset the installed onnx knows; If/Loop/Scan subgraphs; sequence, map and "
    "optional values; local functions; external data (inside the model's folder only); weights read lazily",
    match=match,
    open="netinspect.converters.onnx.reader:open_graph",
    runtime=Runtime(
        "onnxruntime",
        "netinspect.check.runtimes.onnxruntime",
        "OnnxRuntimeRunner.from_probe",
        packages=("onnxruntime",),
    ),
    priority=10,
)
