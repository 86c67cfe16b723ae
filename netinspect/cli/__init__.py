"""The command line: the typer app (`app`) and its entry point (`main`)."""

from netinspect.cli.app import main

__all__ = ["main"]
