"""The viewer page in a real browser (headless Debian Chromium): pages made from real fixtures load
with no console error and no network request, search finds and centres a node, clicks show a node's
attributes and provenance, an edge's producer and consumers, groups collapse and expand, subgraphs
open with a breadcrumb back, and a check report paints the graph. Each test saves a screenshot."""

from __future__ import annotations

from pathlib import Path

import onnx
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from netinspect import registry
from netinspect.renderers.html import render_html
from netinspect.renderers.html.data import OPEN_BUDGET
from tests.check.check_models import BROKEN, classifier, save
from tests.conftest import FIXTURES, ONNX_TEST_DATA, fixture_generator
from tests.renderers.html.conftest import Browser
from tests.renderers.html.models import if_model, scoped_resnet


def page_of(model: Path, tmp_path: Path, start: str = "source") -> Path:
    page = tmp_path / f"{model.stem}.html"
    render_html(registry.load(model), page, start=start)
    return page


def assert_clean(browser: Browser, page: Path) -> None:
    assert browser.console_errors() == []
    assert browser.requests(page) == []


def search(browser: Browser, text: str) -> None:
    box = browser.driver.find_element(By.ID, "search")
    box.clear()
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def test_matconvnet_page_search_attributes_and_provenance(browser: Browser, tmp_path: Path) -> None:
    page = page_of(FIXTURES / "matconvnet" / "dagnn_residual.mat", tmp_path, start="onnx")
    browser.open(page)
    assert browser.js("return window.netinspect.graph()") == 0, "--graph onnx: the page opens on ONNX"
    assert_clean(browser, page)
    assert "dagnn_residual" in browser.panel()  # the model panel before any click

    search(browser, "conv2b")
    panel = browser.panel()
    assert panel.startswith("Conv") and "conv2b" in panel
    assert "kernel_shape" in panel and "[3, 3]" in panel
    assert "PROVENANCE" in panel.upper() and "matconvnet" in panel and "transpose" in panel
    assert "min / max" in panel  # the kernel's statistics
    box = browser.js("return window.netinspect.locate('n6')")
    width, height = browser.js("return [innerWidth, innerHeight]")
    assert 0 < box["x"] < width and 0 < box["y"] < height, "the match is centred on screen"
    assert browser.driver.find_element(By.ID, "count").text == "1/2"  # then the source layer conv2b
    browser.screenshot(tmp_path / "search.png")
    search(browser, "LeakyRelu")  # typed and entered at once: the new words are searched, not the old
    assert browser.panel().startswith("LeakyRelu") and "relu2" in browser.panel()
    search(browser, "up_f")  # a weight's name finds the node that uses it
    assert browser.panel().startswith("ConvTranspose") and "up_f" in browser.panel()
    assert_clean(browser, page)


def test_click_node_and_edge_on_onnx_resnet(browser: Browser, tmp_path: Path) -> None:
    page = page_of(ONNX_TEST_DATA / "light" / "light_resnet50.onnx", tmp_path)
    browser.open(page)
    conv, output, user = browser.js(
        "const nodes = window.netinspect.nodes(), c = nodes.find((n) => n.op === 'Conv');"
        "const out = c.outputs[0].name;"
        "return [c.id, out, nodes.find((n) => n.inputs.some((i) => i.name === out)).id]"
    )
    browser.click_box(conv)
    panel = browser.panel()
    assert panel.startswith("Conv") and "PROVENANCE" in panel.upper() and "onnx" in panel
    assert "operator documentation" in panel
    middle = browser.js("return window.netinspect.edge(arguments[0])", output)
    browser.click_at(middle["x"], middle["y"])
    panel = browser.panel()
    assert panel.startswith(output) and "Producer" in panel and "Consumers" in panel
    assert conv in panel and user in panel
    browser.screenshot(tmp_path / "edge.png")
    browser.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    try:
        background = browser.js("return getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(13, 17, 23)"
        browser.screenshot(tmp_path / "dark.png")
    finally:
        browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert_clean(browser, page)


def test_large_graph_opens_collapsed_and_groups_toggle(browser: Browser, tmp_path: Path) -> None:
    model = tmp_path / "scoped.onnx"
    onnx.save(scoped_resnet(4, 100), model)  # 1,201 nodes
    page = page_of(model, tmp_path)
    browser.open(page)
    shown = browser.js("return window.netinspect.shown()")
    assert len(shown) <= OPEN_BUDGET and "g:layer2" in shown, "large graphs open collapsed"
    assert sum(ident.startswith("n") for ident in shown) < 10
    browser.click_box("g:layer2")
    opened = browser.js("return window.netinspect.shown()")
    assert "g:layer2" not in opened and "g:layer2/layer2.0" in opened and len(opened) == len(shown) + 99
    browser.screenshot(tmp_path / "expanded.png")
    frame = browser.js("return window.netinspect.locate('g:layer2')")
    assert frame["open"]
    browser.click_at(frame["x"] + 20, frame["y"] + 8)  # the open group's title bar closes it
    assert browser.js("return window.netinspect.shown()") == shown

    before = browser.js("return window.netinspect.view()")
    browser.driver.find_element(By.ID, "stage").send_keys("+")
    browser.driver.find_element(By.ID, "stage").send_keys(Keys.ARROW_LEFT)
    after = browser.js("return window.netinspect.view()")
    assert after["scale"] > before["scale"] and after["tx"] != before["tx"]
    search(browser, "layer3.42/relu")
    assert "g:layer3/layer3.42" not in browser.js("return window.netinspect.shown()")
    assert browser.panel().startswith("Relu") and "/layer3/layer3.42/relu/Relu" in browser.panel()
    add = browser.js("return window.netinspect.nodes().find((n) => n.name === '/layer3/layer3.42/Add').id")
    into = browser.js("return window.netinspect.into(arguments[0])", add)
    assert len(into) == 2, "the Add's own Relu and the skip from the block before"
    relu = browser.js(
        "return window.netinspect.nodes().find((n) => n.name === '/layer3/layer3.42/relu/Relu').id"
    )
    skip = next(e for e in into if e["from"] != relu)
    x, _, w, _ = skip["box"]
    assert max(px for px, _ in skip["pts"]) > x + w, "the skip goes around the block, not through it"
    browser.screenshot(tmp_path / "found.png")
    assert_clean(browser, page)


def test_subgraphs_open_with_a_breadcrumb_back(browser: Browser, tmp_path: Path) -> None:
    model = tmp_path / "if.onnx"
    onnx.save(if_model(), model)
    page = page_of(model, tmp_path)
    browser.open(page)
    browser.click_box("n0")
    assert "NODE METADATA" in browser.panel().upper() and "total = x.sum()" in browser.panel()
    browser.click_box("n2")
    assert "SUBGRAPHS" in browser.panel().upper()
    browser.driver.find_element(By.XPATH, "//button[starts-with(., 'open then_branch')]").click()
    subgraphs = browser.js("return window.netinspect.nodes()[2].subgraphs")
    branches = {s["attribute"]: s["graph"] for s in subgraphs}
    assert browser.js("return window.netinspect.graph()") == branches["then_branch"]
    then_ids = browser.js(
        "return window.netinspect.nodes().filter((n) => n.name.startsWith('then_')).map((n) => n.id)"
    )
    assert len(then_ids) == 2 and set(browser.js("return window.netinspect.shown()")) >= set(then_ids)
    crumbs = browser.driver.find_element(By.ID, "crumbs").text
    assert "then_branch" in crumbs and "with_if" in crumbs
    browser.screenshot(tmp_path / "subgraph.png")
    browser.driver.find_element(By.CSS_SELECTOR, "#crumbs a").click()
    assert browser.js("return window.netinspect.graph()") == 0
    assert_clean(browser, page)


def test_overlay_colours_the_first_diverging_layer(browser: Browser, cli, tmp_path: Path) -> None:
    edit, layer = BROKEN["kernel_flipped"]
    correct = save(classifier(), tmp_path / "correct.onnx")
    broken = save(classifier(edit), tmp_path / "broken.onnx")
    report = tmp_path / "report.json"
    assert cli("check", correct, broken, "--json", report).code == 1
    page = tmp_path / "overlay.html"
    assert cli("view", broken, "-o", page, "--overlay", report).code == 0
    browser.open(page)
    legend = browser.driver.find_element(By.ID, "legend")
    assert legend.is_displayed() and "first diverging layer" in legend.text and layer in legend.text
    search(browser, layer)
    panel = browser.panel()
    assert "PARITY" in panel.upper() and "first diverging layer" in panel and "max abs error" in panel
    browser.screenshot(tmp_path / "overlay.png")
    assert_clean(browser, page)


def test_keras_page_opens_on_its_layers_and_switches_to_onnx(browser: Browser, tmp_path: Path) -> None:
    page = page_of(fixture_generator("keras/make_keras.py").ensure() / "conv_layers.keras", tmp_path)
    browser.open(page)
    source = browser.js("return window.netinspect.source()")
    assert source is not None and browser.js("return window.netinspect.graph()") == source
    labels = browser.js("return window.netinspect.labels()")
    assert "Conv2D" in labels and "DepthwiseConv2D" in labels and "Conv2DTranspose" in labels
    assert "Conv" not in labels and "Transpose" not in labels, "the default view is the Keras file's"
    assert "source layers" in browser.driver.find_element(By.ID, "crumbs").text
    browser.screenshot(tmp_path / "source.png")

    layers = browser.js("return window.netinspect.layers()")
    first = next(k for k, layer in enumerate(layers) if layer["type"] == "Conv2D" and len(layer["nodes"]) > 1)
    browser.click_box(f"s{first}")
    panel = browser.panel()
    assert panel.startswith("Conv2D") and "kernel_size" in panel and "HWIO" in panel
    assert "ONNX NODES" in panel.upper() and "min / max" in panel  # the stored kernel's statistics
    switch = browser.driver.find_element(By.ID, "switch")
    assert switch.text == "ONNX graph"
    switch.click()
    assert browser.js("return window.netinspect.graph()") == 0
    nodes = layers[first]["nodes"]
    assert browser.js("return window.netinspect.partners()") == nodes, "the layer's nodes are marked"
    assert all(browser.js("return window.netinspect.locate(arguments[0])", n) for n in nodes)
    assert browser.panel().startswith("Conv") and "SOURCE LAYER" in browser.panel().upper()
    assert "Conv" in browser.js("return window.netinspect.labels()")
    browser.screenshot(tmp_path / "onnx.png")

    browser.click_box(nodes[-1])  # a node the layer became (e.g. its fused activation)
    assert switch.text == "Source layers"
    switch.click()
    assert browser.js("return window.netinspect.graph()") == source
    assert browser.js("return window.netinspect.partners()") == [f"s{first}"]
    assert browser.panel().startswith("Conv2D")
    assert_clean(browser, page)
