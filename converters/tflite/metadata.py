"""What a .tflite file says about itself: schema version, description, signatures, metadata entries
and the labels file TFLite Support packs after the flatbuffer (a ZIP of associated files)."""

from __future__ import annotations

import io
import json
import zipfile

from netinspect.converters.tflite.flatbuffer import TflFile
from netinspect.ir import Graph

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
    labels = _packed_labels(model)
    if labels:
        meta.labels = labels


def _tensor_name(model: TflFile, subgraph: int, index: int) -> str:
    if 0 <= subgraph < len(model.subgraphs) and 0 <= index < len(model.subgraphs[subgraph].tensors):
        return model.subgraphs[subgraph].tensors[index].name
    return f"#{index}"


def _packed_labels(model: TflFile) -> list[str] | None:
    """Labels from the associated-files ZIP that TFLite metadata appends to the model, if any."""
    if b"PK\x05\x06" not in model.buf[-65536:]:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(model.buf[:])) as archive:
            names = archive.namelist()
            chosen = next((n for n in names if n.lower() in LABEL_FILES), None)
            chosen = chosen or next((n for n in names if n.lower().endswith(".txt")), None)
            if chosen is None:
                return None
            text = archive.read(chosen).decode("utf-8", "replace")
    except (zipfile.BadZipFile, OSError, KeyError):
        return None
    return [line.strip() for line in text.splitlines() if line.strip()]
