"""Deliberately broken conversions: `check` must fail them and name the layer that was broken.

Each bug is a real converter mistake applied to a correct model (tests/check_models.py for the
ONNX source; the converted ONNX of a MatConvNet fixture for the .mat source), so the test
compares real numbers from two runtimes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import netinspect
from netinspect.check.api import check
from netinspect.check.divergence import compare_layers
from netinspect.check.layers import graph_layers, pair_layers
from netinspect.check.runtimes.onnxruntime import OnnxRuntimeRunner
from tests.check.check_models import BROKEN, classifier, save

MATCONVNET = Path(__file__).resolve().parents[2] / "fixtures" / "matconvnet"


@pytest.fixture(scope="module")
def correct(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(classifier(), tmp_path_factory.mktemp("correct") / "classifier.onnx")


def test_correct_conversion_passes(correct: Path) -> None:
    result = check(correct, layers="always")
    assert result.passed
    assert result.layers is not None and result.layers.divergence is None
    assert [c.pair.layer for c in result.layers.checks] == [n.name for n in classifier().graph.node]


@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_broken_conversion_is_caught_at_its_layer(bug: str, correct: Path, tmp_path: Path) -> None:
    edit, layer = BROKEN[bug]
    broken = save(classifier(edit), tmp_path / f"{bug}.onnx")

    result = check(correct, broken)

    assert not result.passed
    output = result.outputs[0]
    assert not output.passed and output.worst.outside_count > 0
    assert result.layers is not None
    divergence = result.layers.divergence
    assert divergence is not None, f"{bug}: no diverging layer found"
    assert divergence.pair.layer == layer
    assert divergence.comparison.max_abs_error > 1e-2
    before = [c for c in result.layers.checks if c is not divergence]
    assert all(c.comparison.passed for c in before), "every layer before the divergence must match"


@pytest.mark.parametrize("bug", sorted(BROKEN))
def test_bisection_names_the_same_layer_in_fewer_runs(bug: str, correct: Path, tmp_path: Path) -> None:
    edit, layer = BROKEN[bug]
    broken = save(classifier(edit), tmp_path / f"{bug}.onnx")
    source_graph, target_graph = netinspect.load(correct), netinspect.load(broken)
    source = OnnxRuntimeRunner.from_path(correct)
    target = OnnxRuntimeRunner.from_path(broken)
    pairs = pair_layers(graph_layers(source_graph), target_graph)
    feeds = {"data": np.random.default_rng(1).uniform(0, 1, (1, 3, 16, 16)).astype(np.float32)}
    from netinspect.check.compare import tolerance_for

    search = compare_layers(source, target, pairs, feeds, feeds, tolerance_for, strategy="bisect")

    assert search.strategy == "bisect"
    assert search.divergence is not None and search.divergence.pair.layer == layer
    assert search.source_runs <= 1 + int(np.ceil(np.log2(len(pairs))))


def test_memory_budget_splits_the_layer_scan_into_chunks(correct: Path, tmp_path: Path) -> None:
    """With room for about one layer at a time, layers are fetched in many small runs."""
    edit, layer = BROKEN["flatten_nhwc"]
    broken = save(classifier(edit), tmp_path / "broken.onnx")
    one_layer = 2 * 8 * 16 * 16 * 4  # both runtimes' conv1 activation

    result = check(correct, broken, memory_budget=one_layer)

    assert result.layers is not None and result.layers.divergence is not None
    assert result.layers.divergence.pair.layer == layer
    assert result.layers.source_runs >= 4  # the first chunk, then chunks of one or two layers


# ------------------------------------------------------------------ MatConvNet source, broken ONNX


def _converted(mat: Path, folder: Path) -> onnx.ModelProto:
    path = folder / f"{mat.stem}.onnx"
    netinspect.save_onnx(netinspect.load(mat), path)
    return onnx.load(str(path))


def _edit_initializer(model: onnx.ModelProto, name: str, change) -> None:
    tensor = next(t for t in model.graph.initializer if t.name == name)
    tensor.CopyFrom(
        numpy_helper.from_array(np.ascontiguousarray(change(numpy_helper.to_array(tensor))), name)
    )


def _node(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.name == name)


def _set_attribute(model: onnx.ModelProto, node: str, key: str, value) -> None:
    proto = _node(model, node)
    attribute = next(a for a in proto.attribute if a.name == key)
    attribute.CopyFrom(onnx.helper.make_attribute(key, value))


def _transpose_conv1(model: onnx.ModelProto) -> None:
    _edit_initializer(model, "conv1_filter", lambda w: w.transpose(0, 1, 3, 2))


def _flip_conv1(model: onnx.ModelProto) -> None:
    _edit_initializer(model, "conv1_filter", lambda w: w[:, :, ::-1, ::-1])


def _shift_pool1_pad(model: onnx.ModelProto) -> None:
    _set_attribute(model, "pool1", "pads", [0, 2, 1, 0])  # one row of top padding moved to the bottom


def _lrn_alpha_not_scaled(model: onnx.ModelProto) -> None:
    lrn = _node(model, "norm1")
    alpha = next(a.f for a in lrn.attribute if a.name == "alpha")
    size = next(a.i for a in lrn.attribute if a.name == "size")
    _set_attribute(model, "norm1", "alpha", alpha / size)


MATCONVNET_BROKEN = {
    "kernel_transposed_hw": ("simplenn_beta17.mat", _transpose_conv1, "conv1"),
    "kernel_flipped": ("simplenn_beta17.mat", _flip_conv1, "conv1"),
    "pad_off_by_one": ("simplenn_beta17.mat", _shift_pool1_pad, "pool1"),
    "lrn_alpha_wrong": ("simplenn_pre_beta11.mat", _lrn_alpha_not_scaled, "norm1"),
}


@pytest.mark.parametrize("bug", sorted(MATCONVNET_BROKEN))
def test_broken_matconvnet_conversion_is_caught_at_its_layer(bug: str, tmp_path: Path) -> None:
    fixture, edit, layer = MATCONVNET_BROKEN[bug]
    mat = MATCONVNET / fixture
    if not mat.is_file():
        pytest.skip(f"{mat} is absent (regenerate with fixtures/make_matconvnet.py)")
    model = _converted(mat, tmp_path)
    assert check(mat, tmp_path / f"{mat.stem}.onnx").passed, "the unedited conversion must pass"
    edit(model)
    broken = tmp_path / f"{bug}.onnx"
    onnx.save(model, str(broken))

    result = check(mat, broken)

    assert not result.passed
    assert result.layers is not None and result.layers.divergence is not None
    assert result.layers.divergence.pair.layer == layer
    assert result.layers.divergence.pair.steps, "the divergence carries the layer's conversion steps"


def test_a_layer_lists_each_conversion_step_once() -> None:
    """The nodes one source layer becomes share its provenance: the report names each step once."""
    from netinspect.ir import Graph, Node, Provenance, Step, Value

    provenance = Provenance("tflite", "conv", "CONV_2D", steps=[Step("transpose", "filter OHWI → OIHW")])
    nodes = [
        Node("dq", "DequantizeLinear", ["x", "s"], ["d"], provenance=provenance),
        Node("conv", "Conv", ["d", "w"], ["y"], provenance=provenance),
    ]
    graph = Graph("g", [Value("x", "float32", (1, 1, 4, 4))], [Value("y", "float32", (1, 1, 4, 4))], nodes)
    [layer] = graph_layers(graph)
    assert layer.steps == (Step("transpose", "filter OHWI → OIHW"),)
