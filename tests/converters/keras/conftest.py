"""Keras test helpers: the generated fixture cache, and running a converted graph in onnxruntime
in the source model's own layout (the layout pass records it in metadata `netinspect.io_layout`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from netinspect.ir import Graph
from netinspect.layout import channels_first, perm
from tests.conftest import fixture_generator

make_keras = fixture_generator("keras/make_keras.py")
make_graphs = fixture_generator("keras/make_graphs.py")
make_applications = fixture_generator("keras/make_applications.py")
make_wild = fixture_generator("keras/make_wild.py")


@pytest.fixture(scope="session")
def keras_cache() -> Path:
    """fixtures/cache/keras/<hash>: generated once (TensorFlow in a subprocess) and reused."""
    return make_keras.ensure()


@pytest.fixture(scope="session")
def graphs_cache() -> Path:
    """fixtures/cache/keras-graphs/<hash>: operation nodes, cells, attention, TimeDistributed."""
    return make_graphs.ensure()


@pytest.fixture(scope="session")
def wild_cache() -> Path:
    """fixtures/cache/keras-wild/<hash>: the patterns real third-party files showed wrong."""
    return make_wild.ensure()


def compare(path: Path, npz: Path, options: object = None, tolerance: float = 1e-4) -> float:
    """Convert `path`, run it in onnxruntime on the npz's inputs and compare every output with
    Keras' (rtol = atol = `tolerance`); the largest absolute error."""
    import netinspect

    data = np.load(npz)
    xs = [data[k] for k in sorted((k for k in data.files if k.startswith("x")), key=lambda k: int(k[1:]))]
    ys = [data[f"y{i}"] for i in range(sum(k.startswith("y") for k in data.files))]
    outs = run_onnx(netinspect.load(path, options), xs)  # type: ignore[arg-type]
    assert len(outs) == len(ys)
    worst = 0.0
    for i, (got, want) in enumerate(zip(outs, ys, strict=True)):
        assert got.shape == want.shape, f"output {i}: {got.shape} vs Keras {want.shape}"
        np.testing.assert_allclose(got, want, rtol=tolerance, atol=tolerance, err_msg=f"output {i}")
        if got.size:
            worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - want))))
    return worst


def assert_input_matters(npz: Path, tolerance: float = 1e-4) -> None:
    """The fixture's two inputs give outputs more than 10× `tolerance` apart, each output: else a
    wrong conversion could match Keras as well as a right one (random-weight models whose signal
    died leave only their biases)."""
    data = np.load(npz)
    for key in sorted(k for k in data.files if k.startswith("y")):
        y = data[key].astype(np.float64)
        spread = float(np.max(np.abs(y[0] - y[1]))) if len(y) > 1 and y.size else 0.0
        assert spread > 10 * tolerance, f"{key}: the two inputs' outputs are only {spread:.3g} apart"


def run_onnx(graph: Graph, feeds: list[np.ndarray]) -> list[np.ndarray]:
    """Run the graph in onnxruntime with inputs and outputs in the source (Keras) layout."""
    import onnxruntime as ort

    import netinspect

    model = netinspect.to_onnx(graph)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    io_layout = json.loads(graph.metadata.properties.get("netinspect.io_layout", "{}"))
    names = [i.name for i in session.get_inputs()]
    assert len(names) == len(feeds)
    values = {v.name: v for v in (*graph.inputs, *graph.outputs)}

    def ir_layout(name: str) -> str:  # as netinspect.check.io_layout reads the record
        value = values.get(name)
        return value.layout if value is not None and value.layout else channels_first(io_layout[name])

    fed = {}
    for name, x in zip(names, feeds, strict=True):
        src = io_layout.get(name)
        fed[name] = np.ascontiguousarray(np.transpose(x, perm(src, ir_layout(name)))) if src else x
    outputs = session.run(None, fed)
    result = []
    for info, y in zip(session.get_outputs(), outputs, strict=True):
        src = io_layout.get(info.name)
        result.append(np.transpose(y, perm(ir_layout(info.name), src)) if src else y)
    return result
