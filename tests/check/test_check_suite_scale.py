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


def test_command_line_seed_runs_and_dims_apply_to_every_suite_model(tmp_path: Path) -> None:
    """`check --suite S --seed 3 --runs 2 --dim N=2`: the command line beats the file for every
    model (it used to be ignored), and --dim sizes merge with the file's own."""
    from netinspect.check import suite as suite_module

    seen: list[dict] = []
    path = tmp_path / "s.toml"
    path.write_text(
        "[defaults]\nseed = 1\nruns = 5\ndims = { N = 4, seq = 8 }\n\n"
        '[[models]]\nsource = "a.onnx"\n\n[[models]]\nsource = "b.onnx"\ndims = { seq = 16 }\n'
    )
    real = suite_module.check_entry
    suite_module.check_entry = lambda entry: (seen.append(entry), real(entry))[1]  # type: ignore[assignment]
    try:
        results = suite_module.run_suite(path, seed=3, runs=2, dims={"N": 2}, rtol=None)
    finally:
        suite_module.check_entry = real  # type: ignore[assignment]
    assert [r.status for r in results] == ["error", "error"]  # the files do not exist: each its own error
    assert [(e["seed"], e["runs"], e["dims"]) for e in seen] == [
        (3, 2, {"N": 2, "seq": 8}),
        (3, 2, {"N": 2, "seq": 16}),
    ]


def test_the_check_command_hands_its_options_to_the_suite(cli: Callable, suite: Path, tmp_path: Path) -> None:
    """End to end: --runs 1 on the command line beats the suite's `runs = 2`."""
    _, report, _ = run(cli, suite, tmp_path, "once", "--runs", "1", "--seed", "7")
    _, default, _ = run(cli, suite, tmp_path, "twice")
    checked = [m for m in report["models"] if m["status"] != "error"]
    assert {(m["inputs"]["seed"], m["inputs"]["runs"]) for m in checked} == {(7, 1)}
    assert {m["inputs"]["runs"] for m in default["models"] if m["status"] != "error"} == {2}
