"""A lazy tensor's C-order contents piece by piece, as a writer takes them, each piece made on a
second thread while the writer writes the one before (`ahead`): so a big weight is never held
whole, and permuting or reading it overlaps writing it.

The pieces come from the tensor's reader when it has a way of its own (`TensorSource.chunks`), else
from what the tensor is: a big permutation, a block of output channels at a time; rows gathered
in a new order, read straight into place with `preadv` when the weight is a run of its file.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator

import numpy as np

from netinspect.errors import ModelFormatError
from netinspect.io import blocks
from netinspect.io.ahead import ahead
from netinspect.ir import Permuted, Rows, Tensor


def pieces(tensor: Tensor) -> Iterator[np.ndarray]:
    """`tensor`'s contents in C order, as consecutive arrays, each valid until the next is asked for."""
    own = tensor.chunks()
    if own is not None:
        return ahead(own)
    source = tensor.source
    if isinstance(source, Permuted) and tensor.nbytes >= blocks.STREAMED_BYTES:
        return ahead(blocks.transposed_blocks(source.base.numpy(), source.axes, blocks.BLOCK_BYTES))
    if isinstance(source, Rows):
        if source.base.span is not None and not source.by_columns:
            return ahead(rows_read(source.base, source.order))
        return ahead(_rows_gathered(source.base, source.order, source.by_columns))
    return iter([tensor.numpy()])


def _rows_gathered(weight: Tensor, order: np.ndarray, by_columns: bool) -> Iterator[np.ndarray]:
    """The rows (columns) of `weight` in `order`, a piece at a time, the pages a memory-mapped
    weight brought in dropped after each piece."""
    a = weight.numpy()
    step = blocks.rows_per_piece(a.nbytes // max(1, a.shape[0]))
    for start in range(0, a.shape[0], step):
        if by_columns:
            yield np.ascontiguousarray(a[start : start + step][:, order])
        else:
            yield np.ascontiguousarray(a[order[start : start + step]])
        release(a)


def rows_read(weight: Tensor, order: np.ndarray) -> Iterator[np.ndarray]:
    """The rows of a weight stored as a run of its file (Tensor.span), in `order`, read straight
    into place: each piece's rows are sorted by where they lie in the file, and every run of
    consecutive stored rows is one `preadv` scattering them to their places in the piece. A
    Flatten→Dense permutation reads its rows in runs (one per spatial position), so the pages are
    read once and in order, where gathering from a memory map faulted them in at random. Two
    buffers taken in turn: a piece stays valid until the one after next is read."""
    span = weight.span
    assert span is not None
    rows = weight.shape[0]
    row_bytes = span.length // max(1, rows)
    step = blocks.rows_per_piece(row_bytes)
    starts = list(range(0, rows, step))
    buffers = [np.empty(min(step, rows) * row_bytes, np.uint8) for _ in range(min(2, len(starts)))]
    with open(span.path, "rb", buffering=0) as f:
        for k, start in enumerate(starts):
            wanted = order[start : start + step]
            flat = memoryview(buffers[k % 2])
            by_file = np.argsort(wanted, kind="stable")
            stored = wanted[by_file]
            for run in np.split(np.arange(len(stored)), np.flatnonzero(np.diff(stored) != 1) + 1):
                for part in range(0, len(run), blocks.IOV_MAX):
                    chunk = run[part : part + blocks.IOV_MAX]
                    places = [flat[i * row_bytes : (i + 1) * row_bytes] for i in by_file[chunk].tolist()]
                    at = span.offset + int(stored[chunk[0]]) * row_bytes
                    if os.preadv(f.fileno(), places, at) != len(places) * row_bytes:
                        raise ModelFormatError(f"ends inside the rows of weight {weight.name!r}", span.path)
            used = buffers[k % 2][: len(wanted) * row_bytes]
            yield used.view(weight.dtype).reshape(len(wanted), *weight.shape[1:])


def release(array: np.ndarray) -> None:
    """Drop the pages a memory-mapped array has brought into this process (the OS page cache keeps
    them), so reading a big weight piece by piece never holds the whole file."""
    base: object = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "_mmap", None) or getattr(base, "base", None)
    if isinstance(base, mmap.mmap):
        base.madvise(mmap.MADV_DONTNEED)
