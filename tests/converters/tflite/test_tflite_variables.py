"""Resource variables: read-only ones are folded to the constant their CALL_ONCE initialiser assigns;
a model that assigns one keeps state across runs and is refused."""

from __future__ import annotations

from collections.abc import Callable

from netinspect.registry import load
from tests.conftest import CliResult
from tests.converters.tflite.conftest import tflite_fixture
from tests.converters.tflite.parity import run_both
from tests.converters.tflite.test_tflite_parity import assert_close


def test_read_only_variable_folds_to_its_initial_value() -> None:
    path = tflite_fixture("variable", "float32")
    graph = load(path)
    types = {n.provenance.layer_type for n in graph.nodes if n.provenance}
    assert not types & {"CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE"}
    steps = [s.text for n in graph.nodes if n.provenance for s in n.provenance.steps]
    assert any("CALL_ONCE initialiser" in s for s in steps)
    assert_close(run_both(path), rtol=1e-6, atol=1e-6)


def test_assigned_variable_is_refused(cli: Callable[..., CliResult]) -> None:
    result = cli("info", tflite_fixture("variable_update", "float32"))
    assert result.code == 2
    assert "assigns a resource variable" in result.err and "no ONNX equivalent" in result.err
