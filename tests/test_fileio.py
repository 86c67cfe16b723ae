"""The write rule every output goes through: atomic, durable, never half a file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from netinspect import fileio
from netinspect.errors import ModelFormatError, OutputError


def test_atomic_write_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), fileio.atomic_write(target) as f:
        f.write(b"new but broken")
        raise RuntimeError("writer failed halfway")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # no temporary left behind
    with fileio.atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o644


def test_large_output_is_written_back_while_it_is_written(tmp_path: Path, monkeypatch) -> None:
    """Past WRITEBACK_STEP bytes a second thread fdatasyncs, so the closing fsync waits for less."""
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(fileio, "WRITEBACK_STEP", 1000)
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(os.fstat(fd).st_size), real(fd)))
    target = tmp_path / "big.bin"
    pieces = [bytes([i]) * 700 for i in range(10)]
    with fileio.atomic_write(target) as f:
        for piece in pieces:
            f.write(piece)
    assert target.read_bytes() == b"".join(pieces)
    assert synced, "the write-back thread never ran"
    assert all(0 < size <= 7000 for size in synced)


def test_a_write_back_error_fails_the_write(tmp_path: Path, monkeypatch) -> None:
    """Linux reports a write-back error to one fsync caller only: the background one must not
    swallow it, or the closing fsync would succeed on a file that is not on disk."""

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(fileio, "WRITEBACK_STEP", 10)
    monkeypatch.setattr(os, "fdatasync", failing)
    target = tmp_path / "out.bin"
    with pytest.raises(OutputError, match="Input/output error"), fileio.atomic_write(target) as f:
        f.write(b"x" * 100)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_copy_range_appends_a_run_of_another_file(tmp_path: Path, monkeypatch, kernel_copy: bool) -> None:
    """Weights stored as they are written (FileSpan) are copied file to file; where the kernel
    cannot (another file system, an old kernel), read and written instead."""
    if not kernel_copy:

        def refuse(*args: object) -> int:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

        monkeypatch.setattr(os, "copy_file_range", refuse)
    synced: list[int] = []
    monkeypatch.setattr(fileio, "WRITEBACK_STEP", 100)
    monkeypatch.setattr(os, "fdatasync", lambda fd: synced.append(fd))
    source = tmp_path / "model.h5"
    source.write_bytes(bytes(range(256)) * 4)
    target = tmp_path / "out.onnx"
    with fileio.atomic_write(target) as f:
        f.write(b"head")
        fileio.copy_range(f, source, 10, 500)
        f.write(b"tail")
    assert target.read_bytes() == b"head" + (bytes(range(256)) * 4)[10:510] + b"tail"
    assert synced, "copied bytes count toward write-back"


def test_copy_range_names_a_source_that_ends_early(tmp_path: Path) -> None:
    source = tmp_path / "short.h5"
    source.write_bytes(b"x" * 100)
    target = tmp_path / "o"
    with pytest.raises(ModelFormatError, match="ends 50 bytes before"), fileio.atomic_write(target) as f:
        fileio.copy_range(f, source, 0, 150)
    assert not (tmp_path / "o").exists()
