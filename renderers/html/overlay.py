"""Parity painted on the graph: a `netinspect check --json` report mapped onto the viewed nodes.

Layers in the report are source layers; a node belongs to one when its provenance names that
layer, or when it computes the layer's compared ONNX value (`target_value`). Model outputs are
matched by the value that holds them. Each matched node gets a status (first divergence, outside
tolerance, within tolerance) and the report's figures; the thresholds are the report's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from netinspect.errors import ModelFormatError
from netinspect.ir import Graph
from netinspect.walk import node_id, walk_scoped

SCHEMA = "netinspect.check/1"
FIGURES = (
    "max_abs_error",
    "max_rel_error",
    "mean_abs_error",
    "cosine_similarity",
    "outside_fraction",
    "top1_agreement",
)
LEGEND = [
    {"status": "first", "text": "first diverging layer"},
    {"status": "fail", "text": "outside tolerance"},
    {"status": "pass", "text": "within tolerance"},
]


def read_report(path: Path) -> dict[str, Any]:
    """The report as JSON, refusing anything that is not a check report (one line, exit 2)."""
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFormatError(f"cannot read the check report: {e}", path) from e
    if not isinstance(report, dict) or report.get("schema") != SCHEMA or not report.get("models"):
        raise ModelFormatError(f"not a netinspect check report (expected schema {SCHEMA!r})", path)
    return report


def _pick_model(report: dict[str, Any], model_path: Path | None) -> dict[str, Any]:
    models = report["models"]
    if model_path is not None:
        wanted = Path(model_path).resolve()
        for model in models:
            for side in ("source", "target"):
                path = (model.get(side) or {}).get("path")
                if path and Path(path).resolve() == wanted:
                    return model
    return models[0]


def overlay(report: dict[str, Any], graph: Graph, model_path: Path | None = None) -> dict[str, Any]:
    """Per node id: status, the layer or output it stands for, and its figures; plus the legend."""
    model = _pick_model(report, model_path)
    layers = model.get("layers") or {}
    first = (layers.get("first_divergence") or {}).get("layer")
    by_layer: dict[str, dict[str, Any]] = {}
    by_value: dict[str, dict[str, Any]] = {}
    for entry in layers.get("compared") or []:
        status = "first" if entry["layer"] == first else ("pass" if entry["passed"] else "fail")
        mark = {
            "status": status,
            "what": f"layer {entry['layer']} ({entry['layer_type']})",
            **_figures(entry),
        }
        by_layer[entry["layer"]] = mark
        by_value[entry["target_value"]] = mark
    for entry in model.get("outputs") or []:
        status = "pass" if entry["passed"] else "fail"
        by_value.setdefault(entry["target_name"], {"status": status, "what": f"output {entry['name']}"})
        by_value[entry["target_name"]].update(_figures(entry))
    nodes: dict[str, dict[str, Any]] = {}
    for k, (node, _) in enumerate(walk_scoped(graph)):
        mark = next((by_value[o] for o in node.outputs if o in by_value), None)
        if mark is None and node.provenance is not None:
            mark = by_layer.get(node.provenance.layer)
        if mark is not None:
            nodes[node_id(k)] = mark
    tolerance = next((o["tolerance"] for o in model.get("outputs") or []), None)
    return {
        "model": model["name"],
        "status": model["status"],
        "tolerance": tolerance,
        "first": first,
        "legend": LEGEND,
        "nodes": nodes,
    }


def _figures(entry: dict[str, Any]) -> dict[str, Any]:
    figures = {k: entry.get(k) for k in FIGURES if entry.get(k) is not None}
    if entry.get("tolerance"):
        figures["rtol"] = entry["tolerance"]["rtol"]
        figures["atol"] = entry["tolerance"]["atol"]
    if entry.get("problem"):
        figures["problem"] = entry["problem"]
    return figures
