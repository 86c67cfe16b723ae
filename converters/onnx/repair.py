"""Checking an ONNX source, and repairing the defects whose fix netinspect can infer.

Exporters leave some files that onnx.checker refuses although nothing is lost: a graph output
declared without a type (shape inference knows it), a domain used without an opset import (the
ops used say which version). Those are repaired on read and each repair becomes a note in the
model's metadata. Anything else (an op no schema knows, an input of unknown type) stays, and the
checker's message is kept so `convert` can say that the source, not the export, fails.
"""

from __future__ import annotations

import onnx
from onnx import helper

from netinspect.converters.onnx.types import from_proto
from netinspect.ir import type_string


def weightless(model: onnx.ModelProto, initializers: list[onnx.TensorProto]) -> onnx.ModelProto:
    """A copy whose initializers cut out of the skeleton are declared as graph inputs, so onnx's
    shape inference and checker see every value without its bytes."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    declared = {i.name for i in probe.graph.input}
    for header in initializers:
        if header.name not in declared:
            declared_input = helper.make_tensor_value_info(header.name, header.data_type, header.dims)
            probe.graph.input.append(declared_input)
    if probe.ir_version < 4:
        probe.ir_version = 4  # inputs without initializers are legal from IR 4
    return probe


def repair(model: onnx.ModelProto, initializers: list[onnx.TensorProto]) -> list[str]:
    """Fix `model` in place where the fix is certain; one note per repair."""
    notes = _add_missing_opsets(model)
    untyped = [v for v in (*model.graph.input, *model.graph.output) if v.type.WhichOneof("value") is None]
    if untyped:
        notes += _type_from_inference(model, initializers, untyped)
    return notes


def _used_domains(graph: onnx.GraphProto, used: dict[str, set[str]]) -> None:
    for node in graph.node:
        used.setdefault(node.domain if node.domain != "ai.onnx" else "", set()).add(node.op_type)
        for attr in node.attribute:
            for sub in [attr.g] if attr.HasField("g") else attr.graphs:
                _used_domains(sub, used)


def _add_missing_opsets(model: onnx.ModelProto) -> list[str]:
    imported = {o.domain if o.domain != "ai.onnx" else "" for o in model.opset_import}
    used: dict[str, set[str]] = {}
    _used_domains(model.graph, used)
    notes = []
    for domain, ops in sorted(used.items()):
        if domain in imported:
            continue
        versions = _since_versions(domain, ops)
        version = max(versions, default=1)
        model.opset_import.append(helper.make_opsetid(domain, version))
        why = (
            f"the first in which every op used from it ({', '.join(sorted(ops))}) has its current definition"
            if versions
            else "onnx knows no ops of that domain"
        )
        notes.append(
            f"repaired: domain {domain or 'ai.onnx'!r} was used without an opset import; "
            f"imported version {version}, {why}"
        )
    return notes


def _since_versions(domain: str, ops: set[str]) -> list[int]:
    """The versions that introduced the latest definition of each op onnx knows."""
    versions = []
    for op in ops:
        try:
            versions.append(onnx.defs.get_schema(op, domain).since_version)
        except onnx.defs.SchemaError:
            continue
    return versions


def _type_from_inference(
    model: onnx.ModelProto, initializers: list[onnx.TensorProto], untyped: list[onnx.ValueInfoProto]
) -> list[str]:
    try:
        inferred = onnx.shape_inference.infer_shapes(weightless(model, initializers), strict_mode=False)
    except Exception:  # inference is best effort: without it the defect simply stays
        return []
    known = {v.name: v for v in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input)}
    notes = []
    for v in untyped:
        found = known.get(v.name)
        if found is None or found.type.WhichOneof("value") is None:
            continue
        t = from_proto(found.type)
        if t is None or (found.type.HasField("tensor_type") and not found.type.tensor_type.elem_type):
            continue
        v.type.CopyFrom(found.type)
        notes.append(f"repaired: {v.name!r} was declared without a type; inferred {type_string(t)}")
    return notes


def checker_error(model: onnx.ModelProto) -> str | None:
    """onnx.checker's first line (full check, with shape inference) for the weightless model, or None."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        return str(e).strip().splitlines()[0]
    return None
