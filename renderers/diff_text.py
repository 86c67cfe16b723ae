"""`netinspect diff` as text: the model-level changes, then nodes, then the weights that differ."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from netinspect.analysis.diff import DiffResult


def print_diff(result: DiffResult, console: Console) -> None:
    console.print(f"[bold]{result.a}[/] → [bold]{result.b}[/]", highlight=False)
    for line in result.model:
        console.print(f"  [yellow]~[/] {line}", highlight=False)
    for line in result.interface:
        console.print(f"  [yellow]~[/] {line}", highlight=False)
    console.print(
        f"nodes: {result.unchanged} unchanged, {len(result.changed)} changed, "
        f"{len(result.removed)} removed, {len(result.added)} added"
    )
    for name, op in result.removed:
        console.print(f"  [red]-[/] {name} ({op})", highlight=False)
    for name, op in result.added:
        console.print(f"  [green]+[/] {name} ({op})", highlight=False)
    for change in result.changed:
        label = change.a if change.a == change.b else f"{change.a} ↔ {change.b}"
        console.print(
            f"  [yellow]~[/] {label} ({change.op_type}): {'; '.join(change.changes)}", highlight=False
        )
    if not result.weights_compared:
        return
    differing = [w for w in result.weights if w.max_abs_diff != 0.0]
    console.print(f"weights: {len(result.weights)} matched, {len(result.weights) - len(differing)} identical")
    if differing:
        table = Table(title="weights that differ", title_justify="left")
        for column in ("A", "B", "matched by", "shape A", "shape B", "max abs diff"):
            table.add_column(column)
        for w in differing:
            value = (
                "shapes differ"
                if w.shape_a != w.shape_b
                else "–"
                if w.max_abs_diff is None
                else f"{w.max_abs_diff:.4g}"
            )
            table.add_row(w.a, w.b, w.matched_by, str(list(w.shape_a)), str(list(w.shape_b)), value)
        console.print(table)
    if result.identical:
        console.print("[green]the models are identical[/]")
