"""A round trip through netinspect loses nothing the user did not ask to change: IR version,
producer, doc strings, node metadata (PyTorch's stack traces and scopes), value_info, model-local
functions, metadata_props; and a second round trip keeps the first source's producer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import netinspect
from tests.converters.onnx.test_onnx_zoo import run_model

STACK = 'File "model.py", line 12, in forward\n    return self.fc(x)'


def torch_like_model() -> onnx.ModelProto:
    """What torch.onnx.export (dynamo) writes: IR 10, node metadata, value_info, a local function."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "fc.weight")
    b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "fc.bias")
    gemm = helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["h"], name="node_fc", transB=1)
    gemm.doc_string = "fc = Linear(3, 4)"
    for key, value in (("pkg.torch.onnx.stack_trace", STACK), ("namespace", "Net/fc: Linear")):
        gemm.metadata_props.add(key=key, value=value)
    scaled = helper.make_node("ScaledTanh", ["h"], ["y"], name="node_act", domain="pkg.local", alpha=0.5)
    alpha = helper.make_node("Constant", [], ["a"], value_float=1.0)
    alpha.attribute[0].ref_attr_name = "alpha"
    alpha.attribute[0].ClearField("f")
    function = helper.make_function(
        "pkg.local",
        "ScaledTanh",
        ["X"],
        ["Y"],
        [alpha, helper.make_node("Tanh", ["X"], ["t"]), helper.make_node("Mul", ["t", "a"], ["Y"])],
        [helper.make_opsetid("", 17)],
        attributes=["alpha"],
        doc_string="alpha * tanh(x)",
    )
    graph = helper.make_graph(
        [gemm, scaled],
        "main_graph",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [w, b],
        value_info=[
            helper.make_tensor_value_info("h", TensorProto.FLOAT, ["batch", 4], doc_string="fc output")
        ],
        doc_string="the graph's own doc",
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("pkg.local", 1)],
        functions=[function],
        producer_name="pytorch",
        producer_version="2.9.0",
        doc_string="a model's doc",
        model_version=3,
        domain="org.example",
    )
    model.ir_version = 10
    model.graph.value_info[0].metadata_props.add(key="pkg.torch.onnx.original_node_name", value="linear")
    helper.set_model_props(model, {"author": "someone"})
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "torch.onnx"
    onnx.save(torch_like_model(), str(path))
    return path


def test_round_trip_keeps_model_graph_and_node_facts(source: Path, tmp_path: Path, cli) -> None:
    out = tmp_path / "out.onnx"
    assert cli("convert", source, "-o", out).code == 0
    before, after = onnx.load(str(source)), onnx.load(str(out))
    onnx.checker.check_model(after, full_check=True)
    assert after.ir_version == 10
    assert (after.doc_string, after.model_version, after.domain) == ("a model's doc", 3, "org.example")
    assert after.graph.doc_string == "the graph's own doc"
    props = {p.key: p.value for p in after.metadata_props}
    assert props["author"] == "someone"
    assert (props["netinspect.source_producer_name"], props["netinspect.source_producer_version"]) == (
        "pytorch",
        "2.9.0",
    )
    node = next(n for n in after.graph.node if n.name == "node_fc")
    assert node.doc_string == "fc = Linear(3, 4)"
    assert {p.key: p.value for p in node.metadata_props} == {
        "pkg.torch.onnx.stack_trace": STACK,
        "namespace": "Net/fc: Linear",
    }
    assert list(after.graph.value_info) == list(before.graph.value_info)  # types, docs, metadata
    assert [f.SerializeToString(deterministic=True) for f in after.functions] == [
        f.SerializeToString(deterministic=True) for f in before.functions
    ]
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_model(out, {"x": x})[0], run_model(source, {"x": x})[0])


def test_a_second_round_trip_keeps_the_first_producer(source: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first.onnx", tmp_path / "second.onnx"
    netinspect.save_onnx(netinspect.load(source), first)
    netinspect.save_onnx(netinspect.load(first), second)
    graph = netinspect.load(second)
    assert graph.metadata.source_producer == ("pytorch", "2.9.0")
    assert onnx.load(str(second)).producer_name == "netinspect"
    assert onnx.load(str(first)).SerializeToString(deterministic=True) == onnx.load(
        str(second)
    ).SerializeToString(deterministic=True)


def test_ir_version_is_raised_only_when_the_opset_needs_it(tmp_path: Path) -> None:
    model = torch_like_model()
    del model.functions[:]
    model.graph.node[1].CopyFrom(helper.make_node("Tanh", ["h"], ["y"], name="node_act"))
    del model.opset_import[1:]
    for node in model.graph.node:
        del node.metadata_props[:]
    model.ir_version = 8
    src = tmp_path / "ir8.onnx"
    onnx.save(model, str(src))
    kept, raised = tmp_path / "kept.onnx", tmp_path / "raised.onnx"
    netinspect.save_onnx(netinspect.load(src), kept)
    netinspect.save_onnx(netinspect.load(src), raised, opset=21)
    assert onnx.load(str(kept)).ir_version == 8
    assert onnx.load(str(raised)).ir_version == helper.find_min_ir_version_for([helper.make_opsetid("", 21)])


def test_opset_conversion_keeps_node_metadata(source: Path, tmp_path: Path) -> None:
    model = torch_like_model()
    del model.functions[:]
    model.graph.node[1].CopyFrom(helper.make_node("Tanh", ["h"], ["y"], name="node_act"))
    del model.opset_import[1:]
    src = tmp_path / "plain.onnx"
    onnx.save(model, str(src))
    out = tmp_path / "opset13.onnx"
    netinspect.save_onnx(netinspect.load(src), out, opset=13)
    after = onnx.load(str(out))
    node = next(n for n in after.graph.node if n.name == "node_fc")
    assert node.doc_string == "fc = Linear(3, 4)"
    assert {p.key for p in node.metadata_props} == {"pkg.torch.onnx.stack_trace", "namespace"}
    assert after.graph.doc_string == "the graph's own doc" and after.doc_string == "a model's doc"


def test_local_functions_move_with_the_opset(source: Path, tmp_path: Path, cli) -> None:
    up = tmp_path / "opset21.onnx"
    assert cli("convert", source, "--opset", 21, "-o", up).code == 0
    model = onnx.load(str(up))
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.functions[0].opset_import if o.domain == ""] == [21]
    x = np.random.default_rng(2).standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_model(up, {"x": x})[0], run_model(source, {"x": x})[0])
    down = cli("convert", source, "--opset", 13, "-o", tmp_path / "opset13.onnx")
    assert down.code == 2
    assert "cannot convert the local function pkg.local.ScaledTanh from opset 17 to 13" in down.err


def test_interface_declarations_survive_opset_conversion(tmp_path: Path) -> None:
    """onnx's converter re-infers outputs (an unknown dim comes back named "unk__0")."""
    model = torch_like_model()
    del model.functions[:]
    model.graph.node[1].CopyFrom(helper.make_node("Tanh", ["h"], ["y"], name="node_act"))
    del model.opset_import[1:]
    model.graph.output[0].type.tensor_type.shape.dim[0].Clear()
    src = tmp_path / "unknown_dim.onnx"
    onnx.save(model, str(src))
    out = tmp_path / "opset15.onnx"
    netinspect.save_onnx(netinspect.load(src), out, opset=15)
    converted = onnx.load(str(out))
    assert converted.graph.output[0] == model.graph.output[0]
    assert [v.name for v in converted.graph.value_info] == ["h"]


def test_with_preprocessing_keeps_node_metadata_and_the_graph_doc(tmp_path: Path) -> None:
    from tests.converters.onnx.test_onnx_io import small_ir_graph

    graph = small_ir_graph()
    graph.doc = "the graph's own doc"
    graph.nodes[0].metadata = {"namespace": "Net/conv1"}
    out = tmp_path / "pre.onnx"
    netinspect.save_onnx(graph, out, with_preprocessing=True)
    model = onnx.load(str(out))
    assert model.graph.doc_string == "the graph's own doc"
    conv = next(n for n in model.graph.node if n.name == "conv1")
    assert {p.key: p.value for p in conv.metadata_props} == {"namespace": "Net/conv1"}
