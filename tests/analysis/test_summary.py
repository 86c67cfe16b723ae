"""`info`: compute estimates checked against the textbook formulas, parameter tallies, histogram,
the JSON schema, and the rule that a summary never reads a tensor's bytes."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from rich.console import Console

from netinspect.analysis.summary import info_schema, summarize
from netinspect.ir import Graph, Metadata, Node, Preprocessing, Provenance, Step, Tensor, Value
from netinspect.renderers.text import print_summary, to_json


def weight(name: str, shape: tuple[int, ...], dtype: str = "float32") -> Tensor:
    """A tensor whose bytes cannot be read: a summary that tries fails the test."""

    def refuse() -> np.ndarray:
        raise AssertionError(f"summary read the bytes of {name}")

    return Tensor(name, dtype, shape, loader=refuse)


def f32(name: str, *shape: int | str | None) -> Value:
    return Value(name, "float32", tuple(shape))


def conv_out(size: int, kernel: int, stride: int, pad: int, dilation: int = 1) -> int:
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def single(node: Node, inputs: list[Value], outputs: list[Value], tensors: list[Tensor], values=()) -> Graph:
    return Graph(
        "g",
        inputs,
        outputs,
        nodes=[node],
        tensors={t.name: t for t in tensors},
        values={v.name: v for v in values},
    )


def test_conv_macs_follow_the_formula_with_groups_strides_and_padding() -> None:
    n, cin, h, w, cout, group, k, stride, pad = 2, 8, 33, 17, 12, 4, 3, 2, 1
    hout, wout = conv_out(h, k, stride, pad), conv_out(w, k, stride, pad)
    graph = single(
        Node(
            "c", "Conv", ["x", "w", "b"], ["y"], {"group": group, "strides": [stride] * 2, "pads": [pad] * 4}
        ),
        [f32("x", n, cin, h, w)],
        [f32("y", n, cout, hout, wout)],
        [weight("w", (cout, cin // group, k, k)), weight("b", (cout,))],
    )
    expected = n * cout * hout * wout * (cin // group) * k * k
    compute = summarize(graph)["compute"]
    assert compute["macs"] == expected
    assert compute["flops"] == 2 * expected
    assert compute["by_op"]["Conv"] == {"nodes": 1, "macs": expected, "flops": 2 * expected, "unknown": 0}
    assert compute["unknown"] == {"count": 0, "nodes": []}


@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_UPPER", "VALID"])
def test_conv_output_size_is_derived_from_attributes_when_not_recorded(auto_pad: str) -> None:
    n, cin, h, w, cout, k, stride, dilation = 1, 3, 31, 20, 5, 5, 3, 2
    pads = [2, 1, 3, 0]
    attrs = {"strides": [stride, stride], "dilations": [dilation, dilation], "auto_pad": auto_pad}
    if auto_pad == "NOTSET":
        attrs["pads"] = pads
    extent = dilation * (k - 1) + 1
    if auto_pad == "SAME_UPPER":
        hout, wout = -(-h // stride), -(-w // stride)
    elif auto_pad == "VALID":
        hout, wout = (h - extent) // stride + 1, (w - extent) // stride + 1
    else:
        hout, wout = (
            (h + pads[0] + pads[2] - extent) // stride + 1,
            (w + pads[1] + pads[3] - extent) // stride + 1,
        )
    graph = single(
        Node("c", "Conv", ["x", "w"], ["y"], attrs),
        [f32("x", n, cin, h, w)],
        [Value("y")],  # shape unknown: the estimate must derive it
        [weight("w", (cout, cin, k, k))],
    )
    assert summarize(graph)["compute"]["macs"] == n * cout * hout * wout * cin * k * k


def test_conv_transpose_macs_scatter_each_input_through_the_kernel() -> None:
    n, cin, h, w, cout, group, k = 1, 8, 10, 6, 6, 2, 4
    graph = single(
        Node("ct", "ConvTranspose", ["x", "w"], ["y"], {"group": group, "strides": [2, 2]}),
        [f32("x", n, cin, h, w)],
        [Value("y")],
        [weight("w", (cin, cout // group, k, k))],
    )
    assert summarize(graph)["compute"]["macs"] == n * cin * h * w * (cout // group) * k * k


@pytest.mark.parametrize("trans_a, trans_b", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_gemm_macs_are_m_k_n_through_transposes(trans_a: int, trans_b: int) -> None:
    m, k, n = 3, 4096, 1000
    a_shape = (k, m) if trans_a else (m, k)
    b_shape = (n, k) if trans_b else (k, n)
    graph = single(
        Node("fc", "Gemm", ["a", "b", "c"], ["y"], {"transA": trans_a, "transB": trans_b}),
        [f32("a", *a_shape)],
        [f32("y", m, n)],
        [weight("b", b_shape), weight("c", (n,))],
    )
    assert summarize(graph)["compute"]["macs"] == m * k * n


def test_gemm_uses_the_output_when_its_input_shape_is_unknown() -> None:
    graph = single(
        Node("fc", "Gemm", ["a", "b"], ["y"], {"transB": 1}),
        [Value("a")],
        [f32("y", 7, 10)],
        [weight("b", (10, 300))],
    )
    assert summarize(graph)["compute"]["macs"] == 7 * 300 * 10


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ((5, 7), (7, 4), 5 * 7 * 4),
        ((2, 1, 5, 7), (3, 7, 4), 2 * 3 * 5 * 7 * 4),  # batch dims broadcast to 2×3
        ((7,), (7, 4), 7 * 4),  # 1-D A is a row
        ((6, 5, 7), (7,), 6 * 5 * 7),  # 1-D B is a column
    ],
)
def test_matmul_macs_follow_numpy_matmul(a: tuple, b: tuple, expected: int) -> None:
    result_shape = np.matmul(np.zeros(a), np.zeros(b)).shape
    graph = single(
        Node("mm", "MatMul", ["a", "b"], ["y"]), [f32("a", *a), f32("b", *b)], [f32("y", *result_shape)], []
    )
    assert summarize(graph)["compute"]["macs"] == expected


def test_symbolic_batch_is_counted_per_item_and_said() -> None:
    graph = single(
        Node("c", "Conv", ["x", "w"], ["y"]),
        [f32("x", "N", 3, 8, 8)],
        [f32("y", "N", 4, 6, 6)],
        [weight("w", (4, 3, 3, 3))],
    )
    compute = summarize(graph)["compute"]
    assert compute["macs"] == 1 * 4 * 6 * 6 * 3 * 3 * 3
    assert compute["symbolic_dims_as_1"] == ["N"]


def test_nodes_with_unknown_shapes_are_listed_not_guessed() -> None:
    graph = Graph(
        "g",
        [Value("x"), f32("a", 4, 32)],
        [Value("y"), Value("z")],
        nodes=[
            Node("mystery", "MatMul", ["x", "w"], ["y"]),
            Node("known", "MatMul", ["a", "v"], ["z"]),
        ],
        tensors={"w": weight("w", (16, 32)), "v": weight("v", (32, 8))},
    )
    compute = summarize(graph)["compute"]
    assert compute["unknown"] == {"count": 1, "nodes": ["mystery"]}
    assert compute["macs"] == 4 * 32 * 8
    assert compute["by_op"]["MatMul"]["unknown"] == 1


def test_parameters_tally_initializers_constants_and_constant_of_shape_by_dtype() -> None:
    shape_of_fill = weight("fill_shape", (2,), "int64")
    graph = Graph(
        "g",
        [f32("x", 1, 4)],
        [Value("y")],
        nodes=[
            Node("k", "Constant", [], ["k_out"], {"value": weight("k_value", (3, 5), "float16")}),
            Node("s", "Constant", [], ["s_out"], {"value_floats": [1.0, 2.0]}),
            Node("fill", "ConstantOfShape", ["fill_shape"], ["filled"]),
            Node("dyn", "ConstantOfShape", ["x"], ["dyn_out"]),  # shape from an activation: not a weight
            Node("add", "Add", ["x", "w"], ["y"]),
        ],
        tensors={"w": weight("w", (1, 4)), "q": weight("q", (10, 10), "int8"), "fill_shape": shape_of_fill},
        values={"filled": f32("filled", 6, 7)},
    )
    params = summarize(graph)["parameters"]
    assert params["count"] == 4 + 100 + 2 + 15 + 2 + 42
    assert params["bytes"] == 4 * 4 + 100 + 2 * 8 + 15 * 2 + 2 * 4 + 42 * 4
    assert params["tensors"] == 6
    assert params["by_dtype"]["float16"] == {"tensors": 1, "count": 15, "bytes": 30}
    assert params["by_dtype"]["int8"] == {"tensors": 1, "count": 100, "bytes": 100}
    assert params["by_source"]["constant_of_shape"] == {"tensors": 1, "count": 42, "bytes": 168}
    assert params["by_source"]["constant"]["count"] == 17
    assert params["unknown_tensors"] == 0


def if_graph() -> Graph:
    """Top level Conv → If whose branches hold a Relu and a MatMul; a custom-domain op at the end."""
    then_branch = Graph("then", [], [f32("t", 1, 4)], nodes=[Node("then_relu", "Relu", ["y"], ["t"])])
    else_branch = Graph(
        "else",
        [],
        [f32("e", 1, 4)],
        nodes=[Node("else_mm", "MatMul", ["y", "m"], ["e"])],
        tensors={"m": weight("m", (4, 4))},
    )
    prov = Provenance(
        "matconvnet",
        "conv1",
        "conv",
        [Step("transpose", "kernel HWIO → OIHW (perm 3,2,0,1)"), Step("flip", "kernel flipped")],
    )
    other = Provenance(
        "matconvnet", "conv2", "conv", [Step("transpose", "kernel HWIO → OIHW (perm 3,2,0,1)")]
    )
    return Graph(
        "branchy",
        [f32("x", "N", 4), Value("cond", "bool", ())],
        [f32("z", "N", 4)],
        nodes=[
            Node("fc1", "Gemm", ["x", "w1"], ["y"], {"transB": 1}, provenance=prov),
            Node("pick", "If", ["cond"], ["r"], {"then_branch": then_branch, "else_branch": else_branch}),
            Node("fc2", "Gemm", ["r", "w2"], ["g"], provenance=other),
            Node("custom", "FusedThing", ["g"], ["z"], domain="com.example"),
        ],
        tensors={"w1": weight("w1", (4, 4)), "w2": weight("w2", (4, 4))},
        values={"y": f32("y", "N", 4), "r": f32("r", "N", 4), "g": f32("g", "N", 4)},
        metadata=Metadata(
            source_format="matconvnet",
            format_version="simplenn",
            producer="tests",
            labels=[f"class {i}" for i in range(10)],
            label_descriptions=[f"description {i}" for i in range(10)],
            preprocessing=Preprocessing(
                mean=[122.7, 116.6, 104.0],
                mean_image=weight("mean_image", (3, 8, 8)),
                image_size=(224, 224),
                channel_order="RGB",
                input_layout="NCHW",
                value_range=(0.0, 255.0),
                extra={"interpolation": "bilinear", "crop": np.float32(0.875), "box": (1, 2)},
            ),
            properties={"author": "someone"},
            notes=["a note"],
        ),
    )


def test_histogram_counts_subgraph_nodes_and_names_custom_domains() -> None:
    summary = summarize(if_graph())
    assert summary["ops"] == {"Gemm": 2, "If": 1, "MatMul": 1, "Relu": 1, "com.example.FusedThing": 1}
    assert summary["nodes"] == {"count": 4, "total": 6, "subgraphs": 2}
    assert summary["parameters"]["count"] == 3 * 16  # the else branch's weight included


def test_provenance_counts_steps_and_distinct_transforms() -> None:
    prov = summarize(if_graph())["provenance"]
    assert prov["nodes"] == 2
    assert prov["frameworks"]["matconvnet"] == {
        "nodes": 2,
        "nodes_with_steps": 2,
        "steps": {"flip": 1, "transpose": 2},
        "layer_types": {"conv": 2},
    }
    assert prov["transforms"] == [
        {"kind": "transpose", "text": "kernel HWIO → OIHW (perm 3,2,0,1)", "nodes": 2},
        {"kind": "flip", "text": "kernel flipped", "nodes": 1},
    ]


def test_metadata_reports_preprocessing_and_the_first_labels() -> None:
    meta = summarize(if_graph())["metadata"]
    assert meta["labels"]["count"] == 10
    assert meta["labels"]["first"] == [f"class {i}" for i in range(5)]
    pre = meta["preprocessing"]
    assert pre["mean_image"] == {"dtype": "float32", "shape": [3, 8, 8]}
    assert pre["image_size"] == [224, 224]
    assert pre["extra"] == {"interpolation": "bilinear", "crop": pytest.approx(0.875), "box": [1, 2]}
    assert meta["properties"] == {"author": "someone"}


def test_node_list_has_shapes_weights_and_provenance() -> None:
    listed = summarize(if_graph(), nodes=True)["nodes"]["list"]
    assert [n["id"] for n in listed] == [f"n{i}" for i in range(6)]
    fc1 = listed[0]
    assert fc1["inputs"] == [{"index": 0, "name": "x", "dtype": "float32", "shape": ["N", 4]}]
    assert fc1["weights"] == [{"index": 1, "name": "w1", "dtype": "float32", "shape": [4, 4]}]
    assert fc1["macs"] == 16
    assert fc1["attributes"] == {"transB": 1}
    assert fc1["provenance"]["steps"][1] == {"kind": "flip", "text": "kernel flipped"}
    assert listed[1]["attributes"]["then_branch"] == {"graph": "then", "nodes": 1}
    assert [n["scope"] for n in listed[2:4]] == ["n1/then_branch", "n1/else_branch"]
    assert listed[3]["weights"][0]["shape"] == [4, 4]


@pytest.mark.parametrize("nodes", [False, True])
def test_json_validates_against_the_published_schema(nodes: bool) -> None:
    text = to_json(summarize(if_graph(), nodes=nodes))
    jsonschema.Draft202012Validator.check_schema(info_schema())
    jsonschema.validate(json.loads(text), info_schema(), cls=jsonschema.Draft202012Validator)


def test_schema_rejects_a_summary_missing_a_section() -> None:
    summary = summarize(if_graph())
    del summary["compute"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(summary, info_schema(), cls=jsonschema.Draft202012Validator)


def test_summary_and_text_never_read_tensor_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(self: Tensor) -> np.ndarray:
        raise AssertionError(f"Tensor.numpy called on {self.name}")

    monkeypatch.setattr(Tensor, "numpy", forbidden)
    graph = if_graph()
    graph.tensors["eager"] = Tensor.from_array("eager", np.ones((2, 3), np.float32))
    summary = summarize(graph, nodes=True)
    print_summary(summary, Console(file=open("/dev/null", "w"), width=200), nodes=True)  # noqa: SIM115
    assert summary["parameters"]["count"] == 3 * 16 + 6


def test_text_output_shows_every_section_and_keeps_brackets() -> None:
    graph = if_graph()
    graph.nodes[0].name = "conv[1]"
    console = Console(record=True, width=200)
    print_summary(summarize(graph, nodes=True), console, nodes=True)
    text = console.export_text()
    for expected in (
        "branchy",
        "N×4",
        "com.example.FusedThing",
        "kernel HWIO → OIHW (perm 3,2,0,1)",
        "class 0, class 1",
        "conv[1]",
        "with N = 1",
        "n1/then_branch",
    ):
        assert expected in text, expected
