"""FFDNet/FDnCNN's own layer types, built in: `SubP` (pixel unshuffle/shuffle) and `concat` (the
noise level map, which becomes the ONNX input 'noise_level', [0, 1] scale).

Parity: the converted model in onnxruntime against the independent NumPy reference running the
layers from their MATLAB definitions (cszn/FFDNet utilities/vl_nnSubP.m and its vl_simplenn),
within rtol 1e-4, atol 1e-5 (outputs are O(1) images).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

import netinspect
from netinspect.check.runtimes.matconvnet.reference import MatConvNetReference
from netinspect.layout import permute
from tests.conftest import shared_model

FFDNET = "ffdnet_gray_retrained_simplenn_v5.mat"


def test_ffdnet_converts_with_a_noise_level_input_and_matches_the_reference() -> None:
    path = shared_model(FFDNET)
    graph = netinspect.load(path)
    graph.validate()
    assert [(v.name, v.shape) for v in graph.inputs] == [
        ("input", ("N", 1, "H", "W")),
        ("noise_level", ("N", 1, 1, 1)),
    ]
    assert any("'noise_level'" in n and "[0, 1] scale" in n for n in graph.metadata.notes)
    steps = [s.text for n in graph.nodes if n.provenance for s in n.provenance.steps]
    assert any("FFDNet vl_nnSubP scale 1/2: pixel unshuffle" in t for t in steps)
    assert any("FFDNet vl_nnSubP scale 2: pixel shuffle" in t for t in steps)
    assert any("FFDNet concat: the noise level map" in t for t in steps)
    model = netinspect.to_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    assert "'noise_level'" in model.doc_string and "σ/255" in model.doc_string  # documented in the file
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(4)
    images = rng.uniform(0, 1, (2, 1, 26, 34)).astype(np.float32)
    levels = np.array([15 / 255, 50 / 255], np.float32).reshape(2, 1, 1, 1)  # one level per image
    (got,) = session.run(None, {"input": images, "noise_level": levels})
    reference = MatConvNetReference(path)
    feeds = {"input": permute(images, "NCHW", "HWCN"), "noise_level": permute(levels, "NCHW", "HWCN")}
    expected = permute(reference.run(feeds)["layer32"], "HWCN", "NCHW")
    assert got.shape == expected.shape == (2, 1, 26, 34)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # the level matters: the same images at another level give another output
    (other,) = session.run(None, {"input": images, "noise_level": levels[::-1].copy()})
    assert np.abs(other - got).max() > 1e-3
