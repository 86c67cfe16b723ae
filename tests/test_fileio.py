"""The write rule every output goes through: atomic, durable, never half a file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from netinspect import fileio
from netinspect.errors import OutputError


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
