"""Sequence, map and optional values: a scikit-learn style classifier ending in ZipMap
(seq(map(int64, tensor(float)))), SplitToSequence, Optional with a type attribute. info, view,
convert and onnxruntime all see the same types."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import netinspect
from netinspect.analysis.summary import info_schema
from netinspect.ir import MapType, OptionalType, SequenceType, TensorType
from tests.converters.onnx.test_onnx_zoo import run_model

ZIPMAP_TYPE = helper.make_sequence_type_proto(
    helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, None))
)


def classifier() -> onnx.ModelProto:
    """The tail of every default skl2onnx classifier: probabilities, label, and ZipMap."""
    w = helper.make_tensor("coef", TensorProto.FLOAT, [4, 3], np.linspace(-1, 1, 12).tolist())
    nodes = [
        helper.make_node("MatMul", ["X", "coef"], ["scores"], name="linear"),
        helper.make_node("Softmax", ["scores"], ["probabilities"], name="softmax", axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], name="argmax", axis=1, keepdims=0),
        helper.make_node(
            "ZipMap",
            ["probabilities"],
            ["output_probability"],
            name="zipmap",
            domain="ai.onnx.ml",
            classlabels_int64s=[0, 1, 2],
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "skl_like",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 4])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_value_info("output_probability", ZIPMAP_TYPE),
        ],
        [w],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="skl2onnx", producer_version="1.17")
    onnx.checker.check_model(model, full_check=True)
    return model


def sequences_and_optionals() -> onnx.ModelProto:
    nodes = [
        helper.make_node("SplitToSequence", ["x"], ["parts"], name="split", axis=0, keepdims=0),
        helper.make_node("SequenceLength", ["parts"], ["count"], name="length"),
        helper.make_node("Optional", ["x"], ["maybe"], name="wrap"),
        helper.make_node(
            "Optional",
            [],
            ["nothing"],
            name="empty",
            type=helper.make_tensor_type_proto(TensorProto.FLOAT, []),
        ),
        helper.make_node("OptionalHasElement", ["nothing"], ["has"], name="has"),
        helper.make_node("OptionalGetElement", ["maybe"], ["y"], name="unwrap"),
    ]
    graph = helper.make_graph(
        nodes,
        "seq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 2])],
        [
            helper.make_value_info(
                "parts",
                helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, [2])),
            ),
            helper.make_tensor_value_info("count", TensorProto.INT64, []),
            helper.make_tensor_value_info("has", TensorProto.BOOL, []),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture
def zipmap(tmp_path: Path) -> Path:
    path = tmp_path / "clf.onnx"
    onnx.save(classifier(), str(path))
    return path


def test_the_ir_represents_zipmap_output(zipmap: Path) -> None:
    graph = netinspect.load(zipmap)
    out = graph.outputs[1]
    assert out.type == SequenceType(MapType("int64", TensorType("float32")))
    assert out.dtype == "seq(map(int64,tensor(float32)))" and out.shape is None and not out.is_tensor
    assert graph.opset == {"": 17, "ai.onnx.ml": 1}


def test_info_and_view_show_the_types(zipmap: Path, cli, tmp_path: Path) -> None:
    result = cli("info", zipmap, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    jsonschema.validate(summary, info_schema(), cls=jsonschema.Draft202012Validator)
    outputs = {o["name"]: o for o in summary["outputs"]}
    assert outputs["output_probability"] == {
        "name": "output_probability",
        "dtype": "seq(map(int64,tensor(float32)))",
        "shape": None,
    }
    assert summary["ops"]["ai.onnx.ml.ZipMap"] == 1
    text = cli("info", zipmap)
    assert text.code == 0 and "seq(map(int64,tensor(float32)))" in text.out
    svg = tmp_path / "clf.svg"
    assert cli("view", zipmap, "-o", svg).code == 0
    ET.parse(svg)


def test_convert_keeps_the_types_and_the_results(zipmap: Path, cli, tmp_path: Path) -> None:
    out = tmp_path / "converted.onnx"
    result = cli("convert", zipmap, "-o", out)
    assert result.code == 0, result.err
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.output[1].type == ZIPMAP_TYPE
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    (label_a, probs_a), (label_b, probs_b) = run_model(zipmap, {"X": x}), run_model(out, {"X": x})
    np.testing.assert_array_equal(label_a, label_b)
    assert probs_a == probs_b and len(probs_b) == 5 and set(probs_b[0]) == {0, 1, 2}


def test_sequences_optionals_and_type_attributes_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "seq.onnx"
    onnx.save(sequences_and_optionals(), str(source))
    graph = netinspect.load(source)
    assert graph.outputs[0].type == SequenceType(TensorType("float32", (2,)))
    assert graph.values["maybe"].type == OptionalType(TensorType("float32", (3, 2)))
    assert graph.nodes[3].attributes["type"] == TensorType("float32", ())
    listed = netinspect.summarize(graph, nodes=True)["nodes"]["list"]
    assert listed[3]["attributes"] == {"type": "tensor(float32)"}
    out = tmp_path / "seq2.onnx"
    netinspect.save_onnx(graph, out)
    before, after = onnx.load(str(source)), onnx.load(str(out))
    onnx.checker.check_model(after, full_check=True)
    assert [o.type for o in after.graph.output] == [o.type for o in before.graph.output]
    assert after.graph.node[3].attribute[0] == before.graph.node[3].attribute[0]
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    expected, actual = run_model(source, {"x": x}), run_model(out, {"x": x})
    assert [p.tolist() for p in actual[0]] == [p.tolist() for p in expected[0]] == [[0, 1], [2, 3], [4, 5]]
    for a, e in zip(actual[1:], expected[1:], strict=True):
        np.testing.assert_array_equal(a, e)


def test_opset_conversion_of_a_model_with_a_zipmap(zipmap: Path, tmp_path: Path) -> None:
    out = tmp_path / "clf13.onnx"
    netinspect.save_onnx(netinspect.load(zipmap), out, opset=13)
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain: o.version for o in model.opset_import} == {"": 13, "ai.onnx.ml": 1}
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    assert run_model(out, {"X": x})[1] == run_model(zipmap, {"X": x})[1]
