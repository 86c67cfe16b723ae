"""A `.keras` archive saved by early Keras 3 on Windows (issue 20, item 5): its weight groups are
named by backslash-joined paths under `_layer_checkpoint_dependencies`, nested models included.
Made from real archives by rewriting their group names (fixtures/keras/make_windows_keras.py);
netinspect reads them to the same numbers as Keras computed for the originals (rtol = atol = 1e-4)."""

from __future__ import annotations

import io
import zipfile

import h5py
import pytest

from tests.conftest import fixture_generator
from tests.converters.keras.conftest import compare, make_graphs, make_keras

make_windows_keras = fixture_generator("keras/make_windows_keras.py")


@pytest.mark.parametrize("name", ["shared_nested", "transfer", "recurrent_cells"])
def test_windows_backslash_weight_paths(keras_cache, graphs_cache, tmp_path, name):
    cache, generator = (graphs_cache, make_graphs) if name == "recurrent_cells" else (keras_cache, make_keras)
    stem, npz = generator.case_files(name, "k3")
    path = make_windows_keras.make(cache / stem, tmp_path / stem)
    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5:
        names = list(h5)
    assert "layers" not in names
    assert any(n.count("\\") >= 2 and n.startswith("_layer_checkpoint_dependencies\\") for n in names)
    worst = compare(path, cache / npz)
    print(f"{stem} (Windows paths): max abs error {worst:.3g}")
