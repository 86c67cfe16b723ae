"""Every MatConvNet fixture converted to ONNX and run in onnxruntime, layer by layer, against the
independent NumPy MatConvNet reference (netinspect.check.runtimes.matconvnet.reference).

Tolerance: every layer's output agrees elementwise within rtol 1e-4, atol 1e-4 (inputs are standard
normal, so activations are O(1)-O(10)). The semantics tests then break one convention at a time in
the converted graph (an H↔W transposed or flipped kernel, pads counted in the average, LRN's alpha
left undivided, sigma read as a variance) and show that parity catches it at that very layer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import netinspect
from netinspect import layout
from netinspect.check.runtimes.matconvnet.reference import MatConvNetReference
from netinspect.ir import Graph, Node, Tensor
from netinspect.layout import permute
from netinspect.registry import LoadOptions

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "matconvnet"
FIXTURE_FILES = sorted(FIXTURES.glob("*.mat"))
RTOL = ATOL = 1e-4


def layer_values(graph: Graph) -> dict[str, str]:
    """MatConvNet layer → IR value holding its output: the last output of its last node."""
    found: dict[str, str] = {}
    for node in graph.nodes:
        assert node.provenance is not None and node.provenance.framework == "matconvnet"
        found[node.provenance.layer] = node.outputs[-1]
    return found


def concrete_shape(shape: tuple, size: tuple[int, int] | None, batch: int = 2) -> tuple[int, ...]:
    """N → batch, free spatial dims → the nominal size the file records (24 when it records none)."""
    h, w = size or (24, 24)
    dims = [batch if d == "N" else d for d in shape]
    if len(dims) == 4:
        dims[2] = dims[2] if isinstance(dims[2], int) else h
        dims[3] = dims[3] if isinstance(dims[3], int) else w
    return tuple(d if isinstance(d, int) else 1 for d in dims)


def random_feeds(graph: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = graph.metadata.preprocessing.image_size
    return {
        v.name: rng.standard_normal(concrete_shape(v.shape, size)).astype(np.float32) for v in graph.inputs
    }


def run_onnx_layers(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every layer's output (NCHW) from onnxruntime, by MatConvNet layer name."""
    model = netinspect.to_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    values = layer_values(graph)
    declared = {o.name for o in model.graph.output}
    for name in dict.fromkeys(values.values()):
        if name not in declared:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    results = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))
    return {layer: results[value] for layer, value in values.items()}


def compare(path: Path, graph: Graph, seed: int = 0) -> dict[str, tuple[float, float]]:
    """(max abs error, max error relative to the layer's largest value) per layer, in order;
    raises AssertionError at the first layer outside rtol/atol."""
    feeds = random_feeds(graph, seed)
    got = run_onnx_layers(graph, feeds)
    reference = MatConvNetReference(path)
    figures: dict[str, tuple[float, float]] = {}
    for layer, _, expected in reference.iter_layers(
        {k: permute(v, "NCHW", "HWCN") for k, v in feeds.items()}
    ):
        actual = permute(got[layer], "NCHW", "HWCN")
        assert actual.shape == expected.shape, f"{layer}: shape {actual.shape} vs reference {expected.shape}"
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f"layer {layer}")
        error = float(np.abs(actual - expected).max())
        figures[layer] = (error, error / max(float(np.abs(expected).max()), 1e-30))
    assert set(figures) == set(got), "the reference and the converted graph disagree on the layers"
    return figures


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.name for p in FIXTURE_FILES])
def test_fixture_matches_the_reference_at_every_layer(path: Path) -> None:
    graph = netinspect.load(path)
    graph.validate()
    figures = compare(path, graph)
    assert len(figures) >= 5


def first_failure(path: Path, graph: Graph) -> str:
    with pytest.raises(AssertionError) as caught:
        compare(path, graph)
    return str(caught.value)


def replace_tensor(graph: Graph, name: str, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    old = graph.tensors[name]
    graph.tensors[name] = Tensor(
        name, old.dtype, old.shape, loader=lambda: np.ascontiguousarray(fn(old.numpy()))
    )


def node_of(graph: Graph, layer: str, op_type: str) -> Node:
    return next(
        n for n in graph.nodes if n.provenance and n.provenance.layer == layer and n.op_type == op_type
    )


def test_asymmetric_kernel_catches_an_h_w_transpose_and_a_flip() -> None:
    path = FIXTURES / "simplenn_pre_beta11.mat"
    graph = netinspect.load(path)
    conv = node_of(graph, "conv1", "Conv")
    kernel = graph.tensors[conv.inputs[1]].numpy()
    assert kernel.shape == (8, 3, 5, 3) and len(np.unique(kernel)) == kernel.size  # every tap distinct
    assert conv.attributes["pads"] == [2, 0, 1, 1] and conv.attributes["strides"] == [2, 1]

    square = FIXTURES / "simplenn_beta11.mat"  # 3x3 kernels: an H↔W transpose keeps the shape
    transposed = netinspect.load(square)
    replace_tensor(
        transposed, node_of(transposed, "conv1", "Conv").inputs[1], lambda k: k.transpose(0, 1, 3, 2)
    )
    assert "layer conv1" in first_failure(square, transposed)

    flipped = netinspect.load(path)
    replace_tensor(flipped, conv.inputs[1], lambda k: k[:, :, ::-1, ::-1])
    assert "layer conv1" in first_failure(path, flipped)


def test_odd_sizes_and_asymmetric_pool_pads_are_floor_sized() -> None:
    path = FIXTURES / "simplenn_pre_beta11.mat"
    graph = netinspect.load(path, LoadOptions(fixed_size=True))
    pool = node_of(graph, "pool1", "MaxPool")
    assert pool.attributes["pads"] == [0, 1, 1, 0] and pool.attributes["kernel_shape"] == [3, 2]
    assert graph.values["conv1"].shape == ("N", 8, 15, 28)  # 31x29 input, stride [2 1]
    assert graph.values["pool1"].shape == ("N", 8, 7, 14)
    assert pool.attributes["ceil_mode"] == 0  # ceil would give 8x15 here
    compare(path, graph)  # which also compares every layer's shape with the reference's


def test_average_pool_leaves_padding_out_of_the_divisor() -> None:
    path = FIXTURES / "simplenn_beta11.mat"
    graph = netinspect.load(path)
    pool = node_of(graph, "pool1", "AveragePool")
    assert pool.attributes["count_include_pad"] == 0 and pool.attributes["pads"] == [1, 1, 1, 1]
    pool.attributes["count_include_pad"] = 1
    assert "layer pool1" in first_failure(path, graph)


def test_lrn_alpha_is_not_divided_by_the_window() -> None:
    path = FIXTURES / "simplenn_pre_beta11.mat"  # param [5 2 1e-3 0.6]: ONNX LRN
    graph = netinspect.load(path)
    lrn = node_of(graph, "norm1", "LRN")
    assert (lrn.attributes["size"], lrn.attributes["bias"], lrn.attributes["beta"]) == (5, 2.0, 0.6)
    assert lrn.attributes["alpha"] == pytest.approx(5e-3)
    lrn.attributes["alpha"] = 1e-3  # MatConvNet's alpha passed through as if ONNX did not divide by size
    assert "layer norm1" in first_failure(path, graph)
    even = netinspect.load(FIXTURES / "simplenn_beta11.mat")  # N=4: written out, ONNX Runtime needs odd
    ops = [n.op_type for n in even.nodes if n.provenance and n.provenance.layer == "lrn1"]
    assert ops == ["Mul", "Conv", "Mul", "Add", "Pow", "Div"]


def test_bnorm_moments_hold_sigma_not_variance() -> None:
    path = FIXTURES / "simplenn_beta11.mat"
    graph = netinspect.load(path)
    scale = node_of(graph, "bn1", "Mul")
    weights = netinspect.load(path)  # the moments as stored: sigma in column 2
    assert scale.provenance and "sigma" in scale.provenance.steps[-1].text
    replace_tensor(
        graph, scale.inputs[1], lambda s: s * np.sqrt(np.abs(1 / s))
    )  # as if divided by sqrt(sigma)
    assert "layer bn1" in first_failure(path, graph)
    compare(path, weights)


def test_shared_param_is_one_initializer_used_by_both_convs() -> None:
    graph = netinspect.load(FIXTURES / "dagnn_residual.mat")
    a, b = node_of(graph, "conv2a", "Conv"), node_of(graph, "conv2b", "Conv")
    assert a.inputs[1:] == b.inputs[1:] == ["sharedf", "sharedb"]
    assert node_of(graph, "sum1", "Sum").inputs == ["x6", "x2"]


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.name for p in FIXTURE_FILES])
def test_filters_kept_as_stored_match_the_reference_at_every_layer(path: Path, monkeypatch) -> None:
    """A filter from KEPT_WEIGHT_BYTES up (VGG-19's fc6: 392 MiB) is written in MATLAB's W×H order
    and its Conv runs on transposed activations; with every filter kept so, asymmetric kernels,
    strides, pads and dilations (simplenn_pre_beta11's conv1: 5×3, stride [2 1], pads [2 1 0 1];
    its fc2: 7×14) still match the reference at every layer."""
    monkeypatch.setattr(layout, "KEPT_WEIGHT_BYTES", 1)
    graph = netinspect.load(path)
    kept = [
        n for n in graph.nodes if n.provenance and any("kept as stored" in s.text for s in n.provenance.steps)
    ]
    assert any(n.op_type == "Conv" for n in kept)  # from any container: MAT v5, compressed v7, v7.3
    for conv in (n for n in kept if n.op_type == "Conv"):
        filter_ = graph.tensors[conv.inputs[1]]  # its bytes are the file's, where they lie as they are
        assert filter_.span == filter_.stored_span and filter_.storage_order == (0, 1, 2, 3)
    compare(path, graph)
    if path.name == "simplenn_pre_beta11.mat":
        conv1 = node_of(graph, "conv1", "Conv")
        assert conv1 in kept and conv1.attributes["kernel_shape"] == [3, 5]
        assert conv1.attributes["strides"] == [1, 2] and conv1.attributes["pads"] == [0, 2, 1, 1]
