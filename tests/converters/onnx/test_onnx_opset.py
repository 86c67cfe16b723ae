"""`convert --opset N` on real-shaped models: every MatConvNet fixture and several onnx zoo models,
at opsets from 7 to the newest the installed onnx knows. Each result passes onnx's full checker and
computes what the source computes in onnxruntime (the same float32 ops: within 1e-5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import netinspect
from tests.conftest import FIXTURES
from tests.converters.onnx.onnx_zoo import zoo_cases
from tests.converters.onnx.test_onnx_zoo import run_model

NEWEST = onnx.defs.onnx_opset_version()
OPSETS = sorted({7, 9, 11, 13, 15, 18, 21, 24, NEWEST})
MATCONVNET = [
    "simplenn_pre_beta11",
    "simplenn_beta11",
    "simplenn_beta17",
    "simplenn_checkpoint",
    "dagnn_residual",
]
INEXPRESSIBLE = {
    "dagnn_residual": (12, "no adapter for Min, and Min at opset 11 does not take tensor(int64)")
}
"""The DagNN crop computes offsets in int64 (Min of int64 exists from opset 12; below opset 10 its
Slice, whose bounds are computed, has no attribute form)."""


def feeds_for(graph: netinspect.Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = graph.metadata.preprocessing.image_size or (24, 24)
    out = {}
    for v in graph.inputs:
        dims = [1 if d == "N" else d for d in v.shape]
        spatial = iter(size)
        dims = [next(spatial, 24) if not isinstance(d, int) else d for d in dims]
        out[v.name] = rng.standard_normal(dims).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def default_conversions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("opset17")
    paths = {}
    for name in MATCONVNET:
        paths[name] = folder / f"{name}.onnx"
        netinspect.save_onnx(netinspect.load(FIXTURES / "matconvnet" / f"{name}.mat"), paths[name])
    return paths


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", MATCONVNET)
def test_matconvnet_converts_to_every_opset(
    name: str, opset: int, default_conversions: dict[str, Path], cli, tmp_path: Path
) -> None:
    source = FIXTURES / "matconvnet" / f"{name}.mat"
    out = tmp_path / f"{name}_{opset}.onnx"
    result = cli("convert", source, "--opset", opset, "-o", out)
    if name in INEXPRESSIBLE and opset < INEXPRESSIBLE[name][0]:
        assert result.code == 2 and "no adapter for" in result.err, result.err
        if opset == INEXPRESSIBLE[name][0] - 1:
            assert INEXPRESSIBLE[name][1] in result.err
        return
    assert result.code == 0, result.err
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert next(o.version for o in model.opset_import if o.domain == "") == opset
    feeds = feeds_for(netinspect.load(source))
    expected = run_model(default_conversions[name], feeds)
    actual = run_model(out, feeds)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5)


ZOO = {c.name: c for c in zoo_cases()}
ZOO_MODELS = [
    "light/squeezenet",
    "light/inception_v1",
    "light/resnet50",
    "pytorch-converted/test_ConvTranspose2d",
]


@pytest.mark.parametrize("opset", [11, 13, 17, 21, NEWEST])
@pytest.mark.parametrize("name", ZOO_MODELS)
def test_zoo_models_convert_to_newer_opsets(name: str, opset: int, cli, tmp_path: Path) -> None:
    case = ZOO[name]
    out = tmp_path / "converted.onnx"
    result = cli("convert", case.model, "--opset", opset, "-o", out)
    assert result.code == 0, result.err
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    source = onnx.load(str(case.model))
    assert model.ir_version >= source.ir_version
    actual = run_model(model, case.inputs(source))
    for a, ref in zip(actual, case.outputs(), strict=True):
        np.testing.assert_allclose(a, ref, rtol=case.rtol, atol=max(case.atol, 1e-5))


def test_weights_that_are_not_graph_inputs_no_longer_stop_the_converter(tmp_path: Path) -> None:
    """The bug: onnx's converter resolves node inputs against graph inputs only ("Input w is
    undefined!"), and a Relu stops it going below opset 14 ("No Adapter From Version $14")."""
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        [numpy_helper.from_array(w, "w")],
    )
    src = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(src))
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    for opset in (9, 13, 20):
        out = tmp_path / f"m{opset}.onnx"
        netinspect.save_onnx(netinspect.load(src), out, opset=opset)
        model = onnx.load(str(out))
        onnx.checker.check_model(model, full_check=True)
        assert [i.name for i in model.graph.input] == ["x"]  # the weight is not left as an input
        assert [n.domain for n in model.graph.node] == ["", ""]
        np.testing.assert_allclose(run_model(out, {"x": x})[0], run_model(src, {"x": x})[0], rtol=1e-6)


def test_an_opset_onnx_does_not_know_is_refused(tmp_path: Path, cli) -> None:
    source = FIXTURES / "matconvnet" / "simplenn_beta17.mat"
    result = cli("convert", source, "--opset", NEWEST + 1, "-o", tmp_path / "x.onnx")
    assert result.code == 2
    assert f"knows opsets 1 to {NEWEST}" in result.err


SHARED = {
    "tfl_hello_world_int8.tflite": 10,  # DequantizeLinear exists from opset 10
    "tfl_conv_fp16_dequantize.tflite": 7,
    "keras3_mnist_cnn.keras": 7,
    "keras1_cnn_dropout_model.h5": 7,
    "onnx_cntk_mnist_ir3.onnx": 7,
    "dncnn_sigma25_simplenn_v73.mat": 7,
    "ffdnet_gray_retrained_simplenn_v5.mat": 8,  # Expand exists from opset 8; its Slice has constant bounds
}


def interface_feeds(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Random data for the graph inputs, symbolic dims given 1 (batch) or 16 (the rest)."""
    rng = np.random.default_rng(seed)
    weights = {t.name for t in model.graph.initializer}
    feeds = {}
    for v in model.graph.input:
        if v.name in weights:
            continue
        dims = [
            d.dim_value if d.HasField("dim_value") else (1 if i == 0 else 16)
            for i, d in enumerate(v.type.tensor_type.shape.dim)
        ]
        dtype = helper.tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type)
        scale = 1.0 if np.issubdtype(dtype, np.floating) else 50.0
        feeds[v.name] = (rng.standard_normal(dims) * scale).astype(dtype)
    return feeds


@pytest.mark.parametrize("name", sorted(SHARED))
def test_real_models_of_every_format_convert_to_other_opsets(name: str, tmp_path: Path) -> None:
    from tests.conftest import shared_model

    source = shared_model(name)
    default = tmp_path / "default.onnx"
    netinspect.save_onnx(netinspect.load(source), default)
    feeds = interface_feeds(onnx.load(str(default)))
    expected = run_model(default, feeds)
    for opset in (7, 9, 13, 21, NEWEST):
        out = tmp_path / f"opset{opset}.onnx"
        if opset < SHARED[name]:
            with pytest.raises(netinspect.NetinspectError, match="no adapter for"):
                netinspect.save_onnx(netinspect.load(source), out, opset=opset)
            continue
        netinspect.save_onnx(netinspect.load(source), out, opset=opset)
        onnx.checker.check_model(str(out), full_check=True)
        for a, e in zip(run_model(out, feeds), expected, strict=True):
            np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5)


def test_a_model_with_only_ml_ops_gets_the_ai_onnx_import(tmp_path: Path) -> None:
    node = helper.make_node("Normalizer", ["x"], ["y"], name="norm", domain="ai.onnx.ml", norm="L1")
    graph = helper.make_graph(
        [node],
        "ml",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    src = tmp_path / "ml.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("ai.onnx.ml", 1)]), str(src))
    out = tmp_path / "ml17.onnx"
    netinspect.save_onnx(netinspect.load(src), out, opset=17)
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain: o.version for o in model.opset_import} == {"ai.onnx.ml": 1, "": 17}
    x = np.array([[1, 1, 2], [3, 0, 1]], np.float32)
    np.testing.assert_allclose(run_model(out, {"x": x})[0], x / np.abs(x).sum(1, keepdims=True))


def test_what_an_older_opset_cannot_express_is_refused_in_plain_words(tmp_path: Path, cli) -> None:
    node = helper.make_node("RMSNormalization", ["x", "scale"], ["y"], name="norm", axis=-1)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        [numpy_helper.from_array(np.ones(4, np.float32), "scale")],
    )
    src = tmp_path / "rms.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)]), str(src))
    result = cli("convert", src, "--opset", 21, "-o", tmp_path / "out.onnx")
    assert result.code == 2
    assert "cannot convert from opset 23 to 21: No Previous Version of RMSNormalization exists" in result.err
    assert "/project/" not in result.err and "Assertion" not in result.err


def test_a_wrong_adaptation_by_onnx_is_caught_and_named(tmp_path: Path, cli) -> None:
    """onnx's Scan 8 → 9 adapter drops the batch axis from the op but not from its body."""
    vec = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("sum_in", "next", "sum_out", "out")
    ]
    body = helper.make_graph(
        [
            helper.make_node("Add", ["sum_in", "next"], ["sum_out"]),
            helper.make_node("Identity", ["sum_out"], ["out"]),
        ],
        "body",
        vec[:2],
        vec[2:],
    )
    scan = helper.make_node(
        "Scan", ["", "initial", "x"], ["y", "z"], name="scan", num_scan_inputs=1, body=body
    )
    graph = helper.make_graph(
        [scan],
        "g",
        [
            helper.make_tensor_value_info("initial", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 2]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3, 2]),
        ],
    )
    src = tmp_path / "scan8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 8)]), str(src))
    result = cli("convert", src, "--opset", 21, "-o", tmp_path / "out.onnx")
    assert result.code == 2
    assert "the model converted to opset 21 fails onnx.checker (onnx's version converter" in result.err


@pytest.mark.parametrize("kind", ["dynamic", "qdq"])
def test_quantized_models_convert_to_other_opsets(kind: str, tmp_path: Path) -> None:
    """onnxruntime's own quantizers: dynamic (DynamicQuantizeLinear, ConvInteger, MatMulInteger)
    and static QDQ (QuantizeLinear/DequantizeLinear pairs around every op)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    float_model, quantized = tmp_path / "float.onnx", tmp_path / f"{kind}.onnx"
    netinspect.save_onnx(netinspect.load(FIXTURES / "matconvnet" / "simplenn_beta17.mat"), float_model)
    rng = np.random.default_rng(0)
    batches = [{"data": rng.uniform(0, 1, (1, 3, 24, 24)).astype(np.float32)} for _ in range(3)]

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.left, None)

    if kind == "dynamic":
        quantize_dynamic(str(float_model), str(quantized), weight_type=QuantType.QInt8)
    else:
        quantize_static(str(float_model), str(quantized), Batches(), quant_format=QuantFormat.QDQ)
    expected = run_model(quantized, batches[0])
    for opset in (13, 21):
        out = tmp_path / f"{kind}{opset}.onnx"
        netinspect.save_onnx(netinspect.load(quantized), out, opset=opset)
        onnx.checker.check_model(str(out), full_check=True)
        np.testing.assert_allclose(run_model(out, batches[0])[0], expected[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize(("source", "targets"), [(11, (13, 18)), (9, (13,)), (17, (12, 9, 7)), (13, (12,))])
def test_the_softmax_family_keeps_its_meaning_across_opset_13(
    op: str, source: int, targets: tuple[int, ...], tmp_path: Path
) -> None:
    """Before opset 13 these ops flatten at `axis`; from 13 they act along `axis` alone. onnx's own
    converter keeps axis=1 as it is (Softmax going down, Hardmax both ways): a different result."""
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for axis in (None, 0, 1, 2, 3, -1):
        if axis is not None and axis < 0 and source < 11:
            continue  # negative axes arrived in opset 11
        attrs = {} if axis is None else {"axis": axis}
        graph = helper.make_graph(
            [helper.make_node(op, ["x"], ["y"], name="op", **attrs)],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x.shape))],
        )
        src = tmp_path / "src.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", source)]), str(src))
        expected = run_model(src, {"x": x})[0]
        for target in targets:
            out = tmp_path / f"{target}.onnx"
            netinspect.save_onnx(netinspect.load(src), out, opset=target)
            actual = run_model(out, {"x": x})[0]
            np.testing.assert_allclose(
                actual, expected, rtol=1e-6, atol=1e-7, err_msg=f"axis {axis} → {target}"
            )


def test_a_slice_with_constant_bounds_moves_below_opset_10(tmp_path: Path) -> None:
    bounds = {"starts": [1, 0], "ends": [3, 100], "axes": [0, 2]}
    initializers = [numpy_helper.from_array(np.array(v, np.int64), k) for k, v in bounds.items()]
    graph = helper.make_graph(
        [helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"], name="crop")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 3, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 5])],
        initializers,
    )
    src = tmp_path / "slice.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(src))
    out = tmp_path / "slice9.onnx"
    netinspect.save_onnx(netinspect.load(src), out, opset=9)
    model = onnx.load(str(out))
    assert {a.name: list(a.ints) for a in model.graph.node[0].attribute} == bounds
    x = np.arange(60, dtype=np.float32).reshape(4, 3, 5)
    np.testing.assert_array_equal(run_model(out, {"x": x})[0], x[1:3])


@pytest.mark.parametrize(("source", "target"), [(12, 13), (12, 18), (17, 11), (17, 9)])
def test_ops_inside_subgraphs_are_converted_too(source: int, target: int, tmp_path: Path) -> None:
    """A Hardmax (no adapter in onnx, a meaning that changed at 13) and a Relu (no adapter below 14)
    inside an If branch: written in the target's terms like those of the main graph."""
    value = [2, 3, 4]
    then = helper.make_graph(
        [
            helper.make_node("Hardmax", ["x"], ["t"], name="hardmax", axis=1),
            helper.make_node("Relu", ["t"], ["t2"], name="relu"),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("t2", TensorProto.FLOAT, value)],
    )
    other = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"], name="neg")],
        "else",
        [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, value)],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], name="if", then_branch=then, else_branch=other)],
        "g",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, value),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, value)],
    )
    src = tmp_path / "if.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", source)]), str(src))
    out = tmp_path / "converted.onnx"
    netinspect.save_onnx(netinspect.load(src), out, opset=target)
    onnx.checker.check_model(str(out), full_check=True)
    feeds = {"c": np.array(True), "x": np.random.default_rng(0).standard_normal(value).astype(np.float32)}
    np.testing.assert_array_equal(run_model(out, feeds)[0], run_model(src, feeds)[0])
