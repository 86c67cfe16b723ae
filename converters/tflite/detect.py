"""Is this file TFLite? Told from its flatbuffer identifier, importing no converter (netinspect.registry)."""

from __future__ import annotations

from netinspect.registry import FormatOption, Probe, Reader, Runtime

IDENTIFIER = b"TFL3"


def match(probe: Probe) -> str | None:
    """ "TFL3" at bytes 4–7; other "TFL" identifiers are claimed too, to be refused by name."""
    return "tflite" if probe.head[4:7] == IDENTIFIER[:3] else None


READER = Reader(
    name="tflite",
    description="TensorFlow Lite flatbuffers (.tflite): float32, float16, dynamic-range and int8/uint8",
    supports="read, convert to ONNX (QDQ for quantized models), check against the LiteRT interpreter",
    match=match,
    open="netinspect.converters.tflite.reader:open_graph",
    runtime=Runtime(
        "litert",
        "netinspect.check.runtimes.litert",
        "LiteRTRunner.from_probe",
        "netinspect[tflite]",
        ("ai_edge_litert",),
    ),
    priority=20,
    operators="netinspect.converters.tflite.operators:operator_status",
    options=(
        FormatOption(
            "exact-int8",
            "on: int8 and uint8 operators (convolutions, FULLY_CONNECTED, BATCH_MATMUL, pools, MEAN/SUM, "
            "ADD/SUB/MUL/DIV, activations, SOFTMAX, QUANTIZE, resizes, TRANSPOSE_CONV…) computed as "
            "TFLite's reference integer kernels (int64 fixed point, tables); check then compares against "
            "LiteRT's reference kernels and demands 0 steps.",
            ("on", "off"),
        ),
    ),
)
