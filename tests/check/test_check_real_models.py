"""`check` on real MatConvNet models made by others (../shared/models; skipped where absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

import netinspect
from netinspect.check.api import check
from tests.conftest import shared_model

DIMS = {"H": 40, "W": 36}


def test_dncnn_conversion_matches_the_reference_layer_by_layer() -> None:
    mat = shared_model("dncnn_sigma25_simplenn_v73.mat")
    result = check(mat, dims=DIMS, layers="always")
    assert result.passed, [o.worst.summary() for o in result.outputs]
    assert result.layers is not None and len(result.layers.checks) > 30
    assert all(c.comparison.passed for c in result.layers.checks)


def test_broken_dncnn_conversion_is_found_by_bisection(tmp_path: Path) -> None:
    mat = shared_model("dncnn_sigma25_simplenn_v73.mat")
    graph = netinspect.load(mat)
    convs = [n for n in graph.nodes if n.op_type == "Conv"]
    victim = convs[len(convs) // 2]
    converted = tmp_path / "dncnn.onnx"
    netinspect.save_onnx(graph, converted)
    model = onnx.load(str(converted))
    weight = next(t for t in model.graph.initializer if t.name == victim.inputs[1])
    flipped = np.ascontiguousarray(numpy_helper.to_array(weight)[:, :, ::-1, ::-1])
    weight.CopyFrom(numpy_helper.from_array(flipped, weight.name))
    onnx.save(model, str(converted))

    result = check(mat, converted, dims=DIMS)

    assert not result.passed
    assert result.layers is not None and result.layers.strategy == "bisect"
    assert result.layers.divergence is not None
    assert victim.provenance is not None
    assert result.layers.divergence.pair.layer == victim.provenance.layer
    assert result.layers.source_runs <= 8  # log2 of ~50 layers, not one run per layer
