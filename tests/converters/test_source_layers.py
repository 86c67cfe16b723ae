"""Every parsable file opens, and shows its own layers: layers without a translation are shown as
themselves (info, view, diff, info --tensor exit 0), `convert` and `check` refuse them all in one
line unless `convert --keep-unsupported` writes them as custom-domain ops; every Keras, TFLite and
MatConvNet layer is recorded with its type and configuration as the file states it.

Files: the real ones in ../shared/models, fixtures/make_untranslated.py (Keras 3, tf-keras and
TensorFlow's converter, run in a subprocess when missing), handmade TFLite flatbuffers, and the
committed MatConvNet fixtures."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import onnx
import pytest

import netinspect
from netinspect.analysis.summary import info_schema
from netinspect.errors import UnsupportedError
from tests.conftest import FIXTURES, CliResult, fixture_generator, shared_model
from tests.converters.tflite.handmade import build, relu_chain

LAMBDA = "keras2_sequential_lambda.h5"


def untranslated_fixture(name: str) -> Path:
    """A file of fixtures/make_untranslated.py, generated (once, under a lock) when missing."""
    generator = fixture_generator("make_untranslated.py")
    path = generator.cached_path(name)
    if path.exists():
        return path
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed: fixtures/make_untranslated.py cannot run")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            script = FIXTURES / "make_untranslated.py"
            subprocess.run([sys.executable, str(script), name], check=True, capture_output=True)
    return path


def _info_json(cli: Callable[..., CliResult], path: Path, *options: str) -> dict[str, Any]:
    result = cli("info", path, "--json", *options)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    jsonschema.validate(summary, info_schema(), cls=jsonschema.Draft202012Validator)
    return summary


def _layer(summary: dict[str, Any], name: str) -> dict[str, Any]:
    return next(layer for layer in summary["source"]["layers"] if layer["name"] == name)


def _shown(cli: Callable[..., CliResult], path: Path, tmp_path: Path, *types: str) -> str:
    """`info` and `view -o x.html` exit 0 and name each source type; info's text is returned."""
    info = cli("info", path)
    assert info.code == 0, info.err
    for layer_type in types:
        assert layer_type in info.out, info.out
    page = tmp_path / f"{path.stem}.html"
    view = cli("view", path, "-o", page)
    assert view.code == 0, view.err
    html = page.read_text()
    for layer_type in types:
        assert layer_type in html
    return info.out


def _refused(result: CliResult, path: Path, *needles: str) -> str:
    lines = result.err.strip().splitlines()
    assert result.code == 2 and len(lines) == 1 and "Traceback" not in result.err, result.err
    assert str(path) in lines[0] or path.name in lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# -- layers without a translation --------------------------------------------------------------------


def test_keras_lambda_model_opens_and_convert_refuses_it(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    path = shared_model(LAMBDA)
    out = _shown(cli, path, tmp_path, "Lambda")
    assert "2 layers are shown without a translation (Lambda ×2)" in out
    graph = netinspect.load(path)
    lambdas = [n for n in graph.nodes if n.domain == "netinspect.keras"]
    assert [n.op_type for n in lambdas] == ["Lambda", "Lambda"]
    assert lambdas[0].attributes["function_type"] == "lambda"
    assert [layer.supported for layer in graph.source_layers] == [True, False, False, True]
    converted = cli("convert", path, "-o", tmp_path / "lambda.onnx")
    _refused(converted, path, "2 unsupported Keras layers", "'lambda_1' (type 'Lambda')", "bytecode")
    assert not (tmp_path / "lambda.onnx").exists()
    checked = cli("check", path)
    _refused(checked, path, "2 unsupported Keras layers")
    same = cli("diff", path, path)
    assert same.code == 0, same.err


def test_convert_keep_unsupported_writes_custom_domain_ops_that_pass_the_checker(
    cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    path, out = shared_model(LAMBDA), tmp_path / "kept.onnx"
    result = cli("convert", path, "-o", out, "--keep-unsupported")
    assert result.code == 0, result.err
    assert "2 layers kept as custom-domain ops: Lambda" in result.out
    model = onnx.load(out)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, check_type=True)
    custom = [n for n in model.graph.node if n.domain == "netinspect.keras"]
    assert [n.op_type for n in custom] == ["Lambda", "Lambda"]
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in custom[0].attribute}
    assert attributes["function_type"] == b"lambda" and attributes["name"] == b"lambda_1"
    assert {(o.domain, o.version) for o in model.opset_import} >= {("netinspect.keras", 1)}


def test_keras3_unregistered_custom_class(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    path = untranslated_fixture("keras3_custom_class.keras")
    _shown(cli, path, tmp_path, "ScaleBy")
    summary = _info_json(cli, path)
    scale = _layer(summary, "scale_by")
    assert scale["type"] == "ScaleBy" and not scale["supported"] and scale["config"]["factor"] == 3.0
    assert summary["source"]["untranslated"]["count"] == 1
    (weight,) = scale["weights"]
    assert weight["shape"] == [4] and weight["dtype"] == "float32"
    tensor = cli("info", path, "--tensor", weight["value"])
    assert tensor.code == 0 and "mean" in tensor.out.lower(), tensor.err
    conv = _layer(summary, "conv")  # the layers around it are translated as usual
    assert conv["supported"] and conv["config"]["kernel_size"] == [3, 3] and conv["nodes"]


def test_keras3_text_vectorization(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    path = untranslated_fixture("keras3_text_vectorization.keras")
    _shown(cli, path, tmp_path, "TextVectorization")
    layer = _layer(_info_json(cli, path), "vectorize")
    assert layer["config"]["max_tokens"] == 20 and layer["config"]["output_sequence_length"] == 6


def test_tflite_flex_ops_and_hash_table(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    path = untranslated_fixture("tflite_flex_hashtable.tflite")
    _shown(
        cli, path, tmp_path, "HASHTABLE", "HASHTABLE_FIND", "CUSTOM:FlexStringLength", "CUSTOM:FlexCumprod"
    )
    graph = netinspect.load(path)
    cumprod = next(n for n in graph.nodes if n.op_type == "CUSTOM:FlexCumprod")
    assert cumprod.domain == "netinspect.tflite"
    assert graph.values[cumprod.outputs[0]].shape == (1, 4)  # the shape the file records
    converted = cli("convert", path, "-o", tmp_path / "flex.onnx")
    _refused(converted, path, "6 unsupported TFLite operators", "HASHTABLE_IMPORT", "Flex (TensorFlow) op")
    kept = tmp_path / "kept.onnx"  # a hash table's resource handle has no ONNX type: left undeclared
    assert cli("convert", path, "-o", kept, "--keep-unsupported").code == 0
    model = onnx.load(kept)
    onnx.checker.check_model(model, full_check=True)
    assert {n.op_type for n in model.graph.node if n.domain == "netinspect.tflite"} == {
        "HASHTABLE",
        "HASHTABLE_FIND",
        "CUSTOM:FlexStringLength",
        "CUSTOM:FlexCumprod",
    }


def test_ethos_u_custom_op(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    """Vela replaces what runs on the NPU by one CUSTOM 'ethos-u' operator (a command stream)."""
    path = tmp_path / "vela.tflite"
    path.write_bytes(build(relu_chain(3, ["RELU", ("CUSTOM", "ethos-u"), "RELU"])))
    out = _shown(cli, path, tmp_path, "CUSTOM:ethos-u")
    assert "1 layer is shown without a translation (CUSTOM:ethos-u)" in out
    _refused(cli("convert", path, "-o", tmp_path / "vela.onnx"), path, "'CUSTOM:ethos-u'", "custom operator")


def test_tflite_rfft2d(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    path = untranslated_fixture("tflite_rfft2d.tflite")
    _shown(cli, path, tmp_path, "RFFT2D")
    layer = _layer(_info_json(cli, path), "rfft2d")
    assert layer["type"] == "RFFT2D" and layer["outputs"][0]["dtype"] == "complex64"


def test_weights_only_keras2_opens_as_its_weights(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    path = untranslated_fixture("tf_keras_weights_only.h5")
    _shown(cli, path, tmp_path, "Weights", "conv", "dense")
    summary = _info_json(cli, path)
    kernel, bias = _layer(summary, "conv")["weights"]
    assert (kernel["shape"], kernel["dtype"], bias["shape"]) == ([3, 3, 3, 4], "float32", [4])
    statistics = cli("info", path, "--tensor", kernel["value"])
    assert statistics.code == 0 and "3×3×3×4" in statistics.out, statistics.err
    _refused(cli("convert", path, "-o", tmp_path / "w.onnx"), path, "--config")


def test_an_unsupported_layer_of_a_python_api_user_is_refused_by_to_onnx() -> None:
    graph = netinspect.load(shared_model(LAMBDA))
    with pytest.raises(UnsupportedError) as caught:
        netinspect.to_onnx(graph)
    assert len(caught.value.items) == 2
    kept = netinspect.to_onnx(graph, keep_unsupported=True)
    assert sum(n.domain == "netinspect.keras" for n in kept.graph.node) == 2


# -- the source as its users know it -----------------------------------------------------------------


def test_keras_info_json_carries_conv2d_with_its_config(cli: Callable[..., CliResult]) -> None:
    path = shared_model("keras3_mnist_cnn.keras")
    summary = _info_json(cli, path)
    assert summary["schema_version"] == 2 and summary["source"]["framework"] == "keras"
    convs = [layer for layer in summary["source"]["layers"] if layer["type"] == "Conv2D"]
    assert convs and convs[0]["config"]["kernel_size"] == [3, 3]
    assert "filters=" in convs[0]["summary"] and "kernel_size=[3, 3]" in convs[0]["summary"]
    kernel = convs[0]["weights"][0]
    assert kernel["layout"] == "HWIO" and kernel["shape"][:2] == [3, 3]  # as stored, not OIHW
    ops = {n["name"]: n for n in _info_json(cli, path, "--nodes")["nodes"]["list"]}
    assert convs[0]["nodes"] and all(
        ops[name]["provenance"]["layer"] == convs[0]["name"] for name in convs[0]["nodes"]
    )
    assert any(ops[name]["op"] == "Conv" for name in convs[0]["nodes"])


def test_int8_tflite_info_json_carries_each_tensors_quantization(cli: Callable[..., CliResult]) -> None:
    summary = _info_json(cli, shared_model("tfl_hello_world_int8.tflite"))
    fc = next(layer for layer in summary["source"]["layers"] if layer["type"] == "FULLY_CONNECTED")
    assert "FusedActivationFunction" in fc["config"]
    tensors = fc["inputs"] + fc["outputs"]
    assert len(tensors) == 4  # input, weights, bias, output
    for tensor in tensors:
        q = tensor["quantization"]
        assert q is not None and len(q["scale"]) == len(q["zero_point"]) >= 1, tensor
        assert "quantized_dimension" in q
    assert {t["dtype"] for t in fc["inputs"]} == {"int8", "int32"}
    weights = [t for t in fc["weights"]]
    assert weights and weights[0]["quantization"]["zero_point"] == [0]


def test_matconvnet_info_json_carries_conv_stride_and_pad(cli: Callable[..., CliResult]) -> None:
    summary = _info_json(cli, FIXTURES / "matconvnet" / "simplenn_beta11.mat")
    convs = [layer for layer in summary["source"]["layers"] if layer["type"] == "conv"]
    assert convs and all("stride" in c["config"] and "pad" in c["config"] for c in convs)
    filters = convs[0]["weights"][0]
    assert filters["layout"] == "HWIO" and len(filters["shape"]) >= 2
    pools = [layer for layer in summary["source"]["layers"] if layer["type"] == "pool"]
    assert not pools or "method" in pools[0]["config"]


def test_an_onnx_file_is_its_own_source(cli: Callable[..., CliResult]) -> None:
    summary = _info_json(cli, shared_model("onnx_cntk_mnist_ir3.onnx"))
    assert summary["source"] is None


def test_caffe_info_json_carries_convolution_param_and_blobs(cli: Callable[..., CliResult]) -> None:
    folder = shared_model("caffe/lenet_v1/lenet.prototxt").parent
    summary = _info_json(cli, folder / "lenet.prototxt", "--weights", folder / "lenet_iter_10000.caffemodel")
    conv = _layer(summary, "conv1")
    assert conv["type"] == "Convolution" and conv["config"]["convolution_param"]["num_output"] == 20
    assert "num_output=20" in conv["summary"]
    filters, bias = conv["weights"]
    # as stored: a V1 blob is 4-D (num, channels, height, width), its bias too
    assert filters["shape"] == [20, 1, 5, 5] and bias["shape"] == [1, 1, 1, 20]
    assert filters["value"] is not None


def test_a_lambda_output_shape_stated_in_its_config_is_used(tmp_path: Path) -> None:
    import shutil

    import h5py

    path = tmp_path / "lambda.h5"
    shutil.copy(shared_model(LAMBDA), path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layers = config["config"]["layers"] if isinstance(config["config"], dict) else config["config"]
        lambda_1 = next(layer for layer in layers if layer["config"]["name"] == "lambda_1")
        lambda_1["config"]["output_shape"] = [64]
        f.attrs["model_config"] = json.dumps(config).encode()
    graph = netinspect.load(path)
    assert graph.values["lambda_1"].shape == ("N", 64)
    assert graph.values["lambda_2"].shape is None  # states none: unknown


def test_an_onnx_op_of_an_unknown_domain_is_shown(cli: Callable[..., CliResult], tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    node = helper.make_node("Foo", ["x"], ["y"], domain="com.example", alpha=1.5)
    graph = helper.make_graph(
        [node, helper.make_node("Relu", ["y"], ["z"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3])],
    )
    path = tmp_path / "foo.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    _shown(cli, path, tmp_path, "Foo")
