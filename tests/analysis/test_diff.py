"""`netinspect diff A B`: nodes added, removed, changed; weights by name or position."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest

import netinspect
from netinspect.analysis.diff import diff_files
from tests.check.check_models import classifier, flip_kernel, lrn_alpha_not_scaled, pad_off_by_one, save

MATCONVNET = Path(__file__).resolve().parents[2] / "fixtures" / "matconvnet"


@pytest.fixture
def correct(tmp_path: Path) -> Path:
    return save(classifier(), tmp_path / "a.onnx")


def test_a_model_is_identical_to_itself(correct: Path) -> None:
    result = diff_files(correct, correct)
    assert result.identical
    assert result.unchanged == 10 and not result.changed
    assert all(w.max_abs_diff == 0.0 and w.matched_by == "name" for w in result.weights)


def test_changed_attributes_are_named(correct: Path, tmp_path: Path) -> None:
    def both(weights: dict, attrs: dict) -> None:
        lrn_alpha_not_scaled(weights, attrs)
        pad_off_by_one(weights, attrs)

    result = diff_files(correct, save(classifier(both), tmp_path / "b.onnx"))
    changes = {c.a: c.changes for c in result.changed}
    assert changes == {
        "norm1": ["attribute alpha: 0.0001 → 2e-05"],
        "pool1": ["attribute pads: [0, 0, 1, 1] → [1, 1, 0, 0]"],
    }
    assert not result.identical


def test_weight_difference_is_measured(correct: Path, tmp_path: Path) -> None:
    result = diff_files(correct, save(classifier(flip_kernel), tmp_path / "b.onnx"))
    by_name = {w.a: w for w in result.weights}
    kernel = classifier().graph.initializer[0]
    array = onnx.numpy_helper.to_array(kernel)
    assert by_name["conv1_w"].max_abs_diff == pytest.approx(
        float(np.abs(array - array[:, :, ::-1, ::-1]).max())
    )
    assert by_name["conv2_w"].max_abs_diff == 0.0
    assert not result.changed  # same ops and attributes: only a weight differs


def test_added_removed_and_renamed_nodes(correct: Path, tmp_path: Path) -> None:
    model = classifier()
    nodes = list(model.graph.node)
    relu2 = next(n for n in nodes if n.name == "relu2")
    drop2 = next(n for n in nodes if n.name == "drop2")
    drop2.input[0] = "conv2"  # relu2 removed
    conv1 = next(n for n in nodes if n.name == "conv1")
    conv1.name = "features.0"  # renamed: matched by position in the op sequence
    sigmoid = onnx.helper.make_node("Sigmoid", ["prob"], ["prob_sigmoid"], name="extra")
    del model.graph.node[:]
    model.graph.node.extend([n for n in nodes if n is not relu2] + [sigmoid])
    model.graph.output[0].name = "prob_sigmoid"
    edited = save(model, tmp_path / "b.onnx")

    result = diff_files(correct, edited)

    assert result.removed == [("relu2", "Relu")]
    assert result.added == [("extra", "Sigmoid")]
    assert [(c.a, c.b) for c in result.changed if c.a != c.b] == []
    assert any("outputs: prob → prob_sigmoid" in line for line in result.interface)
    assert {w.a: w.matched_by for w in result.weights}["conv1_w"] == "name"


def test_matconvnet_and_its_onnx_conversion_have_the_same_weights(tmp_path: Path) -> None:
    mat = MATCONVNET / "simplenn_pre_beta11.mat"
    if not mat.is_file():
        pytest.skip(f"{mat} is absent")
    converted = tmp_path / "converted.onnx"
    netinspect.save_onnx(netinspect.load(mat), converted)
    result = diff_files(mat, converted)
    assert not result.added and not result.removed
    assert result.weights and all(w.max_abs_diff == 0.0 for w in result.weights)


def test_diff_command_prints_and_exits(cli: Callable, correct: Path, tmp_path: Path) -> None:
    changed = save(classifier(lrn_alpha_not_scaled), tmp_path / "b.onnx")
    shown = cli("diff", correct, changed)
    assert shown.code == 0 and "norm1 (LRN): attribute alpha: 0.0001 → 2e-05" in shown.out
    assert cli("diff", correct, changed, "--exit-code").code == 1
    assert cli("diff", correct, correct, "--exit-code").code == 0
    as_json = cli("diff", correct, changed, "--json")
    document = json.loads(as_json.out)
    assert document["nodes"]["changed"][0]["a"] == "norm1" and document["identical"] is False
    assert cli("diff", correct, tmp_path / "missing.onnx").code == 2


def test_model_level_differences_are_reported(correct: Path, tmp_path: Path, cli: Callable) -> None:
    """Two files that differ only outside the nodes' ops and weights are never "identical"."""
    model = classifier()
    model.ir_version = 8
    model.producer_name, model.producer_version = "pytorch", "2.9.0"
    model.doc_string = "retrained"
    onnx.helper.set_model_props(model, {"author": "someone"})
    model.opset_import.append(onnx.helper.make_opsetid("ai.onnx.ml", 3))
    conv1 = next(n for n in model.graph.node if n.name == "conv1")
    conv1.doc_string = "features.0"
    conv1.metadata_props.add(key="pkg.torch.onnx.stack_trace", value="model.py:12")
    edited = save(model, tmp_path / "b.onnx")

    result = diff_files(correct, edited)

    original = onnx.load(str(correct))
    assert not result.identical
    assert result.model == [
        f"IR version: {original.ir_version} → 8",
        "producer: 'netinspect-tests' → 'pytorch 2.9.0'",
        "source producer: 'netinspect-tests' → 'pytorch 2.9.0'",
        "model doc: '' → 'retrained'",
        "opset ai.onnx.ml added (3)",
        "metadata author added ('someone')",
    ]
    changes = {c.a: c.changes for c in result.changed}
    assert changes == {
        "conv1": ["doc: '' → 'features.0'", "metadata pkg.torch.onnx.stack_trace added ('model.py:12')"]
    }
    document = json.loads(cli("diff", correct, edited, "--json").out)
    assert document["identical"] is False and document["model"] == result.model
    shown = cli("diff", correct, edited, "--exit-code")
    assert shown.code == 1 and "IR version" in shown.out and "models are identical" not in shown.out


def test_a_round_trip_differs_from_its_source_only_in_who_wrote_it(correct: Path, tmp_path: Path) -> None:
    converted = tmp_path / "converted.onnx"
    netinspect.save_onnx(netinspect.load(correct), converted)
    result = diff_files(correct, converted)
    assert not result.changed and not result.added and not result.removed and not result.interface
    assert all(w.max_abs_diff == 0.0 for w in result.weights)
    assert [line.split(":")[0] for line in result.model] == ["producer"]


def test_a_matconvnet_file_and_its_conversion_differ_only_in_their_writer(tmp_path: Path) -> None:
    mat = MATCONVNET / "simplenn_beta17.mat"
    converted = tmp_path / "converted.onnx"
    netinspect.save_onnx(netinspect.load(mat), converted)
    result = diff_files(mat, converted)
    assert result.model == [f"producer: 'MatConvNet' → 'netinspect {netinspect.__version__}'"]
    assert not (result.changed or result.added or result.removed or result.interface)


def test_json_holds_no_nan(correct: Path, tmp_path: Path, cli: Callable) -> None:
    """A weight that became NaN: its difference is not a number, written as null (strict JSON)."""

    def nan_weight(weights: dict, attrs: dict) -> None:
        weights["conv2_w"] = np.full_like(weights["conv2_w"], np.nan)

    changed = save(classifier(nan_weight), tmp_path / "nan.onnx")
    text = cli("diff", correct, changed, "--json").out
    document = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))
    by_name = {w["a"]: w for w in document["weights"]}
    assert by_name["conv2_w"]["max_abs_diff"] is None and by_name["conv1_w"]["max_abs_diff"] == 0.0
