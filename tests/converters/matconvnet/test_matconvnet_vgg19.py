"""VGG-19 shaped exactly like imagenet-vgg-verydeep-19.mat (random weights, generated and cached by
fixtures/make_vgg19.py): `info` facts, laziness, and one batch-1 forward pass of the converted ONNX
model against the NumPy MatConvNet reference at rtol 1e-4 / atol 1e-4 on the class scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import netinspect
from netinspect.check.runtimes.matconvnet.reference import MatConvNetReference
from netinspect.converters.matconvnet.matfile import MatArray
from netinspect.layout import permute
from netinspect.registry import LoadOptions

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow


def test_vgg19_info_reads_no_weights(vgg19_mat: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[int] = []
    original = MatArray.load
    monkeypatch.setattr(MatArray, "load", lambda self: loaded.append(self.nbytes) or original(self))
    graph = netinspect.load(vgg19_mat)
    summary = netinspect.summarize(graph)
    assert sum(loaded) <= 224 * 224 * 3 * 4 + 4096  # the mean image (checked for constancy) and options
    assert graph.metadata.format_version == "SimpleNN beta11-16 (MAT v5)"
    assert graph.parameter_count() == 143_667_240
    layers = list(dict.fromkeys(n.provenance.layer for n in graph.nodes if n.provenance))
    assert len(layers) == 43 and layers[0] == "conv1_1" and layers[-1] == "prob"
    assert graph.inputs[0].shape == ("N", 3, "H", "W")  # any size, as MatConvNet runs it
    fixed = netinspect.load(vgg19_mat, LoadOptions(fixed_size=True))
    assert fixed.inputs[0].shape == ("N", 3, 224, 224) and fixed.outputs[0].shape == ("N", 1000, 1, 1)
    pre = graph.metadata.preprocessing
    assert pre.mean == pytest.approx([123.68, 116.779, 103.939]) and pre.image_size == (224, 224)
    assert pre.channel_order == "RGB" and len(graph.metadata.labels or []) == 1000
    fc6 = [n for n in graph.nodes if n.provenance and n.provenance.layer == "fc6"]
    assert [n.op_type for n in fc6] == ["Transpose", "Conv", "Transpose"]  # 392 MiB: kept as stored
    assert fc6[0].attributes["perm"] == fc6[2].attributes["perm"] == [0, 1, 3, 2] and fc6[2].outputs == [
        "fc6"
    ]
    fc6_filter = graph.tensors[fc6[1].inputs[1]]
    assert fc6_filter.shape == (4096, 512, 7, 7) and fc6_filter.span is not None  # copied file to file
    assert any("read as OIWH" in s.text for s in fc6[1].provenance.steps)  # type: ignore[union-attr]
    fc7 = [n for n in graph.nodes if n.provenance and n.provenance.layer == "fc7"]
    assert [n.op_type for n in fc7] == ["Conv"]  # 64 MiB but 1×1: its bytes are ONNX's already
    assert graph.tensors[fc7[0].inputs[1]].span is not None
    conv5_4 = next(n for n in graph.nodes if n.op_type == "Conv" and n.provenance.layer == "conv5_4")  # type: ignore[union-attr]
    assert any("HWIO → OIHW" in s.text for s in conv5_4.provenance.steps)  # type: ignore[union-attr]
    assert summary  # the summary builds without touching weights (checked above)


def test_vgg19_class_scores_match_the_reference(vgg19_mat: Path, tmp_path: Path) -> None:
    graph = netinspect.load(vgg19_mat)
    fc8 = next(n for n in graph.nodes if n.provenance and n.provenance.layer == "fc8").outputs[-1]
    graph.outputs.append(graph.values[fc8])  # the class scores before the softmax, too
    onnx_path = tmp_path / "vgg19.onnx"
    netinspect.save_onnx(graph, onnx_path)
    del graph
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    mean = np.array([123.68, 116.779, 103.939], np.float32).reshape(1, 3, 1, 1)
    image = (rng.uniform(0, 255, (1, 3, 224, 224)).astype(np.float32) - mean).astype(np.float32)
    got_scores, got_prob = session.run([fc8, "prob"], {"input": image})
    del session
    reference = MatConvNetReference(vgg19_mat)
    expected = {
        name: np.array(value)
        for name, _, value in reference.iter_layers({"input": permute(image, "NCHW", "HWCN")})
        if name in ("fc8", "prob")
    }
    scores = permute(expected["fc8"], "HWCN", "NCHW")
    assert 1.0 < float(np.abs(scores).max()) < 1000.0  # O(1) activations: the tolerance means something
    np.testing.assert_allclose(got_scores, scores, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_prob, permute(expected["prob"], "HWCN", "NCHW"), rtol=1e-4, atol=1e-4)
