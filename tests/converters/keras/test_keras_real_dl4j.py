"""Real Keras files made by others (fixtures/keras/real: Deeplearning4j's test resources, Apache
2.0), each a pattern netinspect once got wrong: converted and checked against Keras itself (tf-keras)
or, for Keras 1 files and files saved on Theano, netinspect's NumPy Keras reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import netinspect

REAL = Path(__file__).resolve().parents[3] / "fixtures" / "keras" / "real"
FILES = sorted(p.name for p in REAL.iterdir() if p.suffix in (".h5", ".hdf5"))

DIMS = {"keras-attention.h5": {"N": 5}}
"""Its Attention attends across the batch rows: a batch of one would make it trivial."""

pytest.importorskip("tf_keras")


@pytest.mark.parametrize("name", FILES)
def test_a_real_file_converts_and_matches_its_reference(name, tmp_path):
    source = REAL / name
    converted = tmp_path / "converted.onnx"
    netinspect.save_onnx(netinspect.load(source), converted)
    report = netinspect.check(source, converted, rtol=1e-4, atol=1e-4, dims=DIMS.get(name))
    model = report["models"][0]
    worst = max(o["max_abs_error"] for o in model["outputs"])
    print(f"{name}: max abs error {worst:.3g} ({model['source']['runtime']})")
    assert report["passed"], model.get("error") or model["outputs"]


def test_the_real_masking_file_matches_on_masked_steps(tmp_path):
    """Random inputs never equal the mask value 2.0: these mask steps first, inside, last and a
    whole row, and the LSTM skips them as Keras does."""
    source = REAL / "masking_two_lstm.h5"
    converted = tmp_path / "converted.onnx"
    graph = netinspect.load(source)
    netinspect.save_onnx(graph, converted)
    x = np.random.default_rng(0).uniform(0, 1, (4, 10, 42)).astype(np.float32)
    x[0, 3:5], x[1, :4], x[2, 7:], x[3] = 2.0, 2.0, 2.0, 2.0
    inputs = tmp_path / "masked.npz"
    np.savez(inputs, **{graph.inputs[0].name: x})
    report = netinspect.check(source, converted, rtol=1e-4, atol=1e-4, inputs_npz=inputs)
    assert report["passed"], report["models"][0]["outputs"]
