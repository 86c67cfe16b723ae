"""The reference runtime reading MatConvNet files: every SimpleNN vintage, DagNN, MATLAB v7.3, and
bad or hostile files. Networks are written here with scipy.io.savemat (v5) or h5py laid out the way
MATLAB writes v7.3, never with the converter's fixtures, so the two loaders stay independent.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from netinspect.check.runtimes.matconvnet import blocks
from netinspect.check.runtimes.matconvnet.reference import MatConvNetReference
from netinspect.errors import ModelFormatError, UnsafePathError, UnsupportedError

RNG = np.random.default_rng(7)


def _random(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _cell(items: list) -> np.ndarray:
    """A MATLAB 1×n cell for savemat (a plain list could become a numeric array)."""
    cell = np.empty((1, len(items)), dtype=object)
    for i, item in enumerate(items):
        cell[0, i] = item
    return cell


def _struct_array(rows: list[dict]) -> np.ndarray:
    """A MATLAB 1×n struct array for savemat."""
    names = list(rows[0])
    array = np.zeros((1, len(rows)), dtype=[(n, object) for n in names])
    for i, row in enumerate(rows):
        for n in names:
            array[0, i][n] = row[n]
    return array


# ------------------------------------------------------------------------------ a hand-checked net


def _hand_net(layout: str) -> dict:
    """conv 2×2 [[1 2];[3 4]] bias 0.5 → relu → avg pool 2×2 pad [0 1 0 1], in several vintages."""
    filters = np.array([[1, 2], [3, 4]], np.float32)  # stored 2-D: MATLAB drops the singleton dims
    bias = np.array([[0.5]], np.float32)
    if layout == "pre-beta11":
        conv = {"type": "conv", "filters": filters, "biases": bias, "pad": 0.0, "stride": 1.0}
    else:
        conv = {"type": "conv", "weights": _cell([filters, bias]), "pad": 0.0, "stride": 1.0}
    layers = _cell(
        [
            {**conv, "name": "conv1"},
            {"type": "relu", "name": "relu1"},
            {
                "type": "pool",
                "name": "pool1",
                "method": "avg",
                "pool": np.array([[2.0, 2.0]]),
                "pad": np.array([[0.0, 1, 0, 1]]),
            },
        ]
    )
    normalization = {"imageSize": np.array([[3.0, 3.0, 1.0]])}
    if layout == "beta17":
        return {"layers": layers, "meta": {"normalization": normalization}}
    if layout == "checkpoint":
        return {
            "net": {
                "layers": layers,
                "meta": {"inputs": _struct_array([{"name": "data", "size": np.array([[3.0, 3, 1, 16]])}])},
            }
        }
    return {"layers": layers, "normalization": normalization}


@pytest.mark.parametrize("layout", ["pre-beta11", "beta11", "beta17", "checkpoint"])
def test_hand_checked_simplenn_in_every_vintage(tmp_path, layout):
    path = tmp_path / "hand.mat"
    scipy.io.savemat(path, _hand_net(layout))
    ref = MatConvNetReference(path)
    x = np.arange(1, 10, dtype=np.float32).reshape(3, 3)  # x(i,j): [1 2 3; 4 5 6; 7 8 9]
    input_name = "data" if layout == "checkpoint" else "input"
    assert ref.input_names == [input_name]
    assert ref.input_shapes == {input_name: (3, 3, 1, None)}
    assert ref.layer_names == ["conv1", "relu1", "pool1"]
    assert ref.output_names == ["pool1"]
    # conv: y(1,1) = 1·1 + 2·2 + 3·4 + 4·5 + 0.5 = 37.5; y(1,2) = 47.5; y(2,1) = 67.5; y(2,2) = 77.5
    # avg pool, padding excluded: (1,1) = mean of all four = 57.5; (1,2) = (47.5 + 77.5)/2 = 62.5;
    # (2,1) = (67.5 + 77.5)/2 = 72.5; (2,2) = 77.5
    out = ref.run({input_name: x})["pool1"]
    assert out.shape == (2, 2, 1, 1)
    np.testing.assert_array_equal(out[:, :, 0, 0], [[57.5, 62.5], [72.5, 77.5]])
    conv = next(y for name, _, y in ref.iter_layers({input_name: x}) if name == "conv1")
    np.testing.assert_array_equal(conv[:, :, 0, 0], [[37.5, 47.5], [67.5, 77.5]])


# ------------------------------------------------------------------------- a random deeper SimpleNN


def _conv_layer(name, filters, bias, **options):
    return {"type": "conv", "name": name, "weights": _cell([filters, bias]), **options}


def test_simplenn_wiring_matches_the_blocks(tmp_path):
    f1, b1 = _random(3, 2, 3, 6), _random(1, 6)
    f2 = _random(1, 1, 3, 4)  # 2 groups over 6 channels
    f3 = _random(2, 2, 4, 1)  # one filter: MATLAB stores it 3-D
    moments = np.stack([_random(4), np.abs(_random(4)) + 0.5], axis=1)  # 4×2 [mu, sigma]
    gain, shift = _random(4, 1), _random(4, 1)
    layers = [
        _conv_layer("c1", f1, b1, pad=np.array([[2.0, 0, 1, 3]]), stride=np.array([[2.0, 1]]), dilate=2.0),
        {"type": "relu", "name": "r1", "leak": 0.1},
        _conv_layer("c2", f2, np.zeros((0, 0), np.float32)),
        {"type": "bnorm", "name": "bn", "weights": _cell([gain, shift, moments]), "epsilon": 1e-5},
        {"type": "normalize", "name": "", "param": np.array([[3.0, 2, 0.1, 0.75]])},
        {"type": "dropout", "name": "drop", "rate": 0.5},
        {
            "type": "pool",
            "name": "p",
            "method": "max",
            "pool": 2.0,
            "stride": 1.0,
            "pad": np.array([[1.0, 0, 0, 1]]),
        },
        _conv_layer("c3", f3[:, :, :, 0], np.float32([[0.25]])),
        {"type": "sigmoid", "name": "sig"},
        {"type": "softmaxloss", "name": "loss", "class": 1.0},
    ]
    path = tmp_path / "deep.mat"
    scipy.io.savemat(path, {"layers": _cell(layers)})
    ref = MatConvNetReference(path)
    # the unnamed LRN layer is layer5, MatConvNet's own default name; the loss is skipped
    assert ref.layer_names == ["c1", "r1", "c2", "bn", "layer5", "drop", "p", "c3", "sig"]
    assert ref.output_names == ["sig"]
    assert ref.input_shapes == {"input": (None, None, 3, None)}  # C from c1's filter depth
    x = _random(9, 8, 3, 2)
    y = blocks.conv(x, f1, b1.ravel(), (2, 0, 1, 3), (2, 1), (2, 2))
    y = blocks.relu(y, 0.1)
    y = blocks.conv(y, f2, None, (0, 0, 0, 0), (1, 1), (1, 1))
    y = blocks.batch_norm(y, gain.ravel(), shift.ravel(), moments[:, 0].copy(), moments[:, 1].copy())
    y = blocks.lrn(y, 3, 2.0, 0.1, 0.75)
    y = blocks.pool(y, (2, 2), (1, 0, 0, 1), (1, 1), "max")
    y = blocks.conv(y, f3, np.float32([0.25]), (0, 0, 0, 0), (1, 1), (1, 1))
    want = blocks.sigmoid(y)
    got = ref.run({"input": x})["sig"]
    np.testing.assert_array_equal(got, want)  # same float32 operations in the same order


def test_iter_layers_streams_instead_of_keeping_every_activation(tmp_path):
    layers = []
    for i in range(6):
        layers += [
            _conv_layer(f"c{i}", _random(3, 3, 4, 4), _random(1, 4), pad=1.0),
            {"type": "relu", "name": f"r{i}"},
        ]
    path = tmp_path / "chain.mat"
    scipy.io.savemat(path, {"layers": _cell(layers)})
    ref = MatConvNetReference(path)
    alive = []
    for index, (_, _, output) in enumerate(ref.iter_layers({"input": _random(16, 16, 4)})):
        alive.append(weakref.ref(output.base if output.base is not None else output))
        del output
        if index:
            assert alive[index - 1]() is None, f"activation {index - 1} is still held"


def test_2d_and_3d_inputs_are_matlab_trailing_singletons(tmp_path):
    path = tmp_path / "hand.mat"
    scipy.io.savemat(path, _hand_net("beta11"))
    ref = MatConvNetReference(path)
    x = _random(5, 4)
    a = ref.run({"input": x})["pool1"]
    b = ref.run({"input": x[:, :, None]})["pool1"]
    c = ref.run({"input": x[:, :, None, None]})["pool1"]
    assert a.shape == (4, 3, 1, 1)  # conv 2×2 → 4×3; pool 2×2 with pad [0 1 0 1] keeps 4×3
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="missing"):
        ref.run({"data": x})


# ------------------------------------------------------------------------------------------- DagNN


def _dag_layer(name, kind, inputs, outputs, params=(), block=None):
    return {
        "name": name,
        "type": kind,
        "inputs": _cell(list(inputs)),
        "outputs": _cell(list(outputs)),
        "params": _cell(list(params)),
        "block": block if block is not None else np.zeros((0, 0)),
    }


def test_dagnn_runs_in_matconvnet_execution_order(tmp_path):
    f1, b1 = _random(3, 3, 2, 4), _random(4, 1)
    f2 = _random(3, 3, 4, 4)
    layers = [  # deliberately not in execution order
        _dag_layer("sum", "dagnn.Sum", ["c2", "p1"], ["s"]),
        _dag_layer(
            "conv1",
            "dagnn.Conv",
            ["data"],
            ["x1"],
            ["f1", "b1"],
            {"size": np.array([[3.0, 3, 2, 4]]), "hasBias": True, "pad": np.array([[1.0, 1]]), "stride": 1.0},
        ),
        _dag_layer("relu1", "dagnn.ReLU", ["x1"], ["r1"], block={"leak": 0.0}),
        _dag_layer("conv2", "dagnn.Conv", ["r1"], ["c2"], ["f2", "b2"], {"hasBias": False, "pad": 1.0}),
        _dag_layer(
            "pool1",
            "dagnn.Pooling",
            ["r1"],
            ["p1"],
            block={"method": "avg", "poolSize": np.array([[3.0, 3]]), "pad": 1.0, "stride": 1.0},
        ),
        _dag_layer("loss", "dagnn.Loss", ["s", "label"], ["objective"], block={"loss": "softmaxlog"}),
        _dag_layer("prob", "dagnn.SoftMax", ["s"], ["prob"]),
    ]
    params = _struct_array(
        [{"name": n, "value": v} for n, v in [("f1", f1), ("b1", b1), ("f2", f2), ("b2", _random(4, 1))]]
    )
    variables = _struct_array(
        [
            {"name": v, "precious": False}
            for v in ["s", "data", "x1", "r1", "c2", "p1", "label", "objective", "prob"]
        ]
    )
    path = tmp_path / "dag.mat"
    scipy.io.savemat(
        path, {"net": {"vars": variables, "params": params, "layers": _struct_array(layers), "meta": {}}}
    )
    ref = MatConvNetReference(path)
    # heights (1 + tallest reader): loss = prob = 1, sum = 2, conv2 = pool1 = 3, relu1 = 4, conv1 = 5;
    # sorted by decreasing height, ties in file order; the loss is skipped
    assert ref.layer_names == ["conv1", "relu1", "conv2", "pool1", "sum", "prob"]
    assert ref.input_names == ["data"]  # 'label' is read only by the loss
    assert ref.output_names == ["prob"]
    assert ref.input_shapes == {"data": (None, None, 2, None)}
    x = _random(6, 5, 2, 1)
    r1 = blocks.relu(blocks.conv(x, f1, b1.ravel(), (1, 1, 1, 1), (1, 1), (1, 1)), 0)
    c2 = blocks.conv(r1, f2, None, (1, 1, 1, 1), (1, 1), (1, 1))  # hasBias false: b2 ignored
    p1 = blocks.pool(r1, (3, 3), (1, 1, 1, 1), (1, 1), "avg")
    np.testing.assert_array_equal(ref.run({"data": x})["prob"], blocks.softmax(c2 + p1))


def test_dagnn_convt_crop_concat_bnorm_scale(tmp_path):
    ft, bt = _random(4, 4, 3, 2), _random(3, 1)  # convt: 2 input channels → 3
    gain, shift = _random(5, 1), _random(5, 1)
    moments = np.stack([_random(5), np.abs(_random(5)) + 0.5], axis=1)
    factor, offset = _random(1, 1, 5), _random(1, 1, 5)
    layers = [
        _dag_layer(
            "up",
            "dagnn.ConvTranspose",
            ["data"],
            ["up"],
            ["ft", "bt"],
            {"upsample": 2.0, "crop": np.array([[1.0, 0, 1, 0]]), "hasBias": True, "numGroups": 1.0},
        ),
        _dag_layer("crop", "dagnn.Crop", ["up", "data"], ["cropped"], block={"crop": np.array([[1.0, 2]])}),
        _dag_layer("cat", "dagnn.Concat", ["cropped", "data"], ["cat"], block={"dim": 3.0}),
        _dag_layer(
            "bn", "dagnn.BatchNorm", ["cat"], ["bn"], ["g", "b", "m"], {"epsilon": 1e-4, "numChannels": 5.0}
        ),
        _dag_layer(
            "scale",
            "dagnn.Scale",
            ["bn"],
            ["sc"],
            ["sf", "sb"],
            {"size": np.array([[1.0, 1, 5]]), "hasBias": True},
        ),
        _dag_layer("drop", "dagnn.DropOut", ["sc"], ["do"], block={"rate": 0.5}),
        _dag_layer("act", "dagnn.ReLU", ["do"], ["out"], block={"leak": 0.2}),
    ]
    values = {"ft": ft, "bt": bt, "g": gain, "b": shift, "m": moments, "sf": factor, "sb": offset}
    params = _struct_array([{"name": n, "value": v} for n, v in values.items()])
    path = tmp_path / "dag2.mat"
    scipy.io.savemat(path, {"params": params, "layers": _struct_array(layers), "vars": np.zeros((0, 0))})
    ref = MatConvNetReference(path)
    assert ref.layer_names == ["up", "crop", "cat", "bn", "scale", "drop", "act"]
    x = _random(5, 6, 2, 2)
    up = blocks.conv_transpose(x, ft, bt.ravel(), (2, 2), (1, 0, 1, 0), 1)  # 2·4 + 4 − 1 = 11 × 13
    assert up.shape == (11, 13, 3, 2)
    cropped = up[1:6, 2:8]  # dagnn.Crop: offsets [1 2], the rest from the bottom/right
    cat = np.concatenate([cropped, x], axis=2)
    bn = blocks.batch_norm(cat, gain.ravel(), shift.ravel(), moments[:, 0].copy(), moments[:, 1].copy())
    want = blocks.relu(bn * factor[..., None] + offset[..., None], 0.2)
    np.testing.assert_array_equal(ref.run({"data": x})["act"], want)


# ------------------------------------------------------------------------------------ refusals


def test_unsupported_layers_are_all_listed(tmp_path):
    filters, bias = _random(1, 1, 1, 2), _random(1, 2)
    layers = _cell(
        [
            {"type": "conv", "name": "c", "weights": _cell([filters, bias])},
            {"type": "warp", "name": "odd1", "param": np.array([[1.0, 1]])},
            {"type": "relu", "name": "r"},
            {"type": "mystery", "name": "odd2"},
        ]
    )
    path = tmp_path / "odd.mat"
    scipy.io.savemat(path, {"layers": layers})
    with pytest.raises(UnsupportedError) as info:
        MatConvNetReference(path)
    assert [item.split(" ")[0] for item in info.value.items] == ["odd1", "odd2"]
    assert str(path) in str(info.value)
    # a hook makes them runnable; it gets the inputs, the layer's fields and its params
    calls = []

    def double(inputs, fields, params):
        calls.append(fields["name"])
        return 2 * inputs[0]

    ref = MatConvNetReference(path, custom_layers={"warp": double, "mystery": double})
    x = _random(3, 3, 1, 1)
    want = 2 * blocks.relu(2 * blocks.conv(x, filters, bias.ravel(), (0,) * 4, (1, 1), (1, 1)), 0)
    np.testing.assert_array_equal(ref.run({"input": x})["odd2"], want)
    assert calls == ["odd1", "odd2"]
    with pytest.raises(ValueError, match="built-in"):
        MatConvNetReference(path, custom_layers={"conv": double})


def test_filter_depth_that_divides_no_input_depth_names_the_layer(tmp_path):
    layers = _cell(
        [
            {"type": "conv", "name": "first", "weights": _cell([_random(3, 3, 3, 5), _random(1, 5)])},
            {"type": "conv", "name": "second", "weights": _cell([_random(3, 3, 2, 4), _random(1, 4)])},
        ]
    )
    path = tmp_path / "depth.mat"
    scipy.io.savemat(path, {"layers": layers})
    with pytest.raises(
        ModelFormatError, match=r"'second'.*filter depth 2 does not divide the input depth 5"
    ) as info:
        MatConvNetReference(path)
    assert str(path) in str(info.value)


def test_not_a_network_or_not_a_mat_file(tmp_path):
    plain = tmp_path / "plain.mat"
    scipy.io.savemat(plain, {"x": np.ones((2, 2))})
    with pytest.raises(ModelFormatError, match="no MatConvNet network"):
        MatConvNetReference(plain)
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 4)
    with pytest.raises(ModelFormatError):
        MatConvNetReference(garbage)
    truncated = tmp_path / "truncated.mat"
    scipy.io.savemat(truncated, _hand_net("beta11"))
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(ModelFormatError):
        MatConvNetReference(truncated)


# ---------------------------------------------------------------------------------- MATLAB v7.3


class _V73Writer:
    """Writes values the way MATLAB's -v7.3 does: HDF5 behind a 512-byte MATLAB header, dims
    reversed, cells as reference arrays into #refs#, chars as uint16, empties as their dims."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = h5py.File(path, "w", userblock_size=512)
        self.refs = self.file.create_group("#refs#")
        self.count = 0

    def close(self) -> None:
        self.file.close()
        header = (
            b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
        )
        with open(self.path, "r+b") as f:
            f.write(header.ljust(116) + bytes(8) + b"\x00\x02IM")

    def _name(self) -> str:
        self.count += 1
        return f"r{self.count}"

    def put(self, group: h5py.Group, name: str, value) -> h5py.HLObject:
        if isinstance(value, dict):
            sub = group.create_group(name)
            sub.attrs["MATLAB_class"] = np.bytes_("struct")
            for key, item in value.items():
                self.put(sub, key, item)
            return sub
        if isinstance(value, list):
            if not value:
                d = group.create_dataset(name, data=np.zeros(2, np.uint64))
                d.attrs["MATLAB_class"] = np.bytes_("cell")
                d.attrs["MATLAB_empty"] = np.uint8(1)
                return d
            refs = [self.put(self.refs, self._name(), item).ref for item in value]
            d = group.create_dataset(name, data=np.array(refs, dtype=h5py.ref_dtype).reshape(len(refs), 1))
            d.attrs["MATLAB_class"] = np.bytes_("cell")
            return d
        if isinstance(value, str):
            d = group.create_dataset(name, data=np.array([ord(c) for c in value], np.uint16).reshape(-1, 1))
            d.attrs["MATLAB_class"] = np.bytes_("char")
            d.attrs["MATLAB_int_decode"] = np.int32(2)
            return d
        if isinstance(value, _Handle):
            sub = group.create_group(name)
            sub.attrs["MATLAB_class"] = np.bytes_("function_handle")
            return sub
        array = np.asarray(value)
        array = array.reshape((1, 1)) if array.ndim == 0 else array
        d = group.create_dataset(name, data=array.T)
        d.attrs["MATLAB_class"] = np.bytes_({np.float32: "single", np.float64: "double"}[array.dtype.type])
        return d


class _Handle:
    """Stands for a MATLAB function handle in a v7.3 file."""


def _v73_layers():
    return [
        {
            "type": "conv",
            "name": "conv1",
            "weights": [np.array([[1, 2], [3, 4]], np.float32), np.array([[0.5]], np.float32)],
            "pad": 0.0,
            "stride": 1.0,
        },
        {"type": "relu", "name": "relu1", "leak": 0.0},
        {
            "type": "pool",
            "name": "pool1",
            "method": "avg",
            "pool": np.array([[2.0, 2.0]]),
            "pad": np.array([[0.0, 1, 0, 1]]),
            "stride": 1.0,
            "opts": [],
        },
    ]


def test_v73_simplenn_reads_like_v5(tmp_path):
    path = tmp_path / "hand73.mat"
    writer = _V73Writer(path)
    writer.put(
        writer.file,
        "net",
        {"layers": _v73_layers(), "meta": {"normalization": {"imageSize": np.array([[3.0, 3, 1]])}}},
    )
    writer.close()
    ref = MatConvNetReference(path)
    assert ref.layer_names == ["conv1", "relu1", "pool1"]
    assert ref.input_shapes == {"input": (3, 3, 1, None)}
    x = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    np.testing.assert_array_equal(ref.run({"input": x})["pool1"][:, :, 0, 0], [[57.5, 62.5], [72.5, 77.5]])


def test_v73_function_handles_are_refused_not_run(tmp_path):
    path = tmp_path / "custom73.mat"
    writer = _V73Writer(path)
    custom = {"type": "custom", "name": "mine", "forward": _Handle(), "backward": _Handle()}
    writer.put(writer.file, "net", {"layers": [*_v73_layers(), custom]})
    writer.close()
    with pytest.raises(UnsupportedError, match="mine \\(custom\\): holds MATLAB function handles"):
        MatConvNetReference(path)
    # a hook for the type runs instead; the handles reach it only as inert placeholders
    seen = {}

    def forward(inputs, fields, params):
        seen.update(fields)
        return inputs[0]

    ref = MatConvNetReference(path, custom_layers={"custom": forward})
    ref.run({"input": np.ones((3, 3), np.float32)})
    assert type(seen["forward"]).__name__ == "Refused"


def test_v73_external_links_are_refused(tmp_path):
    outside = tmp_path / "outside.h5"
    with h5py.File(outside, "w") as f:
        f["x"] = np.ones(3)
    path = tmp_path / "linked.mat"
    writer = _V73Writer(path)
    writer.file["net"] = h5py.ExternalLink(str(outside), "/")
    writer.close()
    with pytest.raises(UnsafePathError, match="external file"):
        MatConvNetReference(path)


def test_v73_class_objects_are_refused_with_a_hint(tmp_path):
    # MATLAB saves a dagnn.DagNN object (not its saveobj struct) as an opaque MCOS reference.
    path = tmp_path / "object73.mat"
    writer = _V73Writer(path)
    opaque = writer.file.create_dataset("net", data=np.array([[3707764736, 2, 1, 1, 1, 1]], np.uint32).T)
    opaque.attrs["MATLAB_class"] = np.bytes_("dagnn.DagNN")
    opaque.attrs["MATLAB_object_decode"] = np.int32(3)
    writer.close()
    with pytest.raises(ModelFormatError, match=r"MATLAB object of class dagnn.DagNN.*saveobj"):
        MatConvNetReference(path)
