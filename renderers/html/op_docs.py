"""ONNX operator documentation for the side panel, from the operator schemas the installed `onnx`
ships, at the version the model's opset selects (so a Resize of opset 10 shows opset 10's Resize)."""

from __future__ import annotations

from typing import Any

import onnx.defs
import onnx.helper


def operator_doc(op_type: str, domain: str, version: int) -> dict[str, Any] | None:
    """Description, attributes, inputs, outputs and type constraints, or None for an unknown op."""
    try:
        schema = onnx.defs.get_schema(op_type, version, "" if domain == "ai.onnx" else domain)
    except onnx.defs.SchemaError:
        return None
    return {
        "name": schema.name,
        "domain": schema.domain or "ai.onnx",
        "since": schema.since_version,
        "deprecated": schema.deprecated,
        "doc": (schema.doc or "").strip(),
        "attributes": [
            {
                "name": a.name,
                "type": a.type.name.lower(),
                "required": a.required,
                "description": a.description.strip(),
                "default": _default(a),
            }
            for a in schema.attributes.values()
        ],
        "inputs": [_formal(p) for p in schema.inputs],
        "outputs": [_formal(p) for p in schema.outputs],
        "constraints": [
            {"parameter": c.type_param_str, "types": list(c.allowed_type_strs), "description": c.description}
            for c in schema.type_constraints
        ],
    }


def _formal(p: onnx.defs.OpSchema.FormalParameter) -> dict[str, Any]:
    option = {
        onnx.defs.OpSchema.FormalParameterOption.Optional: "optional",
        onnx.defs.OpSchema.FormalParameterOption.Variadic: "variadic",
    }.get(p.option, "")
    return {"name": p.name, "type": p.type_str, "option": option, "description": p.description.strip()}


def _default(attr: onnx.defs.OpSchema.Attribute) -> str | None:
    if not attr.default_value.name:
        return None
    value = onnx.helper.get_attribute_value(attr.default_value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
