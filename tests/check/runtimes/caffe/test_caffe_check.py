"""`check` with OpenCV's Caffe importer as the reference: the real pairs pass, every layer compared;
a converted model with one damaged weight is caught at that layer; a .caffemodel alone is refused
with the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from tests.conftest import shared_model
from tests.converters.caffe.real_pairs import PAIRS

pytest.importorskip("cv2")

@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_real_pairs_pass_layer_by_layer(pair: str, cli) -> None:
    prototxt, weights = (shared_model(p) for p in PAIRS[pair])
    result = cli("check", prototxt, "--weights", weights, "--layers", "always")
    assert result.code == 0, result.out[-2000:] + result.err
    assert "OpenCV" in result.out and "compared layers are within tolerance" in result.out


def test_damaged_weight_is_the_first_diverging_layer(cli, tmp_path: Path) -> None:
    prototxt, weights = (shared_model(p) for p in PAIRS["resnet20_cifar"])
    converted = tmp_path / "r20.onnx"
    assert cli("convert", prototxt, "--weights", weights, "-o", converted).code == 0
    model = onnx.load(converted)
    target = next(t for t in model.graph.initializer if t.name.startswith("Convolution7_weights"))
    values = numpy_helper.to_array(target).copy()
    values.flat[0] += 0.5
    target.CopyFrom(numpy_helper.from_array(values.astype(np.float32), target.name))
    onnx.save(model, converted)
    result = cli("check", prototxt, "--weights", weights, converted)
    assert result.code == 1, result.out[-2000:] + result.err
    assert "first diverging layer: Convolution7 (Convolution)" in result.out


def test_caffemodel_alone_is_not_checkable(cli) -> None:
    _, weights = (shared_model(p) for p in PAIRS["lenet_v1"])
    result = cli("check", weights)
    assert result.code == 2
    assert "deploy prototxt and weights" in result.err and len(result.err.strip().splitlines()) == 1
    result = cli("check", shared_model(PAIRS["lenet_v1"][0]))
    assert result.code == 2 and "--weights" in result.err


def test_layers_found_when_a_convolution_is_named_unlike_its_top(cli, tmp_path: Path) -> None:
    """OpenCV names a Convolution after its top blob; an in-place ReLU then writes that blob again."""
    from tests.converters.caffe.parity import make_caffe

    mk = make_caffe()
    rng = np.random.default_rng(0)
    layers = [
        mk.Layer(
            "conv_a",
            "Convolution",
            ["data"],
            ["feat"],
            "convolution_param { num_output: 4 kernel_size: 3 }",
            [mk.rand(rng, 4, 3, 3, 3), mk.rand(rng, 4)],
        ),
        mk.Layer("relu_a", "ReLU", ["feat"], ["feat"]),
        mk.Layer(
            "pool", "Pooling", ["feat"], ["pool"], "pooling_param { pool: MAX kernel_size: 2 stride: 2 }"
        ),
    ]
    prototxt, weights = mk.write_net(tmp_path, "named", {"data": (1, 3, 10, 10)}, layers)
    result = cli("check", prototxt, "--weights", weights, "--layers", "always")
    assert result.code == 0, result.out[-2000:] + result.err
    assert "all 3 compared layers are within tolerance" in result.out
