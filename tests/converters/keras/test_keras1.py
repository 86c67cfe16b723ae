"""Keras 1 files (written with h5py in Keras 1.2's format): th/tf kernels, Theano true convolution
decided from the weight names, `--backend` overriding it, running_std as variance; checked against
netinspect's independent NumPy Keras 1 reference (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import netinspect
from netinspect import layout
from netinspect.check.runtimes.keras1_reference import Keras1Runner
from netinspect.registry import LoadOptions
from tests.conftest import fixture_generator, shared_model
from tests.converters.keras.conftest import run_onnx

make_keras1 = fixture_generator("keras/make_keras1.py")

COMBOS = [("th", "theano"), ("tf", "tensorflow"), ("tf", "theano"), ("th", "tensorflow")]


def _reference_and_onnx(path, options=None):
    runner = Keras1Runner(path)
    (spec_,) = runner.input_specs()
    shape = (2, *spec_.shape[1:])
    rng = np.random.default_rng(3)
    graph_input = netinspect.load(path, options).inputs[0]
    if np.dtype(graph_input.dtype).kind in "iu":
        x = rng.integers(0, 12, shape).astype(graph_input.dtype)
    else:
        x = rng.standard_normal(shape).astype(np.float32)
    want = runner.run({spec_.name: x})
    graph = netinspect.load(path, options)
    (got,) = run_onnx(graph, [x])
    return graph, got, next(iter(want.values()))


@pytest.mark.parametrize(("ordering", "backend"), COMBOS, ids=[f"{o}-{b}" for o, b in COMBOS])
def test_keras1_matches_numpy_reference(tmp_path, ordering, backend):
    path = make_keras1.write(tmp_path / "k1.h5", ordering, backend)
    graph, got, want = _reference_and_onnx(path)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    flips = {
        (n.provenance.layer, s.text)
        for n in graph.nodes
        if n.provenance
        for s in n.provenance.steps
        if s.kind == "flip"
    }
    convs = {n.provenance.layer for n in graph.nodes if n.op_type == "Conv"}
    if backend == "theano":
        assert {layer for layer, _ in flips} == convs
        assert all("lack the ':0'" in text for _, text in flips)
    else:
        assert not flips
    assert graph.metadata.properties["keras.conv_semantics"].startswith(backend)


@pytest.mark.parametrize("ordering", ["tf", "th"])
def test_a_dense_kernel_kept_as_stored_matches_the_reference(tmp_path, monkeypatch, ordering):
    """From KEPT_WEIGHT_BYTES up (Keras VGG19's fc1 at 224: 392 MiB) a Dense kernel after a Flatten
    of channels-last data is written as stored, and a Transpose to channels-last stays before the
    Flatten instead; with every kernel kept so, the output still matches the reference. Channels-
    first data ("th") flattens in ONNX's order already: nothing to keep."""
    monkeypatch.setattr(layout, "KEPT_WEIGHT_BYTES", 1)
    path = make_keras1.write(tmp_path / "k1.h5", ordering, "tensorflow")
    graph, got, want = _reference_and_onnx(path)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    producers = graph.producers()
    kept = [n for n in graph.nodes if any("kept as stored" in s.text for s in n.provenance.steps)]  # type: ignore[union-attr]
    assert len(kept) == (1 if ordering == "tf" else 0)
    for dense in kept:
        flatten = producers[dense.inputs[0]]
        assert flatten.op_type == "Flatten" and producers[flatten.inputs[0]].op_type == "Transpose"
        assert graph.tensors[dense.inputs[1]].span is not None  # copied as the file holds it
    permuted, got_permuted, _ = _reference_and_onnx(path, LoadOptions(permute_all_weights=True))
    np.testing.assert_allclose(got_permuted, want, rtol=1e-4, atol=1e-4)
    assert "Transpose" not in {n.op_type for n in permuted.nodes}  # rows permuted instead


@pytest.mark.parametrize(("ordering", "backend"), COMBOS[:2], ids=[f"{o}-{b}" for o, b in COMBOS[:2]])
def test_keras1_functional_model_with_merge(tmp_path, ordering, backend):
    """A Keras 1 functional `Model` (Merge concat and sum, 'same' even kernels under Theano)."""
    path = make_keras1.write_functional(tmp_path / "k1f.h5", ordering, backend)
    graph, got, want = _reference_and_onnx(path)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert {"Concat", "Add"} <= {n.op_type for n in graph.nodes}


@pytest.mark.parametrize("consume_less", ["cpu", "gpu"])
def test_keras1_text_model_with_recurrent_layers(tmp_path, consume_less):
    """Embedding, LSTM (per-gate or fused weights), GRU going backwards, hard_sigmoid inner gates."""
    path = make_keras1.write_text_model(tmp_path / "text.h5", consume_less)
    graph, got, want = _reference_and_onnx(path)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert {"LSTM", "GRU", "Gather"} <= {n.op_type for n in graph.nodes}


def test_keras1_time_distributed_dense(tmp_path):
    """Keras 1's TimeDistributedDense (dl4j's lstm_tf_model.h5, Keras 1.1.0): a Dense on every time
    step, its (in, out) kernel on the last axis."""
    path = make_keras1.write_text_model(tmp_path / "text.h5", time_dense=True)
    graph, got, want = _reference_and_onnx(path)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert "TimeDistributedDense" in {n.provenance.layer_type for n in graph.nodes if n.op_type == "MatMul"}


def test_backend_override_decides_the_flip(tmp_path):
    """A TensorFlow-named file read with --backend theano is flipped (and then disagrees with the
    reference, which follows the file's evidence): the override is what the converter obeyed."""
    path = make_keras1.write(tmp_path / "k1.h5", "tf", "tensorflow")
    graph, got, want = _reference_and_onnx(path, LoadOptions(format_options={"backend": "theano"}))
    steps = [s.text for n in graph.nodes if n.provenance for s in n.provenance.steps if s.kind == "flip"]
    assert steps and all("--backend theano" in t for t in steps)
    assert not np.allclose(got, want, rtol=1e-4, atol=1e-4)


def test_running_std_is_read_as_variance(tmp_path):
    path = make_keras1.write(tmp_path / "k1.h5", "tf", "tensorflow")
    graph = netinspect.load(path)
    bn = [n for n in graph.nodes if n.provenance and n.provenance.layer_type == "BatchNormalization"]
    assert any("running_std holds the variance" in s.text for n in bn for s in n.provenance.steps)


def test_real_keras1_file_matches_reference():
    path = shared_model("keras1_cnn_dropout_model.h5")
    graph, got, want = _reference_and_onnx(path)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert graph.metadata.properties["keras.version"] == "1.1.2"
    assert "':0'" in graph.metadata.properties["keras.conv_semantics"]


def test_check_command_on_keras1(cli, tmp_path):
    path = make_keras1.write(tmp_path / "k1_th.h5", "th", "theano")
    result = cli("check", path)
    assert result.code == 0, result.err + result.out
    assert "Theano true convolution" in result.out


def test_keras_107_running_std_is_a_std(tmp_path):
    """Keras 1.0.0–1.0.7 stored a true std and divided by (std + ε)."""
    path = make_keras1.write(tmp_path / "k1.h5", "tf", "tensorflow", version="1.0.7")
    graph, got, want = _reference_and_onnx(path)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    bn = [n for n in graph.nodes if n.provenance and n.provenance.layer_type == "BatchNormalization"]
    assert any("true std" in s.text or "is a std" in s.text for n in bn for s in n.provenance.steps)
    newer = make_keras1.write(tmp_path / "k1_122.h5", "tf", "tensorflow")
    assert not np.allclose(_reference_and_onnx(newer)[1], got, rtol=1e-4, atol=1e-4)


def test_keras2_theano_backend_attribute_flips_kernels(tmp_path, keras_cache):
    """A Keras 2 file whose `backend` attribute says theano has its conv kernels flipped."""
    import shutil

    import h5py

    from tests.converters.keras.conftest import make_keras

    stem, _ = make_keras.case_files("conv_layers", "tfk")
    path = tmp_path / "theano.h5"
    shutil.copy(keras_cache / stem, path)
    with h5py.File(path, "r+") as f:
        f.attrs["backend"] = "theano"
    plain, flipped = netinspect.load(keras_cache / stem), netinspect.load(path)
    assert flipped.metadata.properties["keras.conv_semantics"].startswith("theano")

    def kernels(graph):
        return {
            n.provenance.layer: graph.tensors[n.inputs[1]].numpy()
            for n in graph.nodes
            if n.op_type in ("Conv", "ConvTranspose")
            and n.provenance.layer_type in ("Conv2D", "Conv2DTranspose")
        }

    a, b = kernels(plain), kernels(flipped)
    assert a.keys() == b.keys() and len(a) == 6
    for layer in a:
        np.testing.assert_array_equal(b[layer], a[layer][:, :, ::-1, ::-1], err_msg=layer)


def _fully_convolutional(tmp_path):
    config = make_keras1.default_layers("tf")[:5]  # conv, BN, relu, conv, max pool
    config[0]["config"]["batch_input_shape"] = [None, None, None, 3]
    return make_keras1.write(tmp_path / "fcn.h5", "tf", "theano", layers=config)


def test_unknown_spatial_sizes_stay_symbolic(tmp_path):
    path = _fully_convolutional(tmp_path)
    graph = netinspect.load(path)
    (value,) = graph.inputs
    assert value.shape[:2] == ("N", 3) and all(isinstance(d, str) for d in value.shape[2:])
    runner = Keras1Runner(path)
    x = np.random.default_rng(5).standard_normal((1, 12, 10, 3)).astype(np.float32)
    (got,) = run_onnx(graph, [x])
    np.testing.assert_allclose(
        got, next(iter(runner.run({runner.input_name: x}).values())), rtol=1e-4, atol=1e-4
    )


def test_input_shape_pins_sizes_in_the_converted_layout(tmp_path):
    path = _fully_convolutional(tmp_path)
    name = Keras1Runner(path).input_name
    graph = netinspect.load(path, LoadOptions(input_shapes={name: (1, 3, 8, 9)}))
    assert graph.inputs[0].shape == (1, 3, 8, 9)
    assert graph.outputs[0].shape == (1, 5, 4, 4)
    kept = netinspect.load(path, LoadOptions(input_shapes={name: (1, 8, 9, 3)}, keep_source_layout=True))
    assert kept.inputs[0].shape == (1, 8, 9, 3)
