"""What the TFLite reader makes of a file: ops, layouts, padding, groups, QDQ, float16, lazy weights,
metadata; and the CLI (info, convert, check) on generated and real third-party files."""

from __future__ import annotations

import json
import mmap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

from netinspect.ir import Graph, Node
from netinspect.registry import load
from tests.conftest import CliResult, shared_model
from tests.converters.tflite.conftest import tflite_fixture
from tests.converters.tflite.handmade import build, relu_chain


def ops(graph: Graph, op_type: str) -> list[Node]:
    return [n for n in graph.nodes if n.op_type == op_type]


def steps(node: Node) -> list[str]:
    return [s.text for s in node.provenance.steps] if node.provenance else []


def mmap_backed(array: np.ndarray) -> bool:
    base = array
    while isinstance(base, np.ndarray):
        if base.flags.owndata:
            return False
        base = base.base
    return isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)


def test_convolutions_become_nchw_with_tflite_weights_permuted() -> None:
    graph = load(tflite_fixture("conv"))
    assert graph.inputs[0].shape == (1, 3, 17, 19)
    assert json.loads(graph.metadata.properties["netinspect.io_layout"])[graph.inputs[0].name] == "NHWC"
    convs = ops(graph, "Conv")
    depthwise = [
        n for n in convs if n.attributes.get("group", 1) > 1 and graph.tensors[n.inputs[1]].shape[1] == 1
    ]
    assert {graph.tensors[n.inputs[1]].shape for n in depthwise} >= {(16, 1, 3, 3)}
    assert any("filter IHWO → OIHW" in s for n in depthwise for s in steps(n))
    assert any("depth multiplier 2" in s for n in depthwise for s in steps(n))
    plain = next(n for n in convs if n.attributes.get("group", 1) == 1)
    assert any("filter OHWI → OIHW" in s for s in steps(plain))
    transposed = ops(graph, "ConvTranspose")
    assert len(transposed) == 2
    assert any("filter OHWI → IOHW" in s for n in transposed for s in steps(n))
    assert not any(n.layout for n in graph.nodes), "the layout pass left a channels-last node"


def test_same_padding_becomes_explicit_and_asymmetric() -> None:
    """Depthwise 5×5 stride 2 on 12×10, SAME: 3 rows and 3 columns of padding, the extra one at the end."""
    graph = load(tflite_fixture("conv_groups"))
    strided = next(n for n in ops(graph, "Conv") if n.attributes.get("strides") == [2, 2])
    assert strided.attributes["pads"] == [1, 1, 2, 2]
    assert any("SAME padding made explicit" in s for s in steps(strided))
    grouped = next(n for n in ops(graph, "Conv") if n.attributes.get("kernel_shape") == [3, 3])
    assert grouped.attributes["group"] == 2


def test_weights_stay_in_the_file_until_read() -> None:
    graph = load(tflite_fixture("mobilenet_v2"))
    assert not any(t.is_loaded for t in graph.tensors.values() if t.size > 64)
    gemm = ops(graph, "Gemm")[0]
    weight = graph.tensors[gemm.inputs[1]].numpy()
    assert weight.shape == (1000, 1280 if weight.shape[1] == 1280 else weight.shape[1])
    assert mmap_backed(weight), "an unpermuted weight should be a view of the memory-mapped file"


def test_int8_model_is_qdq_with_int32_biases_and_per_channel_scales() -> None:
    graph = load(tflite_fixture("conv", "int8"))
    assert graph.inputs[0].dtype == "int8" and graph.outputs[0].dtype == "int8"
    dequantize = ops(graph, "DequantizeLinear")
    biases = [
        n
        for n in dequantize
        if graph.tensors.get(n.inputs[0]) and graph.tensors[n.inputs[0]].dtype == "int32"
    ]
    assert biases and all(len(n.inputs) == 2 for n in biases), "int32 biases have no zero point"
    per_channel = [n for n in dequantize if "axis" in n.attributes]
    assert per_channel, "conv weights are quantized per output channel"
    for node in per_channel:
        scale = graph.tensors[node.inputs[1]]
        weight = graph.tensors[node.inputs[0]]
        assert weight.dtype in ("int8", "int32")
        assert weight.shape[node.attributes["axis"]] == scale.size
    assert any(graph.tensors[n.inputs[0]].dtype == "int8" and n.attributes["axis"] == 0 for n in per_channel)
    assert any("per-axis" in s for n in per_channel for s in steps(n))
    assert ops(graph, "QuantizeLinear")
    assert any("quantized to int8: scale" in s for n in ops(graph, "QuantizeLinear") for s in steps(n))


def test_float16_weights_stay_float16() -> None:
    graph = load(shared_model("tfl_conv_fp16_dequantize.tflite"))
    assert {t.dtype for t in graph.tensors.values()} >= {"float16"}
    cast = ops(graph, "Cast")
    assert cast and all(graph.tensors[n.inputs[0]].dtype == "float16" for n in cast)
    assert ops(graph, "Conv")[0].inputs[1] in {n.outputs[0] for n in cast}


def test_dynamic_range_keeps_int8_weights() -> None:
    graph = load(tflite_fixture("mobilenet_v2", "dynamic"))
    assert graph.inputs[0].dtype == "float32"
    weights = [
        graph.tensors[n.inputs[0]] for n in ops(graph, "DequantizeLinear") if n.inputs[0] in graph.tensors
    ]
    assert weights and {w.dtype for w in weights} == {"int8"}


def test_real_int8_file(cli: Callable[..., CliResult]) -> None:
    path = shared_model("tfl_hello_world_int8.tflite")
    graph = load(path)
    assert [n.op_type for n in graph.nodes].count("Gemm") == 3
    signatures = json.loads(graph.metadata.properties["tflite.signatures"])
    assert signatures["serving_default"]["inputs"] == {"dense_input": "serving_default_dense_input:0"}
    result = cli("info", path, "--json")
    assert result.code == 0, result.err
    info = json.loads(result.out)
    assert info["format"]["source_format"] == "tflite"
    assert info["inputs"][0]["dtype"] == "int8"


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("conv", "float32"),
        ("mobilenet_v2", "int8"),
        ("shapes", "float32"),
        ("lstm_while", "float32"),
        ("branch", "float32"),
        ("lstm", "float32"),
    ],
)
def test_convert_writes_a_checked_onnx_model(
    cli: Callable[..., CliResult], tmp_path: Path, name: str, mode: str
) -> None:
    out = tmp_path / f"{name}.onnx"
    result = cli("convert", tflite_fixture(name, mode), "--to", "onnx", "-o", out)
    assert result.code == 0, result.err
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)


@pytest.mark.parametrize(
    ("path", "options"),
    [
        (lambda: tflite_fixture("conv", "float32"), ["--rtol", "1e-4", "--atol", "1e-5"]),
        (lambda: tflite_fixture("mobilenet_v2", "float16"), ["--rtol", "1e-3", "--atol", "1e-5"]),
        (lambda: tflite_fixture("mobilenet_v2", "dynamic"), ["--rtol", "1e-4", "--atol", "1e-5"]),
        # 1-step differences per operator accumulate over 65 operators: the ceiling of 3 steps
        (lambda: tflite_fixture("mobilenet_v2", "int8"), ["--quant-steps", "3"]),
        (lambda: shared_model("tfl_hello_world_int8.tflite"), []),
        (lambda: shared_model("tfl_conv_fp16_dequantize.tflite"), ["--rtol", "1e-3", "--atol", "1e-5"]),
    ],
    ids=["conv-float32", "mobilenet_v2-float16", "mobilenet_v2-dynamic", "mobilenet_v2-int8",
         "hello_world_int8", "conv_fp16_dequantize"],
)  # fmt: skip
def test_check_runs_litert_against_onnxruntime(
    cli: Callable[..., CliResult], path: Callable[[], Path], options: list[str]
) -> None:
    result = cli("check", path(), *options)
    assert result.code == 0, result.out + result.err
    assert "LiteRT" in result.out


def test_check_says_when_litert_cannot_run_the_file(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """An operator version this LiteRT lacks: netinspect converts the file, the reference cannot run it."""
    spec = relu_chain(2)
    spec.op_version = 99
    path = tmp_path / "future.tflite"
    path.write_bytes(build(spec))
    assert cli("info", path).code == 0
    result = cli("check", path)
    assert result.code == 2
    assert "reference runtime (LiteRT interpreter) cannot run this model" in result.err
    assert "version '99'" in result.err


@pytest.mark.parametrize("mode", ["float32", "float16", "int8", "dynamic"])
def test_mobilenet_v2_is_channels_first_without_a_transpose(mode: str) -> None:
    """Every quantization mode's Transposes meet their inverses and vanish, including dynamic
    range, whose activations pass through DynamicQuantizeLinear → DequantizeLinear (one scale for
    the whole tensor: the Transposes move past both)."""
    graph = load(tflite_fixture("mobilenet_v2", mode))
    assert ops(graph, "Transpose") == []
    if mode == "dynamic":
        assert ops(graph, "DynamicQuantizeLinear")


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_constants_stored_as_onnx_wants_them_are_copied_from_the_file(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TFLite buffer that ONNX stores unchanged (a fully connected weight, a bias, int8 weights
    behind a DequantizeLinear) carries its FileSpan: the writer copies it file to file. Every
    initializer still equals the IR's tensor."""
    from netinspect import save_onnx
    from netinspect.io import laid_out

    graph = load(tflite_fixture("mobilenet_v2", mode))
    spanned = {name for name, t in graph.tensors.items() if t.span is not None}
    assert spanned, "no constant kept its place in the file"
    copied: list[int] = []
    real = laid_out.copy_range_at
    monkeypatch.setattr(
        laid_out,
        "copy_range_at",
        lambda fd, src, off, n, at: (copied.append(n), real(fd, src, off, n, at)),
    )
    out = tmp_path / "m.onnx"
    save_onnx(graph, out)
    assert 0 < len(copied) <= len(spanned)  # small constants go inside the protobuf instead
    written = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(out).graph.initializer}
    for name, tensor in graph.tensors.items():
        np.testing.assert_array_equal(written[name], tensor.numpy(), err_msg=name)
