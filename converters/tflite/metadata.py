"""What a .tflite file says about itself: schema version, description, signatures, metadata entries,
TFLite Support metadata (names, normalization, image inputs) and the labels file it packs after the
flatbuffer (a ZIP of associated files)."""

from __future__ import annotations

import io
import json
import zipfile

from netinspect.converters.tflite.flatbuffer import TflFile
from netinspect.converters.tflite.support_metadata import (
    SupportMetadata,
    preprocessing_fields,
    read_support_metadata,
)
from netinspect.ir import Graph, Preprocessing

LABEL_FILES = ("labels.txt", "labelmap.txt", "label_map.txt")


def describe_model(model: TflFile, graph: Graph) -> None:
    meta = graph.metadata
    meta.format_version = f"TFLite schema v{model.version}, {len(model.subgraphs)} subgraph(s)"
    meta.producer = model.description or "TFLite converter"
    runtime = model.metadata_bytes("min_runtime_version")
    if runtime:
        meta.properties["tflite.min_runtime_version"] = runtime.rstrip(b"\0").decode("ascii", "replace")
    if model.metadata:
        meta.properties["tflite.metadata"] = ", ".join(sorted(model.metadata))
    if model.signatures:
        signatures = {
            s.key: {
                "subgraph": s.subgraph,
                "inputs": {k: _tensor_name(model, s.subgraph, v) for k, v in s.inputs.items()},
                "outputs": {k: _tensor_name(model, s.subgraph, v) for k, v in s.outputs.items()},
            }
            for s in model.signatures
        }
        meta.properties["tflite.signatures"] = json.dumps(signatures, sort_keys=True)
    if len(model.subgraphs) > 1:
        names = [s.name or f"#{s.index}" for s in model.subgraphs[1:]]
        meta.notes.append(
            f"subgraphs besides the main one (If/While bodies, initialisers): {', '.join(names)}"
        )
    support = read_support_metadata(model.metadata_bytes("TFLITE_METADATA") or b"")
    label_file = None
    if support is not None:
        _describe_support(support, graph)
        label_file = next((f for t in support.outputs for f in t.label_files), None)
    labels = _packed_labels(model, label_file)
    if labels:
        meta.labels = labels


def _describe_support(support: SupportMetadata, graph: Graph) -> None:
    meta = graph.metadata
    if support.description:
        meta.doc = support.description
    for key in ("name", "version", "author", "license"):
        if getattr(support, key):
            meta.properties[f"tflite.model_{key}"] = getattr(support, key)
    if support.inputs and graph.inputs:
        fields = preprocessing_fields(support.inputs[0], tuple(graph.inputs[0].shape or ()))
        if fields:
            meta.preprocessing = Preprocessing(**fields)


def _tensor_name(model: TflFile, subgraph: int, index: int) -> str:
    if 0 <= subgraph < len(model.subgraphs) and 0 <= index < len(model.subgraphs[subgraph].tensors):
        return model.subgraphs[subgraph].tensors[index].name
    return f"#{index}"


def _packed_labels(model: TflFile, preferred: str | None) -> list[str] | None:
    """Labels from the associated-files ZIP that TFLite metadata appends to the model, if any: the file
    the metadata names for the output's axis, else a usual labels file name, else any .txt."""
    if b"PK\x05\x06" not in model.buf[-65536:]:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(model.buf[:])) as archive:
            names = archive.namelist()
            chosen = preferred if preferred in names else None
            chosen = chosen or next((n for n in names if n.lower() in LABEL_FILES), None)
            chosen = chosen or next((n for n in names if n.lower().endswith(".txt")), None)
            if chosen is None:
                return None
            text = archive.read(chosen).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    return [line.strip() for line in text.splitlines() if line.strip()]
