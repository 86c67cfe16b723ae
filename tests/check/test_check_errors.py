"""A check that cannot be carried out still leaves its reports behind (CI uploads them either way), and
one model that breaks, even by a bug of ours, never stops a suite."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from junitparser import Error, JUnitXml
from onnx import TensorProto, helper

from netinspect.check.runtimes.onnxruntime import OnnxRuntimeRunner
from tests.check.check_models import classifier, save
from tests.check.test_check_reports import validate


@pytest.fixture(scope="module")
def correct(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save(classifier(), tmp_path_factory.mktemp("errors") / "classifier.onnx")


def other_input_shape(folder: Path) -> Path:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["data"], ["prob"])],
        "other",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    return save(helper.make_model(graph), folder / "other.onnx")


def read_reports(folder: Path) -> tuple[dict, JUnitXml]:
    report = json.loads((folder / "r.json").read_text())
    validate(report)
    return report, JUnitXml.fromfile(str(folder / "r.xml"))


@pytest.mark.parametrize("problem", ["setup", "bad_file", "bad_dim"])
def test_single_check_in_error_writes_both_reports(
    problem: str, cli: Callable, correct: Path, tmp_path: Path
) -> None:
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage" * 10)
    args = {
        "setup": [correct, other_input_shape(tmp_path)],
        "bad_file": [tmp_path / "junk.onnx"],
        "bad_dim": [correct, "--dim", "N"],
    }[problem]

    result = cli("check", *args, "--json", tmp_path / "r.json", "--junit", tmp_path / "r.xml")

    assert result.code == 2 and len(result.err.strip().splitlines()) == 1
    report, xml = read_reports(tmp_path)
    (model,) = report["models"]
    assert model["status"] == "error" and model["error"] and model["error"] in result.err
    assert report["summary"] == {"models": 1, "passed": 0, "failed": 0, "errors": 1}
    assert (xml.tests, xml.failures, xml.errors) == (1, 0, 1)
    case = next(iter(next(iter(xml))))
    assert isinstance(case.result[0], Error) and case.result[0].message == model["error"]


def test_internal_error_of_a_single_check_still_writes_the_reports(
    cli: Callable, correct: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(cls, graph, name):  # a bug of ours, not a NetinspectError
        raise TypeError("'numpy.float64' object does not support item assignment")

    monkeypatch.setattr(OnnxRuntimeRunner, "from_graph", classmethod(broken))
    result = cli("check", correct, "--json", tmp_path / "r.json", "--junit", tmp_path / "r.xml")
    assert result.code == 2 and "internal error: TypeError" in result.err
    report, _xml = read_reports(tmp_path)
    assert report["models"][0]["error"].startswith("internal error: TypeError")


def test_suite_goes_on_past_a_model_that_breaks_and_writes_its_reports(
    cli: Callable, correct: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = OnnxRuntimeRunner.from_graph.__func__

    def breaks_on_one(cls, graph, name):
        if name.startswith("boom"):
            raise TypeError("'numpy.float64' object does not support item assignment")
        return real(cls, graph, name)

    monkeypatch.setattr(OnnxRuntimeRunner, "from_graph", classmethod(breaks_on_one))
    boom = save(classifier(), tmp_path / "boom.onnx")
    suite = tmp_path / "suite.toml"
    suite.write_text(
        "".join(
            f'[[models]]\nname = "{name}"\nsource = "{correct}"\ntarget = "{target}"\n\n'
            for name, target in (("before", correct), ("broken", boom), ("after", correct))
        )
    )

    result = cli("check", "--suite", suite, "--json", tmp_path / "r.json", "--junit", tmp_path / "r.xml")

    assert result.code == 2
    assert "3 model(s): 2 passed, 0 failed, 1 error(s)" in result.out
    report, xml = read_reports(tmp_path)
    assert [(m["name"], m["status"]) for m in report["models"]] == [
        ("before", "passed"),
        ("broken", "error"),
        ("after", "passed"),
    ]
    assert report["models"][1]["error"].startswith("internal error: TypeError")
    assert (xml.tests, xml.failures, xml.errors) == (3, 0, 1)
