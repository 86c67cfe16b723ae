"""The Python API offers what the CLI does: `netinspect.check` returns what `check --json` writes,
and `netinspect.testing.assert_parity` fails a test naming the first diverging layer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

import netinspect
from netinspect.errors import NetinspectError
from netinspect.testing import assert_parity
from tests.check.check_models import BROKEN, classifier, save

SCHEMA = json.loads((Path(netinspect.__file__).parent / "schemas" / "check.schema.json").read_text())


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A correct classifier and a copy whose conv2 kernel is transposed in H and W."""
    folder = tmp_path_factory.mktemp("api")
    edit, _ = BROKEN["kernel_transposed_hw"]
    return save(classifier(), folder / "model.onnx"), save(classifier(edit), folder / "broken.onnx")


def test_check_returns_the_report_check_json_writes(pair: tuple[Path, Path], cli: Callable, tmp_path) -> None:
    source, broken = pair
    report = netinspect.check(source, broken, seed=3)
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    assert report["passed"] is False
    assert report["models"][0]["layers"]["first_divergence"]["layer"] == "conv2"
    written = tmp_path / "report.json"
    assert cli("check", source, broken, "--seed", "3", "--json", written).code == 1
    from_cli = json.loads(written.read_text())
    for document in (report, from_cli):
        for model in document["models"]:
            model.pop("timings")
    assert report == from_cli
    assert netinspect.check(source)["passed"] is True


def test_check_of_an_unreadable_file_raises(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00garbage" * 8)
    with pytest.raises(NetinspectError, match="unknown model format"):
        netinspect.check(junk)


def test_assert_parity_passes_and_fails_naming_the_first_diverging_layer(pair: tuple[Path, Path]) -> None:
    source, broken = pair
    assert_parity(source)
    assert_parity(source, source, rtol=1e-5, atol=1e-6)
    with pytest.raises(AssertionError) as failure:
        assert_parity(source, broken)
    message = str(failure.value)
    assert f"does not match {broken}" in message
    assert "first diverging layer: conv2" in message and "last matching layer" in message
