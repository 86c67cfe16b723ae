"""The `netinspect` command: parse arguments, call the library, print. Nothing else lives here.

Every failure the user can act on is one line on stderr naming the file, with exit code 2;
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.exceptions import Abort, Exit, TyperException

from netinspect._version import __version__
from netinspect.errors import EXIT_ERROR, EXIT_OK, NetinspectError

app = typer.Typer(
    name="netinspect",
    help="Open neural-network model files, show them, convert them to ONNX, and prove it right.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


def _register_commands() -> None:
    """Every command, each defined in the module of its group."""
    from netinspect.cli.check import check_command, diff_command
    from netinspect.cli.convert import convert
    from netinspect.cli.inspect import info, list_formats, view

    app.command()(info)
    app.command()(view)
    app.command()(convert)
    app.command("formats")(list_formats)
    app.command("check")(check_command)
    app.command("diff")(diff_command)


_register_commands()


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
