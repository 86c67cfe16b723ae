"""`convert`: any supported format to ONNX."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from netinspect.cli.options import ModelArg, load, reads_model
from netinspect.io.files import check_output
from netinspect.registry import LoadOptions


class Target(StrEnum):
    onnx = "onnx"


@reads_model
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
    keep_unsupported: Annotated[
        bool,
        typer.Option(
            "--keep-unsupported",
            help="Write layers without a translation as ops of the domain netinspect.<format> "
            "(attributes from their configuration), for custom onnxruntime kernels, instead of refusing.",
        ),
    ] = False,
    *,
    options: LoadOptions,
) -> None:
    """Convert a model to ONNX (written atomically; the input is never overwritten)."""
    from netinspect.analysis.summary import parameter_count
    from netinspect.converters.onnx.writer import save

    check_output(output, [model])
    graph = load(model, options)
    save(
        graph,
        output,
        opset=opset,
        with_preprocessing=with_preprocessing,
        inputs=[model],
        keep_unsupported=keep_unsupported,
    )
    kept = graph.untranslated()
    types = ", ".join(sorted({layer.type for layer in kept}))
    custom = f", {len(kept)} layers kept as custom-domain ops: {types}" if kept else ""
    print(f"wrote {output} ({len(graph.nodes)} nodes, {parameter_count(graph):,} parameters{custom})")
