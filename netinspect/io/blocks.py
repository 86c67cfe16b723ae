"""Block sizes, and transposes done a block at a time: pure NumPy, no threads, no files.

Every size a streamed piece of data has is here, so they are tuned together (benchmarks/README.md
has what each was measured against)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

TRANSPOSE_BLOCK_BYTES = 16 << 20
"""A whole permutation (`transposed`) is computed this much of the result at a time."""
STREAMED_BYTES = 4 << 20
"""From this size the writer takes a permuted weight block by block (`streams.pieces`)."""
BLOCK_BYTES = 1 << 20
"""A streamed block: small enough to stay in cache between the permute and the write (about one
core's L2). MatConvNet's filter slabs use it too."""
ROW_CHUNK_BYTES = 16 << 20
"""A piece of a weight whose rows are gathered in a new order."""
IOV_MAX = 1024
"""Buffers one `preadv` call may scatter into (Linux's IOV_MAX)."""
COPY_BYTES = 1 << 20
"""A piece of a file range copied by reading and writing (`files.copy_range_at`)."""
WRITEBACK_STEP = 16 << 20
"""Bytes written between two calls handing them to the disk (`files.atomic_write`)."""
WRITE_BYTES = 1 << 20
"""Bytes per write call of a tensor's piece."""


def transposed(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """`np.transpose(a, axes)` as a C-ordered array (see `transposed_blocks`)."""
    out = np.empty(tuple(a.shape[i] for i in axes), a.dtype)
    for _ in transposed_blocks(a, axes, TRANSPOSE_BLOCK_BYTES, into=out):
        pass
    return out


def transposed_blocks(
    a: np.ndarray, axes: tuple[int, ...], block_bytes: int = BLOCK_BYTES, into: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """`np.transpose(a, axes)` in C order, a block along its first axis at a time: written into
    `into` when given, else into two buffers taken in turn (each block valid until the one after
    next is computed, so a second thread may compute one while the caller writes the other).

    A channels-last filter bank (…spatial, I, O) going to (O, I, …spatial) is done in two
    cache-friendly passes: each spatial position's (I, O) slab to the back, then, a block of output
    channels at a time, I and O swapped with the spatial run contiguous. NumPy's one-pass copy
    walks the source a whole slab apart per element."""
    rank = a.ndim
    shape = tuple(a.shape[i] for i in axes)
    count = shape[0] if shape else 1
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * a.itemsize)
    step = max(1, min(count, block_bytes // row_bytes))
    buffers: list[np.ndarray] = []
    if into is None:
        buffers = [np.empty((step, *shape[1:]), a.dtype) for _ in range(min(2, -(-count // step)))]
    filter_bank = rank >= 3 and tuple(axes) == (rank - 1, rank - 2, *range(rank - 2))
    if filter_bank:  # first pass, whole rows of the source (a block of them read it slower)
        cin, cout = a.shape[-2], a.shape[-1]
        spatial = a.size // max(1, cin * cout)
        source = a.reshape(spatial, cin, cout)
        staging = np.empty((cin, cout, spatial), a.dtype)
        for position in range(spatial):
            staging[:, :, position] = source[position]
    for k, start in enumerate(range(0, count, step)):
        stop = min(count, start + step)
        out = into[start:stop] if into is not None else buffers[k % 2][: stop - start]
        if filter_bank:
            out.reshape(stop - start, cin, spatial)[...] = staging[:, start:stop].transpose(1, 0, 2)
        elif rank:
            index: list[slice] = [slice(None)] * rank
            index[axes[0]] = slice(start, stop)
            out[...] = np.transpose(a[tuple(index)], axes)
        else:
            out[...] = a
        yield out


def rows_per_piece(row_bytes: int) -> int:
    """How many rows of `row_bytes` a piece of ROW_CHUNK_BYTES holds (at least one)."""
    return max(1, ROW_CHUNK_BYTES // max(1, row_bytes))


def rows_taken(a: np.ndarray, order: np.ndarray, by_columns: bool) -> np.ndarray:
    """`a` with its rows (its columns, `by_columns`) in `order`, C-ordered."""
    return np.ascontiguousarray(a[:, order] if by_columns else a[order])
