"""The operator schemas the renderers read, remembered per onnx version: a record read back from the
cache equals the one read from onnx (defaults keep their types, so `is_default` decides the same)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import onnx.defs
import pytest

from netinspect.renderers import onnx_schemas, ops


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    onnx_schemas._records.cache_clear()
    yield tmp_path
    onnx_schemas._records.cache_clear()


def test_a_record_survives_the_cache_unchanged(fresh_cache: Path) -> None:
    read = {op: onnx_schemas.schema(op, "", 17) for op in ("Conv", "LeakyRelu", "Resize", "Gemm", "Pad")}
    onnx_schemas._records().save()
    onnx_schemas._records.cache_clear()
    again = onnx_schemas._records()
    assert again.path.is_relative_to(fresh_cache) and again.path.is_file()
    assert {op: onnx_schemas.schema(op, "", 17) for op in read} == read
    assert not again.added  # nothing was read from onnx the second time
    assert read["LeakyRelu"]["defaults"] == {"alpha": pytest.approx(0.01)}
    assert isinstance(read["Gemm"]["defaults"]["alpha"], float)
    assert read["Resize"]["defaults"]["mode"] == "nearest"


def test_records_follow_the_opset_and_the_installed_schemas(fresh_cache: Path) -> None:
    old, new = onnx_schemas.schema("Resize", "", 10), onnx_schemas.schema("Resize", "", 13)
    assert old["doc"]["since"] == onnx.defs.get_schema("Resize", 10, "").since_version == 10
    assert new["doc"]["since"] == onnx.defs.get_schema("Resize", 13, "").since_version
    assert onnx_schemas.schema("NoSuchOp", "", 17) is None
    assert ops.input_name("Conv", "ai.onnx", 17, 1) == "W"
    assert ops.input_name("Concat", "ai.onnx", 17, 2) == "inputs2"
    assert ops.is_default("LeakyRelu", "ai.onnx", 17, "alpha", 0.01)
    assert not ops.is_default("LeakyRelu", "ai.onnx", 17, "alpha", 0.2)


def test_an_unwritable_cache_costs_only_the_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    onnx_schemas._records.cache_clear()
    try:
        assert onnx_schemas.schema("Relu", "", 17)["doc"]["name"] == "Relu"
        onnx_schemas._records().save()  # does not raise
    finally:
        onnx_schemas._records.cache_clear()


def test_a_damaged_cache_file_is_read_again_from_onnx(fresh_cache: Path) -> None:
    path = onnx_schemas._records().path
    path.parent.mkdir(parents=True)
    path.write_text('{"|Conv|17": {"doc": 3}, "|Relu|17": "x"}')
    onnx_schemas._records.cache_clear()
    assert ops.input_name("Conv", "ai.onnx", 17, 1) == "W"
    assert onnx_schemas.schema("Relu", "", 17)["doc"]["name"] == "Relu"
