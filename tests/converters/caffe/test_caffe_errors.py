"""Damaged Caffe files: one clear line naming the file and exit 2, never a traceback (seeded fuzz)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.converters.caffe.parity import make_caffe
from tests.converters.caffe.test_caffe_layers import V1_NET

mk = make_caffe()


@pytest.fixture
def net(tmp_path: Path) -> tuple[Path, Path]:
    return mk.write_net(tmp_path / "net", "net", {"data": (1, 4, 9, 11)}, V1_NET())


def _clean(result, path: Path | None = None) -> None:
    assert result.code == 2, (result.code, result.out[-300:])
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
    if path is not None:
        assert path.name in result.err


def test_truncated_caffemodel_with_prototxt(net, tmp_path: Path, cli) -> None:
    prototxt, weights = net
    data = weights.read_bytes()
    for cut in (1, 7, len(data) // 3, len(data) - 5):
        bad = tmp_path / f"cut{cut}.caffemodel"
        bad.write_bytes(data[:cut])
        _clean(cli("info", prototxt, "--weights", bad), bad)


def test_truncated_prototxt(net, tmp_path: Path, cli) -> None:
    prototxt, weights = net
    text = prototxt.read_text()
    bad = tmp_path / "cut.prototxt"
    bad.write_text(text[: len(text) // 2])
    _clean(cli("convert", bad, "--weights", weights, "-o", tmp_path / "x.onnx"), bad)


def test_missing_layer_and_weights(net, tmp_path: Path, cli) -> None:
    prototxt, _ = net
    empty = tmp_path / "empty.caffemodel"
    mk.write_net(tmp_path / "e", "empty", {"data": (1, 4, 9, 11)}, [])
    empty.write_bytes((tmp_path / "e" / "empty.caffemodel").read_bytes())
    result = cli("convert", prototxt, "--weights", empty, "-o", tmp_path / "x.onnx")
    _clean(result)
    assert "missing weight" in result.err and "conv1" in result.err
    result = cli("info", prototxt, "--weights", tmp_path / "nope.caffemodel")
    _clean(result)


def test_unknown_layer_types_shown_by_info_and_refused_by_convert_at_once(tmp_path: Path, cli) -> None:
    layers = [mk.Layer("a", "Sigmoid", ["data"], ["a"])]
    prototxt, weights = mk.write_net(tmp_path, "odd", {"data": (1, 2, 3, 3)}, layers)
    text = prototxt.read_text().replace('type: "Sigmoid"', 'type: "Frobnicate"')
    text += 'layer { name: "b" type: "Wibble" bottom: "a" top: "b" }\n'
    prototxt.write_text(text)
    result = cli("convert", prototxt, "--weights", weights, "-o", tmp_path / "x.onnx")
    _clean(result)
    assert "Frobnicate" in result.err and "Wibble" in result.err
    shown = cli("info", prototxt, "--weights", weights)  # info and view show them, untranslated
    assert shown.code == 0, shown.err
    assert "Frobnicate (no translation)" in shown.out and "Wibble (no translation)" in shown.out
    assert cli("view", prototxt, "--weights", weights, "-o", tmp_path / "odd.html").code == 0


@pytest.mark.parametrize("which", ["prototxt", "caffemodel"])
def test_seeded_fuzz(net, tmp_path: Path, cli, which: str) -> None:
    """Bit flips, byte runs overwritten and truncations: exit 0 (a flip inside weights is still a
    valid file) or 2 with one line; never an internal error."""
    prototxt, weights = net
    target = prototxt if which == "prototxt" else weights
    original = target.read_bytes()
    rng = np.random.default_rng(2026)
    for trial in range(60):
        data = bytearray(original)
        kind = trial % 3
        if kind == 0:
            for _ in range(int(rng.integers(1, 6))):
                pos = int(rng.integers(0, len(data)))
                data[pos] ^= 1 << int(rng.integers(0, 8))
        elif kind == 1:
            pos = int(rng.integers(0, len(data)))
            run = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
            data[pos : pos + len(run)] = run
        else:
            data = data[: int(rng.integers(1, len(data)))]
        bad = tmp_path / f"fuzz{trial}.{which}"
        bad.write_bytes(bytes(data))
        args = (bad, "--weights", weights) if which == "prototxt" else (prototxt, "--weights", bad)
        result = cli("info", *args)
        assert result.code in (0, 2), (trial, result.err)
        if result.code == 2:
            _clean(result)
        alone = cli("info", bad) if which == "caffemodel" else None
        if alone is not None and alone.code != 0:
            _clean(alone)
