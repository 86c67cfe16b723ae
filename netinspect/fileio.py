"""File-system rules shared by every reader and writer: stay inside the model's folder, write
atomically, never overwrite an input."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from netinspect.errors import OutputError, UnsafePathError


def resolve_inside(base_dir: Path, relative: str, model: Path) -> Path:
    """The file `relative` names, refused if it lies (or links) outside `base_dir`."""
    if not relative or os.path.isabs(relative) or relative.startswith(("\\", "/")):
        raise UnsafePathError(
            f"refers to external file {relative!r}, which is not a path inside its folder", model
        )
    base = base_dir.resolve()
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise UnsafePathError(f"refers to external file {relative!r}, outside the model's folder", model)
    return target


def check_output(output: Path, inputs: list[Path]) -> None:
    """Refuse an output path that is one of the inputs or whose folder does not exist."""
    for source in inputs:
        if output.exists() and source.exists() and os.path.samefile(output, source):
            raise OutputError("refusing to overwrite the input model", output)
    parent = output.parent if str(output.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"folder {str(parent)!r} does not exist", output)
    if output.is_dir():
        raise OutputError("is a directory", output)
    if not os.access(parent, os.W_OK):
        raise OutputError("folder is not writable", output)


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Write to a temporary file beside `path` and rename it into place only on success."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as e:
        raise OutputError(f"cannot write: {e.strerror}", path) from e
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
