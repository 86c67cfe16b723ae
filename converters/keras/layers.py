"""One handler per Keras layer class, emitting ONNX-vocabulary IR in Keras' own layout (sequence
layers — RNNs, Embedding, Dot, TimeDistributed — are in sequence.py).

Channel-sensitive ops (Conv, pooling, BatchNormalization, Resize) are emitted with ONNX attributes
but `layout="NHWC"` ("NWC", "NDHWC") when the layer works channels-last, their output shapes stated
in that layout; kernels are tagged with Keras' axis order ("HWIO"; "HWOI" for Conv2DTranspose;
Keras 1 `th` kernels "OIHW"). Everything else is emitted with the axes Keras uses. The layout pass
(netinspect.layout) makes the graph NCHW. Semantics follow Keras' own code: TF SAME padding as
explicit, possibly asymmetric pads (`netinspect.build.same_pads`); Theano 'same' as half padding
(keras 1.2.2 keras/backend/theano_backend.py, `_preprocess_border_mode`); Theano-trained kernels
flipped spatially, true convolution → cross-correlation (keras 2.2.4 keras/utils/conv_utils.py,
`convert_kernel`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from netinspect import registry
from netinspect.build import same_pads
from netinspect.converters.keras import activations
from netinspect.converters.keras.context import KERAS, KerasContext
from netinspect.ir import Dim

Shape = tuple[Dim, ...]
LayerFn = Callable[[KerasContext], None]

DROPOUT_TYPES = (
    "Dropout",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
)
CONV_FLIP_TYPES = {
    "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "Convolution1D", "Convolution2D", "Convolution3D",
    "Deconvolution2D", "AtrousConvolution1D", "AtrousConvolution2D",
}  # fmt: skip
"""Layers whose kernels the Theano backend applies as true convolution (Keras' convert_kernel list)."""

_CHANNELS_LAST = {1: "NWC", 2: "NHWC", 3: "NDHWC"}
_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
_INT64_MAX = np.iinfo(np.int64).max


def layer(*types: str) -> Callable[[LayerFn], LayerFn]:
    return registry.layer(KERAS, *types)


# -------------------------------------------------------------------------------------------------
# shapes and windows


def single_input(ctx: KerasContext) -> tuple[str, Shape]:
    """The layer's (first) input: its value name and its shape in Keras' layout."""
    if not ctx.inputs:
        raise ctx.error("has no input")
    return ctx.inputs[0], ctx.input_shapes[0]


def _split(shape: Shape, rank: int, last: bool) -> tuple[Dim, list[Dim], Dim]:
    """(batch, spatial dims, channels) of an activation of `rank` spatial dims."""
    if last:
        return shape[0], list(shape[1 : 1 + rank]), shape[1 + rank]
    return shape[0], list(shape[2 : 2 + rank]), shape[1]


def _emit_convolution(
    ctx: KerasContext,
    op_type: str,
    x: str,
    weight: str,
    attrs: dict[str, Any],
    out_shape: Shape,
    filters: int,
    rank: int,
    last: bool,
) -> None:
    """The Conv or ConvTranspose node (with the layer's bias) and its fused activation."""
    inputs = [x, weight]
    if ctx.cfg("use_bias", "bias", default=True):
        inputs.append(ctx.weight(1, "bias", (filters,)))
    act = ctx.cfg("activation", default="linear")
    linear = activations.is_linear(act)
    y = ctx.node(
        op_type, inputs, out_shape, attrs, output=ctx.outputs[0] if linear else None,
        layout=_CHANNELS_LAST[rank] if last else None,
    )  # fmt: skip
    if not linear:
        activations.apply(ctx, y, out_shape, act, ctx.outputs[0], axis=-1 if last else 1)


def _join(n: Dim, spatial: list[Dim], c: Dim, last: bool) -> Shape:
    return (n, *spatial, c) if last else (n, c, *spatial)


def _padding(ctx: KerasContext) -> str:
    value = str(ctx.cfg("padding", "border_mode", default="valid")).lower()
    if value not in ("valid", "same", "causal", "full"):
        raise ctx.error(f"padding {value!r} is not supported")
    return value


def _window(
    ctx: KerasContext, size: Dim, k: int, s: int, d: int, padding: str, theano: bool = False
) -> tuple[Dim, int | None, int | None]:
    """(output size, pad before, pad after); pads None when they depend on an unknown size."""
    ext = (k - 1) * d + 1
    if padding == "valid":
        if isinstance(size, int):
            out = (size - ext) // s + 1
            if out < 1:
                raise ctx.error(f"a window of {ext} does not fit an input of size {size}")
            return out, 0, 0
        return None, 0, 0
    if padding == "causal":
        out = None if not isinstance(size, int) else (size + ext - 1 - ext) // s + 1
        return out, ext - 1, 0
    if padding == "full":
        out = None if not isinstance(size, int) else (size + 2 * (ext - 1) - ext) // s + 1
        return out, ext - 1, ext - 1
    if theano:  # 'half' padding, the outputs past ceil(size/s) cropped (Keras' theano backend)
        half = ext // 2
        if not isinstance(size, int):  # with stride 1 the cropped output keeps the input size
            return None, half, (half if ext % 2 else (ext - 1 - half if s == 1 else None))
        out = -(-size // s)
        after = max(0, (out - 1) * s + ext - size - half)
        return out, half, min(half, after)
    if not isinstance(size, int):
        if s == 1:
            total = ext - 1
            return None, total // 2, total - total // 2
        return None, None, None
    before, after = same_pads(size, k, s, d)
    return -(-size // s), before, after


def _spatial_attrs(
    ctx: KerasContext,
    spatial: list[Dim],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
    padding: str,
    theano: bool = False,
) -> tuple[list[Dim], dict[str, Any]]:
    outs, before, after = [], [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        out, b, a = _window(ctx, size, k, s, d, padding, theano)
        outs.append(out)
        before.append(b)
        after.append(a)
    attrs: dict[str, Any] = {"kernel_shape": list(kernel), "strides": list(strides)}
    if any(p is None for p in before + after):
        if theano:
            raise ctx.error("Theano 'same' padding with an even kernel needs the input size")
        attrs["auto_pad"] = "SAME_UPPER"
        ctx.step("pad", "TF SAME padding on an input of unknown size: auto_pad SAME_UPPER (pad at the end)")
    else:
        pads = [int(p) for p in before + after]  # type: ignore[arg-type]
        attrs["pads"] = pads
        if padding == "same" and pads[: len(kernel)] != pads[len(kernel) :]:
            ctx.step("pad", f"{'Theano' if theano else 'TF'} SAME padding is asymmetric here: pads {pads}")
    return outs, attrs


# -------------------------------------------------------------------------------------------------
# core


@layer("Dense", "TimeDistributedDense")  # Keras 1: a Dense on every time step
def convert_dense(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    units = int(ctx.cfg("units", "output_dim"))
    features = shape[-1]
    kernel = ctx.weight(0, "kernel", (features if isinstance(features, int) else None, units))
    use_bias = bool(ctx.cfg("use_bias", "bias", default=True))
    out_shape = (*shape[:-1], units)
    act = ctx.cfg("activation", default="linear")
    linear = activations.is_linear(act)
    final = ctx.outputs[0] if linear else None
    if len(shape) == 2:
        inputs = [x, kernel] + ([ctx.weight(1, "bias", (units,))] if use_bias else [])
        y = ctx.node("Gemm", inputs, out_shape, output=final)
    else:
        y = ctx.node("MatMul", [x, kernel], out_shape, output=None if use_bias else final)
        if use_bias:
            y = ctx.node("Add", [y, ctx.weight(1, "bias", (units,))], out_shape, output=final)
    if not linear:
        activations.apply(ctx, y, out_shape, act, ctx.outputs[0])


def _conv_kernel(
    ctx: KerasContext, rank: int, in_per_group: Dim, filters: int, kernel: tuple[int, ...]
) -> str:
    """The kernel as stored (HWIO; Keras 1 `th`: OIHW), Theano kernels flipped, tagged for the pass."""
    stored = ctx.array(0, "kernel").shape
    spatial = _SPATIAL[rank]
    keras1_th = ctx.env.major == 1 and not ctx.channels_last() and rank >= 2
    if ctx.env.major == 1 and rank == 1 and len(stored) == 4:  # Keras 1 Conv1D: (len, 1, in, filters)
        layout, shape = "WIO", (kernel[0], in_per_group, filters)
        want: tuple[Dim, ...] = (kernel[0], 1, in_per_group, filters)

        def reshape(a: np.ndarray) -> np.ndarray:
            return a.reshape(a.shape[0], a.shape[2], a.shape[3])

        transform: Any = reshape
        ctx.step("param", "Keras 1 Convolution1D kernel (len, 1, in, out) read as (len, in, out)")
    elif keras1_th:
        layout, want, shape, transform = "OI" + spatial, (filters, in_per_group, *kernel), None, None
    else:
        layout, want, shape, transform = spatial + "IO", (*kernel, in_per_group, filters), None, None
    if ctx.env.backend == "theano" and ctx.type in CONV_FLIP_TYPES:
        axes = tuple(layout.index(a) for a in spatial)
        inner = transform

        def flipped(a: np.ndarray, inner: Any = inner) -> np.ndarray:
            a = inner(a) if inner is not None else a
            return np.flip(a, axis=axes)

        transform = flipped
        if shape is None:
            shape = tuple(int(d) for d in stored)
        ctx.step(
            "flip",
            f"kernel flipped along {'/'.join(spatial)} ({ctx.env.backend_reason}: Theano computes true "
            "convolution, ONNX Conv cross-correlation)",
        )
    want = tuple(d if isinstance(d, int) else None for d in want)
    return ctx.weight(0, "kernel", want, layout=layout, transform=transform, out_shape=shape)


def _conv(ctx: KerasContext, rank: int) -> None:
    x, shape = single_input(ctx)
    last = ctx.channels_last()
    n, spatial, channels = _split(shape, rank, last)
    filters = int(ctx.cfg("filters", "nb_filter"))
    if rank == 1:
        kernel = ctx.ints(1, "kernel_size", "filter_length")
        strides = ctx.ints(1, "strides", "subsample_length", "subsample", default=1)
    elif rank == 2:
        kernel = ctx.ints(2, "kernel_size") if "kernel_size" in ctx.config else (
            int(ctx.cfg("nb_row")), int(ctx.cfg("nb_col"))
        )  # fmt: skip
        strides = ctx.ints(2, "strides", "subsample", default=1)
    else:
        kernel = ctx.ints(3, "kernel_size") if "kernel_size" in ctx.config else tuple(
            int(ctx.cfg(f"kernel_dim{i}")) for i in (1, 2, 3)
        )  # fmt: skip
        strides = ctx.ints(3, "strides", "subsample", default=1)
    dilations = ctx.ints(rank, "dilation_rate", "atrous_rate", default=1)
    groups = int(ctx.cfg("groups", default=1))
    in_per_group = channels // groups if isinstance(channels, int) else None
    if isinstance(channels, int) and channels % groups:
        raise ctx.error(f"groups {groups} does not divide the {channels} input channels")
    weight = _conv_kernel(ctx, rank, in_per_group, filters, kernel)
    padding = _padding(ctx)
    outs, attrs = _spatial_attrs(
        ctx, spatial, kernel, strides, dilations, padding, theano=ctx.env.backend == "theano"
    )
    attrs["dilations"] = list(dilations)
    if groups != 1:
        attrs["group"] = groups
    _emit_convolution(ctx, "Conv", x, weight, attrs, _join(n, outs, filters, last), filters, rank, last)


@layer("Conv1D", "Convolution1D", "AtrousConvolution1D")
def convert_conv1d(ctx: KerasContext) -> None:
    _conv(ctx, 1)


@layer("Conv2D", "Convolution2D", "AtrousConvolution2D")
def convert_conv2d(ctx: KerasContext) -> None:
    _conv(ctx, 2)


@layer("Conv3D", "Convolution3D")
def convert_conv3d(ctx: KerasContext) -> None:
    _conv(ctx, 3)


@layer("DepthwiseConv2D", "DepthwiseConv1D")
def convert_depthwise(ctx: KerasContext) -> None:
    rank = 1 if ctx.type.endswith("1D") else 2
    x, shape = single_input(ctx)
    last = ctx.channels_last()
    n, spatial, channels = _split(shape, rank, last)
    if not isinstance(channels, int):
        raise ctx.error("needs a known number of input channels")
    mult = int(ctx.cfg("depth_multiplier", default=1))
    kernel = ctx.ints(rank, "kernel_size")
    strides = ctx.ints(rank, "strides", default=1)
    dilations = ctx.ints(rank, "dilation_rate", default=1)
    weight = _depthwise_weight(ctx, 0, rank, kernel, channels, mult)
    outs, attrs = _spatial_attrs(ctx, spatial, kernel, strides, dilations, _padding(ctx))
    attrs.update(dilations=list(dilations), group=channels)
    inputs = [x, weight]
    if ctx.cfg("use_bias", default=True):
        inputs.append(ctx.weight(1, "bias", (channels * mult,)))
    out_shape = _join(n, outs, channels * mult, last)
    act = ctx.cfg("activation", default="linear")
    linear = activations.is_linear(act)
    layout = _CHANNELS_LAST[rank] if last else None
    y = ctx.node("Conv", inputs, out_shape, attrs, output=ctx.outputs[0] if linear else None, layout=layout)
    if not linear:
        activations.apply(ctx, y, out_shape, act, ctx.outputs[0], axis=-1 if last else 1)


def _depthwise_weight(
    ctx: KerasContext, index: int, rank: int, kernel: tuple[int, ...], channels: int, mult: int
) -> str:
    """Keras' depthwise kernel (k…, in, mult) viewed as a grouped HWIO kernel (k…, 1, in·mult)."""
    ctx.step(
        "param", "depthwise kernel (k…, in, multiplier) viewed as a grouped kernel (k…, 1, in·multiplier)"
    )
    out_shape = (*kernel, 1, channels * mult)
    return ctx.weight(
        index, "depthwise_kernel", (*kernel, channels, mult), layout=_SPATIAL[rank] + "IO",
        transform=lambda a: a.reshape(out_shape), out_shape=out_shape,
    )  # fmt: skip


@layer("SeparableConv2D", "SeparableConv1D", "SeparableConvolution2D")
def convert_separable(ctx: KerasContext) -> None:
    rank = 1 if ctx.type.endswith("1D") else 2
    x, shape = single_input(ctx)
    last = ctx.channels_last()
    n, spatial, channels = _split(shape, rank, last)
    if not isinstance(channels, int):
        raise ctx.error("needs a known number of input channels")
    filters = int(ctx.cfg("filters", "nb_filter"))
    mult = int(ctx.cfg("depth_multiplier", default=1))
    kernel = ctx.ints(rank, "kernel_size")
    strides = ctx.ints(rank, "strides", default=1)
    dilations = ctx.ints(rank, "dilation_rate", default=1)
    layout = _CHANNELS_LAST[rank] if last else None
    depthwise = _depthwise_weight(ctx, 0, rank, kernel, channels, mult)
    outs, attrs = _spatial_attrs(ctx, spatial, kernel, strides, dilations, _padding(ctx))
    attrs.update(dilations=list(dilations), group=channels)
    mid_shape = _join(n, outs, channels * mult, last)
    mid = ctx.node("Conv", [x, depthwise], mid_shape, attrs, layout=layout)
    pointwise = ctx.weight(
        1, "pointwise_kernel", (*(1,) * rank, channels * mult, filters), layout=_SPATIAL[rank] + "IO"
    )
    inputs = [mid, pointwise]
    if ctx.cfg("use_bias", default=True):
        inputs.append(ctx.weight(2, "bias", (filters,)))
    out_shape = _join(n, outs, filters, last)
    act = ctx.cfg("activation", default="linear")
    linear = activations.is_linear(act)
    pw_attrs = {"kernel_shape": [1] * rank, "strides": [1] * rank, "pads": [0] * (2 * rank)}
    y = ctx.node(
        "Conv", inputs, out_shape, pw_attrs, output=ctx.outputs[0] if linear else None, layout=layout
    )
    if not linear:
        activations.apply(ctx, y, out_shape, act, ctx.outputs[0], axis=-1 if last else 1)


@layer("Conv2DTranspose", "Conv1DTranspose", "Conv3DTranspose", "Deconvolution2D")
def convert_conv_transpose(ctx: KerasContext) -> None:
    rank = {"1D": 1, "3D": 3}.get(ctx.type[-11:-9], 2) if ctx.type != "Deconvolution2D" else 2
    x, shape = single_input(ctx)
    last = ctx.channels_last()
    n, spatial, channels = _split(shape, rank, last)
    filters = int(ctx.cfg("filters", "nb_filter"))
    kernel = ctx.ints(rank, "kernel_size") if "kernel_size" in ctx.config else (
        int(ctx.cfg("nb_row")), int(ctx.cfg("nb_col"))
    )  # fmt: skip
    strides = ctx.ints(rank, "strides", "subsample", default=1)
    dilations = ctx.ints(rank, "dilation_rate", default=1)
    padding = _padding(ctx)
    out_pad_cfg = ctx.cfg("output_padding", default=None)
    out_padding = None if out_pad_cfg is None else ctx.ints(rank, "output_padding")
    layout = _SPATIAL[rank] + "OI"
    transform = None
    want: tuple[Dim, ...] = (*kernel, filters, channels if isinstance(channels, int) else None)
    if ctx.env.backend == "theano":
        axes = tuple(range(rank))
        transform = lambda a: np.flip(a, axis=axes)  # noqa: E731
        ctx.step("flip", f"kernel flipped spatially ({ctx.env.backend_reason}: Theano true convolution)")
    weight = ctx.weight(
        0, "kernel", tuple(d if isinstance(d, int) else None for d in want), layout=layout,
        transform=transform, out_shape=tuple(int(d) for d in ctx.array(0, "kernel").shape),
    )  # fmt: skip
    outs: list[Dim] = []
    pads_b, pads_a, extra = [], [], []
    for i, size in enumerate(spatial):
        k, s, d = kernel[i], strides[i], dilations[i]
        ext = (k - 1) * d + 1
        if not isinstance(size, int):
            raise ctx.error("needs known spatial input sizes")
        if out_padding is None:
            length = size * s + max(ext - s, 0) if padding == "valid" else size * s
        else:
            pad = ext // 2 if padding == "same" else 0
            length = (size - 1) * s + ext - 2 * pad + out_padding[i]
        total = max(0, (size - 1) * s + ext - length) if padding == "same" else 0
        before = total // 2
        after = total - before
        extra_rows = length - ((size - 1) * s + ext - total)
        outs.append(length)
        pads_b.append(before)
        pads_a.append(after)
        extra.append(extra_rows)
    attrs: dict[str, Any] = {
        "kernel_shape": list(kernel), "strides": list(strides), "dilations": list(dilations),
        "pads": pads_b + pads_a,
    }  # fmt: skip
    if any(extra):
        attrs["output_padding"] = extra
    out_shape = _join(n, outs, filters, last)
    _emit_convolution(ctx, "ConvTranspose", x, weight, attrs, out_shape, filters, rank, last)


# -------------------------------------------------------------------------------------------------
# pooling


def _pool(ctx: KerasContext, rank: int, op: str) -> None:
    x, shape = single_input(ctx)
    last = ctx.channels_last()
    n, spatial, channels = _split(shape, rank, last)
    if rank == 1:
        pool = ctx.ints(1, "pool_size", "pool_length", default=2)
        strides = ctx.ints(1, "strides", "stride", default=pool)
    else:
        pool = ctx.ints(rank, "pool_size", default=2)
        strides = ctx.ints(rank, "strides", default=pool)
    padding = _padding(ctx)
    if padding == "same" and ctx.env.backend == "theano":
        raise ctx.error("'same' pooling under the Theano backend is not supported")
    outs, attrs = _spatial_attrs(ctx, spatial, pool, strides, (1,) * rank, padding)
    if op == "AveragePool":
        attrs["count_include_pad"] = 0
    ctx.node(op, [x], _join(n, outs, channels, last), attrs, output=ctx.outputs[0],
             layout=_CHANNELS_LAST[rank] if last else None)  # fmt: skip


for _rank in (1, 2, 3):
    for _prefix, _op in (("Max", "MaxPool"), ("Average", "AveragePool")):
        _names = [f"{_prefix}Pooling{_rank}D", f"{_prefix[:3] if _prefix == 'Max' else 'Avg'}Pool{_rank}D"]
        layer(*_names)(lambda ctx, r=_rank, o=_op: _pool(ctx, r, o))


def _global_pool(ctx: KerasContext, rank: int, op: str) -> None:
    x, shape = single_input(ctx)
    last = ctx.channels_last()
    n, _, channels = _split(shape, rank, last)
    keep = bool(ctx.cfg("keepdims", default=False))
    pooled = _join(n, [1] * rank, channels, last)
    layout = _CHANNELS_LAST[rank] if last else None
    y = ctx.node(op, [x], pooled, output=ctx.outputs[0] if keep else None, layout=layout)
    if not keep:
        ctx.node("Flatten", [y], (n, channels), {"axis": 1}, output=ctx.outputs[0])


for _rank in (1, 2, 3):
    for _prefix, _op in (("Max", "GlobalMaxPool"), ("Average", "GlobalAveragePool")):
        _short = "GlobalMaxPool" if _prefix == "Max" else "GlobalAvgPool"
        layer(f"Global{_prefix}Pooling{_rank}D", f"{_short}{_rank}D")(
            lambda ctx, r=_rank, o=_op: _global_pool(ctx, r, o)
        )


# -------------------------------------------------------------------------------------------------
# normalization


def _axes(ctx: KerasContext, value: Any, rank: int) -> list[int]:
    values = value if isinstance(value, list) else [value]
    return sorted(int(a) % rank for a in values)


@layer("BatchNormalization")
def convert_batchnorm(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    rank = len(shape)
    axes = _axes(ctx, ctx.cfg("axis", default=-1), rank)
    if len(axes) != 1:
        raise ctx.error(f"normalizes over axes {axes}; only one channel axis is supported")
    axis = axes[0]
    mode = int(ctx.cfg("mode", default=0))
    if mode != 0:
        raise ctx.error(f"Keras 1 mode={mode} batch normalization is not an inference-time affine map")
    channels = shape[axis]
    if not isinstance(channels, int):
        raise ctx.error("needs a known channel count")
    eps = float(ctx.cfg("epsilon", default=1e-3))
    scale = bool(ctx.cfg("scale", default=True))
    center = bool(ctx.cfg("center", default=True))
    index = 0
    params = {}
    for role, present in (("gamma", scale), ("beta", center)):
        if present:
            params[role] = ctx.weight(index, role, (channels,))
            index += 1
    mean = ctx.weight(index, "moving_mean", (channels,))
    keras1_std = ctx.env.major == 1 and "running_std" in ctx.array(index + 1, "running_std").name
    if keras1_std and ctx.env.older_than(1, 0, 8):
        # Keras 1.0.0–1.0.7 stored a true std and computed (x − m) / (std + ε)
        var = ctx.weight(
            index + 1, "variance_from_std", (channels,), transform=lambda a: (a + eps) ** 2 - eps
        )
        ctx.step("param", "Keras < 1.0.8 running_std is a std used as (x−m)/(std+ε): variance (std+ε)²−ε")
    else:
        var = ctx.weight(index + 1, "moving_variance", (channels,))
        if keras1_std:
            ctx.step("param", "Keras 1 running_std holds the variance (Keras ≥ 1.0.8): used as the variance")
    gamma = params.get("gamma") or ctx.constant("gamma", np.ones(channels, np.float32))
    beta = params.get("beta") or ctx.constant("beta", np.zeros(channels, np.float32))
    attrs = {"epsilon": eps}
    if axis == rank - 1 and rank >= 3:
        layout = {3: "NWC", 4: "NHWC", 5: "NDHWC"}.get(rank)
        if layout is None:
            raise ctx.error(f"rank-{rank} input")
        ctx.node(
            "BatchNormalization",
            [x, gamma, beta, mean, var],
            shape,
            attrs,
            output=ctx.outputs[0],
            layout=layout,
        )
    elif axis == 1:
        ctx.node("BatchNormalization", [x, gamma, beta, mean, var], shape, attrs, output=ctx.outputs[0])
    else:
        raise ctx.error(f"normalizes over axis {axis} of a rank-{rank} input")


@layer("LayerNormalization")
def convert_layernorm(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    rank = len(shape)
    axes = _axes(ctx, ctx.cfg("axis", default=-1), rank)
    if axes != list(range(axes[0], rank)):
        raise ctx.error(f"normalizes over axes {axes}; only trailing axes are supported")
    norm_shape = tuple(shape[axes[0] :])
    if not all(isinstance(d, int) for d in norm_shape):
        raise ctx.error("needs known sizes along the normalized axes")
    eps = float(ctx.cfg("epsilon", default=1e-3))
    index = 0
    scale = ctx.weight(index, "gamma", norm_shape) if ctx.cfg("scale", default=True) else None
    index += scale is not None
    bias = ctx.weight(index, "beta", norm_shape) if ctx.cfg("center", default=True) else None
    if scale is None:
        scale = ctx.constant("gamma", np.ones(norm_shape, np.float32))
    inputs = [x, scale] + ([bias] if bias is not None else [])
    ctx.node("LayerNormalization", inputs, shape, {"axis": axes[0], "epsilon": eps}, output=ctx.outputs[0])


# -------------------------------------------------------------------------------------------------
# activations


@layer("Activation")
def convert_activation(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    activations.apply(ctx, x, shape, ctx.cfg("activation"), ctx.outputs[0])


@layer("ReLU")
def convert_relu(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    max_value = ctx.cfg("max_value", default=None)
    activations.relu(
        ctx, x, shape, ctx.outputs[0],
        max_value=None if max_value is None else float(max_value),
        negative_slope=float(ctx.cfg("negative_slope", default=0.0)),
        threshold=float(ctx.cfg("threshold", default=0.0)),
    )  # fmt: skip


@layer("LeakyReLU")
def convert_leaky_relu(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    alpha = float(ctx.cfg("negative_slope", "alpha", default=0.3))
    ctx.node("LeakyRelu", [x], shape, {"alpha": alpha}, output=ctx.outputs[0])


@layer("ELU")
def convert_elu(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    ctx.node("Elu", [x], shape, {"alpha": float(ctx.cfg("alpha", default=1.0))}, output=ctx.outputs[0])


@layer("ThresholdedReLU")
def convert_thresholded(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    theta = float(ctx.cfg("theta", default=1.0))
    ctx.node("ThresholdedRelu", [x], shape, {"alpha": theta}, output=ctx.outputs[0])


@layer("Softmax")
def convert_softmax(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    axis = ctx.cfg("axis", default=-1)
    if isinstance(axis, list):
        if len(axis) != 1:
            raise ctx.error("softmax over several axes is not supported")
        axis = axis[0]
    ctx.node("Softmax", [x], shape, {"axis": int(axis) % len(shape)}, output=ctx.outputs[0])


@layer("PReLU")
def convert_prelu(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    shared = ctx.cfg("shared_axes", default=None) or []
    slope_shape = [d for d in shape[1:]]
    for a in shared if isinstance(shared, list) else [shared]:
        slope_shape[int(a) - 1] = 1
    if not all(isinstance(d, int) for d in slope_shape):
        raise ctx.error("needs known sizes for its slope")
    alpha = ctx.weight(0, "alpha", tuple(slope_shape))
    ctx.node("PRelu", [x, alpha], shape, output=ctx.outputs[0])


@layer(*DROPOUT_TYPES)
def convert_dropout(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    ctx.step("dropout", f"{ctx.type} is the identity at inference")
    ctx.node("Identity", [x], shape, output=ctx.outputs[0])


# -------------------------------------------------------------------------------------------------
# reshaping


@layer("Flatten")
def convert_flatten(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    n = shape[0]
    rest = shape[1:]
    total = int(np.prod(rest)) if all(isinstance(d, int) for d in rest) else None
    if len(shape) > 2 and ctx.config.get("data_format") == "channels_first":
        ctx.step("layout", "Flatten(channels_first) flattens in channels-last order: transposed first")
        p = [0, *range(2, len(shape)), 1]
        x = ctx.node("Transpose", [x], tuple(shape[i] for i in p), {"perm": p})
    ctx.node("Flatten", [x], (n, total), {"axis": 1}, output=ctx.outputs[0])


@layer("Reshape")
def convert_reshape(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    target = [int(d) for d in ctx.cfg("target_shape", "dims")]
    known = [d for d in target if d != -1]
    if -1 in target and all(isinstance(d, int) for d in shape[1:]):
        missing = int(np.prod(shape[1:])) // max(1, int(np.prod(known)))
        target_shape = [missing if d == -1 else d for d in target]
    else:
        target_shape = target
    spec = ctx.constant("shape", np.array([0, *target], np.int64))
    ctx.node("Reshape", [x, spec], (shape[0], *[d if d != -1 else None for d in target_shape]),
             output=ctx.outputs[0])  # fmt: skip


@layer("Permute")
def convert_permute(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    p = [0, *(int(d) for d in ctx.cfg("dims"))]
    ctx.node("Transpose", [x], tuple(shape[i] for i in p), {"perm": p}, output=ctx.outputs[0])


@layer("RepeatVector")
def convert_repeat(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    n = int(ctx.cfg("n"))
    axes = ctx.constant("axes", np.array([1], np.int64))
    y = ctx.node("Unsqueeze", [x, axes], (shape[0], 1, shape[1]))
    reps = ctx.constant("repeats", np.array([1, n, 1], np.int64))
    ctx.node("Tile", [y, reps], (shape[0], n, shape[1]), output=ctx.outputs[0])


def _pad_pairs(ctx: KerasContext, rank: int, key: str) -> list[tuple[int, int]]:
    value = ctx.cfg(key, default=1)
    if isinstance(value, int):
        return [(value, value)] * rank
    pairs = []
    for item in value:
        pairs.append((int(item), int(item)) if isinstance(item, int) else (int(item[0]), int(item[1])))
    if rank == 1 and len(pairs) == 2 and isinstance(value[0], int):
        return [(int(value[0]), int(value[1]))]
    if len(pairs) != rank:
        raise ctx.error(f"{key} {value} does not give {rank} pairs")
    return pairs


@layer("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def convert_zero_padding(ctx: KerasContext) -> None:
    rank = int(ctx.type[-2])
    x, shape = single_input(ctx)
    last = ctx.channels_last()
    pairs = _pad_pairs(ctx, rank, "padding")
    n, spatial, c = _split(shape, rank, last)
    offset = 1 if last else 2
    before = [0] * len(shape)
    after = [0] * len(shape)
    for i, (b, a) in enumerate(pairs):
        before[offset + i], after[offset + i] = b, a
    outs = [s + b + a if isinstance(s, int) else None for s, (b, a) in zip(spatial, pairs, strict=True)]
    pads = ctx.constant("pads", np.array(before + after, np.int64))
    ctx.node("Pad", [x, pads], _join(n, outs, c, last), {"mode": "constant"}, output=ctx.outputs[0])


@layer("Cropping1D", "Cropping2D", "Cropping3D")
def convert_cropping(ctx: KerasContext) -> None:
    rank = int(ctx.type[-2])
    x, shape = single_input(ctx)
    last = ctx.channels_last()
    pairs = _pad_pairs(ctx, rank, "cropping")
    n, spatial, c = _split(shape, rank, last)
    offset = 1 if last else 2
    starts = [b for b, _ in pairs]
    ends = [-a if a else _INT64_MAX for _, a in pairs]
    axes = [offset + i for i in range(rank)]
    # cropping more than there is leaves an empty axis, as in Keras (dl4j's cnn3d_20.h5)
    outs = [
        max(0, s - b - a) if isinstance(s, int) else None for s, (b, a) in zip(spatial, pairs, strict=True)
    ]
    args = [
        ctx.constant(h, np.array(v, np.int64))
        for h, v in (("starts", starts), ("ends", ends), ("axes", axes))
    ]
    ctx.node("Slice", [x, *args], _join(n, outs, c, last), output=ctx.outputs[0])


@layer("UpSampling1D", "UpSampling2D", "UpSampling3D")
def convert_upsampling(ctx: KerasContext) -> None:
    rank = int(ctx.type[-2])
    x, shape = single_input(ctx)
    last = ctx.channels_last() if rank > 1 else True
    n, spatial, c = _split(shape, rank, last)
    size = ctx.ints(rank, "size", "length", default=2)
    interpolation = str(ctx.cfg("interpolation", default="nearest"))
    scales = [1.0, *map(float, size), 1.0] if last else [1.0, 1.0, *map(float, size)]
    outs = [s * f if isinstance(s, int) else None for s, f in zip(spatial, size, strict=True)]
    if interpolation == "nearest":
        attrs: dict[str, Any] = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                 "nearest_mode": "floor"}  # fmt: skip
    elif interpolation == "bilinear":
        # multi-backend Keras (≤ 2.3) and TF-1-era tf.keras resized without half-pixel centres;
        # tf.keras ≥ 2.4 (TF 2.3+), tf-keras and Keras 3 use tf.image.resize (half-pixel)
        legacy = ctx.env.major < 2 or ctx.env.older_than(2, 4)
        attrs = {"mode": "linear", "coordinate_transformation_mode": "asymmetric" if legacy else "half_pixel"}
    else:
        raise ctx.error(f"interpolation {interpolation!r} is not supported")
    scale_name = ctx.constant("scales", np.array(scales, np.float32))
    layout = _CHANNELS_LAST[rank] if last and rank > 1 else None
    ctx.node(
        "Resize", [x, "", scale_name], _join(n, outs, c, last), attrs, output=ctx.outputs[0], layout=layout
    )


# -------------------------------------------------------------------------------------------------
# merging


def _broadcast_shape(shapes: list[Shape]) -> Shape:
    rank = max(len(s) for s in shapes)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i - rank + len(s)] for s in shapes if i - rank + len(s) >= 0]
        ints = [d for d in dims if isinstance(d, int) and d != 1]
        out.append(ints[0] if ints else next((d for d in dims if d is not None), None))
    return tuple(out)


def _merge(ctx: KerasContext, op: str) -> None:
    if len(ctx.inputs) < 2:
        raise ctx.error(f"{ctx.type} needs at least two inputs")
    shape = _broadcast_shape(ctx.input_shapes)
    if op == "Sub" and len(ctx.inputs) != 2:
        raise ctx.error("Subtract takes exactly two inputs")
    if op in ("Add", "Mul") and len(ctx.inputs) > 2:
        y = ctx.inputs[0]
        for i, other in enumerate(ctx.inputs[1:]):
            last = i == len(ctx.inputs) - 2
            y = ctx.node(op, [y, other], shape, output=ctx.outputs[0] if last else None)
        return
    if op == "Mean":
        total = ctx.inputs[0]
        for other in ctx.inputs[1:]:
            total = ctx.node("Add", [total, other], shape)
        count = ctx.scalar("count", float(len(ctx.inputs)))
        ctx.node("Div", [total, count], shape, output=ctx.outputs[0])
        return
    ctx.node(op, list(ctx.inputs), shape, output=ctx.outputs[0])


for _type, _op in (("Add", "Add"), ("Subtract", "Sub"), ("Multiply", "Mul"), ("Average", "Mean"),
                   ("Maximum", "Max"), ("Minimum", "Min")):  # fmt: skip
    layer(_type)(lambda ctx, o=_op: _merge(ctx, o))


@layer("Concatenate")
def convert_concatenate(ctx: KerasContext) -> None:
    rank = len(ctx.input_shapes[0])
    axis = int(ctx.cfg("axis", "concat_axis", default=-1)) % rank
    sizes = [s[axis] for s in ctx.input_shapes]
    shape = list(ctx.input_shapes[0])
    shape[axis] = sum(sizes) if all(isinstance(d, int) for d in sizes) else None  # type: ignore[arg-type]
    ctx.node("Concat", list(ctx.inputs), tuple(shape), {"axis": axis}, output=ctx.outputs[0])


@layer("Merge")
def convert_merge(ctx: KerasContext) -> None:
    """Keras 1 Merge: sum, mul, concat (concat_axis), ave, max; others are refused."""
    mode = ctx.cfg("mode", default="sum")
    if not isinstance(mode, str):
        raise ctx.error("a Merge with a Python function mode holds bytecode, which netinspect never runs")
    if mode == "concat":
        convert_concatenate(ctx)
        return
    ops = {"sum": "Add", "mul": "Mul", "ave": "Mean", "max": "Max"}
    if mode not in ops:
        raise ctx.error(f"Merge mode {mode!r} is not supported")
    _merge(ctx, ops[mode])


# -------------------------------------------------------------------------------------------------
# preprocessing


@layer("Rescaling")
def convert_rescaling(ctx: KerasContext) -> None:
    x, shape = single_input(ctx)
    scale = ctx.constant("scale", np.asarray(ctx.cfg("scale"), np.float32))
    offset = np.asarray(ctx.cfg("offset", default=0.0), np.float32)
    y = ctx.node("Mul", [x, scale], shape)
    ctx.node("Add", [y, ctx.constant("offset", offset)], shape, output=ctx.outputs[0])


@layer("Normalization")
def convert_normalization(ctx: KerasContext) -> None:
    """(x − mean) / max(sqrt(variance), epsilon), with Keras' epsilon 1e-7."""
    x, shape = single_input(ctx)
    axes = ctx.cfg("axis", default=-1)
    axes = [axes] if isinstance(axes, int) else list(axes)
    keep = sorted(int(a) % len(shape) for a in axes)
    bshape = [1] * len(shape)
    for a in keep:
        bshape[a] = shape[a]  # type: ignore[call-overload]
    bshape = bshape[1:]
    if ctx.config.get("mean") is not None:
        mean_c = ctx.constant("mean", np.asarray(ctx.cfg("mean"), np.float32).reshape(bshape))
        var_arr = np.asarray(ctx.cfg("variance"), np.float32).reshape(bshape)
        std = ctx.constant("std", np.maximum(np.sqrt(var_arr), np.float32(1e-7)))
    else:
        mean_c = ctx.weight(0, "mean", None, transform=lambda a: a.reshape(bshape), out_shape=tuple(bshape))  # type: ignore[arg-type]
        var = ctx.weight(1, "variance", None, transform=lambda a: a.reshape(bshape), out_shape=tuple(bshape))  # type: ignore[arg-type]
        root = ctx.node("Sqrt", [var], tuple(bshape))
        std = ctx.node("Max", [root, ctx.scalar("eps", 1e-7)], tuple(bshape))
    centered = ctx.node("Sub", [x, mean_c], shape)
    ctx.node("Div", [centered, std], shape, output=ctx.outputs[0])
