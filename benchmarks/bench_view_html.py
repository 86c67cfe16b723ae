"""`view -o page.html` plus the browser's first paint on ResNet-style ONNX graphs of 10,000 and 50,000 nodes.

The graphs are made here (PyTorch-export names such as `/layer2/layer2.17/conv1/Conv`, tiny
channel counts so the files stay small) and cached in fixtures/cache/. Two parts are timed:
  1. `netinspect view MODEL -o page.html` as a user runs it (a fresh process, wall time);
  2. headless Chromium (Debian's, through selenium) from navigation to the page's first paint
     of the graph (the `netinspect-first-paint` performance mark), with no prompt on the way.
The goal (issue 19, tighter than issue 13's 4 s / 15 s): part 1 + part 2 <= 3 s for 10,000 nodes
and <= 12 s for 50,000.

`--source` also times a MatConvNet SimpleNN of as many layers (1×1 conv and ReLU, the same scoped
names), whose page holds two drawings — its source layers, drawn first, and the ONNX graph — to
show what the source view as the default costs.

    .venv/bin/python benchmarks/bench_view_html.py [--nodes 10000 50000] [--source]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import inspect
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "fixtures" / "cache"
CHANNELS = 4


def resnet_model(nodes: int) -> onnx.ModelProto:
    """Stem (4 nodes), bottleneck blocks of 10 nodes in four stages, head (3 nodes): `nodes` in all."""
    rng = np.random.default_rng(0)
    blocks = (nodes - 7) // 10
    extra = nodes - 7 - 10 * blocks  # made up with Identity nodes after the stem
    graph_nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def conv(scope: str, x: str, k: int) -> str:
        w = f"{scope}.weight"
        inits.append(numpy_helper.from_array(rng.standard_normal((CHANNELS, CHANNELS, k, k), np.float32), w))
        out = f"{scope}/Conv_output_0"
        pad = k // 2
        graph_nodes.append(
            helper.make_node("Conv", [x, w], [out], f"{scope}/Conv", kernel_shape=[k, k], pads=[pad] * 4)
        )
        return out

    def bn(scope: str, x: str) -> str:
        names = [f"{scope}.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
        for name, value in zip(names, (1.0, 0.0, 0.0, 1.0), strict=True):
            inits.append(numpy_helper.from_array(np.full(CHANNELS, value, np.float32), name))
        out = f"{scope}/BatchNormalization_output_0"
        graph_nodes.append(
            helper.make_node("BatchNormalization", [x, *names], [out], f"{scope}/BatchNormalization")
        )
        return out

    def relu(scope: str, x: str) -> str:
        out = f"{scope}/Relu_output_0"
        graph_nodes.append(helper.make_node("Relu", [x], [out], f"{scope}/Relu"))
        return out

    x = relu("/relu", bn("/bn1", conv("/conv1", "input", 7)))
    graph_nodes.append(
        helper.make_node(
            "MaxPool",
            [x],
            ["/maxpool/MaxPool_output_0"],
            "/maxpool/MaxPool",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        )
    )
    x = "/maxpool/MaxPool_output_0"
    for i in range(extra):
        graph_nodes.append(
            helper.make_node("Identity", [x], [f"/pad{i}/Identity_output_0"], f"/pad{i}/Identity")
        )
        x = f"/pad{i}/Identity_output_0"
    per_stage = [blocks // 4 + (1 if s < blocks % 4 else 0) for s in range(4)]
    for stage, count in enumerate(per_stage, start=1):
        for b in range(count):
            scope = f"/layer{stage}/layer{stage}.{b}"
            y = relu(f"{scope}/relu", bn(f"{scope}/bn1", conv(f"{scope}/conv1", x, 1)))
            y = relu(f"{scope}/relu_1", bn(f"{scope}/bn2", conv(f"{scope}/conv2", y, 3)))
            y = bn(f"{scope}/bn3", conv(f"{scope}/conv3", y, 1))
            graph_nodes.append(helper.make_node("Add", [y, x], [f"{scope}/Add_output_0"], f"{scope}/Add"))
            x = relu(f"{scope}/relu_2", f"{scope}/Add_output_0")
    inits.append(numpy_helper.from_array(rng.standard_normal((10, CHANNELS), np.float32), "fc.weight"))
    inits.append(numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias"))
    graph_nodes += [
        helper.make_node(
            "GlobalAveragePool", [x], ["/avgpool/GlobalAveragePool_output_0"], "/avgpool/GlobalAveragePool"
        ),
        helper.make_node(
            "Flatten", ["/avgpool/GlobalAveragePool_output_0"], ["/Flatten_output_0"], "/Flatten"
        ),
        helper.make_node(
            "Gemm", ["/Flatten_output_0", "fc.weight", "fc.bias"], ["output"], "/fc/Gemm", transB=1
        ),
    ]
    assert len(graph_nodes) == nodes, (len(graph_nodes), nodes)
    graph = helper.make_graph(
        graph_nodes,
        f"resnet{nodes}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", CHANNELS, 16, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    return onnx.shape_inference.infer_shapes(model)


def resnet_path(nodes: int) -> Path:
    """The cached model file, regenerated when this generator changes."""
    key = hashlib.sha256(inspect.getsource(resnet_model).encode()).hexdigest()[:10]
    path = CACHE / f"bench_resnet_{nodes}_{key}.onnx"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        onnx.save(resnet_model(nodes), tmp)
        tmp.replace(path)
    return path


SEARCHES = {"ONNX": ("layer3.17/conv2", "Conv"), "MatConvNet": ("layer1.17/conv", "conv")}
"""Per model kind: what the first search looks for and how its panel starts (the MatConvNet page
opens on its source layers, so the match is a layer of type `conv`)."""


def simplenn_path(layers: int) -> Path:
    """A MatConvNet SimpleNN of `layers` layers (conv 1×1 then ReLU, in scoped blocks), cached."""
    spec = importlib.util.spec_from_file_location("make_matconvnet", ROOT / "fixtures" / "make_matconvnet.py")
    assert spec and spec.loader
    make = importlib.util.module_from_spec(spec)
    sys.modules["make_matconvnet"] = make  # dataclasses look their module up
    spec.loader.exec_module(make)
    key = hashlib.sha256(inspect.getsource(simplenn_path).encode()).hexdigest()[:10]
    path = CACHE / f"bench_simplenn_{layers}_{key}.mat"
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    cells = []
    for i in range(layers):
        scope = f"/layer{i // 2000 + 1}/layer{i // 2000 + 1}.{i % 2000 // 20}"
        if i % 2 == 0:
            weights = [
                rng.standard_normal((1, 1, CHANNELS, CHANNELS)).astype(np.float32),
                np.zeros((1, CHANNELS), np.float32),
            ]
            cells.append(make.conv(f"{scope}/conv{i}", weights, pad=0, stride=1))
        else:
            cells.append(make.simple("relu", f"{scope}/relu{i}"))
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mat")
    make.write_v5(tmp, {"layers": make.Cell(cells)})
    tmp.replace(path)
    return path


def time_view(model: Path, page: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds of `netinspect view` (CPU says more on a shared, busy machine)."""
    netinspect = Path(sys.executable).with_name("netinspect")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(netinspect), "view", str(model), "-o", str(page)], check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def first_paint(page: Path, search: str = "layer3.17/conv2", expect: str = "Conv") -> dict[str, float]:
    """Milliseconds from navigation to the graph's first paint, and the page's own phases; then the
    first search for `search`, whose panel must start with `expect`."""
    from selenium.webdriver.support.ui import WebDriverWait

    sys.path.insert(0, str(ROOT))
    from tests.renderers.html import chromium

    with tempfile.TemporaryDirectory() as profile:
        driver = chromium.start(Path(profile))
        try:
            driver.set_page_load_timeout(120)
            driver.get(page.as_uri())
            WebDriverWait(driver, 120).until(lambda d: d.execute_script("return document.body.dataset.ready"))
            marks = driver.execute_script(
                "const m = performance.getEntriesByName('netinspect-first-paint')[0];"
                "const fcp = performance.getEntriesByName('first-contentful-paint')[0];"
                "return [m.startTime, fcp ? fcp.startTime : null];"
            )
            # The first search parses the tensor table and one chunk of node details, opens the
            # match's groups, centres it and fills the panel: the slowest interaction there is.
            interact = driver.execute_script(
                "const box = document.getElementById('search'), t = performance.now();"
                f"box.value = {search!r};"
                "box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter'}));"
                "const panel = document.getElementById('panel').innerText;"
                f"if (!panel.startsWith({expect!r})) throw new Error('not found');"
                "return performance.now() - t;"
            )
        finally:
            driver.quit()
    return {"first_paint_ms": marks[0], "fcp_ms": marks[1] or float("nan"), "search_ms": interact}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--source", action="store_true", help="also a MatConvNet model of as many layers")
    args = parser.parse_args()
    models = [(nodes, "ONNX", resnet_path(nodes)) for nodes in args.nodes]
    if args.source:
        models += [(nodes, "MatConvNet", simplenn_path(nodes)) for nodes in args.nodes]
    for nodes, kind, model in models:
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "page.html"
            view_s, view_cpu = time_view(model, page)
            size = page.stat().st_size
            paint = first_paint(page, *SEARCHES[kind])
        total = view_s + paint["first_paint_ms"] / 1000
        print(
            f"{nodes:>6,} {kind} nodes: view {view_s:.2f} s "
            f"(CPU {view_cpu:.2f} s; {size / 2**20:.1f} MiB page), "
            f"first paint {paint['first_paint_ms'] / 1000:.2f} s (FCP {paint['fcp_ms'] / 1000:.2f} s), "
            f"total {total:.2f} s; first search {paint['search_ms']:.0f} ms; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )


if __name__ == "__main__":
    main()
