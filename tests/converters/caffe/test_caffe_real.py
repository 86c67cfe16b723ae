"""The three real Caffe pairs in ../shared/models/caffe: converted, against OpenCV, and shown."""

from __future__ import annotations

import re
from pathlib import Path

import onnx
import pytest

from netinspect.registry import LoadOptions, detect, load
from tests.conftest import shared_model
from tests.converters.caffe.parity import compare
from tests.converters.caffe.real_pairs import PAIRS


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_real_pair_matches_opencv(pair: str) -> None:
    pytest.importorskip("cv2")
    prototxt, weights = (shared_model(p) for p in PAIRS[pair])
    assert compare(prototxt, weights) <= 1e-4


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_detected_by_content(pair: str) -> None:
    prototxt, weights = (shared_model(p) for p in PAIRS[pair])
    assert detect(prototxt)[1] == "prototxt"
    assert detect(weights)[1] == "caffemodel"


def test_weights_used_as_stored_keep_their_file_spans() -> None:
    prototxt, weights = (shared_model(p) for p in PAIRS["ultraface_slim320"])
    graph = load(prototxt, LoadOptions(companions={"weights": weights}))
    spans = [t for t in graph.tensors.values() if t.span is not None]
    assert spans and all(t.span.path == weights for t in spans)
    first = spans[0]
    with weights.open("rb") as f:
        f.seek(first.span.offset)
        assert f.read(first.span.length) == first.numpy().astype("<f4").tobytes()


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_cli_info_view_convert_diff(pair: str, cli, tmp_path: Path) -> None:
    prototxt, weights = (shared_model(p) for p in PAIRS[pair])
    alone = cli("info", weights)
    assert alone.code == 0, alone.err
    structure = cli("info", prototxt)
    assert structure.code == 0, structure.err
    assert "no --weights given" in structure.out
    out = tmp_path / f"{pair}.onnx"
    converted = cli("convert", prototxt, "--weights", weights, "-o", out)
    assert converted.code == 0, converted.err
    onnx.checker.check_model(onnx.load(out))
    view = cli("view", prototxt, "--weights", weights, "-o", tmp_path / "v.html")
    assert view.code == 0, view.err
    diff = cli("diff", weights, out)
    assert diff.code == 0, diff.err
    counts = re.search(r"weights: (\d+) matched, (\d+) identical", diff.out)
    assert counts and counts.group(1) == counts.group(2) != "0", diff.out
    with_weights = cli("diff", prototxt, "--weights", weights, out)
    assert with_weights.code == 0, with_weights.err
    counts = re.search(r"weights: (\d+) matched, (\d+) identical", with_weights.out)
    assert counts and counts.group(1) == counts.group(2) != "0", with_weights.out
    without_weights = cli("diff", prototxt, out)
    assert without_weights.code == 2 and "--weights" in without_weights.err


def test_formats_lists_caffe(cli) -> None:
    result = cli("formats")
    assert result.code == 0
    assert "caffe" in result.out and "OpenCV" in result.out and "--weights" in result.out
