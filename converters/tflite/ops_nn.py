"""TFLite's neural-network operators: convolutions, pooling, FULLY_CONNECTED, normalizations.

Semantics follow TFLite's reference kernels (tensorflow/lite/kernels/internal/reference/ in TensorFlow
and tflite-micro: conv.h, depthwiseconv_float.h, fully_connected.h, pooling.h): activations NHWC,
CONV_2D filters OHWI, DEPTHWISE_CONV_2D 1HWO (out channel = in·M + m), TRANSPOSE_CONV filters OHWI
with O the produced channels, FULLY_CONNECTED weights [out, in]. SAME/VALID padding becomes explicit
ONNX pads computed from the shapes (the extra cell at the end). Channel-sensitive ops are emitted
with layout="NHWC" and their filters tagged with their TFLite layout: the layout pass does the rest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netinspect.build import same_pads
from netinspect.converters.tflite import exact, exact_transpose_conv
from netinspect.converters.tflite.context import TFLITE, TfliteContext, _brief, quant_params
from netinspect.converters.tflite.flatbuffer import TflTensor
from netinspect.registry import layer


def same_or_valid(
    ctx: TfliteContext, size: int, kernel: int, stride: int, dilation: int, out: int
) -> tuple[int, int]:
    """(before, after) padding of one spatial axis, as TFLite's ComputePaddingWithOffset."""
    if ctx.option("Padding", 0) == 1:  # VALID
        return 0, 0
    return same_pads(size, kernel, stride, dilation, out)


def spatial_attrs(
    ctx: TfliteContext,
    in_hw: tuple[int, int],
    kernel: tuple[int, int],
    out_hw: tuple[int, int],
    dilated: bool,
) -> dict[str, Any]:
    strides = (ctx.option("StrideH", 1), ctx.option("StrideW", 1))
    dilations = (ctx.option("DilationHFactor", 1), ctx.option("DilationWFactor", 1)) if dilated else (1, 1)
    pads = [same_or_valid(ctx, in_hw[a], kernel[a], strides[a], dilations[a], out_hw[a]) for a in (0, 1)]
    if ctx.option("Padding", 0) == 0 and any(p for pair in pads for p in pair):
        ctx.step("pad", f"SAME padding made explicit: top/left {pads[0][0]},{pads[1][0]}, "
                        f"bottom/right {pads[0][1]},{pads[1][1]}")  # fmt: skip
    attrs: dict[str, Any] = {
        "kernel_shape": list(kernel),
        "strides": list(strides),
        "pads": [pads[0][0], pads[1][0], pads[0][1], pads[1][1]],
    }
    if dilated:
        attrs["dilations"] = list(dilations)
    return attrs


def bias(ctx: TfliteContext, i: int, x: int = 0) -> list[str]:
    """Input `i`, the bias of a convolution or FULLY_CONNECTED reading input `x` with the filter at 1."""
    t = ctx.tensor(i)
    if t is None:
        return []
    scale = _accumulator_scale(ctx, t, x)
    return [ctx.weight_of(t, scale=scale)] if scale is not None else [ctx.x(i)]


def _accumulator_scale(ctx: TfliteContext, t: TflTensor, x: int) -> np.ndarray | None:
    """The scale LiteRT's integer kernels give an int32 bias — they add it to the accumulator as it
    is, so it counts at the input's scale × the filter's — when the file stores another one (the
    converter shares one bias between layers whose inputs have other scales: DBFace); None when
    the stored scale is that one, or the layer is not integer."""
    params, x_params, w_params = quant_params(t), quant_params(ctx.need(x)), quant_params(ctx.need(1))
    if t.dtype != "int32" or ctx.need(x).dtype not in ("int8", "uint8"):
        return None
    if params is None or x_params is None or w_params is None:
        return None
    kernel = (x_params[0].astype(np.float64) * w_params[0].astype(np.float64)).astype(np.float32)
    kernel = np.broadcast_to(kernel, np.broadcast_shapes(kernel.shape, params[0].shape)).copy()
    if np.allclose(kernel, params[0], rtol=1e-5, atol=0):
        return None
    ctx.step("param", f"int32 bias {t.name!r} read at the input's scale × the filter's "
                      f"({_brief(kernel)}), as the kernel adds it to its accumulator; the file stores "
                      f"{_brief(params[0])}, another layer's (the bias is shared)")  # fmt: skip
    return kernel


@layer(TFLITE, "CONV_2D")
def conv_2d(ctx: TfliteContext) -> None:
    _n, h, w, c = ctx.in_shape(0)
    _o, kh, kw, i = ctx.need(1).shape
    _, oh, ow, _ = ctx.out_shape()
    if c % i:
        raise ctx.error(f"input has {c} channels, not a multiple of the filter's {i}")
    attrs = spatial_attrs(ctx, (h, w), (kh, kw), (oh, ow), dilated=True)
    if c // i != 1:
        attrs["group"] = c // i
    if exact.applies(ctx):
        exact.conv(ctx, attrs, "OHWI")
        return
    weight = ctx.weight(1, "OHWI", "Conv")
    x = ctx.hybrid(ctx.x(0), ctx.in_shape(0), asymmetric=_hybrid_per_channel(ctx, c // i))
    activation = ctx.option("FusedActivationFunction", 0)
    ctx.emit("Conv", [x, weight, *bias(ctx, 2)], attrs, layout="NHWC", activation=activation)


def _hybrid_per_channel(ctx: TfliteContext, groups: int) -> bool:
    """Whether LiteRT's hybrid CONV_2D takes its per-channel path (input quantized asymmetrically per
    batch item): distinct per-channel filter scales, or groups; otherwise (conv.cc EvalHybrid) each
    batch item is quantized symmetrically, ±127."""
    params = quant_params(ctx.need(1))
    return groups != 1 or (params is not None and np.unique(params[0]).size > 1)


@layer(TFLITE, "DEPTHWISE_CONV_2D")
def depthwise_conv_2d(ctx: TfliteContext) -> None:
    _n, h, w, c = ctx.in_shape(0)
    _, kh, kw, cm = ctx.need(1).shape
    _, oh, ow, oc = ctx.out_shape()
    if cm != oc or oc % c:
        raise ctx.error(f"filter has {cm} channels for {c} inputs and {oc} outputs")
    attrs = spatial_attrs(ctx, (h, w), (kh, kw), (oh, ow), dilated=True)
    attrs["group"] = c
    if oc // c > 1:
        ctx.step("param", f"depth multiplier {oc // c} (from the filter's {oc} channels): group={c}")
    if exact.applies(ctx):
        exact.conv(ctx, attrs, "IHWO")
        return
    weight = ctx.weight(1, "IHWO", "Conv")
    x = ctx.hybrid(ctx.x(0), ctx.in_shape(0), asymmetric=True)  # per-channel hybrid kernels: asymmetric
    activation = ctx.option("FusedActivationFunction", 0)
    ctx.emit("Conv", [x, weight, *bias(ctx, 2)], attrs, layout="NHWC", activation=activation)


@layer(TFLITE, "TRANSPOSE_CONV")
def transpose_conv(ctx: TfliteContext) -> None:
    strides = (ctx.option("StrideH", 1), ctx.option("StrideW", 1))
    pads, extra = transpose_conv_pads(ctx, 2, strides, same=ctx.option("Padding", 0) == 0)
    if exact_transpose_conv.applies(ctx, (pads[0][0], pads[1][0])):
        exact_transpose_conv.transpose_conv(ctx, (pads[0][0], pads[1][0]), strides)
        return
    conv_transpose(ctx, 2, 3, strides, pads, extra, ctx.option("FusedActivationFunction", 0))


def transpose_conv_pads(
    ctx: TfliteContext, x: int, strides: tuple[int, int], same: bool
) -> tuple[list[tuple[int, int]], list[int]]:
    """Begin/end pads per spatial axis (SAME: the total split with the extra cell at the end) and
    the output rows past the last stride, for a transposed convolution of input `x` (filter input 1)."""
    _n, h, w, _c = ctx.in_shape(x)
    _o, kh, kw, _i = ctx.need(1).shape
    _, oh, ow, _oc = ctx.out_shape()
    pads, extra = [], []
    for size, k, s, out in ((h, kh, strides[0], oh), (w, kw, strides[1], ow)):
        total = max(0, (size - 1) * s + k - out) if same else 0
        pads.append((total // 2, total - total // 2))
        extra.append(max(0, out - ((size - 1) * s + k - total)))
    return pads, extra


def conv_transpose(
    ctx: TfliteContext,
    x: int,
    bias_input: int,
    strides: tuple[int, int],
    pads: list[tuple[int, int]],
    extra: list[int],
    activation: int,
) -> None:
    """ConvTranspose of input `x` by the OHWI filter at input 1 (and the bias at `bias_input`)."""
    _o, kh, kw, _i = ctx.need(1).shape
    attrs: dict[str, Any] = {
        "kernel_shape": [kh, kw],
        "strides": list(strides),
        "pads": [pads[0][0], pads[1][0], pads[0][1], pads[1][1]],
    }
    if any(extra):
        attrs["output_padding"] = extra
        ctx.step("pad", f"output grows by {extra} past the last stride (output_padding)")
    weight = ctx.weight(1, "OHWI", "ConvTranspose")
    ctx.emit("ConvTranspose", [ctx.x(x), weight, *bias(ctx, bias_input, x)], attrs, layout="NHWC",
             activation=activation)  # fmt: skip


def _pool(ctx: TfliteContext, op_type: str) -> None:
    _n, h, w, _c = ctx.in_shape(0)
    _, oh, ow, _ = ctx.out_shape()
    kernel = (ctx.option("FilterHeight", 1), ctx.option("FilterWidth", 1))
    attrs = spatial_attrs(ctx, (h, w), kernel, (oh, ow), dilated=False)
    if op_type == "AveragePool" and exact.applies(ctx):
        exact.average_pool(ctx, attrs)
        return
    if op_type == "AveragePool":
        attrs["count_include_pad"] = 0
    if op_type == "LpPool":
        attrs["p"] = 2
    ctx.emit(op_type, [ctx.x(0)], attrs, layout="NHWC", activation=ctx.option("FusedActivationFunction", 0))


@layer(TFLITE, "AVERAGE_POOL_2D")
def average_pool(ctx: TfliteContext) -> None:
    _pool(ctx, "AveragePool")


@layer(TFLITE, "MAX_POOL_2D")
def max_pool(ctx: TfliteContext) -> None:
    _pool(ctx, "MaxPool")


@layer(TFLITE, "L2_POOL_2D")
def l2_pool(ctx: TfliteContext) -> None:
    """TFLite's L2 pool is sqrt(mean(x²)) over the valid cells; ONNX LpPool is sqrt(sum(x²))."""
    _n, h, w, _c = ctx.in_shape(0)
    _, oh, ow, _ = ctx.out_shape()
    kernel = (ctx.option("FilterHeight", 1), ctx.option("FilterWidth", 1))
    attrs = spatial_attrs(ctx, (h, w), kernel, (oh, ow), dilated=False)
    shape = ctx.out_shape()
    x = ctx.x(0)
    square = ctx.node("Mul", [x, x], ctx.in_shape(0))
    mean = ctx.node("AveragePool", [square], shape, {**attrs, "count_include_pad": 0}, layout="NHWC")
    ctx.step("param", "L2 pool as sqrt(average pool of x²), the divisor counting valid cells")
    ctx.emit("Sqrt", [mean], activation=ctx.option("FusedActivationFunction", 0))


@layer(TFLITE, "FULLY_CONNECTED")
def fully_connected(ctx: TfliteContext) -> None:
    """y = x·Wᵀ + b on x viewed as [numel/in, in]; keep_num_dims keeps x's leading dims."""
    if ctx.option("WeightsFormat", 0) != 0:
        raise ctx.error("shuffled (SHUFFLED4x16INT8) weights are not supported")
    units, depth = ctx.need(1).shape
    in_shape = ctx.in_shape(0)
    size = math.prod(in_shape)
    rows: int | None = size // depth if size % depth == 0 and size >= depth else None
    out_shape = ctx.out_shape()
    x = ctx.state.stored[ctx.need(0).index] if exact.applies(ctx) else ctx.x(0)
    if tuple(in_shape) != (rows, depth):
        # −1 rows: a tensor sized at run time is stored with a placeholder shape (Tensordot's (1, 1))
        x = ctx.node("Reshape", [x, ctx.ints([-1, depth])], (rows, depth))
    if exact.applies(ctx):
        exact.fully_connected(ctx, x, rows, depth, units)
        return
    weight = ctx.weight(1) if ctx.need(1).has_data or ctx.need(1).index in ctx.state.deferred else ctx.x(1)
    asymmetric = bool(ctx.option("AsymmetricQuantizeInputs", False))
    inputs = [ctx.hybrid(x, (rows, depth), asymmetric), weight, *bias(ctx, 2)]
    act = ctx.option("FusedActivationFunction", 0)
    if tuple(out_shape) == (rows, units):
        ctx.emit("Gemm", inputs, {"transB": 1}, activation=act)
        return
    gemm = ctx.node("Gemm", inputs, (rows, units), {"transB": 1})
    ctx.emit("Reshape", [gemm, ctx.ints(out_shape)], activation=act)


@layer(TFLITE, "L2_NORMALIZATION")
def l2_normalization(ctx: TfliteContext) -> None:
    """x / max(‖x‖₂, 1e-6) over the last axis (TFLite's reference kernel)."""
    x = ctx.x(0)
    shape = ctx.in_shape(0)
    reduced = (*shape[:-1], 1)
    norm = ctx.node("ReduceL2", [x], reduced, {"axes": [-1], "keepdims": 1})
    norm = ctx.node("Max", [norm, ctx.constant("epsilon", np.float32(1e-6))], reduced)
    ctx.emit("Div", [x, norm], activation=ctx.option("FusedActivationFunction", 0))


@layer(TFLITE, "LOCAL_RESPONSE_NORMALIZATION")
def lrn(ctx: TfliteContext) -> None:
    """TFLite: x / (bias + alpha·Σ x²)^beta over 2r+1 channels; ONNX LRN divides alpha by the size."""
    radius = int(ctx.option("Radius", 5))
    size = 2 * radius + 1
    attrs = {"size": size, "alpha": float(ctx.option("Alpha", 1.0)) * size,
             "beta": float(ctx.option("Beta", 0.5)), "bias": float(ctx.option("Bias", 1.0))}  # fmt: skip
    ctx.step("param", f"alpha multiplied by the window size {size} (ONNX LRN divides by it)")
    ctx.emit("LRN", [ctx.x(0)], attrs, layout="NHWC")


def _pads_3d(ctx: TfliteContext, sizes: tuple[int, ...], kernel: tuple[int, ...], outs: tuple[int, ...],
             strides: tuple[int, ...], dilations: tuple[int, ...]) -> list[int]:  # fmt: skip
    """ONNX pads [d0, h0, w0, d1, h1, w1] for TFLite's SAME/VALID on three spatial axes."""
    pairs = [same_or_valid(ctx, *args) for args in zip(sizes, kernel, strides, dilations, outs, strict=True)]
    return [p[0] for p in pairs] + [p[1] for p in pairs]


@layer(TFLITE, "CONV_3D")
def conv_3d(ctx: TfliteContext) -> None:
    """NDHWC input, filter [D, H, W, I, O] (TensorFlow's own 3-D layout, "DHWIO")."""
    _n, d, h, w, _c = ctx.in_shape(0)
    kd, kh, kw, _i, _o = ctx.need(1).shape
    _, od, oh, ow, _oc = ctx.out_shape()
    strides = (ctx.option("StrideD", 1), ctx.option("StrideH", 1), ctx.option("StrideW", 1))
    dilations = (
        ctx.option("DilationDFactor", 1),
        ctx.option("DilationHFactor", 1),
        ctx.option("DilationWFactor", 1),
    )
    pads = _pads_3d(ctx, (d, h, w), (kd, kh, kw), (od, oh, ow), strides, dilations)
    attrs = {
        "kernel_shape": [kd, kh, kw],
        "strides": list(strides),
        "dilations": list(dilations),
        "pads": pads,
    }
    weight = ctx.weight(1, "DHWIO", "Conv")
    ctx.emit("Conv", [ctx.x(0), weight, *bias(ctx, 2)], attrs, layout="NDHWC",
             activation=ctx.option("FusedActivationFunction", 0))  # fmt: skip


@layer(TFLITE, "CONV_3D_TRANSPOSE")
def conv_3d_transpose(ctx: TfliteContext) -> None:
    """Inputs: output shape, filter [D, H, W, O, I] ("DHWOI"), input NDHWC, bias; pads as TRANSPOSE_CONV's
    on each axis, any remainder as output_padding."""
    _n, d, h, w, _c = ctx.in_shape(2)
    kd, kh, kw, _o, _i = ctx.need(1).shape
    _, od, oh, ow, _oc = ctx.out_shape()
    strides = (ctx.option("StrideD", 1), ctx.option("StrideH", 1), ctx.option("StrideW", 1))
    before, after, extra = [], [], []
    for size, k, s, out in zip((d, h, w), (kd, kh, kw), strides, (od, oh, ow), strict=True):
        total = max(0, (size - 1) * s + k - out) if ctx.option("Padding", 0) == 0 else 0
        before.append(total // 2)
        after.append(total - total // 2)
        extra.append(max(0, out - ((size - 1) * s + k - total)))
    attrs: dict[str, Any] = {"kernel_shape": [kd, kh, kw], "strides": list(strides), "pads": before + after}
    if any(extra):
        attrs["output_padding"] = extra
    weight = ctx.weight(1, "DHWOI", "ConvTranspose")
    ctx.emit("ConvTranspose", [ctx.x(2), weight, *bias(ctx, 3, 2)], attrs, layout="NDHWC",
             activation=ctx.option("FusedActivationFunction", 0))  # fmt: skip
