"""The HTML viewer's Python side: scope groups, level layout, weight statistics, page data, overlay,
and the CLI (`view -o page.html`, `--overlay`, `info --tensor`). The page itself: test_html_browser.py."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from netinspect import registry
from netinspect.analysis.summary import summarize
from netinspect.analysis.tensors import Budget, many_stats, tensor_stats
from netinspect.ir import Tensor
from netinspect.renderers.groups import MAX_LEVEL, build_tree, expanded_within, visible
from netinspect.renderers.html import graph_layout as html_layout
from netinspect.renderers.html import html_page
from netinspect.renderers.html.data import CHUNK, page_data
from netinspect.renderers.html.graph_layout import layout
from netinspect.renderers.html.records import RECORDS
from tests.check.check_models import BROKEN, classifier, save
from tests.conftest import FIXTURES
from tests.renderers.html.models import STACK_TRACE, if_model, scoped_resnet

MATCONVNET = FIXTURES / "matconvnet"


def embedded(page: str, ident: str) -> object:
    match = re.search(rf'<script type="application/json" id="{ident}">(.*?)</script>', page, re.S)
    assert match, ident
    return json.loads(match.group(1))


def named(kind: str, row: list) -> dict:
    """A record as the page reads it: the JSON array with its header's field names."""
    return dict(zip(RECORDS[kind], json.loads(json.dumps(row)), strict=True))


def node_dicts(details: dict) -> list[dict]:
    return [named("node", row) for row in details["nodes"]]


def page_nodes(page: str) -> list[dict]:
    """Every node's details from a written page (its node rows come in chunks of CHUNK)."""
    rows = []
    for k in itertools.count():
        if f'id="nv-nodes-{k}"' not in page:
            return [named("node", row) for row in rows]
        rows += embedded(page, f"nv-nodes-{k}")


def test_scopes_become_groups_and_single_member_scopes_dissolve() -> None:
    names = [
        "",
        "/layer1/layer1.0/conv/Conv",
        "/layer1/layer1.0/Add",
        "/layer1/layer1.1/conv/Conv",
        "/fc/Gemm",
    ]
    ops = [None, "Conv", "Add", "Conv", "Gemm"]
    tree = build_tree(names, ops)
    by_name = {g.name: g for g in tree.groups}
    # layer1.1 and fc hold one node each: they dissolve; layer1.0/conv too.
    assert set(by_name) == {"", "layer1", "layer1/layer1.0"}
    assert by_name["layer1"].size == 3 and by_name["layer1"].ops == {"Conv": 2, "Add": 1}
    assert tree.groups[tree.parent[3]].name == "layer1"
    assert tree.groups[tree.parent[4]].name == ""
    assert [g.name for g in map(tree.groups.__getitem__, tree.ancestors(1))] == [
        "layer1/layer1.0",
        "layer1",
        "",
    ]


def test_flat_levels_are_cut_into_runs_and_budget_opens_breadth_first() -> None:
    count = MAX_LEVEL * 2 + 5
    tree = build_tree([f"node{i}" for i in range(count)], ["Relu"] * count)
    assert all(len(g.members) <= MAX_LEVEL for g in tree.groups)
    assert sum(g.size for g in tree.groups if g.parent == 0) == count
    opened = expanded_within(tree, 10)
    assert opened == {0}
    assert visible(tree, opened, 0)[0] == "group"
    assert visible(tree, {g.index for g in tree.groups}, 0) == ("item", 0)


def test_flat_levels_are_cut_between_blocks() -> None:
    # Flat residual blocks of 7 nodes: a → (b → c → d → e → f) + skip a → add g; the graph narrows
    # to one tensor only after each add, so runs must end there.
    names, edges = [], []
    for block in range(300):
        base = len(names)
        names += [f"n{base + i}" for i in range(7)]
        edges += [(base + i, base + i + 1) for i in range(6)] + [(base, base + 6)]
        if block:
            edges.append((base - 1, base))
    tree = build_tree(names, ["X"] * len(names), edges)
    runs = [g for g in tree.groups if g.parent == 0]
    assert len(runs) > 1
    for run in runs[:-1]:
        last = max(i for kind, i in run.members if kind == "item")
        assert last % 7 == 6, f"{run.name} ends inside a block"


@pytest.mark.parametrize("engine", ["layered", "graphviz"])
def test_layout_ranks_follow_edges_and_long_edges_get_virtual_points(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a → b → c → d with a skip a → d, all in one level
    tree = build_tree(["a", "b", "c", "d"], ["X"] * 4)
    edges = [(0, 1), (1, 2), (2, 3), (0, 3)]
    sizes = None
    if engine == "graphviz":
        if shutil.which("dot") is None:
            pytest.skip("Graphviz 'dot' is not installed")
        sizes = lambda kind, index: (80.0, 30.0)  # noqa: E731
        monkeypatch.setattr(html_layout, "_lay_level", _refuse)  # dot must do it, not the fallback
    levels, placed = layout(tree, edges, sizes)
    root = levels[0]
    slot = {i: root_slot for root_slot, (kind, i) in enumerate(tree.groups[0].members)}
    ranks = [root.rank[slot[i]] for i in range(4)]
    assert ranks == [0, 1, 2, 3]
    skip = root.edges[placed[3][1]]
    assert len(skip[2]) == 2  # virtual points on ranks 1 and 2
    assert [root.virtual[v][0] for v in skip[2]] == [1, 2]
    orders = {(root.rank[s], root.order[s]) for s in range(4)} | {tuple(v) for v in root.virtual}
    assert len(orders) == 4 + 2, "two boxes never share a rank position"


def _refuse(*args: object) -> None:
    raise AssertionError("the layered fallback ran")


def test_weight_statistics_are_exact_within_the_budget() -> None:
    values = np.array([[0.0, 1.5, -2.0], [np.nan, np.inf, 4.0]], np.float32)
    stats = tensor_stats(Tensor.from_array("w", values))
    finite = values[np.isfinite(values)].astype(np.float64)
    assert stats["shape"] == [2, 3] and stats["dtype"] == "float32"
    assert (stats["zeros"], stats["nan"], stats["inf"]) == (1, 1, 1)
    assert stats["min"] == -2.0 and stats["max"] == 4.0
    assert stats["mean"] == pytest.approx(finite.mean()) and stats["std"] == pytest.approx(finite.std())
    assert stats["all_values"] and len(stats["values"]) == 6 and not stats["sampled"]
    assert sum(stats["histogram"]["counts"]) == 4


def test_batched_statistics_agree_with_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    arrays = [
        rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        np.array([0, 5, -7, 123456789], np.int64),
        np.zeros(10, np.float32),
        np.array([1.0, np.nan, 0.0], np.float32),
        rng.uniform(-1e-6, 1e-6, 300).astype(np.float64),
        np.array(3.5, np.float32),
    ]
    tensors = [Tensor.from_array(f"t{i}", a) for i, a in enumerate(arrays)]
    for one, batched in zip(map(tensor_stats, tensors), many_stats(tensors), strict=True):
        assert batched.keys() >= {"min", "max", "mean", "std", "zeros", "nan", "inf", "histogram", "values"}
        for key in ("shape", "size", "zeros", "nan", "inf", "all_values", "sampled"):
            assert batched[key] == one[key], key
        for key in ("min", "max", "mean", "std"):
            assert batched[key] == pytest.approx(one[key], rel=1e-6, abs=1e-12), key
        assert batched["histogram"]["counts"] == one["histogram"]["counts"]
        assert batched["values"] == pytest.approx(one["values"], rel=1e-6, nan_ok=True)
    assert many_stats(tensors)[1]["values"] == [0, 5, -7, 123456789]


def test_large_weights_over_the_budget_are_sampled_not_read_whole() -> None:
    big = np.arange(4_000_000, dtype=np.float32)
    stats = tensor_stats(Tensor.from_array("big", big), Budget(remaining=1024))
    assert stats["sampled"] and stats["counted"] < big.size // 2
    assert stats["values"] == [float(v) for v in range(16)] and not stats["all_values"]
    whole = tensor_stats(Tensor.from_array("big", big), Budget())
    assert not whole["sampled"] and whole["max"] == big.max() and whole["mean"] == pytest.approx(big.mean())


def test_page_ids_match_info_nodes_including_subgraphs(tmp_path: Path) -> None:
    path = tmp_path / "if.onnx"
    onnx.save(if_model(), path)
    graph = registry.load(path)
    view, details = page_data(graph)
    listed = summarize(graph, nodes=True)["nodes"]["list"]
    nodes = node_dicts(details)
    assert [n["id"] for n in listed] == [d["id"] for d in nodes]
    assert [n["name"] for n in listed] == [d["name"] for d in nodes]
    items = [named("item", item) for g in view["graphs"] for item in g["items"]]
    drawn = {item["id"] for item in items if item["kind"] == "node"}
    assert drawn == {n["id"] for n in listed}
    assert nodes[0]["metadata"] == {"pkg.torch.onnx.stack_trace": STACK_TRACE}
    owner = next(d for d in nodes if d["op"] == "If")
    branches = {s["attribute"]: s["graph"] for s in (named("subgraph", s) for s in owner["subgraphs"])}
    assert set(branches) == {"then_branch", "else_branch"}
    for index in branches.values():
        assert view["graphs"][index]["owner"] == int(owner["id"][1:]) and view["graphs"][index]["up"] == 0


def test_node_details_carry_attributes_provenance_weights_and_operator_docs() -> None:
    graph = registry.load(MATCONVNET / "simplenn_beta17.mat")
    _, details = page_data(graph)
    conv = next(d for d in node_dicts(details) if d["op"] == "Conv")
    attrs = {a["name"]: a for a in (named("attribute", a) for a in conv["attributes"])}
    assert "kernel_shape" in attrs and attrs["kernel_shape"]["text"].startswith("[")
    provenance = named("provenance", conv["provenance"])
    steps = [named("step", s) for s in provenance["steps"]]
    assert provenance["framework"] == "matconvnet" and any(s["kind"] == "transpose" for s in steps)
    weight = next(i for i in (named("input", i) for i in conv["inputs"]) if i["kind"] == "weight")
    stats = named("weight", details["weights"][weight["weight"]])
    array = graph.tensors[weight["name"]].numpy()
    assert stats["shape"] == list(array.shape)
    assert stats["min"] == pytest.approx(float(array.min())) and stats["max"] == pytest.approx(
        float(array.max())
    )
    doc = details["operators"][conv["operator"]]
    assert doc["name"] == "Conv" and "convolution" in doc["doc"].lower()
    assert {a["name"] for a in doc["attributes"]} >= {"kernel_shape", "pads", "strides"}
    assert doc["constraints"] and doc["inputs"][0]["name"] == "X"


def test_page_is_self_contained_and_data_cannot_close_its_script(tmp_path: Path) -> None:
    model = scoped_resnet(1, 2)
    model.graph.node[0].name = "</script><script>alert(1)</script>"
    path = tmp_path / "evil.onnx"
    onnx.save(model, path)
    page = html_page(registry.load(path))
    assert page.count("</script>") == page.count("<script")  # no name closed an element early
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "default-src 'none'" in page
    view = embedded(page, "nv-view")
    labels = [
        line
        for item in view["graphs"][0]["items"]
        for line in dict(zip(view["fields"]["item"], item, strict=True))["lines"]
    ]
    assert any(line.endswith("</script>") or "alert" in line for line in labels)


def test_node_rows_are_split_into_chunks_parsed_on_demand(tmp_path: Path) -> None:
    path = tmp_path / "scoped.onnx"
    onnx.save(scoped_resnet(4, 100), path)  # 1,201 nodes
    graph = registry.load(path)
    page = html_page(graph)
    nodes = page_nodes(page)
    assert f'id="nv-nodes-{(len(nodes) - 1) // CHUNK}"' in page and len(nodes) > CHUNK
    assert [n["id"] for n in nodes] == [n["id"] for n in summarize(graph, nodes=True)["nodes"]["list"]]


def test_overlay_marks_the_first_diverging_layer_from_a_real_check(cli, tmp_path: Path) -> None:
    edit, layer = BROKEN["kernel_flipped"]
    correct = save(classifier(), tmp_path / "correct.onnx")
    broken = save(classifier(edit), tmp_path / "broken.onnx")
    report = tmp_path / "report.json"
    assert cli("check", correct, broken, "--json", report).code == 1
    page = tmp_path / "page.html"
    result = cli("view", broken, "-o", page, "--overlay", report)
    assert result.code == 0, result.err
    overlay = embedded(page.read_text(encoding="utf-8"), "nv-overlay")
    names = {d["id"]: d["name"] for d in page_nodes(page.read_text(encoding="utf-8"))}
    marks = {names[k]: v for k, v in overlay["nodes"].items()}
    assert marks[layer]["status"] == "first" and marks[layer]["max_abs_error"] > 1e-2
    assert marks["prob"]["status"] == "fail"
    assert overlay["first"] == layer and overlay["tolerance"]["rtol"] > 0


def test_view_html_cli_and_errors(cli, tmp_path: Path) -> None:
    model = MATCONVNET / "dagnn_residual.mat"
    page = tmp_path / "model.html"
    result = cli("view", model, "-o", page)
    assert result.code == 0 and page.stat().st_size > 10_000
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "other"}')
    result = cli("view", model, "-o", tmp_path / "x.html", "--overlay", bad)
    assert result.code == 2 and "not a netinspect check report" in result.err and result.err[-1] == "\n"
    opened = embedded(page.read_text(encoding="utf-8"), "nv-view")["graphs"][0]
    expanded = tmp_path / "expanded.html"
    assert cli("view", model, "-o", expanded, "--expand").code == 0
    every = embedded(expanded.read_text(encoding="utf-8"), "nv-view")["graphs"][0]
    assert every["open"] == list(range(len(every["groups"]))) and len(opened["open"]) <= len(every["open"])
    result = cli("view", model, "-o", tmp_path / "x.svg", "--overlay", bad)
    assert result.code == 2 and "--overlay needs an .html output" in result.err


def test_info_tensor_prints_statistics_and_saves_npy(cli, tmp_path: Path) -> None:
    model = MATCONVNET / "simplenn_pre_beta11.mat"
    graph = registry.load(model)
    name, tensor = "fc2_filter", graph.tensors["fc2_filter"]  # 10×8×7×14: abbreviated
    out = tmp_path / "w.npy"
    result = cli("info", model, "--tensor", name, "-o", out)
    assert result.code == 0, result.err
    array = tensor.numpy()
    assert np.array_equal(np.load(out), array)
    assert f"{float(array.min()):.6g}" in result.out and f"{float(array.max()):.6g}" in result.out
    assert "…" in result.out or "..." in result.out
    missing = cli("info", model, "--tensor", "no_such_tensor")
    assert missing.code == 2 and "no_such_tensor" in missing.err


def test_info_tensor_reads_onnx_initializers_and_constants(cli, tmp_path: Path) -> None:
    value = np.array([1, -1, 0, 7], np.int64)
    graph = helper.make_graph(
        [
            helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(value)),
            helper.make_node("Reshape", ["x", "shape"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 2, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    path = tmp_path / "c.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    result = cli("info", path, "--tensor", "shape", "-o", tmp_path / "s.npy")
    assert result.code == 0, result.err
    assert np.array_equal(np.load(tmp_path / "s.npy"), value)
    _, details = page_data(registry.load(path))
    stats = named("weight", next(iter(details["weights"].values())))
    assert stats["all_values"] and stats["values"] == [1, -1, 0, 7]


def test_every_record_has_its_headers_fields(tmp_path: Path) -> None:
    """The page reads records by the names in `view.fields`: each row must carry exactly those."""
    path = tmp_path / "if.onnx"
    onnx.save(if_model(), path)
    page = html_page(registry.load(MATCONVNET / "dagnn_residual.mat")) + html_page(registry.load(path))
    views = [json.loads(m) for m in re.findall(r'id="nv-view">(.*?)</script>', page, re.S)]
    fields = views[0]["fields"]
    assert {k: tuple(v) for k, v in fields.items()} == RECORDS

    def check(kind: str, row: list) -> dict:
        assert isinstance(row, list) and len(row) == len(fields[kind]), (kind, row)
        return dict(zip(fields[kind], row, strict=True))

    for view in views:
        for g in view["graphs"]:
            for item in g["items"]:
                assert check("item", item)["kind"] in {"node", "layer", "input", "output"}
            for group in (check("group", row) for row in g["groups"]):
                for point in group["virtual"]:
                    check("virtual_point", point)
                for edge in group["edges"]:
                    check("level_edge", edge)
            for edge in g["edges"]:
                check("edge", edge)
    for node in page_nodes(page):
        for kind in ("input", "output", "attribute", "subgraph"):
            for row in node[kind + "s"]:
                check(kind, row)
        if node["provenance"] is not None:
            for step in check("provenance", node["provenance"])["steps"]:
                check("step", step)
    layers = [
        check("layer", row)
        for m in re.findall(r'id="nv-layers">(.*?)</script>', page, re.S)
        for row in json.loads(m)
    ]
    assert layers, "MatConvNet layers are drawn as the file describes them"
    for layer in layers:
        for setting in layer["config"]:
            check("setting", setting)
        for tensor in layer["inputs"] + layer["outputs"] + layer["weights"]:
            check("source_tensor", tensor)
    for block, kind in (("nv-values", "value"), ("nv-weights", "weight")):
        for match in re.findall(rf'id="{block}">(.*?)</script>', page, re.S):
            rows = json.loads(match).values()
            assert rows and all(check(kind, row) for row in rows)


def test_page_script_is_split_by_job_and_inlined_whole() -> None:
    from importlib import resources

    from netinspect.renderers.html import SCRIPTS

    page = html_page(registry.load(MATCONVNET / "dagnn_residual.mat"))
    assets = resources.files("netinspect.renderers.html").joinpath("assets")
    names = sorted(p.name for p in assets.iterdir() if p.name.endswith(".js"))
    assert names == sorted(SCRIPTS), "every script file is inlined, in a stated order"
    for name in names:
        assert assets.joinpath(name).read_text(encoding="utf-8") in page
    for path in assets.iterdir():
        lines = path.read_text(encoding="utf-8").splitlines()
        long = [n for n, line in enumerate(lines, 1) if len(line) > 110]
        assert long == [], f"{path.name}: lines over 110 characters: {long}"


def test_the_same_model_gives_the_same_page_whatever_the_hash_seed(tmp_path: Path) -> None:
    """A page is a function of the model: Python's per-process string hashing (set order) must not
    reorder anything in it (the model panel's transforms once came out in either order)."""
    model = FIXTURES / "matconvnet" / "simplenn_beta17.mat"
    pages = []
    for seed in ("1", "2"):
        page = tmp_path / f"page{seed}.html"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-m", "netinspect", "view", str(model), "-o", str(page)],
                       env=env, check=True, capture_output=True)  # fmt: skip
        pages.append(page.read_bytes())
    assert pages[0] == pages[1]
