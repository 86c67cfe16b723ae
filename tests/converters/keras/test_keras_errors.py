"""Bad Keras input: one line on stderr naming the file and the problem, exit code 2, and nothing in
the file ever executed."""

from __future__ import annotations

import json
import marshal
import zipfile

import h5py
import numpy as np
import pytest

from tests.conftest import fixture_generator, shared_model

make_keras1 = fixture_generator("keras/make_keras1.py")


def _refused(result, path, *needles):
    assert result.code == 2, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert str(path) in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.err


def test_hdf5_without_model_config(cli, tmp_path):
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    _refused(cli("info", path), path, "not a Keras model")


def _weights_only(tmp_path):
    full = make_keras1.write(tmp_path / "full.h5", "tf", "tensorflow")
    path = tmp_path / "weights.h5"
    with h5py.File(full, "r") as src, h5py.File(path, "w") as dst:
        for key, value in src["model_weights"].attrs.items():
            dst.attrs[key] = value
        for name in src["model_weights"]:
            src.copy(src["model_weights"][name], dst, name)
        config = src.attrs["model_config"]
    arch = tmp_path / "arch.json"
    arch.write_text(config.decode() if isinstance(config, bytes) else str(config))
    return full, path, arch


def test_weights_only_opens_as_its_weights_and_converts_only_with_config(cli, tmp_path):
    import netinspect

    _, path, _ = _weights_only(tmp_path)
    shown = cli("info", path)
    assert shown.code == 0, shown.err
    assert "Weights" in shown.out and "convolution2d_1" in shown.out
    page = tmp_path / "weights.html"
    assert cli("view", path, "-o", page).code == 0 and "convolution2d_1_W" in page.read_text()
    graph = netinspect.load(path)
    records = {layer.name: layer for layer in graph.source_layers}
    kernel = records["convolution2d_1"].weights[0]
    assert kernel.name == "convolution2d_1_W:0" and kernel.dtype == "float32"
    stored = netinspect.load(tmp_path / "full.h5")  # the same array, in the full model's file
    tensor = graph.tensors[kernel.value]
    assert tensor.shape == kernel.shape
    full = next(t for t in stored.source_layers if t.name == "convolution2d_1").weights[0]
    assert full.shape == kernel.shape
    statistics = cli("info", path, "--tensor", kernel.value)
    assert statistics.code == 0 and "mean" in statistics.out.lower(), statistics.err
    _refused(cli("convert", path, "-o", tmp_path / "w.onnx"), path, "--config")


def test_weights_only_with_config_converts_like_the_full_model(cli, tmp_path):
    import netinspect
    from netinspect.registry import LoadOptions
    from tests.converters.keras.conftest import run_onnx

    full, path, arch = _weights_only(tmp_path)
    result = cli("info", path, "--config", arch)
    assert result.code == 0, result.err
    x = np.random.default_rng(0).standard_normal((1, 8, 9, 3)).astype(np.float32)
    (a,) = run_onnx(netinspect.load(full), [x])
    (b,) = run_onnx(netinspect.load(path, LoadOptions(companions={"config": arch})), [x])
    np.testing.assert_array_equal(a, b)


def test_weight_shape_contradicting_the_layer(cli, tmp_path):
    path = make_keras1.write(tmp_path / "k1.h5", "tf", "tensorflow")
    with h5py.File(path, "r+") as f:
        g = f["model_weights/dense_2"]
        del g["dense_2_W:0"]
        g.create_dataset("dense_2_W:0", data=np.zeros((5, 4), np.float32))
    _refused(cli("info", path), path, "dense_2", "has shape (5, 4)")


def test_truncated_hdf5(cli, tmp_path):
    source = make_keras1.write(tmp_path / "k1.h5", "tf", "tensorflow")
    path = tmp_path / "cut.h5"
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    _refused(cli("info", path), path)


def _keras_zip(path, members):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


CONFIG = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": []}})


def test_keras_zip_missing_weights(cli, tmp_path):
    path = _keras_zip(tmp_path / "m.keras", {"config.json": CONFIG, "metadata.json": "{}"})
    _refused(cli("info", path), path, "model.weights.h5")


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil", "assets/../../evil"])
def test_keras_zip_member_escaping_the_archive(cli, tmp_path, member):
    path = _keras_zip(tmp_path / "m.keras", {"config.json": CONFIG, "model.weights.h5": b"", member: "x"})
    _refused(cli("info", path), path, "escapes the archive")


def test_lambda_is_refused_without_running_its_bytecode(cli, monkeypatch, tmp_path):
    path = shared_model("keras2_sequential_lambda.h5")
    cli("convert", path, "-o", tmp_path / "never.onnx")  # imports done: they unmarshal cached bytecode
    calls = []
    real = marshal.loads
    monkeypatch.setattr(marshal, "loads", lambda *a, **k: calls.append(a) or real(*a, **k))
    result = cli("convert", path, "-o", tmp_path / "never.onnx")
    _refused(result, path, "'lambda_1'", "'lambda_2'", "Lambda", "bytecode")
    assert not calls


def test_unknown_layers_are_listed_at_once(cli, tmp_path):
    path = make_keras1.write(tmp_path / "k1.h5", "tf", "tensorflow")
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        config["config"][2]["class_name"] = "MyActivation"
        config["config"][7]["class_name"] = "MyFlatten"
        f.attrs["model_config"] = json.dumps(config).encode()
    assert cli("info", path).code == 0
    converted = cli("convert", path, "-o", tmp_path / "k1.onnx")
    _refused(converted, path, "2 unsupported", "'activation_1' (type 'MyActivation')", "MyFlatten")


def test_weight_linking_outside_the_file_is_refused(cli, tmp_path):
    """An HDF5 external link would make h5py open another file: refused, never followed."""
    secret = tmp_path / "secret.h5"
    with h5py.File(secret, "w") as f:
        f.create_dataset("data", data=np.zeros((1, 2), np.float32))
    path = make_keras1.write(tmp_path / "k1.h5", "tf", "tensorflow")
    with h5py.File(path, "r+") as f:
        g = f["model_weights/dense_1"]
        del g["dense_1_W:0"]
        g["dense_1_W:0"] = h5py.ExternalLink(str(secret), "/data")
    _refused(cli("info", path), path, "external link", "outside the file")


def test_truncated_keras_zip(cli, tmp_path):
    path = shared_model("keras3_mnist_cnn.keras")
    cut = tmp_path / "cut.keras"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _refused(cli("info", cut), cut)


def test_model_config_that_is_not_json(cli, tmp_path):
    path = make_keras1.write(tmp_path / "k1.h5", "tf", "tensorflow")
    with h5py.File(path, "r+") as f:
        f.attrs["model_config"] = b'{"class_name": "Sequential", "config": ['
    _refused(cli("info", path), path, "model_config is not valid JSON")


def test_subclassed_model_has_no_architecture(cli, tmp_path):
    weights = tmp_path / "w.h5"
    with h5py.File(weights, "w") as f:
        f.create_group("layers")
    config = json.dumps({"class_name": "MyModel", "config": {"name": "m"}})
    path = _keras_zip(tmp_path / "m.keras", {"config.json": config, "model.weights.h5": weights.read_bytes()})
    _refused(cli("info", path), path, "'MyModel'", "subclassed")
