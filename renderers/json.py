"""`check --json`: the report for programs.

The layout is a contract, documented in netinspect/schemas/check.schema.json: the same shape for
one model and for a suite (a list of models), numbers that are not finite written as null.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netinspect._version import __version__
from netinspect.check.compare import Comparison
from netinspect.check.divergence import LayerCheck
from netinspect.check.result import CheckResult, OutputResult, counts
from netinspect.io.files import atomic_write
from netinspect.jsonsafe import finite

SCHEMA_ID = "netinspect.check/1"


def _number(value: float | int | None) -> float | int | None:
    return finite(value)


def _tolerance(comparison: Comparison) -> dict[str, Any]:
    t = comparison.tolerance
    return {"rtol": t.rtol, "atol": t.atol, "quant_step": t.quant_step, "steps": t.steps}


def _figures(comparison: Comparison) -> dict[str, Any]:
    return {
        "max_abs_error": _number(comparison.max_abs_error),
        "max_rel_error": _number(comparison.max_rel_error),
        "mean_abs_error": _number(comparison.mean_abs_error),
        "cosine_similarity": _number(comparison.cosine_similarity),
        "outside_count": comparison.outside_count,
        "outside_fraction": _number(comparison.outside_fraction),
        "top1_agreement": comparison.top1_agreement,
        "top5_agreement": comparison.top5_agreement,
        "max_error_steps": _number(comparison.max_error_steps),
        "reference_kernels": None
        if comparison.kernels is None
        else {
            "spread": _number(comparison.kernels.spread),
            "spread_between": list(comparison.kernels.spread_between),
            "spread_fraction": _number(comparison.kernels.spread_fraction),
            "errors": {label: _number(e) for label, e in comparison.kernels.errors.items()},
            "closest": comparison.kernels.closest,
            "within_spread": comparison.kernels.within_spread,
        },
    }


def _output_json(output: OutputResult) -> dict[str, Any]:
    shown = output.worst
    aggregate = {key: _number(value) for key, value in output.aggregate().items()}
    return {
        "name": output.name,
        "target_name": output.target_name,
        "passed": output.passed,
        "dtype": shown.dtype,
        "source_shape": list(shown.source_shape),
        "target_shape": list(shown.target_shape),
        "tolerance": _tolerance(shown),
        "runs": len(output.runs),
        "failed_runs": output.failed_runs,
        **aggregate,
        "worst_index": list(shown.worst_index) if shown.worst_index is not None else None,
        "problem": next((c.problem for c in output.runs if c.problem), None),
    }


def _layer_json(check: LayerCheck) -> dict[str, Any]:
    c = check.comparison
    return {
        "layer": check.pair.layer,
        "layer_type": check.pair.layer_type,
        "source_value": check.pair.source_value,
        "target_value": check.pair.target_value,
        "passed": c.passed,
        "source_shape": list(c.source_shape),
        "target_shape": list(c.target_shape),
        "tolerance": _tolerance(c),
        **_figures(c),
        "problem": c.problem,
    }


def _layers_json(result: CheckResult) -> dict[str, Any] | None:
    search = result.layers
    if search is None:
        return None
    divergence = None
    if search.divergence is not None:
        previous = search.last_passing
        divergence = {
            **_layer_json(search.divergence),
            "transforms": [{"kind": s.kind, "text": s.text} for s in search.divergence.pair.steps],
            "last_matching_layer": previous.pair.layer if previous is not None else None,
        }
    return {
        "strategy": search.strategy,
        "exhaustive": search.exhaustive,
        "run": result.layer_run,
        "source_runs": search.source_runs,
        "target_runs": search.target_runs,
        "peak_chunk_bytes": search.peak_chunk_bytes,
        "compared": [_layer_json(c) for c in search.checks],
        "first_divergence": divergence,
        "unmatched_layers": result.unmatched_layers,
    }


def model_json(result: CheckResult) -> dict[str, Any]:
    inputs = result.inputs
    return {
        "name": result.name,
        "status": result.status,
        "passed": result.passed,
        "error": result.error,
        "source": vars(result.source).copy(),
        "target": vars(result.target).copy(),
        "inputs": None
        if inputs is None
        else {
            "kind": inputs.kind,
            "seed": inputs.seed,
            "runs": inputs.runs,
            "shapes": {k: list(v) for k, v in inputs.shapes.items()},
            "dtypes": dict(inputs.dtypes),
            "files": dict(inputs.files),
            "chosen": list(inputs.chosen),
        },
        "outputs": [_output_json(o) for o in result.outputs],
        "layers": _layers_json(result),
        "timings": {k: round(v, 6) for k, v in result.timings.items()},
    }


def to_json(results: Sequence[CheckResult]) -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "netinspect_version": __version__,
        "passed": all(r.passed for r in results) and bool(results),
        "summary": counts(results),
        "models": [model_json(r) for r in results],
    }


def write_json(results: Sequence[CheckResult], path: Path) -> None:
    text = json.dumps(to_json(results), indent=2, allow_nan=False) + "\n"
    with atomic_write(path) as f:
        f.write(text.encode("utf-8"))
