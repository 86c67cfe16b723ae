"""ONNX reading and writing beyond the zoo: lazy weights, external data (and its path rules),
provenance and metadata surviving a round trip, opset conversion, the old CNTK file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import netinspect
from netinspect.converters.onnx import writer as onnx_writer
from netinspect.errors import UnsafePathError
from netinspect.ir import Graph, Node, Preprocessing, Provenance, Tensor, Value
from tests.conftest import shared_model
from tests.converters.onnx.test_onnx_zoo import run_model


def conv_model(weight: np.ndarray) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "g", [x], [y], [numpy_helper.from_array(weight, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture
def weight() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)


def test_weights_are_read_only_when_asked(tmp_path: Path, weight: np.ndarray) -> None:
    path = tmp_path / "m.onnx"
    big = np.random.default_rng(1).standard_normal((64, 3, 3, 3)).astype(np.float32)
    onnx.save(conv_model(big), str(path))
    graph = netinspect.load(path)
    tensor = graph.tensors["w"]
    assert not tensor.is_loaded and tensor.shape == (64, 3, 3, 3)
    np.testing.assert_array_equal(tensor.numpy(), big)


def test_external_data_inside_the_folder_round_trips(tmp_path: Path, weight: np.ndarray) -> None:
    model = conv_model(np.tile(weight, (16, 1, 1, 1)))
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 64
    path = tmp_path / "ext.onnx"
    (tmp_path / "weights").mkdir()
    onnx.save(model, str(path), save_as_external_data=True, location="weights/ext.bin", size_threshold=0)
    graph = netinspect.load(path)
    np.testing.assert_array_equal(graph.tensors["w"].numpy(), np.tile(weight, (16, 1, 1, 1)))
    out = tmp_path / "out.onnx"
    netinspect.save_onnx(graph, out)
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(run_model(out, {"x": x})[0], run_model(path, {"x": x})[0])


@pytest.mark.parametrize("external", [False, True])
def test_initializers_are_copied_file_to_file(
    tmp_path: Path, weight: np.ndarray, monkeypatch: pytest.MonkeyPatch, external: bool
) -> None:
    """Raw initializers carry their place in the file (inline or external data): ONNX → ONNX copies
    those bytes with the kernel, and they come out identical."""
    big = np.tile(weight, (16, 1, 1, 1))
    model = conv_model(big)
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 64
    path = tmp_path / "m.onnx"
    if external:
        onnx.save(model, str(path), save_as_external_data=True, location="m.bin", size_threshold=0)
    else:
        onnx.save(model, str(path))
    from netinspect.io import laid_out

    copied: list[tuple[str, int]] = []
    real = laid_out.copy_range_at
    monkeypatch.setattr(
        laid_out,
        "copy_range_at",
        lambda fd, source, offset, length, at: (
            copied.append((Path(source).name, length)),
            real(fd, source, offset, length, at),
        ),
    )
    out = tmp_path / "out.onnx"
    netinspect.save_onnx(netinspect.load(path), out)
    assert copied == [("m.bin" if external else "m.onnx", big.nbytes)]
    np.testing.assert_array_equal(numpy_helper.to_array(onnx.load(out).graph.initializer[0]), big)


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_external_data_outside_the_folder_is_refused(
    tmp_path: Path, weight: np.ndarray, location: str
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(weight.tobytes())
    model = conv_model(weight)
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value=location)
    path = folder / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(UnsafePathError, match=r"outside|not a path inside"):
        netinspect.load(path)


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path, weight: np.ndarray) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(weight.tobytes())
    (folder / "link.bin").symlink_to(tmp_path / "outside.bin")
    model = conv_model(weight)
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="link.bin")
    (folder / "m.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(UnsafePathError):
        netinspect.load(folder / "m.onnx")


def small_ir_graph() -> Graph:
    rng = np.random.default_rng(3)
    w = Tensor.from_array("w", rng.standard_normal((2, 3, 3, 3)).astype(np.float32))
    prov = Provenance("matconvnet", "conv1", "conv")
    prov.add("transpose", "kernel HWIO → OIHW (perm 3,2,0,1)")
    prov.add("pad", "pads [T B L R] = [1 0 1 0] → ONNX [1 1 0 0]")
    node = Node("conv1", "Conv", ["x", "w"], ["y"], {"pads": [1, 1, 0, 0]}, provenance=prov)
    graph = Graph(
        "tiny",
        [Value("x", "float32", ("N", 3, 6, 6))],
        [Value("y", "float32", ("N", 2, 5, 5))],
        [node],
        {"w": w},
    )
    graph.metadata.source_format = "matconvnet"
    graph.metadata.labels = ["cat", "dog"]
    graph.metadata.preprocessing = Preprocessing(mean=[1.0, 2.0, 3.0], image_size=(6, 6), channel_order="RGB")
    return graph


def test_provenance_labels_and_preprocessing_survive_the_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.onnx"
    netinspect.save_onnx(small_ir_graph(), path)
    model = onnx.load(str(path))
    assert "kernel HWIO → OIHW" in model.graph.node[0].doc_string
    props = {p.key: p.value for p in model.metadata_props}
    assert props["netinspect.labels"] == '["cat", "dog"]'
    back = netinspect.load(path)
    prov = back.nodes[0].provenance
    assert (prov.framework, prov.layer, prov.layer_type) == ("matconvnet", "conv1", "conv")
    assert [s.kind for s in prov.steps] == ["transpose", "pad"]
    assert back.metadata.labels == ["cat", "dog"]
    assert back.metadata.preprocessing.mean == [1.0, 2.0, 3.0]
    assert back.metadata.source_format == "matconvnet"


def test_with_preprocessing_subtracts_the_mean_inside_the_graph(tmp_path: Path) -> None:
    graph = small_ir_graph()
    plain, pre = tmp_path / "plain.onnx", tmp_path / "pre.onnx"
    netinspect.save_onnx(graph, plain)
    netinspect.save_onnx(graph, pre, with_preprocessing=True)
    x = np.random.default_rng(4).uniform(0, 255, (1, 3, 6, 6)).astype(np.float32)
    mean = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(
        run_model(pre, {"x": x})[0], run_model(plain, {"x": x - mean})[0], rtol=1e-6, atol=1e-5
    )
    assert [n.op_type for n in onnx.load(str(pre)).graph.node] == ["Sub", "Conv"]


def test_streamed_file_equals_the_in_memory_model(tmp_path: Path) -> None:
    graph = small_ir_graph()
    big = np.random.default_rng(5).standard_normal((64, 3, 3, 3)).astype(np.float32)
    graph.tensors["w"] = Tensor.from_array("w", big)
    graph.outputs[0] = Value("y", "float32", ("N", 64, 5, 5))
    path = tmp_path / "s.onnx"
    netinspect.save_onnx(graph, path)
    streamed = onnx.load(str(path))
    in_memory = netinspect.to_onnx(graph)
    assert streamed.SerializeToString(deterministic=True) == in_memory.SerializeToString(deterministic=True)


def test_external_data_is_used_past_the_protobuf_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_writer, "PROTOBUF_LIMIT", 4096)
    graph = small_ir_graph()
    graph.tensors["w"] = Tensor.from_array("w", np.ones((64, 3, 3, 3), np.float32))
    graph.outputs[0] = Value("y", "float32", ("N", 64, 5, 5))
    path = tmp_path / "big.onnx"
    netinspect.save_onnx(graph, path)
    assert (tmp_path / "big.onnx.data").stat().st_size >= 64 * 27 * 4
    onnx.checker.check_model(str(path), full_check=True)
    np.testing.assert_array_equal(
        netinspect.load(path).tensors["w"].numpy(), np.ones((64, 3, 3, 3), np.float32)
    )


def test_opset_conversion(tmp_path: Path, weight: np.ndarray) -> None:
    src = tmp_path / "m.onnx"
    onnx.save(conv_model(weight), str(src))
    out = tmp_path / "m13.onnx"
    netinspect.save_onnx(netinspect.load(src), out, opset=13)
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 13
    x = np.random.default_rng(6).standard_normal((2, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(run_model(out, {"x": x})[0], run_model(src, {"x": x})[0])


def test_subgraphs_are_kept(tmp_path: Path) -> None:
    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    then = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])],
    )
    other = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])],
        "else",
        [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])],
    )
    node = helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other)
    model = helper.make_model(
        helper.make_graph([node], "g", [cond, x], [y]), opset_imports=[helper.make_opsetid("", 17)]
    )
    src = tmp_path / "if.onnx"
    onnx.save(model, str(src))
    graph = netinspect.load(src)
    graph.validate()
    assert {g.name for g in graph.nodes[0].subgraphs()} == {"then", "else"}
    out = tmp_path / "if2.onnx"
    netinspect.save_onnx(graph, out)
    v = np.array([-1.0, 2.0], np.float32)
    for c in (True, False):
        feeds = {"c": np.array(c), "x": v}
        np.testing.assert_array_equal(run_model(out, feeds)[0], run_model(src, feeds)[0])


def test_old_cntk_ir3_model(tmp_path: Path, cli) -> None:
    src = shared_model("onnx_cntk_mnist_ir3.onnx")
    original = onnx.load(str(src))
    assert original.ir_version == 3
    graph = netinspect.load(src)
    graph.validate()
    assert len(graph.nodes) == len(original.graph.node)
    out = tmp_path / "mnist.onnx"
    assert cli("convert", src, "-o", out).code == 0
    onnx.checker.check_model(str(out), full_check=True)
    name = graph.inputs[0].name
    x = np.random.default_rng(7).uniform(0, 255, (1, 1, 28, 28)).astype(np.float32)
    expected, actual = run_model(src, {name: x}), run_model(out, {name: x})
    np.testing.assert_array_equal(actual[0], expected[0])
    assert np.isfinite(actual[0]).all() and actual[0].shape == (1, 10)


@pytest.mark.parametrize("external", [False, True])
def test_copied_and_written_weights_interleave_into_their_places(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, external: bool
) -> None:
    """Weights copied file to file go to a second thread, which writes them at their places while
    the writer writes the others in order and steps over those places; a copied weight last
    extends the file. Inline and as external data, every initializer comes out as the IR holds it."""
    from netinspect.ir import FileSpan

    rng = np.random.default_rng(3)
    arrays = {name: rng.standard_normal((64, 1000)).astype(np.float32) for name in "abcd"}
    raw = tmp_path / "weights.bin"
    raw.write_bytes(b"x" * 5 + arrays["a"].tobytes() + arrays["d"].tobytes())
    tensors = {name: Tensor.from_array(name, a) for name, a in arrays.items()}
    for name, start in (("a", 5), ("d", 5 + arrays["a"].nbytes)):  # copied: first and last
        tensors[name] = Tensor(name, "float32", arrays[name].shape, loader=lambda a=arrays[name]: a)
        tensors[name].span = FileSpan(raw, start, arrays[name].nbytes)
    inputs = [Value("x", "float32", (1, 64))]
    node = Node("mm", "MatMul", ["x", "a"], ["y"])
    graph = Graph(
        name="g", nodes=[node], inputs=inputs, outputs=[Value("y", "float32", (1, 1000))], tensors=tensors
    )
    if external:  # the weights (1 MB) past the limit, the graph itself well within it
        monkeypatch.setattr(onnx_writer, "PROTOBUF_LIMIT", 500_000)
    out = tmp_path / "out.onnx"
    netinspect.save_onnx(graph, out)
    assert (tmp_path / "out.onnx.data").exists() == external
    model = onnx.load(out, load_external_data=False)
    written = {i.name: numpy_helper.to_array(i, base_dir=str(tmp_path)) for i in model.graph.initializer}
    assert set(written) == set("abcd")
    for name, array in arrays.items():
        np.testing.assert_array_equal(written[name], array, err_msg=name)
