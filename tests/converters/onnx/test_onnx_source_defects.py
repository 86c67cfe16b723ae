"""Sources that are not quite right: external data that is missing (info and view still work and
mark it; convert and check refuse naming the file), and files that already fail onnx.checker
(repaired when the missing field can be inferred, else named as the source's fault)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import netinspect
from netinspect.analysis.summary import info_schema
from tests.converters.onnx.test_onnx_zoo import run_model


@pytest.fixture
def without_its_data(tmp_path: Path) -> Path:
    """A model saved with external data (as PyTorch does past 2 GB) whose data file was not copied."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "conv.weight")]
    weights.append(numpy_helper.from_array(np.arange(5, dtype=np.int64), "small"))
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["y"], name="conv", pads=[1, 1, 1, 1])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 8, 8])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "model.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    (tmp_path / "model.onnx.data").unlink()
    return path


def test_info_shows_the_graph_and_marks_the_missing_tensors(without_its_data: Path, cli) -> None:
    result = cli("info", without_its_data, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    jsonschema.validate(summary, info_schema(), cls=jsonschema.Draft202012Validator)
    assert summary["nodes"]["count"] == 1 and summary["parameters"]["count"] == 8 * 27 + 5
    assert summary["parameters"]["missing_data"] == {
        "tensors": 2,
        "bytes": 8 * 27 * 4 + 5 * 8,
        "files": {"model.onnx.data": 2},
        "names": ["conv.weight", "small"],
    }
    table = cli("info", without_its_data)
    assert table.code == 0 and "Missing data" in table.out and "model.onnx.data" in table.out
    graph = netinspect.load(without_its_data)
    assert graph.tensors["conv.weight"].missing == "model.onnx.data"


@pytest.mark.parametrize("suffix", [".svg", ".html"])
def test_view_draws_it(without_its_data: Path, cli, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"model{suffix}"
    result = cli("view", without_its_data, "-o", out)
    assert result.code == 0, result.err
    text = out.read_text()
    assert "conv" in text
    if suffix == ".html":  # the page's weight statistics say why they are absent
        assert "external data file 'model.onnx.data' is missing" in text


@pytest.mark.parametrize("command", ["convert", "check"])
def test_convert_and_check_refuse_naming_the_file(
    without_its_data: Path, cli, tmp_path: Path, command: str
) -> None:
    args = ["-o", tmp_path / "out.onnx"] if command == "convert" else []
    result = cli(command, without_its_data, *args)
    assert result.code == 2
    assert "model.onnx.data" in result.err and "missing" in result.err
    assert "Traceback" not in result.err and not (tmp_path / "out.onnx").exists()


def relu_neg(tmp_path: Path, name: str, edit) -> Path:
    nodes = [
        helper.make_node("Relu", ["x"], ["h"], name="relu"),
        helper.make_node("Neg", ["h"], ["y"], name="neg"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    edit(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def test_an_output_without_a_type_is_repaired_and_noted(tmp_path: Path, cli) -> None:
    source = relu_neg(tmp_path, "untyped", lambda m: m.graph.output[0].ClearField("type"))
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(str(source), full_check=True)
    out = tmp_path / "fixed.onnx"
    result = cli("convert", source, "-o", out)
    assert result.code == 0, result.err
    fixed = onnx.load(str(out))
    onnx.checker.check_model(fixed, full_check=True)
    assert fixed.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    notes = json.loads({p.key: p.value for p in fixed.metadata_props}["netinspect.notes"])
    assert notes == ["repaired: 'y' was declared without a type; inferred tensor(float32)"]
    assert netinspect.load(out).metadata.notes == notes
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(run_model(out, {"x": x})[0], -np.maximum(x, 0))


def test_a_domain_without_an_opset_import_is_repaired_and_noted(tmp_path: Path, cli) -> None:
    def ml_without_import(model: onnx.ModelProto) -> None:
        model.graph.node[1].CopyFrom(
            helper.make_node("Normalizer", ["h"], ["y"], name="norm", domain="ai.onnx.ml", norm="MAX")
        )

    source = relu_neg(tmp_path, "no_ml_import", ml_without_import)
    out = tmp_path / "fixed.onnx"
    assert cli("convert", source, "-o", out).code == 0
    fixed = onnx.load(str(out))
    onnx.checker.check_model(fixed, full_check=True)
    assert {o.domain: o.version for o in fixed.opset_import} == {"": 17, "ai.onnx.ml": 1}
    notes = netinspect.load(out).metadata.notes
    assert len(notes) == 1 and notes[0].startswith(
        "repaired: domain 'ai.onnx.ml' was used without an opset import"
    )
    x = np.array([[1, 2, 4], [4, 2, 1]], np.float32)
    np.testing.assert_allclose(run_model(out, {"x": x})[0], x / 4)


def test_a_defect_that_cannot_be_inferred_is_named_as_the_source(tmp_path: Path, cli) -> None:
    def unconverted_tf_op(model: onnx.ModelProto) -> None:
        model.graph.node[1].op_type = "TFL_Neg"

    source = relu_neg(tmp_path, "tf_op", unconverted_tf_op)
    info = cli("info", source, "--json")
    assert info.code == 0, info.err
    notes = json.loads(info.out)["metadata"]["notes"]
    assert notes == ["the source fails onnx.checker: No Op registered for TFL_Neg with domain_version of 17"]
    result = cli("convert", source, "-o", tmp_path / "out.onnx")
    assert result.code == 2
    assert result.err.startswith(
        f"netinspect: {source}: the source model fails onnx.checker: No Op registered for TFL_Neg"
    )
    assert "exported model" not in result.err
