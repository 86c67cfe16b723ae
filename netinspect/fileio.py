"""File-system rules shared by every reader and writer: stay inside the model's folder, write
atomically, never overwrite an input."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from netinspect.errors import ModelFormatError, OutputError, UnsafePathError


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


WRITEBACK_STEP = 64 << 20


class _WritebackFile(io.BufferedWriter):
    """A file whose written bytes a second thread hands to the disk every WRITEBACK_STEP bytes.

    The closing fsync of a large output then waits only for the tail instead of the whole file:
    writing 550 MB here took 0.28 s with one fsync at the end, 0.21 s with write-back running
    alongside. An error seen by the background fdatasync is kept and raised at close, because
    Linux reports a write-back error to only one fsync caller.
    """

    def __init__(self, raw: io.FileIO) -> None:
        super().__init__(raw, buffer_size=1 << 20)
        self._unsynced = 0
        self._wake = threading.Event()
        self._closing = False
        self._error: OSError | None = None
        self._thread: threading.Thread | None = None

    def write(self, data) -> int:  # type: ignore[no-untyped-def,override]
        written = super().write(data)
        self._count(written)
        return written

    def _count(self, written: int) -> None:
        self._unsynced += written
        if self._unsynced >= WRITEBACK_STEP:
            self._unsynced = 0
            self.flush()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write_back, name="netinspect-writeback", daemon=True
                )
                self._thread.start()
            self._wake.set()

    def _write_back(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                os.fdatasync(self.fileno())
            except OSError as e:
                self._error = self._error or e
            if self._closing:
                return

    def _stop(self) -> None:
        if self._thread is not None:
            self._closing = True
            self._wake.set()
            self._thread.join()
            self._thread = None

    def sync(self) -> None:
        """Flush, stop the write-back thread, and fsync: every byte is on disk when this returns."""
        self.flush()
        self._stop()
        if self._error is not None:
            raise self._error
        os.fsync(self.fileno())

    def close(self) -> None:
        self._stop()
        super().close()


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[BinaryIO]:
    """Write to a temporary file beside `path` and rename it into place only once it is on disk."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    except OSError as e:
        raise OutputError(f"cannot write: {e.strerror}", path) from e
    try:
        with _WritebackFile(io.FileIO(fd, "wb")) as f:
            yield f  # type: ignore[misc]
            try:
                f.sync()
            except OSError as e:
                raise OutputError(f"cannot write: {e.strerror}", path) from e
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF, errno.ETXTBSY}
"""copy_file_range refusals that mean "not between these files": fall back to read and write."""


def copy_range(f: BinaryIO, source: Path, offset: int, length: int) -> None:
    """Append `length` bytes of `source` from `offset` to `f`, copied inside the kernel where it
    can (copy_file_range: no page of it is mapped or copied through this process, as with `cp`)."""
    f.flush()
    with open(source, "rb", buffering=0) as src:
        left = length
        try:
            while left:
                copied = os.copy_file_range(src.fileno(), f.fileno(), left, offset)
                if copied == 0:
                    raise ModelFormatError(f"ends {left} bytes before the data it declares", source)
                offset, left = offset + copied, left - copied
                if isinstance(f, _WritebackFile):
                    f._count(copied)
        except OSError as e:
            if e.errno not in _NO_KERNEL_COPY:
                raise
            while left:
                data = os.pread(src.fileno(), min(left, 16 << 20), offset)
                if not data:
                    raise ModelFormatError(f"ends {left} bytes before the data it declares", source) from e
                f.write(data)
                offset, left = offset + len(data), left - len(data)
