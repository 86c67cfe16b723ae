"""MatConvNet networks run at any input size: the ONNX has symbolic spatial dims, the recorded size
is the nominal one (metadata image_size: shown by info, used for its shapes and FLOPs, and by check),
and --input-shape / --fixed-size pin the dims. `info --dim` sizes the estimate.

Parity at a size other than the recorded one: a DagNN recorded at 125×125 run at 31×27 in
onnxruntime against the NumPy reference at every layer, rtol/atol 1e-4 (as the fixture parity).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import netinspect
from netinspect.check.runtimes.matconvnet.reference import MatConvNetReference
from netinspect.errors import ModelFormatError
from netinspect.layout import permute
from netinspect.registry import LoadOptions
from tests.converters.matconvnet.test_matconvnet_parity import FIXTURES, RTOL, run_onnx_layers

BLOCKS = FIXTURES / "dagnn_blocks.mat"


def rois(rng: np.random.Generator, count: int, height: int, width: int) -> np.ndarray:
    """MatConvNet ROIs [image u1 v1 u2 v2] (1-based, u along columns) as the NCHW value 1×1×5×R:
    boxes inside two images, one partly outside, one degenerate."""
    u1, v1 = rng.uniform(1, width - 5, count), rng.uniform(1, height - 5, count)
    u2, v2 = u1 + rng.uniform(0, 12, count), v1 + rng.uniform(0, 12, count)
    table = np.stack([rng.integers(1, 3, count), u1, v1, u2, v2]).astype(np.float32)
    table[3:, 0] += 30  # past the image's right and bottom edges
    table[3:, 1] = table[1:3, 1]  # a single pixel
    return table.reshape(1, 1, 5, count)


def test_recorded_size_is_nominal_and_the_net_runs_at_another_size() -> None:
    graph = netinspect.load(BLOCKS)
    graph.validate()
    assert graph.inputs[0].shape == ("N", 3, "H", "W")  # not pinned to 125×125
    assert graph.metadata.preprocessing.image_size == (125, 125)
    assert [v.shape for v in graph.inputs[1:]] == [("N", 6, 1, 1), ("N", 3, 1, 1), (1, 1, 5, "R")]
    rng = np.random.default_rng(2)
    feeds = {
        "input": rng.standard_normal((2, 3, 31, 27)).astype(np.float32),
        "theta": (rng.standard_normal((2, 6, 1, 1)) * 0.7).astype(np.float32),
        "scaling": (rng.standard_normal((2, 3, 1, 1)) * 0.7).astype(np.float32),
        "rois": rois(rng, count=6, height=31, width=27),
    }
    got = run_onnx_layers(graph, feeds)
    reference = MatConvNetReference(BLOCKS)
    seen = []
    for layer, _, expected in reference.iter_layers(
        {k: permute(v, "NCHW", "HWCN") for k, v in feeds.items()}
    ):
        actual = permute(got[layer], "NCHW", "HWCN")
        assert actual.shape == expected.shape, layer
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=RTOL, err_msg=layer)
        seen.append(layer)
    assert got["crop"].shape == (2, 4, 31, 27)  # the Crop follows its reference input's free size
    assert len(seen) == 13
    assert got["roi1"].shape == (6, 8, 3, 2) and got["roi2"].shape == (6, 32, 1, 1)
    assert np.abs(got["roi1"]).max() > 0.1  # the ROIs pool real activations


def test_input_shape_and_fixed_size_pin_the_dims() -> None:
    pinned = netinspect.load(BLOCKS, LoadOptions(input_shapes={"input": (1, 3, 40, 36)}))
    assert pinned.inputs[0].shape == (1, 3, 40, 36) and pinned.values["x6"].shape == (1, 4, 40, 36)
    fixed = netinspect.load(BLOCKS, LoadOptions(fixed_size=True))
    assert fixed.inputs[0].shape == ("N", 3, 125, 125) and fixed.values["x1"].shape == ("N", 8, 63, 63)
    with pytest.raises(ModelFormatError, match="2 channels, but the network takes 3"):
        netinspect.load(BLOCKS, LoadOptions(input_shapes={"input": (1, 2, 40, 36)}))
    with pytest.raises(ModelFormatError, match="'image', not an input"):
        netinspect.load(BLOCKS, LoadOptions(input_shapes={"image": (1, 3, 40, 36)}))


def _compute(cli, *args: str) -> dict:
    result = cli("info", BLOCKS, "--json", *args)
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_info_sizes_shapes_and_flops_at_the_nominal_size_or_at_dim(cli) -> None:
    nominal = _compute(cli)
    assert nominal["compute"]["evaluated_at"] == {"H": 125, "W": 125}
    assert nominal["inputs"][0]["shape"] == ["N", 3, "H", "W"]
    pinned = _compute(cli, "--input-shape", "input=N,3,125,125")
    assert nominal["compute"]["macs"] == pinned["compute"]["macs"] > 0
    small = _compute(cli, "--dim", "H=64", "--dim", "W=48")
    assert small["compute"]["evaluated_at"] == {"H": 64, "W": 48}
    assert small["compute"]["macs"] == _compute(cli, "--input-shape", "input=N,3,64,48")["compute"]["macs"]
    assert small["compute"]["macs"] < nominal["compute"]["macs"]
    bad = cli("info", BLOCKS, "--dim", "Q=3")
    assert bad.code == 2 and "--dim Q" in bad.err
