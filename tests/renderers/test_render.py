"""`view`: DOT text that Graphviz accepts, one SVG node per IR node with documented ids, weights
folded into labels, shapes on edges, subgraphs as clusters, and clear errors."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import netinspect
from netinspect.errors import MissingDependencyError, OutputError
from netinspect.ir import Graph, Node, Provenance, Step, Tensor, Value
from netinspect.renderers.dot import render, to_dot

SVG = {"svg": "http://www.w3.org/2000/svg", "xlink": "http://www.w3.org/1999/xlink"}
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


def weight(name: str, shape: tuple[int, ...]) -> Tensor:
    def refuse() -> np.ndarray:
        raise AssertionError(f"the renderer read the bytes of {name}")

    return Tensor(name, "float32", shape, loader=refuse)


def f32(name: str, *shape: int | str) -> Value:
    return Value(name, "float32", tuple(shape))


def small_cnn() -> Graph:
    prov = Provenance(
        "matconvnet",
        "conv1",
        "conv",
        [
            Step("transpose", "kernel HWCN → OIHW (perm 3,2,0,1)"),
            Step("flip", "kernel flipped for correlation"),
        ],
    )
    return Graph(
        "cnn",
        [f32("data", "N", 3, 32, 32)],
        [f32("prob", "N", 10)],
        nodes=[
            Node(
                "conv1",
                "Conv",
                ["data", "conv1_w", "conv1_b"],
                ["c1"],
                {
                    "group": 1,
                    "strides": [2, 2],
                    "dilations": [1, 1],
                    "pads": [0, 0, 0, 0],
                    "kernel_shape": [3, 3],
                },
                provenance=prov,
            ),
            Node("relu1", "Relu", ["c1"], ["r1"]),
            Node("pool1", "MaxPool", ["r1"], ["p1"], {"kernel_shape": [2, 2], "strides": [2, 2]}),
            Node("flat", "Flatten", ["p1"], ["f"]),
            Node("fc", "Gemm", ["f", "fc_w", "fc_b"], ["logits"], {"transB": 1, "alpha": 1.0}),
            Node("softmax", "Softmax", ["logits"], ["prob"]),
        ],
        tensors={
            "conv1_w": weight("conv1_w", (8, 3, 3, 3)),
            "conv1_b": weight("conv1_b", (8,)),
            "fc_w": weight("fc_w", (10, 392)),
            "fc_b": weight("fc_b", (10,)),
        },
        values={
            "c1": f32("c1", "N", 8, 15, 15),
            "r1": f32("r1", "N", 8, 15, 15),
            "p1": f32("p1", "N", 8, 7, 7),
        },
    )


def svg_nodes(path: Path) -> dict[str, ET.Element]:
    """The SVG's node groups by title; fails if the file is not XML or a title repeats."""
    root = ET.parse(path).getroot()
    groups = root.findall(".//svg:g[@class='node']", SVG)
    titles = [g.findtext("svg:title", namespaces=SVG) for g in groups]
    assert len(titles) == len(set(titles)), "an SVG node title repeats"
    return dict(zip(titles, groups, strict=True))


def node_text(group: ET.Element) -> str:
    return "\n".join(t.text or "" for t in group.iterfind(".//svg:text", SVG))


def tooltip(group: ET.Element) -> str:
    anchor = group.find(".//svg:a", SVG)
    return "" if anchor is None else anchor.get(f"{{{SVG['xlink']}}}title", "")


@needs_dot
def test_svg_has_one_node_per_ir_node_plus_inputs_and_outputs(tmp_path: Path) -> None:
    out = tmp_path / "cnn.svg"
    render(small_cnn(), out)
    nodes = svg_nodes(out)
    assert sorted(nodes) == sorted([f"n{i}" for i in range(6)] + ["in0_0", "out0_0"])
    assert "conv1_w" not in "".join(nodes), "weights must be folded into labels, not drawn"


@needs_dot
def test_labels_show_weights_non_default_attributes_and_provenance(tmp_path: Path) -> None:
    out = tmp_path / "cnn.svg"
    render(small_cnn(), out)
    nodes = svg_nodes(out)
    conv = node_text(nodes["n0"])
    assert "W ⟨8×3×3×3⟩" in conv and "B ⟨8⟩" in conv
    assert "strides=2,2" in conv and "kernel_shape=3,3" in conv
    for default in ("group=", "dilations=", "pads="):
        assert default not in conv
    assert "↺ 2 transforms" in conv
    assert "kernel flipped for correlation" in tooltip(nodes["n0"])
    assert "from matconvnet conv 'conv1'" in tooltip(nodes["n0"])
    gemm = node_text(nodes["n4"])
    assert "transB=1" in gemm and "alpha" not in gemm
    assert "B ⟨10×392⟩" in gemm and "C ⟨10⟩" in gemm
    colours = {nodes[n].find(".//svg:path", SVG).get("fill") for n in ("n0", "n1", "n2")}
    assert len(colours) == 3, "conv, activation and pool should differ in colour"


@needs_dot
def test_edges_carry_shapes_and_follow_the_dataflow(tmp_path: Path) -> None:
    out = tmp_path / "cnn.svg"
    render(small_cnn(), out)
    root = ET.parse(out).getroot()
    edges = {
        e.findtext("svg:title", namespaces=SVG): " ".join(
            t.text or "" for t in e.iterfind(".//svg:text", SVG)
        )
        for e in root.findall(".//svg:g[@class='edge']", SVG)
    }
    assert edges == {
        "in0_0->n0": "N×3×32×32",
        "n0->n1": "N×8×15×15",
        "n1->n2": "N×8×15×15",
        "n2->n3": "N×8×7×7",
        "n3->n4": "",
        "n4->n5": "",
        "n5->out0_0": "N×10",
    }


def control_flow() -> Graph:
    body = Graph(
        "body",
        [Value("i", "int64", ()), Value("cond_in", "bool", ()), f32("acc", 1, 4)],
        [Value("cond_out", "bool", ()), f32("acc_out", 1, 4)],
        nodes=[
            Node("keep", "Identity", ["cond_in"], ["cond_out"]),
            Node("step", "Add", ["acc", "x"], ["acc_out"]),  # reads x from the enclosing graph
        ],
    )
    then_branch = Graph("then", [], [f32("t", 1, 4)], nodes=[Node("then_relu", "Relu", ["looped"], ["t"])])
    else_branch = Graph(
        "else",
        [],
        [f32("e", 1, 4)],
        nodes=[Node("else_mm", "MatMul", ["looped", "m"], ["e"])],
        tensors={"m": weight("m", (4, 4))},
    )
    return Graph(
        "control",
        [f32("x", 1, 4), Value("trips", "int64", ()), Value("flag", "bool", ())],
        [f32("y", 1, 4)],
        nodes=[
            Node("loop", "Loop", ["trips", "", "x"], ["looped"], {"body": body}),
            Node("pick", "If", ["flag"], ["y"], {"then_branch": then_branch, "else_branch": else_branch}),
        ],
    )


@needs_dot
def test_subgraphs_are_clusters_with_walk_order_ids(tmp_path: Path) -> None:
    graph = control_flow()
    out = tmp_path / "control.svg"
    render(graph, out)
    nodes = svg_nodes(out)
    walked = [n.name for n in graph.walk()]
    assert walked == ["loop", "keep", "step", "pick", "then_relu", "else_mm"]
    ir_ids = sorted(t for t in nodes if re.fullmatch(r"n\d+", t))
    assert ir_ids == sorted(f"n{i}" for i in range(len(walked)))
    for i, name in enumerate(walked):
        assert name in node_text(nodes[f"n{i}"])
    io = sorted(t for t in nodes if not re.fullmatch(r"n\d+", t))
    expected_io = ["in0_0", "in0_1", "in0_2", "out0_0", "in1_0", "in1_1", "in1_2", "out1_0", "out1_1"]
    assert io == sorted([*expected_io, "out2_0", "out3_0"])
    root = ET.parse(out).getroot()
    clusters = [
        c.findtext("svg:title", namespaces=SVG) for c in root.findall(".//svg:g[@class='cluster']", SVG)
    ]
    assert sorted(clusters) == ["cluster_1", "cluster_2", "cluster_3"]
    edges = {e.findtext("svg:title", namespaces=SVG) for e in root.findall(".//svg:g[@class='edge']", SVG)}
    assert "in0_0->n2" in edges, "a body node reading an outer value gets an edge from it"
    assert {"out2_0->n3", "out3_0->n3", "n0->n4", "n0->n5"} <= edges
    assert "M ⟨" not in node_text(nodes["n0"]) and "B ⟨4×4⟩" in node_text(nodes["n5"])


def cluster_members(source: str) -> dict[str, set[str]]:
    """Ids each DOT cluster declares or mentions in an edge (which would pull a node into it)."""
    members: dict[str, set[str]] = {"": set()}
    stack = [""]
    for line in source.splitlines():
        opened = re.match(r"\s*subgraph (cluster_\d+) \{", line)
        if opened:
            stack.append(opened.group(1))
            members[opened.group(1)] = set()
        elif line.strip() == "}":
            stack.pop()
        elif statement := re.match(r"\s*(\w+)(?: -> (\w+))?(?: \[|$)", line):
            members[stack[-1]].update(i for i in statement.groups() if i)
    return members


def test_clusters_hold_only_their_own_nodes() -> None:
    members = cluster_members(to_dot(control_flow()))
    assert members["cluster_1"] == {"in1_0", "in1_1", "in1_2", "n1", "n2", "out1_0", "out1_1"}
    assert members["cluster_2"] == {"n4", "out2_0"}
    assert members["cluster_3"] == {"n5", "out3_0"}


@needs_dot
def test_onnx_model_with_if_renders_its_branches(tmp_path: Path) -> None:
    then_g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])],
    )
    else_g = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"]), helper.make_node("Abs", ["e"], ["e2"])],
        "else",
        [],
        [helper.make_tensor_value_info("e2", TensorProto.FLOAT, [2])],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)],
        "iffy",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model_path = tmp_path / "iffy.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), model_path)
    loaded = netinspect.load(model_path)
    out = tmp_path / "iffy.svg"
    render(loaded, out)
    ids = [t for t in svg_nodes(out) if re.fullmatch(r"n\d+", t)]
    assert len(ids) == sum(1 for _ in loaded.walk()) == 4


@needs_dot
def test_dot_text_is_accepted_by_graphviz_and_dot_output_needs_no_binary(tmp_path: Path) -> None:
    for graph in (small_cnn(), control_flow()):
        source = to_dot(graph)
        result = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True, check=False)
        assert result.returncode == 0, result.stderr.decode()
        ET.fromstring(result.stdout)
    out = tmp_path / "cnn.gv"
    render(small_cnn(), out)
    assert out.read_text("utf-8") == to_dot(small_cnn())


@needs_dot
def test_awkward_names_are_escaped(tmp_path: Path) -> None:
    graph = small_cnn()
    graph.nodes[1].name = 'a "quoted" \\N <b>name</b>\\'
    graph.nodes[2].name = "<html-looking>"
    out = tmp_path / "odd.svg"
    render(graph, out)
    nodes = svg_nodes(out)
    assert 'a "quoted" \\N <b>name</b>\\' in node_text(nodes["n1"])
    assert "<html-looking>" in node_text(nodes["n2"])


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_suffix_picks_the_format(tmp_path: Path, suffix: str, magic: bytes) -> None:
    out = tmp_path / f"cnn{suffix}"
    render(small_cnn(), out)
    assert out.read_bytes().startswith(magic)


def residual_chain(blocks: int) -> Graph:
    """Conv → Relu → Add(skip) blocks: a deep graph with long edges, the slow case for dot."""
    nodes, tensors, values, previous = [], {}, {}, "x"
    for i in range(blocks):
        tensors[f"w{i}"] = weight(f"w{i}", (16, 16, 3, 3))
        nodes += [
            Node(f"conv{i}", "Conv", [previous, f"w{i}"], [f"c{i}"], {"pads": [1, 1, 1, 1]}),
            Node(f"relu{i}", "Relu", [f"c{i}"], [f"r{i}"]),
            Node(f"add{i}", "Add", [f"r{i}", previous], [f"a{i}"]),
        ]
        values.update({v: f32(v, 1, 16, 8, 8) for v in (f"c{i}", f"r{i}", f"a{i}")})
        previous = f"a{i}"
    return Graph("deep", [f32("x", 1, 16, 8, 8)], [f32(previous, 1, 16, 8, 8)], nodes, tensors, values)


@needs_dot
def test_large_graphs_render_completely(tmp_path: Path) -> None:
    graph = residual_chain(400)
    out = tmp_path / "deep.svg"
    assert render(graph, out, expand=True) is None
    nodes = svg_nodes(out)
    assert sorted(t for t in nodes if re.fullmatch(r"n\d+", t)) == sorted(f"n{i}" for i in range(1200))
    root = ET.parse(out).getroot()
    edge_texts = [
        " ".join(t.text or "" for t in e.iterfind(".//svg:text", SVG))
        for e in root.iterfind(".//svg:g[@class='edge']", SVG)
    ]
    assert len(edge_texts) == 1 + 400 * 4 and all(text == "1×16×8×8" for text in edge_texts)


def scoped_resnet(stages: int, blocks: int) -> Graph:
    """Residual blocks named like a PyTorch export: /layer1/layer1.0/conv1/Conv."""
    nodes, tensors, values, previous = [], {}, {}, "x"
    for s in range(1, stages + 1):
        for b in range(blocks):
            scope = f"/layer{s}/layer{s}.{b}"
            w = f"{scope}/conv/weight"
            tensors[w] = weight(w, (16, 16, 3, 3))
            nodes += [
                Node(f"{scope}/conv/Conv", "Conv", [previous, w], [f"{scope}/c"], {"pads": [1, 1, 1, 1]}),
                Node(f"{scope}/relu/Relu", "Relu", [f"{scope}/c"], [f"{scope}/r"]),
                Node(f"{scope}/Add", "Add", [f"{scope}/r", previous], [f"{scope}/a"]),
            ]
            values.update({v: f32(v, 1, 16, 8, 8) for v in (f"{scope}/c", f"{scope}/r", f"{scope}/a")})
            previous = f"{scope}/a"
    return Graph("resnet", [f32("x", 1, 16, 8, 8)], [f32(previous, 1, 16, 8, 8)], nodes, tensors, values)


@needs_dot
def test_large_graphs_collapse_scopes_into_group_nodes(tmp_path: Path) -> None:
    graph = scoped_resnet(4, 100)  # 1200 nodes in 4 stages of 100 blocks
    out = tmp_path / "resnet.svg"
    note = render(graph, out)
    assert note is not None and "1,200 nodes" in note and "--expand" in note
    root = ET.parse(out).getroot()
    titles = {g.find("svg:title", SVG).text: g for g in root.iterfind(".//svg:g[@class='node']", SVG)}
    groups = [t for t in titles if t.startswith("group")]
    assert groups and len(titles) <= 200 + 2
    texts = " ".join(t.text or "" for g in groups for t in titles[g].iterfind(".//svg:text", SVG))
    assert "layer1" in texts and "nodes" in texts
    assert render(graph, out, expand=True) is None
    assert len([t for t in svg_nodes(out) if re.fullmatch(r"n\d+", t)]) == 1200


@needs_dot
def test_svg_tooltips_name_op_and_key_attributes(tmp_path: Path) -> None:
    out = tmp_path / "cnn.svg"
    render(small_cnn(), out)
    root = ET.parse(out).getroot()
    tips = [a.get(f"{{{SVG['xlink']}}}title") for a in root.iterfind(".//svg:g[@class='node']//svg:a", SVG)]
    conv = next(t for t in tips if t and t.startswith("Conv conv1"))
    assert "strides = 2,2" in conv and "kernel_shape = 3,3" in conv and "transpose" in conv


def test_missing_dot_is_a_missing_dependency_and_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "cnn.svg"
    out.write_text("previous")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MissingDependencyError) as raised:
        render(small_cnn(), out)
    assert "apt-get install graphviz" in str(raised.value) and raised.value.exit_code == 2
    assert out.read_text() == "previous"
    render(small_cnn(), tmp_path / "cnn.dot")  # DOT text is still available
    assert (tmp_path / "cnn.dot").read_text("utf-8").startswith("digraph")


def test_unknown_suffix_and_missing_folder_are_output_errors(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="unknown output format"):
        render(small_cnn(), tmp_path / "cnn.jpeg2000")
    with pytest.raises(OutputError, match="does not exist"):
        render(small_cnn(), tmp_path / "no" / "cnn.dot")
