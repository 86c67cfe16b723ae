"""The real MatConvNet files made by others (../shared/models): they load, validate, export to ONNX
that passes the full checker, run in onnxruntime, and match the NumPy MatConvNet reference."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import netinspect
from netinspect.check.runtimes.matconvnet.reference import MatConvNetReference
from netinspect.layout import permute
from tests.conftest import shared_model

DNCNN = {
    "dncnn_sigma25_simplenn_v73.mat": ("SimpleNN beta11+ (MAT v7.3, in variable 'net')", "layer48", 17),
    "dncnn_dagnn_epoch50_v73.mat": ("DagNN saveobj struct (MAT v7.3, in variable 'net')", "prediction", 17),
}


@pytest.mark.parametrize("name", DNCNN)
def test_dncnn_converts_runs_and_matches_the_reference(name: str) -> None:
    path = shared_model(name)
    version, output, convs = DNCNN[name]
    graph = netinspect.load(path)
    graph.validate()
    assert graph.metadata.format_version == version
    assert [(v.name, v.shape) for v in graph.inputs] == [("input", ("N", 1, "H", "W"))]
    assert [(v.name, v.shape) for v in graph.outputs] == [(output, ("N", 1, "H", "W"))]
    assert sum(n.op_type == "Conv" for n in graph.nodes) == convs
    model = netinspect.to_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(3).uniform(0, 1, (1, 1, 40, 36)).astype(np.float32)
    (got,) = session.run(None, {"input": image})
    reference = MatConvNetReference(path)
    (expected,) = reference.run({"input": permute(image, "NCHW", "HWCN")}).values()
    np.testing.assert_allclose(got, permute(expected, "HWCN", "NCHW"), rtol=1e-4, atol=1e-5)


def test_dncnn_dagnn_drops_its_loss_and_folds_batch_norm() -> None:
    graph = netinspect.load(shared_model("dncnn_dagnn_epoch50_v73.mat"))
    assert any("dropped loss layer 'loss' (dagnn.Loss)" in note for note in graph.metadata.notes)
    bnorm = [n for n in graph.nodes if n.provenance and n.provenance.layer_type == "dagnn.BatchNorm"]
    assert bnorm and {n.op_type for n in bnorm} == {"Mul", "Add"}
    assert all(s.kind == "fold" for n in bnorm for s in n.provenance.steps)  # type: ignore[union-attr]
    residual = next(n for n in graph.nodes if n.op_type == "Sum")
    assert residual.inputs == ["conv48", "input"] and residual.outputs == ["prediction"]
