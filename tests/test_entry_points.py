"""netinspect.entry_points reads the installed metadata as importlib.metadata does (it replaces it at
start-up), compared on this environment's real distributions."""

from __future__ import annotations

import importlib.metadata as metadata
from pathlib import Path

import pytest

from netinspect import entry_points


@pytest.mark.parametrize("name", ["onnx", "numpy", "typer", "rich", "flatbuffers", "ml-dtypes", "ML_Dtypes"])
def test_version_is_the_one_importlib_metadata_gives(name: str) -> None:
    assert entry_points.version(name) == metadata.version(name)


def test_an_absent_distribution_has_no_version() -> None:
    assert entry_points.version("no-such-distribution-anywhere") is None


def test_the_readers_group_is_the_one_importlib_metadata_lists() -> None:
    ours = {(e.name, e.value) for e in entry_points.entry_points("netinspect.readers")}
    theirs = {(e.name, e.value) for e in metadata.entry_points(group="netinspect.readers")}
    assert ours == theirs and {"onnx", "tflite", "keras", "matconvnet"} <= {name for name, _ in ours}


def test_entry_point_lines_parse_with_comments_extras_and_attribute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "demo-1.0.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\nVersion: 9\n")
    (folder / "entry_points.txt").write_text(
        "# a comment\n[other]\nx = os:sep\n\n[demo.group]\n; another\n"
        "join = os.path:join\nsep = os : sep [extra]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = {e.name: e for e in entry_points.entry_points("demo.group")}
    assert set(found) == {"join", "sep"}
    import os

    assert found["join"].load() is os.path.join and found["sep"].load() == os.sep
    assert entry_points.version("demo") == "1.0"
