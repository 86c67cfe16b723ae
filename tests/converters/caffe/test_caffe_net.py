"""How the net is built, as Caffe builds it: include/exclude rules and the net's state, training-only
layers, weights bound by name from a .caffemodel holding more layers, a .caffemodel alone, a prototxt
alone, and detection by content."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netinspect.registry import LoadOptions, detect, load
from tests.converters.caffe.parity import compare, make_caffe

mk = make_caffe()
L = mk.Layer
R = np.random.default_rng(3)

TRAINING_PARTS = """
layer { name: "train_data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
        data_param { source: "train_lmdb" batch_size: 64 backend: LMDB } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "ip" bottom: "label" top: "acc" include { phase: TEST } }
layer { name: "train_only_scale" type: "Power" bottom: "ip" top: "ip" exclude { phase: TEST }
        power_param { scale: 100 } }
"""


def _net(tmp_path: Path) -> tuple[Path, Path]:
    weights = [mk.rand(R, 5, 2 * 4 * 4), mk.rand(R, 5)]
    layers = [L("ip", "InnerProduct", ["data"], ["ip"], "inner_product_param { num_output: 5 }", weights)]
    prototxt, caffemodel = mk.write_net(tmp_path, "n", {"data": (1, 2, 4, 4)}, layers)
    return prototxt, caffemodel


def test_rules_and_training_layers(tmp_path: Path) -> None:
    prototxt, caffemodel = _net(tmp_path)
    prototxt.write_text(prototxt.read_text() + TRAINING_PARTS)
    graph = load(prototxt, LoadOptions(companions={"weights": caffemodel}))
    assert [n.op_type for n in graph.nodes] == ["Flatten", "Gemm"]
    assert [o.name for o in graph.outputs] == ["ip"]
    notes = " ".join(graph.metadata.notes)
    assert "'loss' (SoftmaxWithLoss)" in notes and "'acc' (Accuracy)" in notes
    assert "left out by include/exclude rules" in notes


def test_train_state_keeps_train_layers(tmp_path: Path) -> None:
    prototxt, caffemodel = _net(tmp_path)
    text = prototxt.read_text().replace('name: "n"', 'name: "n"\nstate { phase: TRAIN }', 1)
    prototxt.write_text(text + TRAINING_PARTS.replace("include { phase: TRAIN }", ""))
    graph = load(prototxt, LoadOptions(companions={"weights": caffemodel}))
    assert "Mul" in [n.op_type for n in graph.nodes]  # train_only_scale is part of the TRAIN net


def test_weights_from_a_bigger_net_by_name(tmp_path: Path) -> None:
    """The caffemodel holds extra layers (and comes first with a name the deploy net lacks)."""
    prototxt, caffemodel = _net(tmp_path)
    extra = L("unused_conv", "Convolution", ["x"], ["y"], "", [mk.rand(R, 2, 2, 1, 1)])
    caffemodel.write_bytes(extra.binary(v1=False) + caffemodel.read_bytes())
    assert compare(prototxt, caffemodel) <= 1e-4


def test_caffemodel_alone_and_prototxt_alone(tmp_path: Path) -> None:
    shared = Path(__file__).resolve().parents[4] / "shared" / "models" / "caffe" / "lenet_v1"
    if not shared.is_dir():
        pytest.skip("../shared/models is absent")
    alone = load(shared / "lenet_iter_10000.caffemodel")
    assert [v.name for v in alone.inputs] == ["data"] and alone.inputs[0].shape[1] == 1
    assert any("'loss'" in n for n in alone.metadata.notes)
    structure = load(shared / "lenet.prototxt")
    assert structure.outputs[0].shape == (64, 10)
    missing = [t for t in structure.tensors.values() if t.missing]
    assert len(missing) == 8 and all(t.shape for t in missing)


def test_detection_by_content(tmp_path: Path) -> None:
    prototxt, caffemodel = _net(tmp_path)
    odd_names = tmp_path / "model.bin", tmp_path / "deploy.txt"
    odd_names[0].write_bytes(caffemodel.read_bytes())
    odd_names[1].write_text("# a comment first\n" + prototxt.read_text())
    assert detect(odd_names[0])[0].name == "caffe" and detect(odd_names[0])[1] == "caffemodel"
    assert detect(odd_names[1])[1] == "prototxt"
    for text in ('{"class_name": "Sequential"}', 'net: "train.prototxt"\nbase_lr: 0.01\n', "hello world"):
        other = tmp_path / "other.txt"
        other.write_text(text)
        with pytest.raises(Exception, match="unknown model format"):
            detect(other)


def test_data_layer_transform_becomes_preprocessing(tmp_path: Path) -> None:
    """A training net's data layer: `(x − mean_value) · scale`, cropped (its tops are the inputs)."""
    text = """name: "train"
layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TEST }
        transform_param { mean_value: 104 mean_value: 117 mean_value: 123 scale: 0.5 crop_size: 8 }
        data_param { source: "val_lmdb" batch_size: 10 } }
layer { name: "c" type: "Convolution" bottom: "data" top: "c"
        convolution_param { num_output: 2 kernel_size: 3 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "c" bottom: "label" top: "loss" }
"""
    prototxt = tmp_path / "train_val.prototxt"
    prototxt.write_text(text)
    graph = load(prototxt, LoadOptions(input_shapes={"data": (1, 3, 8, 8)}))
    pre = graph.metadata.preprocessing
    assert pre.mean == [104, 117, 123] and pre.std == [2.0, 2.0, 2.0] and pre.image_size == (8, 8)
    assert pre.channel_order == "BGR" and "channel_order" in pre.extra["assumed"]
    shared = Path(__file__).resolve().parents[4] / "shared" / "models" / "caffe" / "lenet_v1"
    if shared.is_dir():  # LeNet's own net: transform_param { scale: 0.00390625 }
        assert load(shared / "lenet_iter_10000.caffemodel").metadata.preprocessing.std == [256.0]
