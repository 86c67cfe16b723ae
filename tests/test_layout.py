"""The layout pass: a channels-last graph (as Keras and TFLite readers emit it) becomes NCHW.

Each graph is built with the generic builder exactly as a reader would (NHWC shapes, `layout` tags,
HWIO kernels), converted, run in onnxruntime and compared with a NumPy NHWC computation written
here, independent of the pass. The number of Transposes left is part of the contract: inverse
pairs must cancel, so a plain CNN has none in its interior.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import netinspect
from netinspect import layout
from netinspect.build import GraphBuilder, LayerContext
from netinspect.ir import Graph, Metadata, Rows
from netinspect.layout_metadata import IO_LAYOUT, VALUE_LAYOUTS

RNG = np.random.default_rng(7)
ATOL = 1e-5


def conv_nhwc(x: np.ndarray, k: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """Cross-correlation of NHWC x with an HWIO kernel, stride 1, pads (top, left, bottom, right)."""
    top, left, bottom, right = pads
    x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw, _, co = k.shape
    n, h, w, _ = x.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, co), np.float64)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,co->nhwo", x[:, i : i + out.shape[1], j : j + out.shape[2]], k[i, j])
    return out


def emit(
    builder: GraphBuilder, name: str, op: str, inputs: list[str], shape: tuple, attrs=None, layout_tag=None
) -> str:
    ctx = LayerContext(builder, name, op, inputs, [name])
    ctx.node(op, inputs, shape, attrs, output=name, layout=layout_tag)
    ctx.finish()
    return name


def weight(builder: GraphBuilder, name: str, array: np.ndarray, tag: str | None = None) -> str:
    ctx = LayerContext(builder, name, "weight", [], [name])
    return ctx.constant("w", array.astype(np.float32), layout=tag)


def small_cnn(head: str) -> tuple[Graph, dict[str, np.ndarray]]:
    """input NHWC → Conv(SAME, asymmetric) → Relu → +bias → MaxPool → head → (…)."""
    b = GraphBuilder("test", None)
    x = b.add_input("image", ("N", 6, 7, 3), layout="NHWC")
    k = RNG.normal(size=(2, 3, 3, 4))
    bias = RNG.normal(size=(4,))
    conv = emit(b, "conv", "Conv", [x, weight(b, "k", k, "HWIO")], ("N", 6, 7, 4),
                {"kernel_shape": [2, 3], "pads": [0, 1, 1, 1]}, "NHWC")  # fmt: skip
    relu = emit(b, "relu", "Relu", [conv], ("N", 6, 7, 4))
    biased = emit(b, "bias", "Add", [relu, weight(b, "bias", bias)], ("N", 6, 7, 4))
    pooling = {"kernel_shape": [2, 2], "strides": [2, 2]}
    pool = emit(b, "pool", "MaxPool", [biased], ("N", 3, 3, 4), pooling, "NHWC")
    params = {"k": k, "bias": bias}
    if head == "flatten_dense":
        w = RNG.normal(size=(36, 5))
        flat = emit(b, "flatten", "Flatten", [pool], ("N", 36), {"axis": 1})
        out = emit(b, "dense", "MatMul", [flat, weight(b, "w", w)], ("N", 5))
        params["w"] = w
    elif head == "gap_dense":
        w = RNG.normal(size=(4, 5))
        axes = weight(b, "axes", np.array([1, 2]))
        b.tensors[axes] = b.tensors[axes].map(lambda a: a.astype(np.int64), (2,), dtype="int64")
        gap = emit(b, "gap", "ReduceMean", [pool], ("N", 4), {"axes": [1, 2], "keepdims": 0})
        out = emit(b, "dense", "MatMul", [gap, weight(b, "w", w)], ("N", 5))
        del b.tensors[axes]
        params["w"] = w
    elif head == "concat_softmax":
        other = emit(b, "sig", "Sigmoid", [pool], ("N", 3, 3, 4))
        cat = emit(b, "concat", "Concat", [pool, other], ("N", 3, 3, 8), {"axis": 3})
        out = emit(b, "softmax", "Softmax", [cat], ("N", 3, 3, 8), {"axis": -1})
    else:
        raise ValueError(head)
    graph = b.finish("small", [out], Metadata(source_format="test"))
    return graph, params


def reference(head: str, x: np.ndarray, params: dict[str, np.ndarray]) -> np.ndarray:
    y = conv_nhwc(x, params["k"], (0, 1, 1, 1))
    y = np.maximum(y, 0) + params["bias"]
    n, h, w, c = y.shape
    y = y[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    if head == "flatten_dense":
        return y.reshape(n, -1) @ params["w"]
    if head == "gap_dense":
        return y.mean(axis=(1, 2)) @ params["w"]
    cat = np.concatenate([y, 1 / (1 + np.exp(-y))], axis=3)
    e = np.exp(cat - cat.max(axis=3, keepdims=True))
    return e / e.sum(axis=3, keepdims=True)


def run(graph: Graph, feed: np.ndarray) -> np.ndarray:
    model = netinspect.to_onnx(graph)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {graph.inputs[0].name: feed.astype(np.float32)})[0]


@pytest.mark.parametrize("head", ["flatten_dense", "gap_dense", "concat_softmax"])
def test_channels_last_graph_becomes_nchw_without_interior_transposes(head: str) -> None:
    graph, params = small_cnn(head)
    layout.canonicalize(graph)
    graph.validate()
    x = RNG.normal(size=(2, 6, 7, 3))
    expected = reference(head, x, params)
    got = run(graph, np.transpose(x, (0, 3, 1, 2)))
    if expected.ndim == 4:
        expected = np.transpose(expected, (0, 3, 1, 2))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=ATOL)
    assert graph.inputs[0].shape == ("N", 3, 6, 7)
    assert [n.op_type for n in graph.nodes].count("Transpose") == 0, [n.op_type for n in graph.nodes]
    io = json.loads(graph.metadata.properties[IO_LAYOUT])
    assert io["image"] == "NHWC"
    conv = next(n for n in graph.nodes if n.op_type == "Conv")
    texts = [s.text for s in conv.provenance.steps]
    assert "filter HWIO → OIHW (perm 3,2,0,1)" in texts


@pytest.mark.parametrize("head", ["flatten_dense", "concat_softmax"])
def test_keep_source_layout_keeps_the_interface_channels_last(head: str) -> None:
    graph, params = small_cnn(head)
    layout.canonicalize(graph, keep_source_layout=True)
    graph.validate()
    x = RNG.normal(size=(1, 6, 7, 3))
    np.testing.assert_allclose(run(graph, x), reference(head, x, params), rtol=1e-4, atol=ATOL)
    assert graph.inputs[0].shape == ("N", 6, 7, 3)
    transposes = [n for n in graph.nodes if n.op_type == "Transpose"]
    assert len(transposes) == (1 if head == "flatten_dense" else 2)


def test_flatten_dense_weight_rows_are_permuted_and_recorded() -> None:
    graph, _ = small_cnn("flatten_dense")
    layout.canonicalize(graph)
    dense = next(n for n in graph.nodes if n.op_type == "MatMul")
    assert any("weight rows permuted from NHWC" in s.text for s in dense.provenance.steps)


def test_values_that_moved_record_their_permutation() -> None:
    graph, _ = small_cnn("concat_softmax")
    layout.canonicalize(graph)
    perms = json.loads(graph.metadata.properties[VALUE_LAYOUTS])
    relu = next(n for n in graph.nodes if n.op_type == "Relu")
    assert perms[relu.outputs[0]] == [0, 3, 1, 2]


def test_untagged_graph_is_left_alone() -> None:
    graph, _ = small_cnn("flatten_dense")
    for node in graph.nodes:
        node.layout = None
    graph.inputs[0].layout = None
    before = [n.op_type for n in graph.nodes]
    layout.canonicalize(graph)
    assert [n.op_type for n in graph.nodes] == before
    assert IO_LAYOUT not in graph.metadata.properties


def test_layout_names_and_perms() -> None:
    assert layout.perm("HWIO", "OIHW") == (3, 2, 0, 1)
    assert layout.perm("HWCN", "NCHW") == (3, 2, 0, 1)
    assert layout.axis("HWCN", 2, "NCHW") == 1
    assert layout.channels_first("NHWC") == "NCHW"
    assert layout.channels_first("NDHWC") == "NCDHW"
    assert layout.layout_name((0, 2, 3, 1)) == "NHWC"
    assert layout.weight_target("ConvTranspose", "HWOI") == "IOHW"
    assert layout.compose((0, 2, 3, 1), (0, 3, 1, 2)) == (0, 1, 2, 3)


def test_dense_rows_are_a_lazy_row_permutation_of_the_stored_weight() -> None:
    graph, params = small_cnn("flatten_dense")
    dense = next(n for n in graph.nodes if n.op_type == "MatMul")
    stored = graph.tensors[dense.inputs[1]]
    layout.canonicalize(graph)
    tensor = graph.tensors[dense.inputs[1]]
    assert isinstance(tensor.source, Rows) and tensor.source.base is stored
    order = np.arange(36).reshape(3, 3, 4).transpose(2, 0, 1).reshape(-1)  # NCHW flatten, NHWC rows
    np.testing.assert_allclose(tensor.numpy(), params["w"][order].astype(np.float32))


def test_interface_values_are_mapped_once_not_twice() -> None:
    """check transposes graph inputs/outputs through IO_LAYOUT; VALUE_LAYOUTS must not list them too."""
    graph, _ = small_cnn("concat_softmax")
    layout.canonicalize(graph)
    io = json.loads(graph.metadata.properties[IO_LAYOUT])
    moved = json.loads(graph.metadata.properties[VALUE_LAYOUTS])
    assert "softmax" in io and not set(io) & set(moved)


@pytest.mark.parametrize("per_axis", [False, True])
def test_a_dequantized_constant_operand_is_permuted_like_a_constant(per_axis: bool) -> None:
    """NHWC Conv → Mul by DequantizeLinear(int8 per-channel multiplier) → NHWC Conv: the
    DequantizeLinear is redone on the permuted int8 constant (its axis following), so no Transpose
    is left between the convolutions (a quantized TFLite batch norm looks like this)."""
    b = GraphBuilder("test", None)
    x = b.add_input("image", ("N", 5, 6, 3), layout="NHWC")
    k1, k2 = RNG.normal(size=(3, 3, 3, 4)), RNG.normal(size=(1, 1, 4, 2))
    same = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}
    first = emit(b, "conv1", "Conv", [x, weight(b, "k1", k1, "HWIO")], ("N", 5, 6, 4), same, "NHWC")
    q = np.array([12, -7, 100, 3], np.int8)
    scale = np.array([0.5, 0.25, 0.02, 1.0], np.float32) if per_axis else np.array(0.05, np.float32)
    ctx = LayerContext(b, "factor", "DEQUANTIZE", [], ["factor"])
    zero = np.zeros(scale.shape, np.int8)
    names = [ctx.constant("q", q), ctx.constant("scale", scale), ctx.constant("zero", zero)]
    factor = ctx.node("DequantizeLinear", names, (4,), {"axis": 0} if per_axis else None, output="factor")
    ctx.finish()
    scaled = emit(b, "scaled", "Mul", [first, factor], ("N", 5, 6, 4))
    k2_name = weight(b, "k2", k2, "HWIO")
    out = emit(b, "conv2", "Conv", [scaled, k2_name], ("N", 5, 6, 2), {"kernel_shape": [1, 1]}, "NHWC")
    graph = b.finish("dq", [out], Metadata(source_format="test"))
    layout.canonicalize(graph)
    graph.validate()
    assert [n.op_type for n in graph.nodes].count("Transpose") == 0, [n.op_type for n in graph.nodes]
    xs = RNG.normal(size=(2, 5, 6, 3))
    y = conv_nhwc(xs, k1, (1, 1, 1, 1)) * (q.astype(np.float32) * scale)
    expected = conv_nhwc(y, k2, (0, 0, 0, 0))
    got = run(graph, np.transpose(xs, (0, 3, 1, 2)))
    np.testing.assert_allclose(got, np.transpose(expected, (0, 3, 1, 2)), rtol=1e-4, atol=ATOL)


IO_MODULES = ("os", "mmap", "threading", "_thread", "concurrent", "queue", "ctypes", "tempfile", "io")


def test_the_layout_rule_imports_no_io_module() -> None:
    """layout.py is the rule only: its own imports name no I/O or thread module (not even `os`,
    which Python itself always loads), and importing it loads no thread pool, memory map or module
    of netinspect.io beyond the pure `blocks` (through the IR), in a fresh interpreter."""
    tree = ast.parse(Path(layout.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] in IO_MODULES or m.startswith("netinspect.io")}
    code = (
        "import json, sys; import netinspect; before = set(sys.modules); import netinspect.layout; "
        "print(json.dumps([sorted(before), sorted(set(sys.modules) - before)]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    package, added = json.loads(done.stdout)
    assert "netinspect.layout" in added and "netinspect.layout" not in package
    assert not [m for m in added if m.split(".")[0] in IO_MODULES or m.startswith("netinspect.io")], added
    loaded = set(package) | set(added)  # the package itself (importlib.metadata) may load threading
    assert not {"mmap", "concurrent.futures", "queue"} & loaded
    assert not {m for m in loaded if m.startswith("netinspect.io.") and m != "netinspect.io.blocks"}
