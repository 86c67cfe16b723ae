"""The source graph in `view`: a Keras (or MatConvNet) model is drawn as its own layers, labelled
with the file's types, each linked to the ONNX nodes it became — in the page's data, in Graphviz
(`--graph source|onnx`) and through the CLI. An ONNX file has one graph only. The page itself in a
browser: test_html_browser.py."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from netinspect import registry
from netinspect.renderers.dot import render, to_dot
from netinspect.renderers.html.data import page_data
from netinspect.renderers.html.records import RECORDS
from netinspect.renderers.source_graph import source_graph
from netinspect.walk import node_id, walk_scoped
from tests.conftest import FIXTURES, fixture_generator, shared_model
from tests.renderers.html.models import scoped_resnet


def named(kind: str, row: object) -> dict:
    return dict(zip(RECORDS[kind], json.loads(json.dumps(row)), strict=True))


@pytest.fixture(scope="module")
def keras_conv() -> Path:
    """Keras 3 `conv_layers` (Conv2D with and without a fused ReLU, DepthwiseConv2D,
    SeparableConv2D, Conv2DTranspose), generated once by fixtures/keras/make_keras.py."""
    return fixture_generator("keras/make_keras.py").ensure() / "conv_layers.keras"


def test_keras_page_opens_on_its_layers_linked_to_their_onnx_nodes(keras_conv: Path) -> None:
    graph = registry.load(keras_conv)
    view, details = page_data(graph)
    assert view["source"] is not None and view["start"] == view["source"]
    drawn = view["graphs"][view["source"]]
    items = [named("item", row) for row in drawn["items"]]
    layers = [item for item in items if item["kind"] == "layer"]
    assert len(layers) == len(graph.source_layers) == view["model"]["layers"]
    assert [item["lines"][0] for item in layers] == [layer.type for layer in graph.source_layers]
    assert "Conv2D" in {item["lines"][0] for item in layers}
    assert "Conv" not in {item["lines"][0] for item in layers}, "ONNX ops are in the other drawing"
    ids = {node.name: node_id(k) for k, (node, _) in enumerate(walk_scoped(graph))}
    nodes = {row.id: named("node", row) for row in details["nodes"]}
    for k, layer in enumerate(graph.source_layers):
        row = named("layer", details["layers"][k])
        assert row["type"] == layer.type and row["nodes"] == [ids[n] for n in layer.nodes if n in ids]
        for partner in row["nodes"]:
            assert f"s{k}" in nodes[partner]["layers"], "each side names the other"
    conv = next(named("layer", row) for row in details["layers"] if named("layer", row)["type"] == "Conv2D")
    config = {named("setting", s)["key"]: named("setting", s)["text"] for s in conv["config"]}
    assert config["kernel_size"] in ("[3, 3]", "[2, 3]") and "filters" in config
    kernel = named("source_tensor", conv["weights"][0])
    assert kernel["layout"] == "HWIO" and kernel["shape"].count("×") == 3
    assert kernel["weight"] in details["weights"], "the stored kernel's statistics are in the page"
    edges = [named("edge", row) for row in drawn["edges"]]
    assert len(edges) >= len(layers), "every layer is reached from the input"


def test_onnx_file_has_one_drawing(tmp_path: Path) -> None:
    import onnx

    path = tmp_path / "scoped.onnx"
    onnx.save(scoped_resnet(1, 2), path)
    graph = registry.load(path)
    view, details = page_data(graph)
    assert view["source"] is None and view["start"] == 0 and details["layers"] == []
    assert source_graph(graph) is None
    assert to_dot(graph) == to_dot(graph, drawing="onnx")


def test_matconvnet_layers_keep_their_own_types() -> None:
    graph = registry.load(FIXTURES / "matconvnet" / "simplenn_beta17.mat")
    drawn = source_graph(graph)
    assert drawn is not None and "conv" in {layer.type for layer in drawn.layers}
    assert "Conv" not in {layer.type for layer in drawn.layers}


def test_graphviz_draws_the_source_by_default_and_onnx_on_request(
    keras_conv: Path, cli, tmp_path: Path
) -> None:
    graph = registry.load(keras_conv)
    source = to_dot(graph)
    assert re.search(r"\bs0 \[label=\"Conv2D", source) and "kernel_size=" in source and "HWIO" in source
    onnx_dot = to_dot(graph, drawing="onnx")
    assert "Conv2D" not in re.sub(r"tooltip=\"[^\"]*\"", "", onnx_dot) and 'label="Conv\\n' in onnx_dot
    assert cli("view", keras_conv, "-o", tmp_path / "s.dot").code == 0
    assert (tmp_path / "s.dot").read_text(encoding="utf-8") == source
    assert cli("view", keras_conv, "-o", tmp_path / "o.dot", "--graph", "onnx").code == 0
    assert (tmp_path / "o.dot").read_text(encoding="utf-8") == onnx_dot
    bad = cli("view", keras_conv, "-o", tmp_path / "x.dot", "--graph", "keras")
    assert bad.code == 2 and "--graph" in bad.err


def test_page_can_open_on_the_onnx_graph(keras_conv: Path, cli, tmp_path: Path) -> None:
    for args, start in (((), "source"), (("--graph", "onnx"), 0)):
        page = tmp_path / "page.html"
        assert cli("view", keras_conv, "-o", page, *args).code == 0
        text = page.read_text(encoding="utf-8")
        view = json.loads(re.search(r'id="nv-view">(.*?)</script>', text, re.S).group(1))
        assert view["source"] is not None and view["start"] == (view["source"] if start == "source" else 0)


def test_tflite_layers_carry_quantization_and_weights_are_not_drawn_as_inputs() -> None:
    graph = registry.load(shared_model("tfl_hello_world_int8.tflite"))
    view, details = page_data(graph)
    drawn = [named("item", row) for row in view["graphs"][view["source"]]["items"]]
    assert [item["kind"] for item in drawn].count("input") == len(
        [v for v in graph.inputs if v.name not in graph.tensors]
    ), "an operator's filter and bias are in its panel, not boxes of their own"
    layers = [named("layer", row) for row in details["layers"]]
    dense = next(layer for layer in layers if layer["type"] == "FULLY_CONNECTED")
    tensors = [named("source_tensor", t) for t in dense["inputs"] + dense["outputs"]]
    assert all({"scale", "zero_point"} <= set(t["quantization"] or {}) for t in tensors[:1] + tensors[-1:])


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")
def test_graphviz_takes_control_characters_in_a_config(keras_conv: Path, tmp_path: Path) -> None:
    """A Keras Lambda's config holds marshalled bytecode: Graphviz refuses a NUL in a label."""
    graph = registry.load(keras_conv)
    graph.source_layers[0].config["activation"] = "c\x00\x01\x7fs"
    render(graph, tmp_path / "lambda.svg")
    assert "c\\x00\\x01\\x7fs" in (tmp_path / "lambda.svg").read_text(encoding="utf-8")
