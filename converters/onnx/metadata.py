"""netinspect's metadata in ONNX files, both directions, in one place.

What an ONNX file cannot say in its own fields travels in `metadata_props` under `netinspect.`
keys: `provenance` (JSON: node name → framework, layer, layer_type, steps), `labels`,
`label_descriptions`, `preprocessing`, `notes` (JSON), `source_format`, `source_producer_name` and
`source_producer_version` (the program that wrote the source, since netinspect names itself the
producer), and any other `netinspect.*` property the pipeline sets (e.g. `netinspect.io_layout`,
written by the layout pass), which is kept verbatim. The model's own fields (IR version,
producer, doc string, model version, domain) are read and written here too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from netinspect._version import __version__
from netinspect.errors import ModelFormatError
from netinspect.ir import Graph, Metadata, Preprocessing, Provenance, Step

PREFIX = "netinspect."
PRODUCER = "netinspect"
_PREPROCESSING_FIELDS = ("mean", "std", "image_size", "channel_order", "input_layout", "value_range")
_TYPED = frozenset(
    PREFIX + k
    for k in (
        "provenance",
        "labels",
        "label_descriptions",
        "preprocessing",
        "notes",
        "source_format",
        "source_producer_name",
        "source_producer_version",
    )
)


# --- reading ----------------------------------------------------------------------------------------


def read(model: onnx.ModelProto, path: Path) -> tuple[Metadata, dict[str, Provenance]]:
    """The model's Metadata and the provenance netinspect stored for its nodes (by node name)."""
    props = {p.key: p.value for p in model.metadata_props}

    def json_prop(name: str) -> Any:
        text = props.get(PREFIX + name)
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelFormatError(f"metadata {PREFIX + name} is not valid JSON: {e}", path) from e

    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
    name, version = model.producer_name, model.producer_version
    stored = (props.get(PREFIX + "source_producer_name"), props.get(PREFIX + "source_producer_version"))
    meta = Metadata(
        source_format=props.get(PREFIX + "source_format", "onnx"),
        format_version=f"IR {model.ir_version}, opset {opsets}",
        producer=" ".join(x for x in (name, version) if x),
        doc=model.doc_string,
        labels=json_prop("labels"),
        label_descriptions=json_prop("label_descriptions"),
        properties={k: v for k, v in props.items() if k not in _TYPED},
        notes=list(json_prop("notes") or []),
        ir_version=model.ir_version,
        source_producer=(stored[0] or "", stored[1] or "")
        if any(stored)
        else ((name, version) if name or version else None),
        model_version=model.model_version if model.HasField("model_version") else None,
        domain=model.domain,
    )
    pre = json_prop("preprocessing")
    if pre:
        meta.preprocessing = Preprocessing(
            mean=pre.get("mean"),
            std=pre.get("std"),
            image_size=tuple(pre["image_size"]) if pre.get("image_size") else None,
            channel_order=pre.get("channel_order"),
            input_layout=pre.get("input_layout"),
            value_range=tuple(pre["value_range"]) if pre.get("value_range") else None,
            extra=pre.get("extra", {}),
        )
    provenance = {
        node: Provenance(p["framework"], p["layer"], p["layer_type"], [Step(*s) for s in p.get("steps", [])])
        for node, p in (json_prop("provenance") or {}).items()
    }
    return meta, provenance


# --- writing ----------------------------------------------------------------------------------------


def provenance_json(p: Provenance) -> dict[str, Any]:
    return {
        "framework": p.framework,
        "layer": p.layer,
        "layer_type": p.layer_type,
        "steps": [[s.kind, s.text] for s in p.steps],
    }


def provenance_sentence(p: Provenance) -> str:
    """The node doc_string netinspect writes for a node it transformed."""
    steps = "; ".join(f"{s.kind}: {s.text}" for s in p.steps)
    return f"from {p.framework} {p.layer_type} {p.layer!r}" + (f" ({steps})" if steps else "")


def write(model: onnx.ModelProto, graph: Graph, provenance: dict[str, Any]) -> None:
    """Set the model's own fields and metadata_props from the graph's metadata."""
    meta = graph.metadata
    model.producer_name = PRODUCER
    model.producer_version = __version__
    model.doc_string = meta.doc
    model.domain = meta.domain
    if meta.model_version is not None:
        model.model_version = meta.model_version
    props: dict[str, str] = dict(meta.properties)
    if meta.source_format and meta.source_format != "onnx":
        props[PREFIX + "source_format"] = meta.source_format
    source = meta.source_producer or ((meta.producer, "") if meta.producer else None)
    if source is not None and source[0] != PRODUCER:
        props[PREFIX + "source_producer_name"], props[PREFIX + "source_producer_version"] = source
    if meta.labels:
        props[PREFIX + "labels"] = json.dumps(meta.labels)
    if meta.label_descriptions:
        props[PREFIX + "label_descriptions"] = json.dumps(meta.label_descriptions)
    if meta.notes:
        props[PREFIX + "notes"] = json.dumps(meta.notes, ensure_ascii=False)
    pre = meta.preprocessing
    if not pre.is_empty():
        props[PREFIX + "preprocessing"] = json.dumps(_preprocessing_json(pre), default=str)
    if provenance:
        props[PREFIX + "provenance"] = json.dumps(provenance, ensure_ascii=False)
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)


def _preprocessing_json(pre: Preprocessing) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in _PREPROCESSING_FIELDS:
        value = getattr(pre, field)
        if value is not None:
            out[field] = list(value) if isinstance(value, tuple) else value
    if pre.mean_image is not None:
        out.setdefault("extra", {})["mean_image_shape"] = list(pre.mean_image.shape)
    if pre.extra:
        out.setdefault("extra", {}).update(pre.extra)
    return out
