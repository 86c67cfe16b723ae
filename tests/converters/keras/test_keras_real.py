"""Real Keras files made by others (../shared/models): read, converted and checked end to end."""

from __future__ import annotations

import json

from tests.conftest import shared_model


def test_keras3_mnist_checks_against_keras(cli):
    path = shared_model("keras3_mnist_cnn.keras")
    result = cli("check", path, "--rtol", "1e-4", "--atol", "1e-4")
    assert result.code == 0, result.out + result.err
    assert "PASS" in result.out and "Keras 3" in result.out


def test_keras3_mnist_info_shows_keras_metadata(cli):
    path = shared_model("keras3_mnist_cnn.keras")
    result = cli("info", path, "--json")
    assert result.code == 0, result.err
    info = json.loads(result.out)
    props = info["metadata"]["properties"]
    assert props["keras.version"] == "3.8.0"
    assert props["keras.data_format"] == "channels_last"
    assert info["inputs"][0]["shape"] == ["N", 1, 28, 28]
    kinds = {t["kind"] for t in info["provenance"]["transforms"]}
    assert {"transpose", "layout"} <= kinds


def test_keras1_real_file_checks_against_the_numpy_reference(cli):
    path = shared_model("keras1_cnn_dropout_model.h5")
    result = cli("check", path, "--rtol", "1e-4", "--atol", "1e-4")
    assert result.code == 0, result.out + result.err
    assert "NumPy Keras reference" in result.out and "Keras 1" in result.out
