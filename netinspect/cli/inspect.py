"""`info`, `view` and `formats`: looking at a model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from netinspect import registry
from netinspect.cli.options import ModelArg, UsageError, load, parse_dims, reads_model, sized_shapes
from netinspect.io.files import atomic_write, check_output


@reads_model
def info(
    model: ModelArg,
    nodes: Annotated[bool, typer.Option("--nodes", help="Also list every node.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (schema: netinspect/schemas/info.schema.json).")
    ] = False,
    dim: Annotated[
        list[str] | None,
        typer.Option(
            "--dim",
            help="Compute shapes and FLOPs with a symbolic dimension at this size, e.g. H=64. Repeatable. "
            "Default: the nominal image size the model records, if any.",
        ),
    ] = None,
    tensor: Annotated[
        str | None,
        typer.Option("--tensor", help="Show one weight/constant: shape, dtype, statistics, values."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="With --tensor: save it as a .npy file.")
    ] = None,
    *,
    options: registry.LoadOptions,
) -> None:
    """Summarise a model: inputs/outputs, ops, parameters, FLOPs, metadata, provenance."""
    from dataclasses import replace

    if tensor is not None or output is not None:
        _tensor(model, tensor, output, options)
        return

    from netinspect.analysis.summary import summarize
    from netinspect.renderers.text import print_summary, to_json

    graph = load(model, options)
    dims = parse_dims(dim)
    shapes = sized_shapes(graph, dims)
    sized = load(model, replace(options, input_shapes={**options.input_shapes, **shapes})) if shapes else None
    summary = summarize(graph, nodes=nodes, sized=sized)
    if json_out:
        sys.stdout.write(to_json(summary) + "\n")
    else:
        from rich.console import Console

        print_summary(summary, Console(), nodes=nodes)


def _tensor(model: Path, name: str | None, output: Path | None, options: registry.LoadOptions) -> None:
    """`info MODEL --tensor NAME [-o tensor.npy]`: one constant, printed and optionally saved."""
    import numpy as np
    from rich.console import Console

    from netinspect.analysis.tensors import find_tensor
    from netinspect.renderers.tensor import print_tensor

    if name is None:
        raise UsageError("-o/--output needs --tensor NAME (it saves that tensor as .npy)")
    if output is not None:
        check_output(output, [model])
    graph = load(model, options)
    found = find_tensor(graph, name)
    if found is None:
        raise UsageError(f"{model}: no weight or constant named {name!r} (info --nodes lists them)")
    print_tensor(found, Console())
    if output is not None:
        with atomic_write(output) as f:
            np.save(f, found.numpy(), allow_pickle=False)
        print(f"wrote {output}")


@reads_model
def view(
    model: ModelArg,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Output file: .html (interactive page), .svg, .png, .pdf or .dot. Without it the page "
            "goes to a per-user cache and opens in the default browser.",
        ),
    ] = None,
    overlay: Annotated[
        Path | None,
        typer.Option("--overlay", help="HTML: colour nodes by a `check --json` report's errors."),
    ] = None,
    expand: Annotated[
        bool,
        typer.Option(
            "--expand",
            help="Draw every node of a large graph (SVG/PNG/PDF: no group nodes; HTML: every group open).",
        ),
    ] = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Write the page and print its path; open no browser.")
    ] = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Serve the page on 127.0.0.1 only (e.g. through an SSH tunnel) until Ctrl-C.",
        ),
    ] = False,
    port: Annotated[
        int, typer.Option("--port", help="With --serve: the port (0 picks a free one).", min=0, max=65535)
    ] = 8080,
    drawing: Annotated[
        str,
        typer.Option(
            "--graph",
            help="source: the file's own layers (their Keras, TFLite, MatConvNet, Caffe types); onnx: the "
            "converted graph. Graphviz draws that one; the page opens on it and switches to the other.",
        ),
    ] = "source",
    *,
    options: registry.LoadOptions,
) -> None:
    """Draw a model's graph: an interactive offline page (.html) or a Graphviz diagram."""
    if drawing not in ("source", "onnx"):
        raise UsageError(f"--graph is 'source' or 'onnx', not {drawing!r}")
    if output is None or serve:  # only then: browse imports webbrowser and http.server (~10 ms)
        from netinspect.cli import browse
    if output is None:
        page = browse.cached_page_path(model, _page_variant(overlay, expand, options) + drawing)
        if page.exists():
            print(f"page {page} (cached: the model is unchanged)")
        else:
            _write_view(model, page, overlay, expand, options, drawing)
            print(f"wrote {page}")
    else:
        check_output(output, [model])
        if serve and output.suffix.lower() not in (".html", ".htm"):
            raise UsageError("--serve needs an .html page (or no -o)")
        _write_view(model, output, overlay, expand, options, drawing)
        print(f"wrote {output}")
        page = output
    if serve:
        browse.serve(page, port)
    elif output is None and not no_browser:
        why_not = browse.open_in_browser(page)
        if why_not is None:
            print("opened it in the default browser")
        else:
            print(f"no browser opened ({why_not}): open {page.resolve().as_uri()} in a browser, or run "
                  f"`netinspect view {model} --serve` and tunnel its port")  # fmt: skip


def _page_variant(overlay: Path | None, expand: bool, options: registry.LoadOptions) -> str:
    """Everything besides the model that shapes its page, for the cache's name: the options, and the
    content of every other file read (the overlay report, companions such as Keras' --config)."""
    from netinspect.cli.browse import content_digest

    report = content_digest(overlay) if overlay is not None and overlay.is_file() else overlay
    companions = {name: content_digest(path) for name, path in options.companions.items() if path.is_file()}
    return repr((report, expand, options, companions))


def _write_view(
    model: Path,
    output: Path,
    overlay: Path | None,
    expand: bool,
    options: registry.LoadOptions,
    drawing: str = "source",
) -> None:
    """Render the model to `output`: the HTML page (opening on `drawing`), or Graphviz (of it)."""
    if output.suffix.lower() in (".html", ".htm"):
        from netinspect.renderers.html import render_html
        from netinspect.renderers.html.overlay import overlay as paint
        from netinspect.renderers.html.overlay import read_report

        report = read_report(overlay) if overlay is not None else None
        graph = load(model, options)
        painted = paint(report, graph, model) if report is not None else None
        render_html(graph, output, painted, expand, start=drawing)
    else:
        from netinspect.renderers.dot import render

        if overlay is not None:
            raise UsageError("--overlay needs an .html output")
        note = render(load(model, options), output, expand=expand, drawing=drawing)
        if note:
            print(f"netinspect: {note}", file=sys.stderr)


def list_formats(
    name: Annotated[
        str | None, typer.Argument(help="A format: list every operator it defines and its status.")
    ] = None,
) -> None:
    """List the readers and what each supports."""
    from rich.console import Console
    from rich.table import Table

    if name is not None:
        reader = next((r for r in registry.readers() if r.name == name), None)
        if reader is None:
            raise UsageError(f"no format {name!r} (formats: {', '.join(r.name for r in registry.readers())})")
        status = reader.operator_status()
        if status is None:
            raise UsageError(f"the {name} reader does not list its operators")
        table = Table(title=f"{name} operators: {sum(s == 'converted' for s in status.values())} of "
                            f"{len(status)} converted")  # fmt: skip
        table.add_column("operator")
        table.add_column("status")
        for op, what in status.items():
            table.add_row(op, what)
        Console().print(table)
        return
    table = Table(title="Supported formats")
    for column in ("format", "description", "supports", "reference runtime"):
        table.add_column(column)
    for reader in registry.readers():
        table.add_row(reader.name, reader.description, reader.supports, reader.runtime.name)
    Console().print(table)
