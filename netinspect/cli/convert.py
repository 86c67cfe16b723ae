"""`convert`: any supported format to ONNX."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

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
)
from netinspect.fileio import check_output


class Target(StrEnum):
    onnx = "onnx"


def convert(
    model: ModelArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .onnx file.")],
    to: Annotated[Target, typer.Option("--to", help="Target format.")] = Target.onnx,
    opset: Annotated[
        int | None, typer.Option("--opset", help="ONNX opset (default: the source's, or 17).")
    ] = None,
    with_preprocessing: Annotated[
        bool,
        typer.Option(
            "--with-preprocessing", help="Put the model's recorded mean/std subtraction in the graph."
        ),
    ] = False,
    keep_nhwc: KeepNhwc = False,
    input_shape: InputShape = None,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
    plugin: PluginOpt = None,
    fixed_size: FixedSize = False,
) -> None:
    """Convert a model to ONNX (written atomically; the input is never overwritten)."""
    from netinspect.analysis.summary import parameter_count
    from netinspect.converters.onnx.writer import save

    check_output(output, [model])
    graph = load(model, load_options(keep_nhwc, input_shape, backend, config, plugin, fixed_size))
    save(graph, output, opset=opset, with_preprocessing=with_preprocessing, inputs=[model])
    print(f"wrote {output} ({len(graph.nodes)} nodes, {parameter_count(graph):,} parameters)")
