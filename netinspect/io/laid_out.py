"""One writer for every file of bytes and tensors at fixed offsets (an ONNX model with its weights
inline, an external data file): the caller serializes, this module lays out and writes."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import numpy as np

from netinspect.errors import OutputError
from netinspect.io import blocks, streams
from netinspect.io.files import atomic_write, copy_range_at
from netinspect.ir import FileSpan, Tensor


def write_laid_out(path: Path, head: bytes, pieces: Sequence[tuple[bytes, Tensor]] = ()) -> None:
    """Write `head`, then each tensor's raw little-endian bytes after the bytes that precede it,
    atomically (`atomic_write`: the file appears whole, on disk, or not at all).

    A tensor that is a run of its source file (Tensor.span) is copied file to file on a second
    thread, at its offset, while this one writes the others in order and steps over its place; the
    others are written piece by piece (`streams.pieces`), so a big weight is never held whole."""
    with atomic_write(path) as f:
        f.write(head)
        position = f.tell()
        places = []
        for before, tensor in pieces:
            position += len(before)
            places.append(position)
            position += tensor.nbytes
        spans = [_copied_span(t) for _, t in pieces]
        copies = [(span, at) for span, at in zip(spans, places, strict=True) if span is not None]
        with ThreadPoolExecutor(max_workers=1) as pool:
            copying = pool.submit(_copy_all, f.fileno(), copies) if copies else None
            for (before, tensor), at, span in zip(pieces, places, spans, strict=True):
                f.write(before)
                if span is not None:
                    f.seek(at + tensor.nbytes)  # flushes what this thread wrote before
                else:
                    write_tensor(f, tensor, path)
            f.flush()
            if copying is not None:
                copying.result()


def _copied_span(tensor: Tensor) -> FileSpan | None:
    """The run of its source file the tensor's bytes are (Tensor.span), if any: copied file to file."""
    span = tensor.span
    return span if span is not None and span.length == tensor.nbytes else None


def _copy_all(fd: int, copies: list[tuple[FileSpan, int]]) -> None:
    for span, at in copies:
        copy_range_at(fd, span.path, span.offset, span.length, at)


def write_tensor(f: BinaryIO, tensor: Tensor, path: Path) -> None:
    """Write a tensor's raw little-endian bytes, piece by piece (`streams.pieces`)."""
    written = 0
    for part in streams.pieces(tensor):
        array = np.require(part, requirements="C")
        if array.dtype.name != tensor.dtype:
            array = array.astype(tensor.dtype)
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        data = memoryview(array).cast("B")
        written += len(data)
        if written > tensor.nbytes:
            break
        for start in range(0, len(data), blocks.WRITE_BYTES):
            f.write(data[start : start + blocks.WRITE_BYTES])
    if written != tensor.nbytes:
        raise OutputError(f"tensor {tensor.name!r} gave {written} bytes, expected {tensor.nbytes}", path)
