"""The plugin hook's first worked example: FFDNet, whose project added layer types to vl_simplenn.

FFDNet (cszn/FFDNet) runs its own vl_simplenn with two layer types MatConvNet lacks:
- `SubP` (vl_nnSubP): with scale 1/s a pixel unshuffle, y(:,:,c*s²+i,:) = x(a:s:end, b:s:end, c, :)
  for i = a + s*b (a, b 0-based offsets); with scale s > 1 its inverse (pixel shuffle);
- `concat`: appends the noise level map, a constant sigma per image, as extra channels.
Without plugins the file is refused naming both types; with the two converters below it loads,
exports to ONNX, and matches the NumPy MatConvNet reference running the same layers from their
MATLAB definitions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import netinspect
from netinspect.check.runtimes.matconvnet.reference import MatConvNetReference
from netinspect.converters.matconvnet import plugins
from netinspect.errors import UnsupportedError
from netinspect.layout import permute
from tests.conftest import FIXTURES as ALL_FIXTURES
from tests.conftest import shared_model
from tests.converters.matconvnet.ffdnet_layers import reference_layers, subp

FFDNET = "ffdnet_gray_retrained_simplenn_v5.mat"
FIXTURES = ALL_FIXTURES / "matconvnet"
SIGMA = 25 / 255


def subp_one_hot(channels: int, s: int) -> np.ndarray:
    """Weights (channels*s², 1, s, s) taking offset (a, b) of channel c to channel c*s² + a + s*b."""
    w = np.zeros((channels * s * s, 1, s, s), np.float32)
    for c in range(channels):
        for b in range(s):
            for a in range(s):
                w[c * s * s + a + s * b, 0, a, b] = 1
    return w


def make_ffdnet_plugins(image_channels: int) -> dict[str, Any]:
    """FFDNet's two layer types as netinspect converters (the user knows the model is gray: 1 channel)."""

    def convert_subp(ctx: Any) -> None:
        x, (n, c, h, w) = ctx.inputs[0], ctx.input_shapes[0]
        scale = ctx.number("scale")
        half = lambda d, k: d // k if isinstance(d, int) else None  # noqa: E731
        if scale < 1:  # pixel unshuffle: a stride-s Conv with one-hot s×s kernels, one group per channel
            s = round(1 / scale)
            if c is None:
                c = image_channels
                ctx.refine(x, (n, c, h, w))
            weight = ctx.constant("unshuffle", subp_one_hot(c, s))
            ctx.step(
                "param",
                f"vl_nnSubP scale 1/{s}: pixel unshuffle as a one-hot Conv, channel c*{s * s}+a+{s}*b",
            )
            attrs = {"kernel_shape": [s, s], "strides": [s, s], "group": c}
            ctx.node(
                "Conv", [x, weight], (n, c * s * s, half(h, s), half(w, s)), attrs, output=ctx.outputs[0]
            )
        else:  # pixel shuffle: the transpose of the same one-hot convolution
            s = round(scale)
            out_c = c // (s * s)
            weight = ctx.constant("shuffle", subp_one_hot(out_c, s))
            ctx.step("param", f"vl_nnSubP scale {s}: pixel shuffle as a one-hot ConvTranspose")
            attrs = {"kernel_shape": [s, s], "strides": [s, s], "group": out_c}
            size = lambda d: d * s if isinstance(d, int) else None  # noqa: E731
            ctx.node("ConvTranspose", [x, weight], (n, out_c, size(h), size(w)), attrs, output=ctx.outputs[0])

    def convert_noise_concat(ctx: Any) -> None:
        x, (n, c, h, w) = ctx.inputs[0], ctx.input_shapes[0]
        sigma = ctx.add_input("sigma", (n, image_channels, 1, 1))
        ctx.step(
            "param", "FFDNet concat: the noise level map (graph input 'sigma', per image) as extra channels"
        )
        one = ctx.node(
            "Slice",
            [x, ctx.constant("start", np.array([0], np.int64)), ctx.constant("end", np.array([1], np.int64)),
             ctx.constant("axis", np.array([1], np.int64))],
            (n, 1, h, w),
        )  # fmt: skip
        size = ctx.node("Shape", [one], (4,), dtype="int64")
        sigma_map = ctx.node("Expand", [sigma, size], (n, image_channels, h, w))
        out_c = c + image_channels if isinstance(c, int) else None
        ctx.node("Concat", [x, sigma_map], (n, out_c, h, w), {"axis": 1}, output=ctx.outputs[0])

    return {"SubP": convert_subp, "concat": convert_noise_concat}


@pytest.fixture
def ffdnet_plugins() -> Iterator[None]:
    for layer_type, fn in make_ffdnet_plugins(image_channels=1).items():
        plugins.register_matconvnet_layer(layer_type, fn)
    yield
    for layer_type in ("SubP", "concat"):
        plugins.unregister_matconvnet_layer(layer_type)


def test_without_plugins_the_built_in_ffdnet_layers_are_used() -> None:
    graph = netinspect.load(shared_model(FFDNET))
    assert [v.name for v in graph.inputs] == ["input", "noise_level"]  # the plugins below say 'sigma'
    assert graph.nodes[0].op_type == "SpaceToDepth"


def test_unknown_layer_types_are_refused_all_at_once_saying_how_to_add_them() -> None:
    path = FIXTURES / "bad" / "unknown_layers.mat"
    with pytest.raises(UnsupportedError) as caught:
        netinspect.to_onnx(netinspect.load(path))
    message = str(caught.value)
    assert str(path) in message and "'frobnicate'" in message and "'warp'" in message
    assert "register_layer" in message and "--plugin" in message


def test_subp_one_hot_matches_the_matlab_definition() -> None:
    """The conv formulation of SubP equals the index formula on a random image (no file needed)."""
    x = np.random.default_rng(0).standard_normal((1, 3, 6, 8)).astype(np.float32)
    w = subp_one_hot(3, 2)
    y = np.zeros((1, 12, 3, 4), np.float32)
    for o in range(12):
        c = o // 4
        for a in range(2):
            for b in range(2):
                y[:, o] += x[:, c, a::2, b::2] * w[o, 0, a, b]
    expected = permute(subp([permute(x, "NCHW", "HWCN")], {"scale": 0.5}, []), "HWCN", "NCHW")
    np.testing.assert_array_equal(y, expected)


def test_ffdnet_with_plugins_converts_and_matches_the_reference(ffdnet_plugins: None) -> None:
    path = shared_model(FFDNET)
    graph = netinspect.load(path)
    graph.validate()
    assert [v.name for v in graph.inputs] == ["input", "sigma"]
    assert graph.inputs[0].shape == ("N", 1, "H", "W")
    model = netinspect.to_onnx(graph)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    image = rng.uniform(0, 1, (1, 1, 24, 30)).astype(np.float32)
    sigma = np.full((1, 1, 1, 1), SIGMA, np.float32)
    (got,) = session.run(None, {"input": image, "sigma": sigma})
    reference = MatConvNetReference(path, custom_layers=reference_layers(SIGMA))
    expected = permute(
        next(iter(reference.run({"input": permute(image, "NCHW", "HWCN")}).values())), "HWCN", "NCHW"
    )
    assert got.shape == expected.shape == (1, 1, 24, 30)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # provenance records the plugin's steps
    first = graph.nodes[0].provenance
    assert first is not None and first.layer_type == "SubP" and "pixel unshuffle" in first.steps[0].text


def test_a_failing_plugin_is_reported_naming_the_layer() -> None:
    def broken(ctx: Any) -> None:
        raise RuntimeError("boom")

    plugins.register_matconvnet_layer("SubP", broken)
    plugins.register_matconvnet_layer("concat", broken)
    try:
        with pytest.raises(netinspect.NetinspectError, match=r"layer 'layer1' \(SubP\).*boom"):
            netinspect.load(shared_model(FFDNET))
    finally:
        plugins.unregister_matconvnet_layer("SubP")
        plugins.unregister_matconvnet_layer("concat")


PLUGIN = '''
"""Handlers for the two made-up layer types of fixtures/matconvnet/bad/unknown_layers.mat."""
from netinspect.registry import register_layer


def identity(ctx):
    ctx.step("param", "plugin: passed through unchanged")
    ctx.node("Identity", [ctx.inputs[0]], ctx.input_shapes[0], output=ctx.outputs[0])


register_layer("matconvnet", "frobnicate", identity)
register_layer("matconvnet", "warp", identity)
'''


def test_a_plugin_file_given_on_the_command_line_converts_unknown_layers(cli: Any, tmp_path: Path) -> None:
    from netinspect import registry

    source = FIXTURES / "bad" / "unknown_layers.mat"
    assert cli("convert", source, "-o", tmp_path / "refused.onnx").code == 2
    plugin = tmp_path / "my_layers.py"
    plugin.write_text(PLUGIN)
    try:
        result = cli("convert", source, "-o", tmp_path / "ok.onnx", "--plugin", plugin)
        assert result.code == 0, result.err
        model = onnx.load(tmp_path / "ok.onnx")
        assert [n.op_type for n in model.graph.node].count("Identity") == 2
        info = cli("info", source, "--plugin", plugin)
        assert info.code == 0 and "plugin: passed through unchanged" in info.out
    finally:
        for layer_type in ("frobnicate", "warp"):
            registry.unregister_layer("matconvnet", layer_type)
