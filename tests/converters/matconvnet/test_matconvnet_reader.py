"""The MatConvNet reader: MAT parsing (checked against scipy.io.loadmat and across v5/v7.3), every
file layout, value naming, shapes, provenance, metadata, and laziness (no weight bytes read)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io

import netinspect
from netinspect.converters.matconvnet import matfile as mat_file
from netinspect.converters.matconvnet.matfile import MatArray, MatCell, MatOpaque, MatStruct, open_mat
from netinspect.registry import LoadOptions
from tests.conftest import shared_model
from tests.converters.matconvnet.test_matconvnet_errors import write_v73

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "matconvnet"
V5_FILES = sorted(p for p in FIXTURES.glob("*.mat") if not p.name.endswith("_v73.mat"))


def ours(value: Any) -> Any:
    """Our tree as plain Python, to compare with scipy's."""
    if isinstance(value, MatStruct):
        return ("struct", [{k: ours(v) for k, v in e.items()} for e in value.elements])
    if isinstance(value, MatCell):
        return ("cell", [ours(v) for v in value.items])
    if isinstance(value, MatArray):
        return ("array", value.load().reshape(value.shape).tolist() if value.size else [])
    if isinstance(value, MatOpaque):
        return ("opaque", value.kind)
    return value


def theirs(value: Any) -> Any:
    """scipy.io.loadmat's tree (struct_as_record, no squeezing) as the same plain Python."""
    if isinstance(value, np.ndarray) and value.dtype.names is not None:
        return ("struct", [{n: theirs(e[n]) for n in value.dtype.names} for e in value.ravel(order="F")])
    if isinstance(value, np.ndarray) and value.dtype == object:
        if value.shape == (1, 1) and value[0, 0] is None:  # how scipy returns a struct with no fields
            return ("struct", [{}])
        return ("cell", [theirs(e) for e in value.ravel(order="F")])
    if isinstance(value, np.ndarray) and value.dtype.kind == "U":
        return "".join(value.ravel(order="F").tolist())
    return ("array", np.asarray(value).tolist() if np.asarray(value).size else [])


def open_file(path: Path) -> mat_file.MatFile:
    return open_mat(path, path.read_bytes()[:4096])


@pytest.mark.parametrize("path", V5_FILES, ids=[p.name for p in V5_FILES])
def test_v5_parser_reads_what_scipy_reads(path: Path) -> None:
    mine = {k: ours(v) for k, v in open_file(path).variables.items()}
    reference = {k: theirs(v) for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    assert mine == reference


def test_v5_parser_reads_the_real_compressed_ffdnet_file_like_scipy() -> None:
    path = shared_model("ffdnet_gray_retrained_simplenn_v5.mat")
    mat = open_file(path)
    assert mat.version == "MAT v7, compressed"
    assert {k: ours(v) for k, v in mat.variables.items()} == {
        k: theirs(v) for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")
    }


@pytest.mark.parametrize(
    ("v73", "v5", "unwrap"),
    [
        ("simplenn_beta17_v73.mat", "simplenn_beta17.mat", False),
        ("dagnn_residual_v73.mat", "dagnn_residual.mat", True),
    ],
)
def test_v73_reader_gives_the_same_tree_as_the_v5_file(v73: str, v5: str, unwrap: bool) -> None:
    hdf5 = open_file(FIXTURES / v73)
    assert hdf5.version == "MAT v7.3"
    tree = {k: ours(v) for k, v in hdf5.variables.items()}
    if unwrap:
        tree = tree["net"][1][0]
    assert tree == {k: ours(v) for k, v in open_file(FIXTURES / v5).variables.items()}


def test_uncompressed_arrays_are_views_of_the_file_map() -> None:
    mat = open_file(FIXTURES / "simplenn_beta11.mat")
    filters = mat.variables["layers"].items[0]["weights"].items[0]
    array = filters.load()
    assert array.shape == (3, 3, 3, 8) and not array.flags.owndata and not array.flags.writeable
    assert array.flags.f_contiguous


LAYOUTS = {
    "simplenn_pre_beta11.mat": "SimpleNN pre-beta11 (MAT v5)",
    "simplenn_beta11.mat": "SimpleNN beta11-16 (MAT v5)",
    "simplenn_beta17.mat": "SimpleNN beta17+ (MAT v5)",
    "simplenn_beta17_v73.mat": "SimpleNN beta17+ (MAT v7.3)",
    "simplenn_checkpoint.mat": "SimpleNN beta17+ (MAT v7, compressed, training checkpoint)",
    "dagnn_residual.mat": "DagNN saveobj struct (MAT v5)",
    "dagnn_residual_v73.mat": "DagNN saveobj struct (MAT v7.3, in variable 'net')",
}


@pytest.mark.parametrize(("name", "version"), LAYOUTS.items())
def test_every_layout_is_recognised(name: str, version: str) -> None:
    graph = netinspect.load(FIXTURES / name, LoadOptions(fixed_size=True))
    graph.validate()
    assert graph.metadata.source_format == "matconvnet"
    assert graph.metadata.format_version == version
    for node in graph.nodes:
        for out in node.outputs:  # every value's shape is known, for FLOPs without shape inference
            shape = graph.value(out).shape  # type: ignore[union-attr]
            assert shape is not None and all(isinstance(d, int) for d in shape[1:]), (node.name, shape)


def test_values_are_named_after_layers_and_unnamed_layers_get_tidy_defaults() -> None:
    graph = netinspect.load(FIXTURES / "simplenn_beta11.mat")
    layers = [n.provenance.layer for n in graph.nodes if n.provenance]
    assert "layer3" in layers  # the 3rd layer has an empty name, as vl_simplenn_tidy names it
    relu = next(n for n in graph.nodes if n.provenance and n.provenance.layer == "layer3")
    assert relu.op_type == "LeakyRelu" and relu.attributes["alpha"] == pytest.approx(0.1)
    assert relu.outputs == ["layer3"] and relu.inputs == ["bn1"]
    assert [v.name for v in graph.inputs] == ["input"] and graph.inputs[0].shape == ("N", 6, "H", "W")
    assert [v.name for v in graph.outputs] == ["prob"]  # softmaxloss dropped
    assert any("dropped loss layer 'loss' (softmaxloss)" in note for note in graph.metadata.notes)
    prob = next(n for n in graph.nodes if n.outputs == ["prob"])
    assert any(s.kind == "drop" for s in prob.provenance.steps)  # type: ignore[union-attr]
    grouped = next(n for n in graph.nodes if n.outputs == ["conv1"])
    assert grouped.attributes["group"] == 2


def test_meta_inputs_name_the_input_and_k1_filters_are_restored_to_4d() -> None:
    assert netinspect.load(FIXTURES / "simplenn_beta17.mat").inputs[0].shape == ("N", 3, "H", "W")
    graph = netinspect.load(FIXTURES / "simplenn_beta17.mat", LoadOptions(fixed_size=True))
    assert [(v.name, v.shape) for v in graph.inputs] == [("data", ("N", 3, 33, 31))]
    conv2 = next(n for n in graph.nodes if n.outputs == ["conv2"])
    assert graph.tensors[conv2.inputs[1]].shape == (1, 10, 3, 3)
    steps = [s.text for s in conv2.provenance.steps]  # type: ignore[union-attr]
    assert any("restored to 4-D (3, 3, 10, 1)" in t for t in steps)
    assert any("HWIO → OIHW" in t for t in steps)
    assert any("[T B L R] = [0, 1, 1, 0] → ONNX pads [T L B R] = [0, 1, 1, 0]" in t for t in steps)
    up = next(n for n in graph.nodes if n.outputs == ["up1"])
    assert up.op_type == "ConvTranspose" and up.attributes["group"] == 2
    assert graph.values["up1"].shape == ("N", 10, 66, 62)


def test_metadata_labels_and_preprocessing() -> None:
    old = netinspect.load(FIXTURES / "simplenn_pre_beta11.mat")
    assert old.metadata.labels[:2] == ["n00000000", "n00000001"] and len(old.metadata.labels) == 10
    assert old.metadata.label_descriptions[3] == "class number 3"
    pre = old.metadata.preprocessing
    assert pre.mean == pytest.approx([120.5, 110.25, 100.125]) and pre.mean_image is None  # constant image
    assert pre.image_size == (31, 29) and pre.channel_order == "RGB" and pre.value_range == (0.0, 255.0)
    assert pre.extra == {
        "interpolation": "bilinear", "keepAspect": True, "border": [32.0, 32.0],
        "assumed": ["channel_order", "value_range"],  # MatConvNet files record neither
    }  # fmt: skip

    full = netinspect.load(FIXTURES / "simplenn_beta11.mat").metadata.preprocessing
    assert full.mean is None and full.mean_image is not None and full.mean_image.shape == (6, 32, 32)
    stored = open_file(FIXTURES / "simplenn_beta11.mat").variables["normalization"]["averageImage"].load()
    np.testing.assert_array_equal(full.mean_image.numpy(), stored.transpose(2, 0, 1))

    pixel = netinspect.load(FIXTURES / "simplenn_beta17.mat").metadata.preprocessing
    assert pixel.mean == pytest.approx([122.5, 116.0, 104.0]) and pixel.extra["cropSize"] == 1.0
    dag = netinspect.load(FIXTURES / "dagnn_residual.mat")
    assert dag.metadata.preprocessing.mean == pytest.approx([110.0, 100.0, 90.0])
    assert dag.metadata.labels == [f"n{i:08d}" for i in range(5)]


def test_dagnn_inputs_outputs_and_dropped_loss() -> None:
    graph = netinspect.load(FIXTURES / "dagnn_residual.mat", LoadOptions(fixed_size=True))
    assert [(v.name, v.shape) for v in graph.inputs] == [
        ("input", ("N", 3, 32, 32))
    ]  # 'label' only fed the loss
    assert [(v.name, v.shape) for v in graph.outputs] == [("prob", ("N", 5, 1, 1))]
    crop = next(n for n in graph.nodes if n.provenance and n.provenance.layer == "crop1")
    assert graph.values[crop.outputs[0]].shape == ("N", 16, 16, 16)
    cat = next(n for n in graph.nodes if n.op_type == "Concat")
    assert cat.attributes["axis"] == 1 and cat.inputs == ["x11", "x7"]


def test_loading_reads_no_weight_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[tuple[int, ...]] = []
    original = MatArray.load

    def counting(self: MatArray) -> np.ndarray:
        loaded.append(self.shape)
        return original(self)

    monkeypatch.setattr(MatArray, "load", counting)
    graph = netinspect.load(FIXTURES / "dagnn_residual.mat")
    netinspect.summarize(graph)
    weight_shapes = {t.shape for t in graph.tensors.values()}
    assert all(len(shape) < 3 for shape in loaded), loaded  # only small option values, no weights
    assert all(
        not t.is_loaded for name, t in graph.tensors.items() if t.shape in weight_shapes and t.size > 8
    )


def test_graph_keeps_working_after_the_probe_is_gone() -> None:
    graph = netinspect.load(FIXTURES / "simplenn_beta17_v73.mat")
    for tensor in graph.tensors.values():
        assert tensor.numpy().dtype == np.float32


def test_an_aggregating_pdist_is_a_loss_and_a_per_pixel_one_a_block(tmp_path: Path) -> None:
    """vl_nnpdist with `aggregate` sums to one training objective (dropped, as loss layers are);
    without, it is a per-pixel distance map (converted, its target an input)."""
    for aggregate, kept in ((True, False), (False, True)):
        path = tmp_path / f"pdist_{aggregate}.mat"

        def layers(m: Any, aggregate: bool = aggregate) -> Any:
            rng = np.random.default_rng(1)
            conv = m.conv("c", [m.kernel(rng, 3, 3, 2, 4), m.bias(rng, 4)], pad=1)
            return m.Cell([conv, m.simple("pdist", "d", p=2, noRoot=False, aggregate=aggregate)])

        write_v73(path, {"layers": layers})
        graph = netinspect.load(path)
        assert (graph.outputs[0].name == "d") == kept
        assert any(v.name == "d_target" for v in graph.inputs) == kept
        assert any("dropped loss layer 'd' (pdist)" in n for n in graph.metadata.notes) != kept


def test_weights_stored_as_written_are_copied_from_the_file(tmp_path: Path) -> None:
    """Biases and 1×1 filter banks are float32 in the file in the order ONNX wants: they carry a
    FileSpan and the writer copies those bytes file to file; every initializer still equals the
    tensor the IR computes (compressed files have no spans: their bytes are inflated in memory)."""
    import onnx
    from onnx import numpy_helper

    compressed = FIXTURES / "simplenn_checkpoint.mat"  # MAT v7: every variable compressed
    assert all(t.span is None for t in netinspect.load(compressed).tensors.values())
    plain = tmp_path / "checkpoint_v5.mat"
    scipy.io.savemat(plain, scipy.io.loadmat(compressed), do_compression=False)
    graph = netinspect.load(plain)
    spans = [name for name, t in graph.tensors.items() if t.span is not None]
    assert sorted(spans) == ["conv1_bias", "conv2_bias", "conv2_filter"]  # conv1's 3×3 is permuted
    out = tmp_path / "m.onnx"
    netinspect.save_onnx(graph, out)
    written = {i.name: numpy_helper.to_array(i) for i in onnx.load(out).graph.initializer}
    for name, tensor in graph.tensors.items():
        np.testing.assert_array_equal(written[name], tensor.numpy(), err_msg=name)
