"""How the writer takes a lazy tensor piece by piece (netinspect.io.streams, io.blocks): every
piece in order, together the whole tensor as NumPy computes it, each intact while the next is made
on the second thread."""

from __future__ import annotations

import time

import numpy as np
import pytest

from netinspect.errors import ModelFormatError
from netinspect.io import blocks, streams
from netinspect.ir import FileSpan, Rows, Tensor

RNG = np.random.default_rng(7)


def test_rows_are_taken_in_pieces_that_equal_the_whole(monkeypatch) -> None:
    values = RNG.normal(size=(36, 5)).astype(np.float32)
    order = RNG.permutation(36)
    tensor = Tensor.from_array("w", values).rows(order, name="w_rows")
    assert isinstance(tensor.source, Rows) and tensor.span is None
    monkeypatch.setattr(blocks, "ROW_CHUNK_BYTES", 40)  # two rows a piece
    pieces = list(streams.pieces(tensor))
    assert len(pieces) == 18
    np.testing.assert_array_equal(np.concatenate(pieces), values[order])
    np.testing.assert_array_equal(tensor.numpy(), values[order])


def test_columns_of_a_transposed_gemm_weight_are_taken_in_order(monkeypatch) -> None:
    values = RNG.normal(size=(6, 10)).astype(np.float32)
    order = RNG.permutation(10)
    tensor = Tensor.from_array("w", values).rows(order, by_columns=True)
    monkeypatch.setattr(blocks, "ROW_CHUNK_BYTES", 80)
    np.testing.assert_array_equal(np.concatenate(list(streams.pieces(tensor))), values[:, order])


def test_rows_of_a_memory_mapped_weight_are_gathered_and_its_pages_released(tmp_path, monkeypatch) -> None:
    """The Keras reader maps big weights; the row permutation drops their pages piece by piece."""
    path = tmp_path / "w.bin"
    values = RNG.normal(size=(12, 5)).astype(np.float32)
    values.tofile(path)
    weight = Tensor("w", "float32", (12, 5), loader=lambda: np.memmap(path, np.float32, "r", shape=(12, 5)))
    order = RNG.permutation(12)
    released: list[object] = []
    real = streams.release
    monkeypatch.setattr(streams, "release", lambda a: (released.append(a), real(a)))
    monkeypatch.setattr(blocks, "ROW_CHUNK_BYTES", 40)
    pieces = [piece.copy() for piece in streams.pieces(weight.rows(order))]
    assert len(pieces) == 6 and len(released) == 6
    np.testing.assert_array_equal(np.concatenate(pieces), values[order])


def test_rows_of_a_weight_stored_in_its_file_are_read_into_place(tmp_path, monkeypatch) -> None:
    """A weight that is a run of its file (Tensor.span, e.g. a Keras Dense kernel) has its rows
    read with preadv straight into their permuted places, piece by piece, on a second thread."""
    values = RNG.normal(size=(60, 7)).astype(np.float32)
    path = tmp_path / "model.bin"
    path.write_bytes(b"header" + values.tobytes() + b"trailer")
    weight = Tensor(
        "w", "float32", values.shape, loader=lambda: values, span=FileSpan(path, 6, values.nbytes)
    )
    order = np.arange(60).reshape(12, 5).T.ravel()  # runs of 1 stored row, like NHWC → NCHW
    monkeypatch.setattr(blocks, "ROW_CHUNK_BYTES", 7 * 4 * 8)  # eight rows a piece
    read: list[int] = []
    real = streams.rows_read
    monkeypatch.setattr(streams, "rows_read", lambda w, o: (read.append(len(o)), real(w, o))[1])
    for wanted in (order, RNG.permutation(60)):
        permuted = weight.rows(wanted)
        assert permuted.span is None  # its bytes are not the file's any more
        pieces = [piece.copy() for piece in streams.pieces(permuted)]  # each valid until the next
        assert len(pieces) == 8
        np.testing.assert_array_equal(np.concatenate(pieces), values[wanted])
    assert read == [60, 60]


def test_a_truncated_file_is_named_when_its_rows_are_read(tmp_path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(np.zeros((4, 3), np.float32).tobytes())
    weight = Tensor("w", "float32", (8, 3), loader=lambda: np.zeros((8, 3), np.float32))
    weight.span = FileSpan(path, 0, 8 * 3 * 4)
    with pytest.raises(ModelFormatError, match=r"short\.bin.*ends inside the rows of weight 'w'"):
        list(streams.pieces(weight.rows(np.arange(8)[::-1].copy())))


@pytest.mark.parametrize("shape", [(3, 3, 5, 7), (2, 3, 3, 4, 6), (5, 3, 4), (1, 1, 8, 9)])
def test_channels_last_filters_transpose_exactly_in_blocks(shape, monkeypatch) -> None:
    """The two-pass, blocked (…spatial, I, O) → (O, I, …spatial) equals NumPy's transpose."""
    a = RNG.normal(size=shape).astype(np.float32)
    axes = (a.ndim - 1, a.ndim - 2, *range(a.ndim - 2))
    monkeypatch.setattr(blocks, "TRANSPOSE_BLOCK_BYTES", 64)  # a few channels a block
    np.testing.assert_array_equal(blocks.transposed(a, axes), np.transpose(a, axes))
    other = (0, 2, 1) if a.ndim == 3 else (0, 3, 1, 2, *range(4, a.ndim))
    np.testing.assert_array_equal(blocks.transposed(a, other), np.transpose(a, other))


@pytest.mark.parametrize(
    ("axes", "shape"),
    [((3, 2, 0, 1), (3, 3, 64, 96)), ((0, 3, 1, 2), (96, 3, 3, 64)), ((4, 3, 0, 1, 2), (2, 3, 3, 16, 40))],
)
def test_a_big_filter_streams_its_permutation_block_by_block(axes, shape, monkeypatch) -> None:
    """A filter from STREAMED_BYTES up is permuted a block of output channels at a time, on a
    second thread while the writer takes the previous block; the blocks, in order, are the whole
    transposed filter, each intact until the writer asks for the next."""
    monkeypatch.setattr(blocks, "STREAMED_BYTES", 1)
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 3 * 3 * 64 * 4 * 7)  # HWIO: 7 channels a block, 14 blocks
    a = RNG.normal(size=shape).astype(np.float32)
    tensor = Tensor("w", "float32", a.shape, loader=lambda: a).permuted(axes)
    expected = np.transpose(a, axes)
    done = count = 0
    for piece in streams.pieces(tensor):
        time.sleep(0.002)  # meanwhile the next block is computed: not into this one
        np.testing.assert_array_equal(piece, expected[done : done + len(piece)])
        done, count = done + len(piece), count + 1
    assert done == len(expected) and count > 2
    np.testing.assert_array_equal(tensor.numpy(), expected)


def test_a_permutation_that_moves_nothing_keeps_the_file_bytes(tmp_path) -> None:
    """A column-major source (MATLAB's) permuted into C order is its file's bytes as they lie; a
    C-order source permuted the same way is not."""
    span = FileSpan(tmp_path / "m.mat", 128, 3 * 4 * 5 * 4)
    column_major = Tensor("w", "float32", (3, 4, 5), loader=lambda: np.zeros((3, 4, 5), np.float32))
    column_major.source.stored_span, column_major.source.storage_order = span, (2, 1, 0)
    assert column_major.span is None  # its C order is not the file's
    assert column_major.permuted((2, 1, 0)).span == span
    assert column_major.permuted((2, 0, 1)).span is None
    c_order = Tensor("w", "float32", (3, 4, 5), loader=lambda: np.zeros((3, 4, 5), np.float32), span=span)
    assert c_order.span == span and c_order.permuted((2, 1, 0)).span is None
    ones = Tensor("k", "float32", (1, 1, 4, 5), loader=lambda: np.zeros((1, 1, 4, 5), np.float32), span=span)
    assert ones.permuted((3, 2, 0, 1)).span is None and ones.permuted((2, 3, 0, 1)).span == span
