"""Check results for people (a rich table), for programs (JSON) and for CI (JUnit XML).

The JSON layout is a contract, documented in netinspect/schemas/check.schema.json: the same
shape for one model and for a suite (a list of models), numbers that are not finite written
as null. JUnit has one testsuite per model and one testcase per model output, so CI systems
show which output of which model failed, with the figures in the failure message.
"""

from __future__ import annotations

import json
import math
import platform
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from netinspect._version import __version__
from netinspect.check.compare import Comparison
from netinspect.check.divergence import LayerCheck, LayerSearch
from netinspect.check.result import CheckResult, OutputResult
from netinspect.fileio import atomic_write
from netinspect.renderers.formatting import format_shape

SCHEMA_ID = "netinspect.check/1"


# ----------------------------------------------------------------------------------------- JSON


def _number(value: float | int | None) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


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
        },
        "outputs": [_output_json(o) for o in result.outputs],
        "layers": _layers_json(result),
        "timings": {k: round(v, 6) for k, v in result.timings.items()},
    }


def counts(results: Sequence[CheckResult]) -> dict[str, int]:
    return {
        "models": len(results),
        "passed": sum(r.status == "passed" for r in results),
        "failed": sum(r.status == "failed" for r in results),
        "errors": sum(r.status == "error" for r in results),
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


# ---------------------------------------------------------------------------------------- JUnit


def _failure_text(result: CheckResult, output: OutputResult) -> str:
    """Every failing run's figures, then where the mismatch starts."""
    several = len(output.runs) > 1
    lines = [
        c.summary() + (f" [run {i}]" if several else "") for i, c in enumerate(output.runs) if not c.passed
    ]
    lines.append(divergence_sentence(result))
    return "\n".join(line for line in lines if line)


def divergence_sentence(result: CheckResult) -> str:
    """Where the mismatch starts, in one paragraph (JUnit failure bodies, terminal)."""
    search = result.layers
    if search is None:
        return ""
    if search.divergence is None:
        if result.passed:
            return f"all {len(search.checks)} compared layers are within tolerance"
        return (
            f"no paired layer leaves tolerance ({len(search.checks)} compared); the difference arises in "
            "layers the conversion has no counterpart for"
            + (f": {', '.join(result.unmatched_layers[-5:])}" if result.unmatched_layers else "")
        )
    d = search.divergence
    previous = search.last_passing
    figures = d.comparison.summary(with_name=False)
    text = f"first diverging layer: {d.pair.layer} ({d.pair.layer_type}) — {figures}"
    if previous is not None:
        text += f"; last matching layer: {previous.pair.layer}"
    if d.pair.steps:
        text += "; its conversion steps: " + "; ".join(f"{s.kind}: {s.text}" for s in d.pair.steps)
    return text


def to_junit(results: Sequence[CheckResult]) -> ET.Element:
    root = ET.Element("testsuites", name="netinspect check")
    total = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    stamp = datetime.now(UTC).replace(microsecond=0).isoformat()
    for result in results:
        seconds = result.timings.get("total", 0.0)
        total_time += seconds
        suite = ET.SubElement(root, "testsuite", name=result.name, timestamp=stamp, hostname=platform.node())
        properties = ET.SubElement(suite, "properties")
        for key, value in (
            ("source", result.source.path or ""),
            ("source_runtime", result.source.runtime),
            ("target", result.target.path or "converted in memory"),
            ("target_runtime", result.target.runtime),
            ("inputs", _inputs_text(result)),
        ):
            ET.SubElement(properties, "property", name=key, value=value)
        classname = f"netinspect.check.{result.name}"
        tests = failures = errors = 0
        if result.error is not None:
            case = ET.SubElement(suite, "testcase", name="check", classname=classname, time=f"{seconds:.3f}")
            error = ET.SubElement(case, "error", message=result.error, type="NetinspectError")
            error.text = result.error
            tests, errors = 1, 1
        per_case = seconds / max(1, len(result.outputs))
        for output in result.outputs:
            case = ET.SubElement(
                suite, "testcase", name=output.name, classname=classname, time=f"{per_case:.3f}"
            )
            tests += 1
            if not output.passed:
                failures += 1
                failure = ET.SubElement(
                    case, "failure", message=output.worst.summary(), type="ToleranceExceeded"
                )
                failure.text = _failure_text(result, output)
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", "0")
        suite.set("time", f"{seconds:.3f}")
        total["tests"] += tests
        total["failures"] += failures
        total["errors"] += errors
    for key, value in total.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.3f}")
    return root


def _inputs_text(result: CheckResult) -> str:
    inputs = result.inputs
    if inputs is None:
        return ""
    shapes = ", ".join(f"{name} {tuple(shape)}" for name, shape in inputs.shapes.items())
    if inputs.kind == "random":
        return f"random, seed {inputs.seed}, {inputs.runs} run(s): {shapes}"
    return f"{inputs.kind}: " + ", ".join(f"{k}={v}" for k, v in inputs.files.items())


def write_junit(results: Sequence[CheckResult], path: Path) -> None:
    tree = ET.ElementTree(to_junit(results))
    ET.indent(tree)
    with atomic_write(path) as f:
        tree.write(f, encoding="utf-8", xml_declaration=True)


# ------------------------------------------------------------------------------------- terminal


def _fmt(value: float | None, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def print_result(result: CheckResult, console: Console) -> None:
    """Which models and inputs, the per-output table, then where a mismatch starts."""
    target = result.target.path or "SOURCE converted in memory"
    source = f"{result.source.path} ({result.source.runtime})"
    console.print(f"[bold]{result.name}[/]: {source} vs {target} ({result.target.runtime})", highlight=False)
    if result.error is not None:
        console.print(f"[bold red]ERROR[/] {result.error}", highlight=False)
        return
    if result.inputs is not None:
        console.print(f"inputs: {_inputs_text(result)}", highlight=False)
    tolerances = sorted({o.tolerance.describe() for o in result.outputs})
    if tolerances:
        console.print(f"tolerance: {'; '.join(tolerances)}", highlight=False)
    classifier = any(o.aggregate()["top1_agreement"] is not None for o in result.outputs)
    columns = ["output", "shape", "max abs", "max rel", "mean abs", "cosine", "outside"]
    columns += ["top-1", "top-5"] if classifier else []
    table = Table()
    for column in [*columns, "result"]:
        table.add_column(column, justify="left" if column in ("output", "shape", "result") else "right")
    for output in result.outputs:
        figures = output.aggregate()
        cells = [
            output.name,
            format_shape(output.worst.source_shape),
            _fmt(figures["max_abs_error"]),
            _fmt(figures["max_rel_error"]),
            _fmt(figures["mean_abs_error"]),
            _fmt(figures["cosine_similarity"], ".6f"),
            _fmt(figures["outside_fraction"], ".2%"),
        ]
        if classifier:
            cells += [_fmt(figures["top1_agreement"], ".0%"), _fmt(figures["top5_agreement"], ".0%")]
        table.add_row(*cells, "[green]pass[/]" if output.passed else "[bold red]FAIL[/]")
    console.print(table)
    for output in result.outputs:
        problem = next((c.problem for c in output.runs if c.problem), None)
        if problem:
            console.print(f"[red]{output.name}[/]: {problem}", highlight=False)
    if result.layers is not None:
        if result.layers.exhaustive:
            _print_layers(result.layers, console)
        console.print(divergence_sentence(result), highlight=False)
    failing = sum(not o.passed for o in result.outputs)
    if result.passed:
        console.print(f"[green]PASS[/] {result.name}: {len(result.outputs)} output(s) within tolerance")
    else:
        console.print(
            f"[bold red]FAIL[/] {result.name}: {failing} of {len(result.outputs)} output(s) outside tolerance"
        )


def _print_layers(search: LayerSearch, console: Console) -> None:
    table = Table(title="layers", title_justify="left")
    for column in ("layer", "type", "max abs", "max rel", "cosine", "outside", "result"):
        table.add_column(column, justify="left" if column in ("layer", "type") else "right")
    for check in search.checks:
        c = check.comparison
        table.add_row(
            check.pair.layer,
            check.pair.layer_type,
            _fmt(c.max_abs_error),
            _fmt(c.max_rel_error),
            _fmt(c.cosine_similarity, ".6f"),
            _fmt(c.outside_fraction, ".2%"),
            "[green]pass[/]" if c.passed else "[bold red]FAIL[/]",
        )
    console.print(table)


def print_summary(results: Sequence[CheckResult], console: Console) -> None:
    c = counts(results)
    console.print(
        f"{c['models']} model(s): {c['passed']} passed, {c['failed']} failed, {c['errors']} error(s)"
    )
