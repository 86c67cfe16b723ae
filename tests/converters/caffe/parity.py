"""Run a Caffe net in OpenCV (netinspect's reference runner) and its conversion in onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from netinspect.check.runtimes.caffe import OpenCVCaffeRunner
from netinspect.converters.onnx.writer import to_model_proto
from netinspect.registry import LoadOptions, load
from tests.conftest import fixture_generator


def make_caffe():
    """fixtures/caffe/make_caffe.py, the writer of the test nets."""
    return fixture_generator("caffe/make_caffe.py")


def onnx_outputs(prototxt: Path, weights: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    graph = load(prototxt, LoadOptions(companions={"weights": weights}))
    session = ort.InferenceSession(
        to_model_proto(graph).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in graph.outputs]
    return dict(zip(names, session.run(names, feeds), strict=True))


def feeds_for(runner: OpenCVCaffeRunner, seed: int, low: float = -1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {s.name: rng.uniform(low, 1.0, s.shape).astype(np.float32) for s in runner.input_specs()}


def compare(prototxt: Path, weights: Path, seed: int = 0, low: float = -1.0) -> float:
    """The largest |OpenCV − ONNX| / max|OpenCV| over every output."""
    runner = OpenCVCaffeRunner(prototxt, weights)
    feeds = feeds_for(runner, seed, low)
    expected = runner.run(feeds)
    actual = onnx_outputs(prototxt, weights, feeds)
    assert set(expected) == set(actual), (expected.keys(), actual.keys())
    worst = 0.0
    for name, reference in expected.items():
        got = actual[name]
        assert reference.size == got.size, (name, reference.shape, got.shape)
        scale = max(float(np.abs(reference).max()), 1e-6)
        worst = max(worst, float(np.abs(reference.reshape(got.shape) - got).max()) / scale)
    return worst
