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
    FixedSize,
    InputShape,
    KeepNhwc,
    ModelArg,
    PluginOpt,
    load,
    load_options,
    parse_dims,
    sized_shapes,
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
    fixed_size: FixedSize = False,
    dim: Annotated[
        list[str] | None,
        typer.Option(
            "--dim",
            help="Compute shapes and FLOPs with a symbolic dimension at this size, e.g. H=64. Repeatable. "
            "Default: the nominal image size the model records, if any.",
        ),
    ] = None,
) -> None:
    """Summarise a model: inputs/outputs, ops, parameters, FLOPs, metadata, provenance."""
    from dataclasses import replace

    from netinspect.analysis.summary import summarize
    from netinspect.renderers.text import print_summary, to_json

    options = load_options(keep_nhwc, input_shape, backend, config, plugin, fixed_size)
    graph = load(model, options)
    dims = parse_dims(dim)
    shapes = sized_shapes(graph, dims)
    sized = load(model, replace(options, input_shapes={**options.input_shapes, **shapes})) if shapes else None
    summary = summarize(graph, nodes=nodes, sized=sized)
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
    fixed_size: FixedSize = False,
) -> None:
    """Draw a model's graph with Graphviz."""
    from netinspect.renderers.dot import render

    check_output(output, [model])
    render(load(model, load_options(keep_nhwc, input_shape, backend, config, plugin, fixed_size)), output)
    print(f"wrote {output}")


def list_formats() -> None:
    """List the readers and what each supports."""
    table = Table(title="Supported formats")
    for column in ("format", "description", "supports", "reference runtime"):
        table.add_column(column)
    for reader in registry.readers():
        table.add_row(reader.name, reader.description, reader.supports, reader.runtime)
    Console().print(table)
