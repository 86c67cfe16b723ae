"""The `netinspect` command: parse arguments, call the library, print. Nothing else lives here.

Every failure the user can act on is one line on stderr naming the file, with exit code 2;
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from typer.exceptions import Abort, Exit, TyperException

from netinspect import __version__
from netinspect import registry as formats
from netinspect.errors import EXIT_ERROR, EXIT_OK, NetinspectError
from netinspect.fileio import check_output

app = typer.Typer(
    name="netinspect",
    help="Open neural-network model files, show them, convert them to ONNX, and prove it right.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

ModelArg = Annotated[
    Path, typer.Argument(help="Model file (format detected from its content).", show_default=False)
]


class Target(StrEnum):
    onnx = "onnx"


def _print_version(value: bool) -> None:
    if value:
        print(f"netinspect {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    """Options shared by every command (`--debug` is read by `main` before parsing)."""


@app.command()
def info(
    model: ModelArg,
    nodes: Annotated[bool, typer.Option("--nodes", help="Also list every node.")] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (schema: netinspect/schemas/info.schema.json).")
    ] = False,
) -> None:
    """Summarise a model: inputs/outputs, ops, parameters, FLOPs, metadata, provenance."""
    from netinspect.analysis.summary import summarize
    from netinspect.renderers.text import print_summary, to_json

    summary = summarize(formats.load(model), nodes=nodes)
    if json_out:
        sys.stdout.write(to_json(summary) + "\n")
    else:
        print_summary(summary, Console(), nodes=nodes)


@app.command()
def view(
    model: ModelArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output file: .svg, .png, .pdf or .dot.")],
) -> None:
    """Draw a model's graph with Graphviz."""
    from netinspect.renderers.dot import render

    check_output(output, [model])
    render(formats.load(model), output)
    print(f"wrote {output}")


@app.command()
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
) -> None:
    """Convert a model to ONNX (written atomically; the input is never overwritten)."""
    from netinspect.converters.onnx.writer import save

    check_output(output, [model])
    graph = formats.load(model)
    save(graph, output, opset=opset, with_preprocessing=with_preprocessing, inputs=[model])
    print(f"wrote {output} ({len(graph.nodes)} nodes, {graph.parameter_count():,} parameters)")


@app.command("formats")
def list_formats() -> None:
    """List the readers and what each supports."""
    table = Table(title="Supported formats")
    for column in ("format", "description", "supports", "reference runtime"):
        table.add_column(column)
    for reader in formats.readers():
        table.add_row(reader.name, reader.description, reader.supports, reader.runtime)
    Console().print(table)


def _register_check_commands() -> None:
    from netinspect.cli.check import check_command, diff_command

    app.command("check")(check_command)
    app.command("diff")(diff_command)


_register_check_commands()


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = app(args=args, prog_name="netinspect", standalone_mode=False)
    except TyperException as e:
        message = e.format_message()
        print(message if message.startswith("Usage:") else f"netinspect: {message}", file=sys.stderr)
        return EXIT_ERROR
    except Exit as e:
        return e.exit_code
    except Abort:
        print("netinspect: aborted", file=sys.stderr)
        return EXIT_ERROR
    except NetinspectError as e:
        if debug:
            raise
        print(f"netinspect: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:
        if debug:
            raise
        print(
            f"netinspect: internal error: {type(e).__name__}: {e} (run with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return result if isinstance(result, int) else EXIT_OK
