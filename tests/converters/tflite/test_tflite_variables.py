"""Resource variables: read-only ones are folded to the constant their CALL_ONCE initialiser assigns;
one the model assigns from its inputs carries state: a graph input and output (test_tflite_extra.py
has the folded TF-MOT-style case)."""

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


def test_assigned_variable_carries_state(cli: Callable[..., CliResult]) -> None:
    """`accumulate` assigns v + d to the variable and returns it: state from run to run (it was refused:
    "assigns a resource variable"). Converted with the variable as an input defaulting to its initial
    value and its new value as an output; `check` matches LiteRT run by run from that initial state."""
    path = tflite_fixture("variable_update", "float32")
    graph = load(path)
    state = [v.name for v in graph.inputs if v.name in graph.tensors]
    assert len(state) == 1
    assert f"{state[0]}/final" in [v.name for v in graph.outputs]
    result = cli("check", path, "--runs", "3")
    assert result.code == 0, result.out + result.err
