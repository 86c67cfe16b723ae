"""`netinspect check` on Keras files: each goes to the reference its version calls for (Keras 3 for
`.keras` and Keras 3 `.h5`, tf-keras for Keras 2 `.h5`), outputs paired by name (RNN states too)."""

from __future__ import annotations

import pytest

from tests.converters.keras.conftest import make_keras


@pytest.mark.parametrize(
    ("name", "flavour", "runtime", "outputs"),
    [
        ("MobileNetV2", "tfk", "tf-keras", 1),
        ("shared_nested", "k3h5", "Keras 3", 2),
        ("recurrent_layers", "k3", "Keras 3", 18),
    ],
)
def test_check_uses_the_files_keras(cli, keras_cache, name, flavour, runtime, outputs):
    stem, _ = make_keras.case_files(name, flavour)
    result = cli("check", keras_cache / stem, "--rtol", "1e-4", "--atol", "1e-4")
    assert result.code == 0, result.out + result.err
    assert runtime in result.out
    assert f"PASS {stem.rsplit('.', 1)[0]}: {outputs} output(s) within tolerance" in result.out
