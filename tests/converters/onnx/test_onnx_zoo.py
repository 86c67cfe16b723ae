"""Every model the onnx package ships with reference data: `info` counts, round trip through the
IR (checker + runtime parity, bit-identical expected), reference outputs, and `view`."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.converters.onnx.onnx_zoo import ZooCase, parameter_count, zoo_cases

CASES = zoo_cases()
ORT_MIN_OPSET = 7  # onnxruntime no longer implements the opset-6 and older kernels


def test_the_zoo_is_found() -> None:
    names = {c.name for c in CASES}
    assert {"light/vgg19", "light/resnet50", "light/bvlc_alexnet", "light/densenet121"} <= names
    assert len(CASES) >= 120


def run_model(model: str | Path | onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """onnxruntime where it can run the model's opset, else onnx's reference evaluator."""
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model))
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset >= ORT_MIN_OPSET:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return session.run(None, feeds)
    from onnx.reference import ReferenceEvaluator

    return list(ReferenceEvaluator(proto).run(None, feeds))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_info_counts_match_the_file(case: ZooCase, cli) -> None:
    model = onnx.load(str(case.model))
    result = cli("info", case.model, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["nodes"]["count"] == len(model.graph.node)
    assert summary["parameters"]["count"] == parameter_count(model)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_round_trip_is_exact_and_matches_reference(case: ZooCase, cli, tmp_path: Path) -> None:
    out = tmp_path / "round_trip.onnx"
    result = cli("convert", case.model, "--to", "onnx", "-o", out)
    assert result.code == 0, result.err
    onnx.checker.check_model(str(out), full_check=True)

    original = onnx.load(str(case.model))
    feeds = case.inputs(original)
    expected = run_model(original, feeds)
    actual = run_model(out, feeds)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert a.dtype == e.dtype and a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=0, atol=1e-6, equal_nan=True)
    for a, ref in zip(actual, case.outputs(), strict=True):
        np.testing.assert_allclose(a, ref, rtol=case.rtol, atol=case.atol, equal_nan=True)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_view_draws_one_svg_node_per_ir_node(case: ZooCase, cli, tmp_path: Path) -> None:
    import netinspect

    out = tmp_path / "graph.svg"
    result = cli("view", case.model, "-o", out, "--expand")
    assert result.code == 0, result.err
    root = ET.parse(out).getroot()
    ns = {"svg": "http://www.w3.org/2000/svg"}
    titles = [g.findtext("svg:title", namespaces=ns) for g in root.iterfind(".//svg:g[@class='node']", ns)]
    graph = netinspect.load(case.model)
    node_titles = [t for t in titles if t and re.fullmatch(r"n\d+", t)]
    assert len(node_titles) == sum(1 for _ in graph.walk())


OLD_OPSET_CASES = [c for c in CASES if c.opset < ORT_MIN_OPSET]
VERSION_CONVERTER_GAPS = {
    f"pytorch-converted/test_PReLU_{d}d_multiparam": "onnx's version converter keeps the opset-6 PRelu "
    "slope of shape [C], which opset 7's unidirectional broadcasting rejects"
    for d in (1, 2, 3)
}


@pytest.mark.parametrize("case", OLD_OPSET_CASES, ids=str)
def test_old_opsets_convert_to_one_onnxruntime_runs(case: ZooCase, cli, tmp_path: Path) -> None:
    """onnxruntime no longer runs opset 6; `convert --opset 9` makes these models runnable again."""
    if case.name in VERSION_CONVERTER_GAPS:
        pytest.skip(VERSION_CONVERTER_GAPS[case.name])
    out = tmp_path / "opset9.onnx"
    assert cli("convert", case.model, "--opset", "9", "-o", out).code == 0
    upgraded = onnx.load(str(out))
    assert next(o.version for o in upgraded.opset_import if o.domain in ("", "ai.onnx")) == 9
    actual = run_model(upgraded, case.inputs(onnx.load(str(case.model))))
    for a, ref in zip(actual, case.outputs(), strict=True):
        np.testing.assert_allclose(a, ref, rtol=case.rtol, atol=case.atol, equal_nan=True)
