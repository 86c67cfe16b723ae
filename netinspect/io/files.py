"""File-system rules shared by every reader and writer: stay inside the model's folder, write
atomically (write-back started as the bytes go out), never overwrite an input, copy a range of one
file into another."""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import mmap
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from netinspect.errors import ModelFormatError, OutputError, UnsafePathError
from netinspect.io import blocks
from netinspect.io.ahead import ahead
from netinspect.ir import FileSpan

MappedFile = mmap.mmap
"""A file mapped read-only (`map_file`): its bytes are read only when touched."""


def map_file(path: Path) -> MappedFile:
    """`path` mapped read-only, so a reader parses a model without reading its weights. Raises
    OSError as `open` does, and ValueError for an empty file (which cannot be mapped)."""
    with path.open("rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def release_range(data: object, start: int, length: int) -> None:
    """Drop the whole pages inside [start, start+length) of a mapped file from this process (the OS
    page cache keeps them), so a reader streaming a big array never holds all of it."""
    first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE
    end = ((start + length) // mmap.PAGESIZE) * mmap.PAGESIZE
    if end > first and isinstance(data, mmap.mmap):
        data.madvise(mmap.MADV_DONTNEED, first, end - first)


def mapped_array(span: FileSpan, dtype: np.dtype | str, shape: tuple[int, ...]) -> np.ndarray:
    """The run of a file `span` names as a read-only array, its pages read only when touched."""
    return np.memmap(span.path, dtype=dtype, mode="r", offset=span.offset, shape=shape)


def user_cache(name: str) -> Path:
    """netinspect's per-user cache folder `name` (XDG base directories; not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "netinspect" / name


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


_SYNC_FILE_RANGE_WRITE = 2


class _WritebackFile(io.BufferedWriter):
    """A file whose bytes are handed to the disk every WRITEBACK_STEP bytes, as they are written.

    Linux's sync_file_range(SYNC_FILE_RANGE_WRITE) starts writing a range out and returns, so the
    closing fsync waits only for the tail instead of the whole file (a second thread calling
    fdatasync would also flush the disk's cache, and wait). The call reports no write-back errors,
    so the closing fsync still sees every one. Where it does not exist, that fsync does all the work.
    """

    def __init__(self, raw: io.FileIO) -> None:
        super().__init__(raw, buffer_size=1 << 20)
        self._position = 0
        self._handed = 0  # where the bytes not yet handed to the disk begin

    def write(self, data) -> int:  # type: ignore[no-untyped-def,override]
        written = super().write(data)
        self._position += written
        if self._position - self._handed >= blocks.WRITEBACK_STEP:
            self.flush()
            _start_writeback(self.fileno(), self._handed, self._position - self._handed)
            self._handed = self._position
        return written

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move on, past a range another thread fills (`copy_range_at`); what this one wrote before
        is handed to the disk first."""
        self.flush()
        if self._position > self._handed:
            _start_writeback(self.fileno(), self._handed, self._position - self._handed)
        self._position = self._handed = super().seek(offset, whence)
        return self._position

    def sync(self) -> None:
        """Flush and fsync: every byte is on disk when this returns."""
        self.flush()
        os.fsync(self.fileno())


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing bytes [offset, offset+length) of `fd` to disk, without waiting for them."""
    call = _sync_file_range()
    if call is not None:
        call(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # a failure only leaves the work to fsync


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """libc's sync_file_range (Linux), which Python's os module does not offer; None elsewhere."""
    try:
        import ctypes

        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError, TypeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


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


def copy_range_at(fd: int, source: Path, offset: int, length: int, at: int) -> None:
    """Write `length` bytes of `source` from `offset` at position `at` of `fd`, each WRITEBACK_STEP
    handed to the disk; other threads may write other ranges of `fd` meanwhile (`laid_out` copies
    the weights stored as the output wants them on one thread while it permutes and writes the rest).

    The kernel copies it (copy_file_range, as `cp` does) when both offsets sit at the same place
    within a page. Otherwise it would shift every byte through a pipe, and reading into a buffer
    and writing it is faster."""
    with open(source, "rb", buffering=0) as src:
        done = 0
        if (offset - at) % mmap.PAGESIZE == 0:
            done = _kernel_copy(src.fileno(), fd, offset, length, at, source)
        _copy_through(src.fileno(), fd, offset + done, length - done, at + done, source)


def _kernel_copy(src: int, fd: int, offset: int, length: int, at: int, source: Path) -> int:
    """Bytes copied by copy_file_range before it refused (0 across file systems, say)."""
    done = 0
    try:
        while done < length:
            step = min(length - done, blocks.WRITEBACK_STEP)
            copied = os.copy_file_range(src, fd, step, offset + done, at + done)
            if copied == 0:
                raise ModelFormatError(f"ends {length - done} bytes before the data it declares", source)
            _start_writeback(fd, at + done, copied)
            done += copied
    except OSError as e:
        if e.errno not in _NO_KERNEL_COPY:
            raise
    return done


def _copy_through(src: int, fd: int, offset: int, length: int, at: int, source: Path) -> None:
    """Read and write, the next piece read on a second thread while this one is written (two
    buffers taken in turn)."""
    size = blocks.COPY_BYTES
    starts = range(offset, offset + length, size)
    buffers = [memoryview(bytearray(min(length, size))) for _ in range(min(2, len(starts)))]

    def read(k: int) -> memoryview:
        wanted = min(size, offset + length - starts[k])
        got = os.preadv(src, [buffers[k % 2][:wanted]], starts[k])
        if got != wanted:
            raise ModelFormatError(
                f"ends {offset + length - starts[k] - got} bytes before the data it declares", source
            )
        return buffers[k % 2][:got]

    handed = at
    for k, data in enumerate(ahead(read(k) for k in range(len(starts)))):
        place = at + starts[k] - offset
        while data:
            written = os.pwrite(fd, data, place)
            data, place = data[written:], place + written
        if place - handed >= blocks.WRITEBACK_STEP or k + 1 == len(starts):
            _start_writeback(fd, handed, place - handed)
            handed = place
