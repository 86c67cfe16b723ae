"""CLI output a user pipes or compares: piped tables keep every value whole, and `convert` reports
the parameter count `info` does (Constant node values counted the same way)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from tests.converters.matconvnet.test_matconvnet_parity import FIXTURES


def test_piped_node_tables_do_not_split_shapes(cli: Callable) -> None:
    result = cli("info", FIXTURES / "dagnn_blocks.mat", "--nodes", "--fixed-size")
    assert result.code == 0
    assert "N×3×125×125" in result.out and "N×8×63×63" in result.out
    for line in result.out.splitlines():  # a shape cut at the column edge ends in × or starts with one
        for cell in line.split("│"):
            assert not re.fullmatch(r"\s*(\S*×|×\S*)\s*", cell), line


def _parameters_said_by(cli: Callable, model: Path, out: Path) -> tuple[int, int]:
    converted = cli("convert", model, "-o", out)
    assert converted.code == 0, converted.err
    said = int(re.search(r"([\d,]+) parameters", converted.out).group(1).replace(",", ""))  # type: ignore[union-attr]
    return said, json.loads(cli("info", model, "--json").out)["parameters"]["count"]


def test_convert_and_info_count_parameters_alike(cli: Callable, tmp_path: Path) -> None:
    said, counted = _parameters_said_by(cli, FIXTURES / "dagnn_residual.mat", tmp_path / "a.onnx")
    assert said == counted > 0
    weight = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.ones(7, np.float32))),
         helper.make_node("MatMul", ["x", "w"], ["y"]),
         helper.make_node("Slice", ["c", "s", "e"], ["c_head"]),
         helper.make_node("Add", ["y", "c_head"], ["z"])],
        "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [2, 3])],
        [weight, numpy_helper.from_array(np.array([0], np.int64), "s"),
         numpy_helper.from_array(np.array([3], np.int64), "e")],
    )  # fmt: skip
    path = tmp_path / "constant.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    said, counted = _parameters_said_by(cli, path, tmp_path / "b.onnx")
    assert said == counted == 12 + 7 + 2  # the Constant node's 7 values counted by both


def test_permute_all_weights_leaves_no_transpose(cli: Callable, tmp_path: Path, monkeypatch) -> None:
    """From layout.KEPT_WEIGHT_BYTES (64 MiB; 1 byte here) a filter is written as stored and its Conv
    wrapped in Transposes; `--permute-all-weights` permutes it instead, for a graph without them.
    Both convert to the same numbers."""
    import onnxruntime as ort

    from netinspect import layout

    monkeypatch.setattr(layout, "KEPT_WEIGHT_BYTES", 1)
    model = FIXTURES / "simplenn_pre_beta11.mat"
    outputs = {}
    for flags in ([], ["--permute-all-weights"]):
        out = tmp_path / f"m{len(flags)}.onnx"
        assert cli("convert", model, "-o", out, *flags).code == 0
        ops = [n.op_type for n in onnx.load(out).graph.node]
        assert ("Transpose" in ops) == (not flags)
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        x = np.random.default_rng(0).standard_normal((1, 3, 31, 29)).astype(np.float32)
        outputs[len(flags)] = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
