"""Suites that scale: `--shard I/N` splits a suite deterministically between CI jobs (each writing its
own JUnit), `--jobs N` checks models in N processes; either way the results are the suite's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from junitparser import JUnitXml

from netinspect.check.suite import Shard, SuiteError
from tests.check.check_models import BROKEN, classifier, save
from tests.check.test_check_reports import validate

MODELS = ("correct", "kernel_flipped", "lrn_alpha_wrong", "pad_off_by_one")


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five models: one passes, three fail, one (a file that does not exist) cannot be checked."""
    folder = tmp_path_factory.mktemp("scale")
    correct = save(classifier(), folder / "classifier.onnx")
    lines = ["[defaults]", "runs = 2", "layers = 'never'", ""]
    for name in MODELS:
        target = correct if name == "correct" else save(classifier(BROKEN[name][0]), folder / f"{name}.onnx")
        lines += ["[[models]]", f'name = "{name}"', f'source = "{correct}"', f'target = "{target}"', ""]
    lines += ["[[models]]", 'name = "missing"', f'source = "{folder / "absent.onnx"}"', ""]
    path = folder / "suite.toml"
    path.write_text("\n".join(lines))
    return path


def outcome(report: dict) -> dict[str, tuple]:
    """Per model: status, and per output the figures that decide it."""
    return {
        m["name"]: (
            m["status"],
            m["error"],
            [(o["name"], o["passed"], o["max_abs_error"], o["outside_count"]) for o in m["outputs"]],
        )
        for m in report["models"]
    }


def run(cli: Callable, suite: Path, folder: Path, tag: str, *args: str) -> tuple[int, dict, JUnitXml]:
    result = cli(
        "check", "--suite", suite, "--json", folder / f"{tag}.json", "--junit", folder / f"{tag}.xml", *args
    )
    report = json.loads((folder / f"{tag}.json").read_text())
    validate(report)
    return result.code, report, JUnitXml.fromfile(str(folder / f"{tag}.xml"))


def test_two_shards_together_give_the_whole_suites_results(
    cli: Callable, suite: Path, tmp_path: Path
) -> None:
    code, whole, whole_xml = run(cli, suite, tmp_path, "whole")
    first_code, first, first_xml = run(cli, suite, tmp_path, "first", "--shard", "1/2")
    second_code, second, second_xml = run(cli, suite, tmp_path, "second", "--shard", "2/2")

    assert (code, first_code, second_code) == (2, 2, 1)  # the unreadable model is the 5th: shard 1
    assert set(outcome(first)).isdisjoint(outcome(second))
    assert {**outcome(first), **outcome(second)} == outcome(whole)
    assert [m["name"] for m in first["models"]] == ["correct", "lrn_alpha_wrong", "missing"]
    assert [m["name"] for m in second["models"]] == ["kernel_flipped", "pad_off_by_one"]
    shards = [first_xml, second_xml]
    assert sum(x.tests for x in shards) == whole_xml.tests == 5
    assert sum(x.failures for x in shards) == whole_xml.failures == 3
    assert sum(x.errors for x in shards) == whole_xml.errors == 1
    assert {s.name for x in shards for s in x} == {s.name for s in whole_xml}


def test_jobs_give_the_same_results_in_suite_order(cli: Callable, suite: Path, tmp_path: Path) -> None:
    _code, sequential, _xml = run(cli, suite, tmp_path, "one")
    code, parallel, xml = run(cli, suite, tmp_path, "two", "--jobs", "2")

    assert code == 2
    assert [m["name"] for m in parallel["models"]] == [m["name"] for m in sequential["models"]]
    assert outcome(parallel) == outcome(sequential)
    assert parallel["models"][0]["inputs"]["shapes"] == {"data": [1, 3, 16, 16]}
    assert (xml.tests, xml.failures, xml.errors) == (5, 3, 1)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shards_are_refused(text: str) -> None:
    with pytest.raises(SuiteError, match="--shard"):
        Shard.parse(text)


def test_jobs_and_shard_need_a_suite(cli: Callable, tmp_path: Path) -> None:
    model = save(classifier(), tmp_path / "m.onnx")
    result = cli("check", model, "--jobs", "2")
    assert result.code == 2 and "--suite" in result.err
