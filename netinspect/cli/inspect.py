"""`info`, `view` and `formats`: looking at a model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from netinspect import registry
from netinspect.cli.options import (
    BackendOpt,
    ConfigOpt,
    InputShape,
    KeepNhwc,
    ModelArg,
    PluginOpt,
    load,
    load_options,
)
from netinspect.fileio import check_output


def info(
    model: ModelArg,
    nodes: Annotated[bool, typer.Option("--nodes", help="Also list every node.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (schema: netinspect/schemas/info.schema.json).")
    ] = False,
    keep_nhwc: KeepNhwc = False,
    input_shape: InputShape = None,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
    plugin: PluginOpt = None,
) -> None:
    """Summarise a model: inputs/outputs, ops, parameters, FLOPs, metadata, provenance."""
    from netinspect.analysis.summary import summarize
    from netinspect.renderers.text import print_summary, to_json

    graph = load(model, load_options(keep_nhwc, input_shape, backend, config, plugin))
    summary = summarize(graph, nodes=nodes)
    if json_out:
        sys.stdout.write(to_json(summary) + "\n")
    else:
        print_summary(summary, Console(), nodes=nodes)


def view(
    model: ModelArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output file: .svg, .png, .pdf or .dot.")],
    keep_nhwc: KeepNhwc = False,
    input_shape: InputShape = None,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
    plugin: PluginOpt = None,
) -> None:
    """Draw a model's graph with Graphviz."""
    from netinspect.renderers.dot import render

    check_output(output, [model])
    render(load(model, load_options(keep_nhwc, input_shape, backend, config, plugin)), output)
    print(f"wrote {output}")


def list_formats() -> None:
    """List the readers and what each supports."""
    table = Table(title="Supported formats")
    for column in ("format", "description", "supports", "reference runtime"):
        table.add_column(column)
    for reader in registry.readers():
        table.add_row(reader.name, reader.description, reader.supports, reader.runtime)
    Console().print(table)
