"""ONNX operator documentation for the side panel, from the operator schemas the installed `onnx`
ships, at the version the model's opset selects (so a Resize of opset 10 shows opset 10's Resize);
read through netinspect.renderers.onnx_schemas, which remembers them per onnx version."""

from __future__ import annotations

from typing import Any

from netinspect.renderers.onnx_schemas import schema


def operator_doc(op_type: str, domain: str, version: int) -> dict[str, Any] | None:
    """Description, attributes, inputs, outputs and type constraints, or None for an unknown op."""
    record = schema(op_type, domain, version)
    return record["doc"] if record is not None else None
