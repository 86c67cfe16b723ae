"""`check` in the terminal: which models and inputs, a table per model, where a mismatch starts."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from netinspect.check.divergence import LayerSearch
from netinspect.check.result import CheckResult, counts
from netinspect.renderers.formatting import format_shape
from netinspect.renderers.junit import divergence_sentence, inputs_text


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
        console.print(f"inputs: {inputs_text(result)}", highlight=False)
        if result.inputs.chosen:
            console.print(f"sizes chosen: {', '.join(result.inputs.chosen)}", highlight=False)
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
        if output.worst.kernels is not None:
            console.print(f"{output.name}: {output.worst.kernels.describe()}", highlight=False)
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
