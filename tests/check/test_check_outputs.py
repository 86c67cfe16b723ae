"""Every kind of output `check` meets in real files is compared: scalars, empty tensors, bool, int and
string tensors (exactly), sequences and maps (element by element)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from netinspect.check.api import check
from netinspect.check.compare import compare_values, tolerance_for
from tests.check.check_models import save

OUTPUT_KINDS = {
    "total": "float32",  # rank 0
    "nothing": "float32",  # empty
    "positive": "bool",
    "best": "int64",
    "label": "object",  # string
    "pieces": "sequence(float32)",
}


def every_kind(offset: int = 0, label: str = "yes", pieces: int = 2) -> onnx.ModelProto:
    """x (2, 3) → a scalar sum, an empty slice, a bool mask, int64 argmax (+ offset), a string label
    chosen by the mask, and a sequence of `pieces` copies of x."""
    nodes = [
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        helper.make_node("Slice", ["x", "zero1", "zero1", "one1"], ["nothing"]),
        helper.make_node("Greater", ["x", "half"], ["positive"]),
        helper.make_node("ArgMax", ["x"], ["argmax"], axis=1, keepdims=0),
        helper.make_node("Add", ["argmax", "offset"], ["best"]),
        helper.make_node("Where", ["positive", "yes", "no"], ["label"]),
        helper.make_node("SequenceConstruct", ["x"] * pieces, ["pieces"]),
    ]
    initializers = [
        numpy_helper.from_array(np.array(0.5, np.float32), "half"),
        numpy_helper.from_array(np.array([0], np.int64), "zero1"),
        numpy_helper.from_array(np.array([1], np.int64), "one1"),
        numpy_helper.from_array(np.array(offset, np.int64), "offset"),
        helper.make_tensor("yes", TensorProto.STRING, [], [label.encode()]),
        helper.make_tensor("no", TensorProto.STRING, [], [b"no"]),
    ]
    graph = helper.make_graph(
        nodes,
        "every_kind",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [
            helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
            helper.make_tensor_value_info("nothing", TensorProto.FLOAT, [2, 0]),
            helper.make_tensor_value_info("positive", TensorProto.BOOL, [2, 3]),
            helper.make_tensor_value_info("best", TensorProto.INT64, [2]),
            helper.make_tensor_value_info("label", TensorProto.STRING, [2, 3]),
            helper.make_tensor_sequence_value_info("pieces", TensorProto.FLOAT, [2, 3]),
        ],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(every_kind(), tmp_path_factory.mktemp("kinds") / "kinds.onnx")


def test_every_output_kind_is_compared_and_passes(reference: Path) -> None:
    result = check(reference, runs=2, layers="always")

    assert result.error is None and result.passed
    assert result.layers is not None and len(result.layers.checks) == 7  # sequences among the layers too
    assert all(c.comparison.passed for c in result.layers.checks)
    by_name = {o.name: o for o in result.outputs}
    assert {name: by_name[name].worst.dtype for name in OUTPUT_KINDS} == OUTPUT_KINDS
    assert by_name["total"].worst.source_shape == () and by_name["total"].worst.size == 1
    assert by_name["nothing"].worst.size == 0
    assert by_name["pieces"].worst.size == 12  # two (2, 3) tensors
    assert all(len(o.runs) == 2 for o in result.outputs)


@pytest.mark.parametrize(
    ("variant", "output", "outside"),
    [
        ({"offset": 1}, "best", 2),  # every argmax off by one: exact comparison for int64
        ({"label": "oui"}, "label", None),  # strings compared for equality
        ({"pieces": 3}, "pieces", None),  # a sequence of another length
    ],
)
def test_non_float_outputs_must_be_equal(
    variant: dict, output: str, outside: int | None, reference: Path, tmp_path: Path
) -> None:
    target = save(every_kind(**variant), tmp_path / "target.onnx")

    result = check(reference, target, layers="never")

    by_name = {o.name: o for o in result.outputs}
    assert result.error is None and not result.passed
    assert not by_name[output].passed
    assert [o.name for o in result.outputs if not o.passed] == [output]
    if outside is not None:
        assert by_name[output].worst.outside_count == outside
    elif output == "pieces":
        assert "sequence of 3 element(s)" in (by_name[output].worst.problem or "")
    else:
        assert by_name[output].worst.outside_count > 0


def test_int64_ids_beyond_float_precision_are_compared_exactly() -> None:
    big = np.array([2**60, 5], dtype=np.int64)
    c = compare_values("ids", big, big + np.array([1, 0], np.int64), tolerance_for)
    assert not c.passed and c.outside_count == 1 and c.worst_index == (0,)


def test_maps_and_nested_sequences_are_compared_element_by_element() -> None:
    source = [{"cat": np.float32(0.75), "dog": np.float32(0.25)}]
    assert compare_values("zipmap", source, [dict(source[0])], tolerance_for).passed
    moved = compare_values(
        "zipmap", source, [{"cat": np.float32(0.25), "dog": np.float32(0.75)}], tolerance_for
    )
    assert not moved.passed and moved.max_abs_error == pytest.approx(0.5)
    renamed = compare_values("zipmap", source, [{"cat": 0.75, "cow": 0.25}], tolerance_for)
    assert not renamed.passed and "keys differ" in (renamed.problem or "")


def test_reports_of_every_output_kind_are_valid(cli, reference: Path, tmp_path: Path) -> None:
    import json

    import jsonschema

    result = cli("check", reference, "--json", tmp_path / "r.json", "--junit", tmp_path / "r.xml")
    assert result.code == 0, result.err
    schema = json.loads(
        (Path(__file__).resolve().parents[2] / "netinspect" / "schemas" / "check.schema.json").read_text()
    )
    report = json.loads((tmp_path / "r.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(report)
    shapes = {o["name"]: o["source_shape"] for o in report["models"][0]["outputs"]}
    assert shapes["total"] == [] and shapes["nothing"] == [2, 0] and shapes["pieces"] == [2]


def zipmap_classifier(intercepts: list[float]) -> onnx.ModelProto:
    """scikit-learn's default export shape: a classifier whose scores end in ZipMap (a sequence of maps)."""
    scores = helper.make_sequence_type_proto(
        helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, []))
    )
    nodes = [
        helper.make_node(
            "LinearClassifier",
            ["x"],
            ["label", "scores"],
            domain="ai.onnx.ml",
            classlabels_ints=[0, 1, 2],
            coefficients=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            intercepts=intercepts,
            post_transform="SOFTMAX",
        ),
        helper.make_node(
            "ZipMap", ["scores"], ["probabilities"], domain="ai.onnx.ml", classlabels_int64s=[0, 1, 2]
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "zipmap",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            helper.make_value_info("probabilities", scores),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def test_zipmap_outputs_are_compared_map_by_map(tmp_path: Path) -> None:
    source = save(zipmap_classifier([0.1, 0.2, 0.3]), tmp_path / "zipmap.onnx")
    shifted = save(zipmap_classifier([0.1, 0.2, 0.8]), tmp_path / "shifted.onnx")

    same = check(source, dims={"N": 4})
    other = check(source, shifted, dims={"N": 4}, layers="never")

    assert same.passed
    probabilities = {o.name: o for o in same.outputs}["probabilities"].worst
    assert probabilities.dtype == "sequence(map(float32))" and probabilities.size == 12
    assert not other.passed
    failing = {o.name: o for o in other.outputs}["probabilities"].worst
    assert failing.outside_count > 0 and failing.max_abs_error > 0.01
