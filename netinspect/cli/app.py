"""The `netinspect` command: parse arguments, call the library, print. Nothing else lives here.

Every failure the user can act on is one line on stderr naming the file, with exit code 2;
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Annotated, Any

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


def _commands() -> dict[str, Callable[[], Any]]:
    """Each command's name → how to get its function, in the order `--help` lists them."""

    def inspect_command(name: str) -> Callable[[], Any]:
        return lambda: getattr(importlib.import_module("netinspect.cli.inspect"), name)

    return {
        "info": inspect_command("info"),
        "view": inspect_command("view"),
        "convert": lambda: importlib.import_module("netinspect.cli.convert").convert,
        "formats": inspect_command("list_formats"),
        "check": lambda: importlib.import_module("netinspect.cli.check").check_command,
        "diff": lambda: importlib.import_module("netinspect.cli.check").diff_command,
    }


_registered: set[str] = set()


def _register_commands(args: list[str]) -> None:
    """Register the command the line names, or every command when it names none it knows (`--help`,
    a typo). Why not all: each command module, and building each command's flags from every
    reader, costs start-up time, and a user runs one command per process (`check`'s module alone
    was ~16 ms of a 0.3 s `info`)."""
    commands = _commands()
    named = next((a for a in args if not a.startswith("-")), None)
    wanted = {named} if named in commands else set(commands)
    if wanted <= _registered:
        return
    _registered.update(wanted)
    app.registered_commands.clear()
    for name, get in commands.items():  # rebuilt in the listed order, whatever was asked first
        if name in _registered:
            app.command(name)(get())


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _register_commands(args)
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
