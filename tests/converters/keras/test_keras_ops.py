"""Operation nodes of functional graphs (issue 20, item 1): Keras 3 `keras.ops` calls and operators,
tf-keras `TFOpLambda`/`SlicingOpLambda`, with constant operands and keyword arguments, converted and
run in onnxruntime against Keras' own `predict` (rtol = atol = 1e-4); an operation without an
ONNX mapping is named, with every other one, in one message."""

from __future__ import annotations

import json
import shutil
import zipfile

import h5py
import pytest

import netinspect
from tests.converters.keras.conftest import compare, make_graphs


@pytest.mark.parametrize(("name", "flavour"), [("keras3_ops", "k3"), ("tf_keras_ops", "tfk")])
def test_operation_nodes_match_keras(graphs_cache, name, flavour):
    stem, npz = make_graphs.case_files(name, flavour)
    worst = compare(graphs_cache / stem, graphs_cache / npz)
    print(f"{stem}: max abs error {worst:.3g}")


def test_operations_become_onnx_ops_with_their_constants(graphs_cache):
    graph = netinspect.load(graphs_cache / make_graphs.case_files("tf_keras_ops", "tfk")[0])
    by_layer = {n.provenance.layer: n for n in graph.nodes if n.provenance}
    assert by_layer["tf.math.multiply"].op_type == "Mul"
    assert by_layer["tf.math.subtract"].provenance.layer_type == "tf.math.subtract"
    constant = by_layer["tf.math.subtract"].inputs[0]  # 2.0 - x: the constant is the first operand
    assert graph.tensors[constant].numpy().item() == 2.0


def _refused(result, path, *needles):
    assert result.code == 2, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], result.err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unsupported_operations_are_listed_at_once(cli, graphs_cache, tmp_path):
    keras3 = tmp_path / "ops.keras"
    with zipfile.ZipFile(graphs_cache / "keras3_ops.keras") as src, zipfile.ZipFile(keras3, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                renamed = 0
                for entry in config["config"]["layers"]:
                    if entry["class_name"] in ("Sqrt", "Einsum"):
                        entry["class_name"] = {"Sqrt": "Fft", "Einsum": "Svd"}[entry["class_name"]]
                        renamed += 1
                assert renamed == 2
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    assert cli("info", keras3).code == 0  # shown as they are
    _refused(cli("convert", keras3, "-o", tmp_path / "k3.onnx"), keras3, "keras.ops.Fft", "keras.ops.Svd")

    tfk = tmp_path / "ops.h5"
    shutil.copy(graphs_cache / "tf_keras_ops.tfk.h5", tfk)
    with h5py.File(tfk, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        entry = next(e for e in config["config"]["layers"] if e["config"].get("function") == "math.sqrt")
        entry["config"]["function"] = "linalg.svd"
        f.attrs["model_config"] = json.dumps(config)
    _refused(
        cli("convert", tfk, "-o", tmp_path / "tfk.onnx"), tfk, "tf.linalg.svd", "not convertible: a matrix"
    )
