"""The BVLC-shaped VGG-16 (528 MiB, fixtures/caffe/make_vgg16.py): every weight is copied from the
.caffemodel as stored, and the converted model matches OpenCV on it."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from netinspect.check.runtimes.caffe import OpenCVCaffeRunner
from netinspect.converters.onnx.writer import to_model_proto
from netinspect.registry import LoadOptions, load
from tests.conftest import fixture_generator

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vgg16():
    return fixture_generator("caffe/make_vgg16.py").vgg16_paths()


def test_every_weight_keeps_its_file_span(vgg16) -> None:
    prototxt, weights = vgg16
    graph = load(prototxt, LoadOptions(companions={"weights": weights}))
    assert len(graph.tensors) == 32
    assert all(t.span is not None and t.span.path == weights for t in graph.tensors.values())
    assert sum(t.nbytes for t in graph.tensors.values()) == 138_357_544 * 4


def test_matches_opencv(vgg16) -> None:
    pytest.importorskip("cv2")
    prototxt, weights = vgg16
    graph = load(
        prototxt, LoadOptions(companions={"weights": weights}, input_shapes={"data": (1, 3, 224, 224)})
    )
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)
    runner = OpenCVCaffeRunner(prototxt, weights)
    expected = runner.run({"data": x})["prob"]
    session = ort.InferenceSession(
        to_model_proto(graph).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (actual,) = session.run(["prob"], {"data": x})
    assert np.abs(expected - actual).max() <= 1e-4 * np.abs(expected).max()
