"""`check` and `diff` read models with the same options as `convert`: a weights-only Keras file with
its `--config`, a Theano-saved one with `--backend theano`; a file saved on Theano (Keras 1 or 2)
runs in netinspect's NumPy Keras reference, and the report says why."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

import netinspect
from netinspect.registry import LoadOptions
from tests.conftest import fixture_generator

pytest.importorskip("tf_keras")
make_keras2_theano = fixture_generator("keras/make_keras2_theano.py")
make_keras1 = fixture_generator("keras/make_keras1.py")


@pytest.fixture(scope="module")
def keras2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(tensorflow.h5, theano.h5): one function, saved by tf-keras and as Keras 2 on Theano saves it."""
    return make_keras2_theano.write(tmp_path_factory.mktemp("keras2"))


def weights_only(full: Path, folder: Path) -> tuple[Path, Path]:
    """The weights of a full-model HDF5 file (Keras' save_weights layout) and its architecture JSON."""
    weights, arch = folder / f"{full.stem}-weights.h5", folder / f"{full.stem}.json"
    with h5py.File(full, "r") as src, h5py.File(weights, "w") as dst:
        for key, value in src["model_weights"].attrs.items():
            dst.attrs[key] = value
        for name in src["model_weights"]:
            src.copy(src["model_weights"][name], dst, name)
        config = src.attrs["model_config"]
    arch.write_text(config.decode() if isinstance(config, bytes) else str(config))
    return weights, arch


def flags(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", help_text))


def test_check_and_diff_offer_the_reading_options_of_convert(cli: Callable) -> None:
    convert, check, diff = (cli(command, "--help").out for command in ("convert", "check", "diff"))
    writing = {"--output", "--to", "--opset", "--with-preprocessing", "--keep-unsupported", "--help"}
    reading = flags(convert) - writing
    assert {"--config", "--backend", "--input-shape", "--plugin", "--permute-all-weights", "--keep-nhwc",
            "--fixed-size", "--weights"} <= reading  # fmt: skip
    assert reading <= flags(check)
    assert reading <= flags(diff)


def test_a_keras2_file_saved_on_theano_checks_against_the_numpy_reference(
    keras2: tuple[Path, Path], cli: Callable, tmp_path: Path
) -> None:
    _, theano = keras2
    report = tmp_path / "report.json"
    result = cli("check", theano, "--json", report)
    assert result.code == 0, result.err + result.out
    runtime = json.loads(report.read_text())["models"][0]["source"]["runtime"]
    assert "NumPy Keras reference" in runtime and "Theano true convolution" in runtime
    assert "its backend attribute says theano" in runtime and "cross-correlation" in runtime


def test_the_numpy_reference_computes_what_tf_keras_computes(keras2: tuple[Path, Path]) -> None:
    """The reference is right, not only consistent with the converter: on the Theano file it gives
    what tf-keras gives on the TensorFlow twin."""
    import tf_keras

    from netinspect.check.runtimes.keras1_reference import Keras1Runner

    tensorflow, theano = keras2
    x = np.random.default_rng(1).standard_normal((2, *make_keras2_theano.INPUT)).astype(np.float32)
    want = tf_keras.models.load_model(tensorflow, compile=False)(x, training=False).numpy()
    runner = Keras1Runner(theano, theano=True)
    (got,) = runner.run({runner.input_name: x}).values()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def keras2_sequence(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sequence_tensorflow.h5, sequence_theano.h5): a Keras 2 text model, and as saved on Theano."""
    return make_keras2_theano.write(tmp_path_factory.mktemp("keras2_sequence"), "sequence")


def test_the_numpy_reference_runs_keras2_sequence_layers_as_tf_keras(keras2_sequence) -> None:
    """Keras 2 recurrent configs (`units`, `recurrent_activation`, fused weights, GRU `reset_after`),
    Bidirectional, Conv1D (flipped on Theano), Reshape, Permute and integer token ids: the reference
    on the Theano file gives what tf-keras gives on the TensorFlow twin (real Keras 2.1.3 Theano
    files stopped it with "KeyError: 'output_dim'" or "has no Bidirectional layer")."""
    import tf_keras

    from netinspect.check.runtimes.keras1_reference import Keras1Runner

    tensorflow, theano = keras2_sequence
    tokens = make_keras2_theano.TOKENS
    x = np.random.default_rng(3).integers(0, make_keras2_theano.VOCABULARY, (2, tokens)).astype(np.int32)
    want = tf_keras.models.load_model(tensorflow, compile=False)(x, training=False).numpy()
    runner = Keras1Runner(theano, theano=True)
    (spec,) = runner.input_specs()
    assert (spec.dtype, spec.index_bound) == ("int32", make_keras2_theano.VOCABULARY)
    (got,) = runner.run({runner.input_name: x}).values()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_keras2_theano_text_model_checks_against_the_numpy_reference(cli: Callable, keras2_sequence):
    _, theano = keras2_sequence
    result = cli("check", theano)
    assert result.code == 0, result.out + result.err
    assert "NumPy Keras reference" in result.out and "PASS" in result.out


def test_a_theano_file_without_its_backend_attribute_checks_with_backend_theano(
    keras2: tuple[Path, Path], cli: Callable, tmp_path: Path
) -> None:
    tensorflow, theano = keras2
    stripped = shutil.copy(theano, tmp_path / "stripped.h5")
    with h5py.File(stripped, "r+") as f:
        del f.attrs["backend"]
    result = cli("check", stripped, "--backend", "theano")
    assert result.code == 0, result.err + result.out
    assert "(--backend theano)" in result.out and "NumPy Keras reference" in result.out
    # and what passed is the model's function: the conversion computes what tf-keras does on the twin
    import onnxruntime as ort
    import tf_keras

    x = np.random.default_rng(2).standard_normal((1, *make_keras2_theano.INPUT)).astype(np.float32)
    options = LoadOptions(keep_source_layout=True, format_options={"backend": "theano"})
    graph = netinspect.load(stripped, options)
    session = ort.InferenceSession(netinspect.to_onnx(graph).SerializeToString())
    (got,) = session.run(None, {graph.inputs[0].name: x})
    want = tf_keras.models.load_model(tensorflow, compile=False)(x, training=False).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_keras1_theano_file_checks_with_backend_theano(cli: Callable, tmp_path: Path) -> None:
    """A Keras 1 Theano file whose weight names were rewritten TensorFlow-style: --backend says it."""
    path = make_keras1.write(tmp_path / "k1.h5", "th", "tensorflow")
    result = cli("check", path, "--backend", "theano")
    assert result.code == 0, result.err + result.out
    assert "Theano true convolution" in result.out and "--backend theano" in result.out


def test_weights_only_keras_files_check_with_their_config(
    keras2: tuple[Path, Path], cli: Callable, tmp_path: Path
) -> None:
    tensorflow, _ = keras2
    weights, arch = weights_only(tensorflow, tmp_path)
    refused = cli("check", weights)
    assert refused.code == 2 and "--config" in refused.err and len(refused.err.strip().splitlines()) == 1
    result = cli("check", weights, "--config", arch)
    assert result.code == 0, result.err + result.out
    assert "tf-keras" in result.out
    report = netinspect.check(weights, options=LoadOptions(companions={"config": arch}))
    assert report["passed"]
    keras1 = make_keras1.write(tmp_path / "k1.h5", "tf", "tensorflow")
    keras1_weights, keras1_arch = weights_only(keras1, tmp_path)
    result = cli("check", keras1_weights, "--config", keras1_arch)
    assert result.code == 0, result.err + result.out
    assert "NumPy Keras reference" in result.out


def test_diff_reads_both_models_with_the_options(
    keras2: tuple[Path, Path], cli: Callable, tmp_path: Path
) -> None:
    tensorflow, _ = keras2
    weights, arch = weights_only(tensorflow, tmp_path)
    assert cli("diff", weights, tensorflow, "--exit-code").code == 1  # without --config: weights only
    result = cli("diff", weights, tensorflow, "--config", arch)
    assert result.code == 0, result.err + result.out
    assert "0 changed, 0 removed, 0 added" in result.out and "14 identical" in result.out
    copy = shutil.copy(weights, tmp_path / "copy.h5")
    assert cli("diff", weights, copy, "--config", arch, "--exit-code").code == 0


def test_a_suite_gives_each_model_its_reading_options(
    keras2: tuple[Path, Path], cli: Callable, tmp_path: Path
) -> None:
    tensorflow, theano = keras2
    weights, arch = weights_only(tensorflow, tmp_path)
    stripped = shutil.copy(theano, tmp_path / "stripped.h5")
    with h5py.File(stripped, "r+") as f:
        del f.attrs["backend"]
    suite = tmp_path / "models.toml"
    suite.write_text(
        f'[[models]]\nsource = "{weights.name}"\nread = {{ config = "{arch.name}" }}\n\n'
        f'[[models]]\nsource = "{stripped.name}"\nread = {{ backend = "theano", keep-nhwc = true }}\n'
    )
    report = tmp_path / "report.json"
    result = cli("check", "--suite", suite, "--json", report)
    assert result.code == 0, result.err + result.out
    models = json.loads(report.read_text())["models"]
    assert [m["status"] for m in models] == ["passed", "passed"]
    assert "tf-keras" in models[0]["source"]["runtime"]
    assert "(--backend theano)" in models[1]["source"]["runtime"]
    suite.write_text(f'[[models]]\nsource = "{weights.name}"\nread = {{ backend = "cntk" }}\n')
    refused = cli("check", "--suite", suite)
    assert refused.code == 2 and "read.backend" in refused.err
    assert cli("check", "--suite", suite, "--config", arch).code == 2  # per model, not on the command line
