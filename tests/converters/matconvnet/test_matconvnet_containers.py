"""The converted graph depends on the model, never on its file: one MatConvNet model saved as MAT
v5, compressed MAT v7 and v7.3 converts to the same ONNX nodes (op types, names, order, attributes),
with a filter kept as stored (layout.KEPT_WEIGHT_BYTES lowered so the small model has one), and each
conversion matches the NumPy MatConvNet reference at every layer (test_matconvnet_parity.compare:
rtol = atol = 1e-4). The keep-as-stored rule reads the order MATLAB stores elements in, which every
container shares, not where the bytes lie (a compressed file has no span to copy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import netinspect
from netinspect import layout
from netinspect.converters.onnx.writer import to_model_proto
from netinspect.ir import Graph
from tests.conftest import fixture_generator
from tests.converters.matconvnet.test_matconvnet_parity import compare

KEPT = "filter kept as stored"


def onnx_nodes(graph: Graph) -> list[tuple[str, str, list[str], list[str], list[str]]]:
    """The ONNX graph's nodes as written: op type, name, inputs, outputs, attributes."""
    proto = to_model_proto(graph, include_weights=False)
    return [
        (n.op_type, n.name, list(n.input), list(n.output), [str(a).replace("\n", " ") for a in n.attribute])
        for n in proto.graph.node
    ]


def kept_layers(graph: Graph) -> list[str]:
    return [
        n.provenance.layer
        for n in graph.nodes
        if n.op_type == "Conv" and n.provenance and any(KEPT in s.text for s in n.provenance.steps)
    ]


@pytest.fixture
def containers(tmp_path: Path) -> dict[str, Path]:
    """simplenn_beta11 (its fc3 is an 8×8×12×5 filter, 15 KiB) in three containers."""
    make: Any = fixture_generator("make_matconvnet.py")
    variables = make.simplenn_beta11()
    paths = {kind: tmp_path / f"beta11_{kind}.mat" for kind in ("v5", "v7", "v73")}
    make.write_v5(paths["v5"], variables)
    make.write_v5(paths["v7"], variables, compress=True)
    make.write_v73(paths["v73"], variables)
    return paths


def test_every_container_gives_the_same_graph_and_matches_the_reference(
    containers: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(layout, "KEPT_WEIGHT_BYTES", 10_000)  # fc3 (15 KiB) only; conv2 has 3.4 KiB
    graphs = {kind: netinspect.load(path) for kind, path in containers.items()}
    versions = {kind: graph.metadata.format_version for kind, graph in graphs.items()}
    assert versions["v7"].endswith("(MAT v7, compressed)") and versions["v73"].endswith("(MAT v7.3)")
    nodes = {kind: onnx_nodes(graph) for kind, graph in graphs.items()}
    assert nodes["v7"] == nodes["v5"] and nodes["v73"] == nodes["v5"]
    assert all(kept_layers(graph) == ["fc3"] for graph in graphs.values())
    spans = {kind: graph.tensors["fc3_filter"].span for kind, graph in graphs.items()}
    assert spans["v5"] is not None and spans["v7"] is None and spans["v73"] is None  # copied from v5 only
    written = {}
    for kind, graph in graphs.items():
        compare(containers[kind], graph)
        out = tmp_path / f"{kind}.onnx"
        netinspect.save_onnx(graph, out)
        written[kind] = {i.name: numpy_helper.to_array(i) for i in onnx.load(out).graph.initializer}
    for kind in ("v7", "v73"):
        assert written[kind].keys() == written["v5"].keys()
        for name, array in written["v5"].items():
            np.testing.assert_array_equal(written[kind][name], array, err_msg=f"{kind} {name}")


def test_without_a_kept_filter_every_container_still_gives_one_graph(containers: dict[str, Path]) -> None:
    """At the default threshold nothing here is kept, from any container."""
    graphs = {kind: netinspect.load(path) for kind, path in containers.items()}
    nodes = {kind: onnx_nodes(graph) for kind, graph in graphs.items()}
    assert nodes["v7"] == nodes["v5"] == nodes["v73"]
    assert not any(kept_layers(graph) for graph in graphs.values())


@pytest.mark.slow
def test_vgg19_gives_the_same_graph_from_mat_v5_and_compressed_v7(vgg19_mat: Path) -> None:
    """The full-size VGG-19 (fixtures/make_vgg19.py) and its compressed MAT v7 copy: the same ONNX
    nodes, fc6's 392 MiB filter kept as stored in both (copied file to file from v5 only)."""
    compressed = fixture_generator("make_vgg19.py").vgg19_path(compressed=True)
    plain, deflated = netinspect.load(vgg19_mat), netinspect.load(compressed)
    assert deflated.metadata.format_version == "SimpleNN beta11-16 (MAT v7, compressed)"
    assert onnx_nodes(deflated) == onnx_nodes(plain)
    assert kept_layers(plain) == kept_layers(deflated) == ["fc6"]
    fc6 = next(n for n in plain.nodes if n.op_type == "Conv" and n.provenance.layer == "fc6")
    assert plain.tensors[fc6.inputs[1]].span is not None and deflated.tensors[fc6.inputs[1]].span is None
    assert [(t.name, t.shape) for t in deflated.tensors.values()] == [
        (t.name, t.shape) for t in plain.tensors.values()
    ]
