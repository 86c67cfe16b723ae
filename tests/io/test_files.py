"""The write rule every output goes through: atomic, durable, never half a file."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from netinspect.errors import ModelFormatError, OutputError
from netinspect.io import blocks, files


def test_atomic_write_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), files.atomic_write(target) as f:
        f.write(b"new but broken")
        raise RuntimeError("writer failed halfway")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temporary left behind
    with files.atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o644


def test_large_output_is_handed_to_the_disk_while_it_is_written(tmp_path: Path, monkeypatch) -> None:
    """Every WRITEBACK_STEP bytes the range just written is handed to the disk (sync_file_range), so
    the closing fsync waits for the tail only; the ranges follow each other and the bytes are intact."""
    handed: list[tuple[int, int]] = []
    real = files._start_writeback
    monkeypatch.setattr(blocks, "WRITEBACK_STEP", 1000)
    monkeypatch.setattr(files, "_start_writeback", lambda fd, o, n: (handed.append((o, n)), real(fd, o, n)))
    target = tmp_path / "big.bin"
    pieces = [bytes([i]) * 700 for i in range(10)]
    with files.atomic_write(target) as f:
        for piece in pieces:
            f.write(piece)
    assert target.read_bytes() == b"".join(pieces)
    assert [o for o, _ in handed] == [sum(n for _, n in handed[:i]) for i in range(len(handed))]
    assert handed == [(k * 1400, 1400) for k in range(5)]  # two 700-byte writes pass each step


@pytest.mark.skipif(sys.platform != "linux", reason="sync_file_range is Linux's")
def test_sync_file_range_is_called_for_real(tmp_path: Path) -> None:
    call = files._sync_file_range()
    assert call is not None
    with open(tmp_path / "f", "wb") as f:
        f.write(b"x" * 10000)
        f.flush()
        assert call(f.fileno(), 0, 10000, files._SYNC_FILE_RANGE_WRITE) == 0
        assert call(-1, 0, 10000, files._SYNC_FILE_RANGE_WRITE) == -1  # a bad descriptor: refused


def test_a_failing_fsync_fails_the_write(tmp_path: Path, monkeypatch) -> None:
    """A write-back error surfaces at the closing fsync: nothing is renamed into place."""

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(blocks, "WRITEBACK_STEP", 10)
    monkeypatch.setattr(os, "fsync", failing)
    target = tmp_path / "out.bin"
    with pytest.raises(OutputError, match="Input/output error"), files.atomic_write(target) as f:
        f.write(b"x" * 100)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("offset", "refused", "kernel_copies"),
    [
        (4, False, True),  # "head" is 4 bytes: source and output offsets share their place in a page
        (10, False, False),  # they do not: read and written, which is faster than the kernel's shifting
        (4, True, False),  # the kernel refuses (another file system, an old kernel): read and written
    ],
)
def test_a_run_of_another_file_is_copied_into_the_place_the_writer_steps_over(
    tmp_path: Path, monkeypatch, offset: int, refused: bool, kernel_copies: bool
) -> None:
    """Weights stored as they are written (FileSpan) are copied file to file, at their place in the
    output, while the writer writes what follows them; every piece is handed to the disk."""
    calls: list[int] = []
    real = os.copy_file_range

    def copy_file_range(src: int, dst: int, count: int, offset_src: int, offset_dst: int) -> int:
        calls.append(count)
        if refused:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))
        return real(src, dst, count, offset_src, offset_dst)

    monkeypatch.setattr(os, "copy_file_range", copy_file_range)
    handed: list[tuple[int, int]] = []
    monkeypatch.setattr(blocks, "WRITEBACK_STEP", 100)
    monkeypatch.setattr(files, "_start_writeback", lambda fd, o, n: handed.append((o, n)))
    source = tmp_path / "model.h5"
    source.write_bytes(bytes(range(256)) * 4)
    target = tmp_path / "out.onnx"
    with files.atomic_write(target) as f:
        f.write(b"head")
        f.seek(4 + 500)  # the copy's place, stepped over
        f.write(b"tail")
        files.copy_range_at(f.fileno(), source, offset, 500, 4)
    assert target.read_bytes() == b"head" + (bytes(range(256)) * 4)[offset : offset + 500] + b"tail"
    assert bool(calls) == (kernel_copies or refused)
    if kernel_copies:
        assert calls == [100, 100, 100, 100, 100], "copied in steps, each handed to the disk"
    copied = sorted(r for r in handed if r[0] >= 4 and r[0] + r[1] <= 504)
    assert sum(n for _, n in copied) == 500 and copied[0][0] == 4, "the copied bytes are handed on"
    assert (0, 4) in handed, "stepping over a place hands what was written before it"


@pytest.mark.parametrize("at", [0, 3], ids=["kernel copy", "read and written"])
def test_copy_range_at_names_a_source_that_ends_early(tmp_path: Path, at: int) -> None:
    source = tmp_path / "short.h5"
    source.write_bytes(b"x" * 100)
    target = tmp_path / "o"
    with pytest.raises(ModelFormatError, match="ends 50 bytes before"), files.atomic_write(target) as f:
        files.copy_range_at(f.fileno(), source, 0, 150, at)
    assert not (tmp_path / "o").exists()


def test_a_long_run_is_read_ahead_while_written(tmp_path: Path, monkeypatch) -> None:
    """Read and written in COPY_BYTES pieces, each read on a second thread: every piece lands in
    order (two buffers taken in turn, none overwritten before it is written)."""
    monkeypatch.setattr(blocks, "COPY_BYTES", 1000)
    data = np.random.default_rng(0).integers(0, 256, 25_500, dtype=np.uint8).tobytes()
    source = tmp_path / "model.mat"
    source.write_bytes(data)
    target = tmp_path / "out.onnx"
    with files.atomic_write(target) as f:
        f.write(b"h")  # misaligned against offset 7: read and written
        f.seek(1 + 25_000)
        files.copy_range_at(f.fileno(), source, 7, 25_000, 1)
    assert target.read_bytes() == b"h" + data[7:25_007]


def test_a_mapped_file_reads_as_it_lies_and_released_pages_come_back(tmp_path: Path) -> None:
    """Readers map their file (`map_file`) and drop pages they streamed (`release_range`, whole
    pages only): the bytes read afterwards are still the file's; an empty file cannot be mapped."""
    import mmap

    data = np.random.default_rng(1).integers(0, 256, 3 * mmap.PAGESIZE + 100, dtype=np.uint8).tobytes()
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    mapped = files.map_file(path)
    assert mapped[:] == data
    files.release_range(mapped, 10, 2 * mmap.PAGESIZE + 50)
    files.release_range(b"not a map", 0, len(data))  # nothing to drop
    assert mapped[:] == data
    array = files.mapped_array(files.FileSpan(path, 4, 8), np.uint8, (2, 4))
    np.testing.assert_array_equal(array, np.frombuffer(data[4:12], np.uint8).reshape(2, 4))
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ValueError):
        files.map_file(tmp_path / "empty")
