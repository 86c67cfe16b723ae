"""Keras test helpers: the generated fixture cache, and running a converted graph in onnxruntime
in the source model's own layout (the layout pass records it in metadata `netinspect.io_layout`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from netinspect.ir import Graph
from netinspect.layout import perm
from tests.conftest import fixture_generator

make_keras = fixture_generator("keras/make_keras.py")


@pytest.fixture(scope="session")
def keras_cache() -> Path:
    """fixtures/cache/keras/<hash>: generated once (TensorFlow in a subprocess) and reused."""
    return make_keras.ensure()


def run_onnx(graph: Graph, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """Run the graph in onnxruntime with inputs and outputs in the source (Keras) layout."""
    import onnxruntime as ort

    import netinspect

    model = netinspect.to_onnx(graph)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    io_layout = json.loads(graph.metadata.properties.get("netinspect.io_layout", "{}"))
    names = [i.name for i in session.get_inputs()]
    assert len(names) == len(feeds)
    fed = {}
    for name, x in zip(names, feeds, strict=True):
        src = io_layout.get(name)
        fed[name] = np.ascontiguousarray(np.transpose(x, perm(src, "NC" + src[1:-1]))) if src else x
    outputs = session.run(None, fed)
    result = []
    for info, y in zip(session.get_outputs(), outputs, strict=True):
        src = io_layout.get(info.name)
        result.append(np.transpose(y, perm("NC" + src[1:-1], src)) if src else y)
    return result
