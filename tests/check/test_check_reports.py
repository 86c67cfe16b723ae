"""`netinspect check` as CI runs it: exit codes, JSON against its schema, JUnit, suites."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from junitparser import Error, Failure, JUnitXml

from netinspect import registry
from tests.check.check_models import BROKEN, classifier, save

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "netinspect" / "schemas" / "check.schema.json").read_text()
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    made = {"correct": save(classifier(), folder / "classifier.onnx")}
    for bug, (edit, _layer) in BROKEN.items():
        made[bug] = save(classifier(edit), folder / f"{bug}.onnx")
    return made


def validate(report: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(report)


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_passing_check_exits_0_and_writes_valid_reports(
    cli: Callable, models: dict[str, Path], tmp_path: Path
) -> None:
    result = cli("check", models["correct"], "--json", tmp_path / "r.json", "--junit", tmp_path / "r.xml")
    assert result.code == 0, result.err
    assert "PASS" in result.out and "prob" in result.out
    report = json.loads((tmp_path / "r.json").read_text())
    validate(report)
    assert report["passed"] is True and report["summary"] == {
        "models": 1,
        "passed": 1,
        "failed": 0,
        "errors": 0,
    }
    model = report["models"][0]
    assert model["target"]["converted_in_memory"] is True and model["target"]["path"] is None
    assert model["outputs"][0]["max_abs_error"] == 0.0 and model["layers"] is None
    xml = JUnitXml.fromfile(str(tmp_path / "r.xml"))
    assert (xml.tests, xml.failures, xml.errors) == (1, 0, 0)


def test_mismatch_exits_1_and_reports_carry_the_figures(
    cli: Callable, models: dict[str, Path], tmp_path: Path
) -> None:
    result = cli(
        "check",
        models["correct"],
        models["kernel_transposed_hw"],
        "--runs",
        "2",
        "--json",
        tmp_path / "r.json",
        "--junit",
        tmp_path / "r.xml",
    )
    assert result.code == 1, result.err
    assert "first diverging layer: conv2" in result.out
    report = json.loads((tmp_path / "r.json").read_text())
    validate(report)
    model = report["models"][0]
    assert model["status"] == "failed" and model["inputs"]["runs"] == 2
    output = model["outputs"][0]
    assert output["failed_runs"] == [0, 1] and output["max_abs_error"] > 0.01
    assert output["top1_agreement"] is not None
    divergence = model["layers"]["first_divergence"]
    assert divergence["layer"] == "conv2" and divergence["last_matching_layer"] == "pool1"
    assert divergence["max_abs_error"] > 1.0

    xml = JUnitXml.fromfile(str(tmp_path / "r.xml"))
    assert (xml.tests, xml.failures, xml.errors) == (1, 1, 0)
    suite = next(iter(xml))
    case = next(iter(suite))
    assert case.name == "prob" and case.classname == "netinspect.check.classifier"
    failure = case.result[0]
    assert isinstance(failure, Failure)
    assert "max abs" in failure.message and "cosine" in failure.message
    assert "first diverging layer: conv2" in failure.text


def test_layers_always_compares_every_layer_of_a_passing_model(
    cli: Callable, models: dict[str, Path], tmp_path: Path
) -> None:
    result = cli(
        "check", models["correct"], models["correct"], "--layers", "always", "--json", tmp_path / "r.json"
    )
    assert result.code == 0, result.err
    layers = json.loads((tmp_path / "r.json").read_text())["models"][0]["layers"]
    assert layers["exhaustive"] and layers["first_divergence"] is None
    assert [entry["layer"] for entry in layers["compared"]][:3] == ["conv1", "relu1", "norm1"]
    assert all(entry["passed"] for entry in layers["compared"])


def test_given_inputs_are_used(cli: Callable, models: dict[str, Path], tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.full((2, 3, 16, 16), 0.5, np.float32))
    result = cli(
        "check", models["correct"], "--input", f"data={tmp_path / 'x.npy'}", "--json", tmp_path / "r.json"
    )
    assert result.code == 0, result.err
    inputs = json.loads((tmp_path / "r.json").read_text())["models"][0]["inputs"]
    assert inputs["kind"] == "files" and inputs["shapes"] == {"data": [2, 3, 16, 16]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "nope=x.npy"], "unknown input name"),
        (["--dim", "N"], "expected NAME=SIZE"),
    ],
)
def test_bad_inputs_exit_2_in_one_line(
    cli: Callable, models: dict[str, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 16, 16), np.float32))
    args = [a.replace("x.npy", str(tmp_path / "x.npy")) for a in args]
    result = cli("check", models["correct"], *args)
    assert result.code == 2
    assert message in result.err and len(result.err.strip().splitlines()) == 1


def test_bad_model_file_exits_2(cli: Callable, tmp_path: Path) -> None:
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage" * 10)
    result = cli("check", tmp_path / "junk.onnx")
    assert result.code == 2 and "junk.onnx" in result.err


def test_missing_runtime_exits_2_with_the_install_hint(
    cli: Callable, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    absent = registry.Runtime("absent", "netinspect_absent_runtime", "Runner", "netinspect[absent]")
    swapped = [replace(r, runtime=absent) if r.name == "onnx" else r for r in registry.readers()]
    monkeypatch.setattr(registry, "_readers", swapped)
    result = cli("check", models["correct"])
    assert result.code == 2
    assert "pip install 'netinspect[absent]'" in result.err


def test_report_refuses_to_overwrite_the_model(cli: Callable, models: dict[str, Path]) -> None:
    result = cli("check", models["correct"], "--json", models["correct"])
    assert result.code == 2 and "overwrite" in result.err


# ------------------------------------------------------------------------------------------ suite


def write_suite(folder: Path, models: dict[str, Path], extra: str = "") -> Path:
    suite = folder / "models.toml"
    entries = [
        ("good_in_memory", models["correct"], None),
        ("good_file", models["correct"], models["correct"]),
        ("flipped", models["correct"], models["kernel_flipped"]),
        ("lrn", models["correct"], models["lrn_alpha_wrong"]),
    ]
    lines = ["[defaults]", "seed = 3", "runs = 2", ""]
    for name, source, target in entries:
        lines += ["[[models]]", f'name = "{name}"', f'source = "{source}"']
        if target is not None:
            lines.append(f'target = "{target}"')
        lines.append("")
    suite.write_text("\n".join(lines) + extra)
    return suite


def test_suite_with_passing_and_failing_models_exits_1_with_the_right_counts(
    cli: Callable, models: dict[str, Path], tmp_path: Path
) -> None:
    suite = write_suite(tmp_path, models)
    result = cli("check", "--suite", suite, "--junit", tmp_path / "ci.xml", "--json", tmp_path / "ci.json")
    assert result.code == 1, result.err
    assert "4 model(s): 2 passed, 2 failed, 0 error(s)" in result.out

    xml = JUnitXml.fromfile(str(tmp_path / "ci.xml"))
    assert (xml.tests, xml.failures, xml.errors) == (4, 2, 0)
    by_suite = {s.name: s for s in xml}
    assert set(by_suite) == {"good_in_memory", "good_file", "flipped", "lrn"}
    assert by_suite["flipped"].failures == 1 and by_suite["good_file"].failures == 0
    failure = next(iter(by_suite["lrn"])).result[0]
    assert "first diverging layer: norm1" in failure.text

    report = json.loads((tmp_path / "ci.json").read_text())
    validate(report)
    assert report["summary"] == {"models": 4, "passed": 2, "failed": 2, "errors": 0}
    assert all(m["inputs"]["seed"] == 3 and m["inputs"]["runs"] == 2 for m in report["models"])


def test_suite_entry_that_cannot_be_checked_is_an_error_and_the_rest_still_run(
    cli: Callable, models: dict[str, Path], tmp_path: Path
) -> None:
    extra = f'\n[[models]]\nname = "missing"\nsource = "{tmp_path / "absent.onnx"}"\n'
    suite = write_suite(tmp_path, models, extra)
    result = cli("check", "--suite", suite, "--junit", tmp_path / "ci.xml", "--json", tmp_path / "ci.json")
    assert result.code == 2
    xml = JUnitXml.fromfile(str(tmp_path / "ci.xml"))
    assert (xml.tests, xml.failures, xml.errors) == (5, 2, 1)
    missing = next(s for s in xml if s.name == "missing")
    assert isinstance(next(iter(missing)).result[0], Error)
    report = json.loads((tmp_path / "ci.json").read_text())
    validate(report)
    assert report["summary"] == {"models": 5, "passed": 2, "failed": 2, "errors": 1}


def test_suite_paths_are_relative_to_the_suite_file(
    cli: Callable, models: dict[str, Path], tmp_path: Path
) -> None:
    folder = models["correct"].parent
    suite = folder / "relative.toml"
    suite.write_text(
        '[[models]]\nsource = "classifier.onnx"\ntarget = "pad_off_by_one.onnx"\natol = 1.0\nrtol = 1.0\n'
    )
    result = cli("check", "--suite", suite)
    assert result.code == 0, result.out + result.err  # tolerances from the file: everything within 1.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[models]]\nsorce = 'a.onnx'\n", "unknown key 'sorce'"),
        ("[[models]]\nsource = 3\n", "source has the wrong type"),
        ("[defaults]\nrtol = 1e-3\n", "no [[models]] entries"),
        ("[[models]\n", "not valid TOML"),
    ],
)
def test_bad_suite_files_exit_2(cli: Callable, tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.toml").write_text(text)
    result = cli("check", "--suite", tmp_path / "bad.toml")
    assert result.code == 2
    assert message in result.err and "bad.toml" in result.err


def test_image_is_fed_through_the_recorded_preprocessing(cli: Callable, tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image")
    mat = Path(__file__).resolve().parents[2] / "fixtures" / "matconvnet" / "simplenn_beta17.mat"
    if not mat.is_file():
        pytest.skip(f"{mat} is absent")
    pixels = np.random.default_rng(0).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    image_module.fromarray(pixels).save(tmp_path / "photo.png")
    result = cli("check", mat, "--image", tmp_path / "photo.png", "--json", tmp_path / "r.json")
    assert result.code == 0, result.out + result.err
    inputs = json.loads((tmp_path / "r.json").read_text())["models"][0]["inputs"]
    assert inputs["kind"] == "image" and inputs["shapes"] == {"data": [1, 3, 33, 31]}


def test_target_with_other_input_shape_exits_2(
    cli: Callable, models: dict[str, Path], tmp_path: Path
) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["data"], ["prob"])],
        "other",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    other = save(helper.make_model(graph), tmp_path / "other.onnx")
    result = cli("check", models["correct"], other)
    assert result.code == 2
    assert "input 'data' has shape (N, 3, 16, 16) in the source and (1, 3, 8, 8) in the target" in result.err
