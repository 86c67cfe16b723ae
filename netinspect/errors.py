"""Errors a user can act on, and the exit codes the CLI maps them to.

Every error names the file it concerns, so the CLI can print one line and exit; anything else
escaping to the CLI is a bug and is reported (still in one line) as an internal error.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_ERROR = 2


class NetinspectError(Exception):
    """A problem with the user's input or environment: one line, exit code 2."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        return printable(text)


def printable(text: str) -> str:
    """`text` with control, format, private-use and unassigned characters backslash-escaped.

    Messages quote names and types read from model files; a hostile or damaged file must not be
    able to move the cursor, ring the bell or print raw bytes on the user's terminal."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        code = ord(char)
        if char.isprintable():
            out.append(char)
        elif unicodedata.category(char) == "Zs":  # no-break and other spaces
            out.append(" ")
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


class ModelFormatError(NetinspectError):
    """The file is not a model we can read: unknown format, truncated, corrupted or hostile."""


class UnsupportedError(NetinspectError):
    """The model uses layers we cannot convert; all of them are listed at once."""

    def __init__(
        self, items: list[str], path: str | Path | None = None, what: str = "layers", hint: str | None = None
    ) -> None:
        self.items = list(items)
        shown = "; ".join(self.items[:20]) + (
            f"; and {len(self.items) - 20} more" if len(self.items) > 20 else ""
        )
        super().__init__(
            f"{len(self.items)} unsupported {what}: {shown}" + (f" ({hint})" if hint else ""), path
        )


class UnsafePathError(NetinspectError):
    """A model refers to a file outside its own folder."""


class OutputError(NetinspectError):
    """An output cannot be written (unwritable, or it would overwrite an input)."""


class MissingDependencyError(NetinspectError):
    """An optional runtime or tool is missing; the message says how to install it."""
