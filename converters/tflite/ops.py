"""One handler per TFLite builtin operator, emitting ONNX-vocabulary IR through a TfliteContext.

Semantics follow TFLite's reference kernels (see ../shared/context/tflite.md): activations NHWC,
CONV_2D filters OHWI, DEPTHWISE_CONV_2D 1HWO (out channel = in·M + m), TRANSPOSE_CONV filters
OHWI with O the produced channels, FULLY_CONNECTED weights [out, in]. SAME/VALID padding becomes
explicit ONNX pads computed from the shapes (the extra cell at the end). Channel-sensitive ops are
emitted with layout="NHWC"; everything else keeps TFLite's axes and the layout pass moves them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.registry import layer

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


def same_or_valid(
    ctx: TfliteContext, size: int, kernel: int, stride: int, dilation: int, out: int
) -> tuple[int, int]:
    """(before, after) padding of one spatial axis, as TFLite's ComputePaddingWithOffset."""
    padding = ctx.option("Padding", 0)
    if padding == 1:  # VALID
        return 0, 0
    effective = (kernel - 1) * dilation + 1
    total = max(0, (out - 1) * stride + effective - size)
    return total // 2, total - total // 2


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


def bias(ctx: TfliteContext, i: int) -> list[str]:
    return [ctx.x(i)] if ctx.tensor(i) is not None else []


# -------------------------------------------------------------------------------------------------
# convolutions and pooling


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
    weight = ctx.weight(1, "OHWI", "Conv")
    x = ctx.hybrid(ctx.x(0), ctx.in_shape(0), asymmetric=True)  # per-channel hybrid kernels: asymmetric
    activation = ctx.option("FusedActivationFunction", 0)
    ctx.emit("Conv", [x, weight, *bias(ctx, 2)], attrs, layout="NHWC", activation=activation)


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
    weight = ctx.weight(1, "IHWO", "Conv")
    x = ctx.hybrid(ctx.x(0), ctx.in_shape(0), asymmetric=True)  # per-channel hybrid kernels: asymmetric
    activation = ctx.option("FusedActivationFunction", 0)
    ctx.emit("Conv", [x, weight, *bias(ctx, 2)], attrs, layout="NHWC", activation=activation)


@layer(TFLITE, "TRANSPOSE_CONV")
def transpose_conv(ctx: TfliteContext) -> None:
    _n, h, w, _c = ctx.in_shape(2)
    _o, kh, kw, _i = ctx.need(1).shape
    _, oh, ow, _oc = ctx.out_shape()
    strides = (ctx.option("StrideH", 1), ctx.option("StrideW", 1))
    pads, extra = [], []
    for size, k, s, out in ((h, kh, strides[0], oh), (w, kw, strides[1], ow)):
        total = max(0, (size - 1) * s + k - out) if ctx.option("Padding", 0) == 0 else 0
        pads.append((total // 2, total - total // 2))
        extra.append(max(0, out - ((size - 1) * s + k - total)))
    attrs: dict[str, Any] = {
        "kernel_shape": [kh, kw],
        "strides": list(strides),
        "pads": [pads[0][0], pads[1][0], pads[0][1], pads[1][1]],
    }
    if any(extra):
        attrs["output_padding"] = extra
        ctx.step("pad", f"output grows by {extra} past the last stride (output_padding)")
    weight = ctx.weight(1, "OHWI", "ConvTranspose")
    ctx.emit("ConvTranspose", [ctx.x(2), weight, *bias(ctx, 3)], attrs, layout="NHWC",
             activation=ctx.option("FusedActivationFunction", 0))  # fmt: skip


def _pool(ctx: TfliteContext, op_type: str) -> None:
    _n, h, w, _c = ctx.in_shape(0)
    _, oh, ow, _ = ctx.out_shape()
    kernel = (ctx.option("FilterHeight", 1), ctx.option("FilterWidth", 1))
    attrs = spatial_attrs(ctx, (h, w), kernel, (oh, ow), dilated=False)
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
    rows = math.prod(in_shape) // depth
    out_shape = ctx.out_shape()
    x = ctx.x(0)
    if tuple(in_shape) != (rows, depth):
        x = ctx.node("Reshape", [x, ctx.ints([rows, depth])], (rows, depth))
    weight = ctx.weight(1) if ctx.need(1).has_data or ctx.need(1).index in ctx.state.deferred else ctx.x(1)
    asymmetric = bool(ctx.option("AsymmetricQuantizeInputs", False))
    inputs = [ctx.hybrid(x, (rows, depth), asymmetric), weight, *bias(ctx, 2)]
    act = ctx.option("FusedActivationFunction", 0)
    if tuple(out_shape) == (rows, units):
        ctx.emit("Gemm", inputs, {"transB": 1}, activation=act)
        return
    gemm = ctx.node("Gemm", inputs, (rows, units), {"transB": 1})
    ctx.emit("Reshape", [gemm, ctx.ints(out_shape)], activation=act)


# -------------------------------------------------------------------------------------------------
# element-wise


BINARY = {"ADD": "Add", "SUB": "Sub", "MUL": "Mul", "DIV": "Div", "MAXIMUM": "Max", "MINIMUM": "Min",
          "POW": "Pow", "FLOOR_DIV": "Div", "SQUARED_DIFFERENCE": "Sub"}  # fmt: skip


@layer(TFLITE, *BINARY)
def binary(ctx: TfliteContext) -> None:
    a, b = ctx.x(0), ctx.x(1)
    act = ctx.option("FusedActivationFunction", 0)
    if ctx.type == "SQUARED_DIFFERENCE":
        diff = ctx.node("Sub", [a, b], ctx.out_shape())
        ctx.emit("Mul", [diff, diff], activation=act)
    elif ctx.type == "FLOOR_DIV":
        quotient = ctx.node("Div", [a, b], ctx.out_shape())
        ctx.emit("Floor", [quotient])
    else:
        ctx.emit(BINARY[ctx.type], [a, b], activation=act)


UNARY = {"RELU": "Relu", "TANH": "Tanh", "LOGISTIC": "Sigmoid", "HARD_SWISH": "HardSwish", "ELU": "Elu",
         "ABS": "Abs", "EXP": "Exp", "LOG": "Log", "SQRT": "Sqrt", "NEG": "Neg", "FLOOR": "Floor",
         "CEIL": "Ceil", "SIN": "Sin", "COS": "Cos", "ROUND": "Round", "SIGN": "Sign"}  # fmt: skip


@layer(TFLITE, *UNARY)
def unary(ctx: TfliteContext) -> None:
    ctx.emit(UNARY[ctx.type], [ctx.x(0)])


@layer(TFLITE, "RSQRT", "SQUARE")
def rsqrt_square(ctx: TfliteContext) -> None:
    x = ctx.x(0)
    if ctx.type == "SQUARE":
        ctx.emit("Mul", [x, x])
        return
    root = ctx.node("Sqrt", [x], ctx.out_shape())
    ctx.emit("Reciprocal", [root])


@layer(TFLITE, "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1")
def clipped_relu(ctx: TfliteContext) -> None:
    low, high = {"RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0), "RELU_0_TO_1": (0.0, 1.0)}[ctx.type]
    bounds = [ctx.constant("min", np.float32(low)), ctx.constant("max", np.float32(high))]
    ctx.emit("Clip", [ctx.x(0), *bounds])


@layer(TFLITE, "LEAKY_RELU")
def leaky_relu(ctx: TfliteContext) -> None:
    ctx.emit("LeakyRelu", [ctx.x(0)], {"alpha": float(ctx.option("Alpha", 0.0))})


@layer(TFLITE, "PRELU")
def prelu(ctx: TfliteContext) -> None:
    ctx.emit("PRelu", [ctx.x(0), ctx.x(1)])


@layer(TFLITE, "GELU")
def gelu(ctx: TfliteContext) -> None:
    """GELU decomposed for opset 17: exact 0.5·x·(1+erf(x/√2)), or TFLite's tanh approximation."""
    x = ctx.x(0)
    shape = ctx.out_shape()

    def c(value: float) -> str:
        return ctx.constant("c", np.float32(value))

    if ctx.option("Approximate", False):
        cube = ctx.node("Mul", [ctx.node("Mul", [x, x], shape), x], shape)
        inner = ctx.node("Add", [x, ctx.node("Mul", [cube, c(0.044715)], shape)], shape)
        core = ctx.node("Tanh", [ctx.node("Mul", [inner, c(math.sqrt(2 / math.pi))], shape)], shape)
        ctx.step("split", "GELU (tanh approximation) as 0.5·x·(1+tanh(√(2/π)·(x+0.044715·x³)))")
    else:
        core = ctx.node("Erf", [ctx.node("Mul", [x, c(1 / math.sqrt(2))], shape)], shape)
        ctx.step("split", "GELU as 0.5·x·(1+erf(x/√2))")
    half = ctx.node("Mul", [x, c(0.5)], shape)
    ctx.emit("Mul", [half, ctx.node("Add", [core, c(1.0)], shape)])


@layer(TFLITE, "SOFTMAX")
def softmax(ctx: TfliteContext) -> None:
    x = ctx.x(0)
    beta = float(ctx.option("Beta", 1.0))
    if beta != 1.0:
        x = ctx.node("Mul", [x, ctx.constant("beta", np.float32(beta))], ctx.in_shape(0))
        ctx.step("param", f"softmax beta {beta:g} as a scaling of the logits")
    ctx.emit("Softmax", [x], {"axis": -1})


@layer(TFLITE, "LOG_SOFTMAX")
def log_softmax(ctx: TfliteContext) -> None:
    ctx.emit("LogSoftmax", [ctx.x(0)], {"axis": -1})


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


@layer(TFLITE, "CAST")
def cast(ctx: TfliteContext) -> None:
    dtype = ctx.out_tensor().dtype
    if dtype not in ONNX_TYPES:
        raise ctx.error(f"cast to {dtype} is not supported")
    ctx.emit("Cast", [ctx.x(0)], {"to": ONNX_TYPES[dtype]})


@layer(TFLITE, "QUANTIZE")
def quantize(ctx: TfliteContext) -> None:
    """Float (or another quantization) → the output's int8/uint8: the emitter's QuantizeLinear."""
    ctx.finish_float(ctx.x(0))


@layer(TFLITE, "DENSIFY")
def densify(ctx: TfliteContext) -> None:
    """A sparse constant's DENSIFY is folded into its consumer (subgraph.defer); what reaches here is
    already dense."""
    ctx.emit("Identity", [ctx.x(0)])


@layer(TFLITE, "DEQUANTIZE")
def dequantize(ctx: TfliteContext) -> None:
    source = ctx.need(0)
    if source.dtype == "float16":
        ctx.emit("Cast", [ctx.x(0)], {"to": ONNX_TYPES["float32"]})
        return
    ctx.float_view(source, output=ctx.outputs[0])


# -------------------------------------------------------------------------------------------------
# shapes and data movement


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


@layer(TFLITE, "RESHAPE")
def reshape(ctx: TfliteContext) -> None:
    ctx.emit("Reshape", [ctx.x(0), ctx.ints(ctx.out_shape())])


@layer(TFLITE, "SQUEEZE")
def squeeze(ctx: TfliteContext) -> None:
    shape = ctx.in_shape(0)
    dims = [int(d) for d in ctx.option("SqueezeDims", np.zeros(0))]
    axes = sorted(_axis(d, len(shape)) for d in dims) if dims else [a for a, d in enumerate(shape) if d == 1]
    ctx.emit("Squeeze", [ctx.x(0), ctx.ints(axes, "axes")])


@layer(TFLITE, "EXPAND_DIMS")
def expand_dims(ctx: TfliteContext) -> None:
    rank = len(ctx.out_shape())
    axis = _axis(int(ctx.const(1).reshape(-1)[0]), rank)
    ctx.emit("Unsqueeze", [ctx.x(0), ctx.ints([axis], "axes")])


@layer(TFLITE, "TRANSPOSE")
def transpose(ctx: TfliteContext) -> None:
    ctx.emit("Transpose", [ctx.x(0)], {"perm": [int(p) for p in ctx.const(1)]})


@layer(TFLITE, "CONCATENATION")
def concatenation(ctx: TfliteContext) -> None:
    rank = len(ctx.out_shape())
    inputs = [ctx.x(i) for i in range(len(ctx.op.inputs))]
    ctx.emit("Concat", inputs, {"axis": _axis(int(ctx.option("Axis", 0)), rank)},
             activation=ctx.option("FusedActivationFunction", 0))  # fmt: skip


@layer(TFLITE, "PACK")
def pack(ctx: TfliteContext) -> None:
    rank = len(ctx.out_shape())
    axis = _axis(int(ctx.option("Axis", 0)), rank)
    parts = []
    for i in range(len(ctx.op.inputs)):
        shape = list(ctx.in_shape(i))
        shape.insert(axis, 1)
        parts.append(ctx.node("Unsqueeze", [ctx.x(i), ctx.ints([axis], "axes")], tuple(shape)))
    ctx.emit("Concat", parts, {"axis": axis})


def _split(ctx: TfliteContext, i: int, axis: int, sizes: list[int], squeeze: bool = False) -> None:
    """Split input `i` along `axis` into `sizes`; outputs through the emitter (squeezed for UNPACK)."""
    shape = ctx.in_shape(i)
    shapes = [tuple(s if a != axis else size for a, s in enumerate(shape)) for size in sizes]
    direct = not squeeze and not any(ctx._tail(k, 0) for k in range(len(sizes)))
    dtype = "float32" if ctx.out_tensor().dtype in ("int8", "uint8") else ctx.out_tensor().dtype
    parts = ctx.node_multi("Split", [ctx.x(i), ctx.ints(sizes, "split")], [(s, dtype) for s in shapes],
                           {"axis": axis}, list(ctx.outputs) if direct else None)  # fmt: skip
    if direct:
        return
    for k, part in enumerate(parts):
        if squeeze:
            ctx.emit("Squeeze", [part, ctx.ints([axis], "axes")], k=k)
        else:
            ctx.finish_float(part, k)


@layer(TFLITE, "UNPACK")
def unpack(ctx: TfliteContext) -> None:
    shape = ctx.in_shape(0)
    axis = _axis(int(ctx.option("Axis", 0)), len(shape))
    _split(ctx, 0, axis, [1] * shape[axis], squeeze=True)


@layer(TFLITE, "SPLIT")
def split(ctx: TfliteContext) -> None:
    """Inputs: axis, tensor (in that order)."""
    shape = ctx.in_shape(1)
    axis = _axis(int(ctx.const(0).reshape(-1)[0]), len(shape))
    count = len(ctx.op.outputs)
    _split(ctx, 1, axis, [shape[axis] // count] * count)


@layer(TFLITE, "SPLIT_V")
def split_v(ctx: TfliteContext) -> None:
    """Inputs: tensor, size_splits, axis; one size may be −1 (the rest)."""
    shape = ctx.in_shape(0)
    axis = _axis(int(ctx.const(2).reshape(-1)[0]), len(shape))
    sizes = [int(s) for s in ctx.const(1).reshape(-1)]
    if -1 in sizes:
        sizes[sizes.index(-1)] = shape[axis] - sum(s for s in sizes if s != -1)
    _split(ctx, 0, axis, sizes)


@layer(TFLITE, "PAD", "PADV2", "MIRROR_PAD")
def pad(ctx: TfliteContext) -> None:
    pads = ctx.const(1).reshape(-1, 2).astype(np.int64)
    x = ctx.x(0)
    onnx_pads = [*pads[:, 0], *pads[:, 1]]
    if ctx.type == "MIRROR_PAD" and ctx.option("Mode", 0) == 1:
        _symmetric_pad(ctx, x, pads)
        return
    inputs = [x, ctx.ints(onnx_pads, "pads")]
    attrs: dict[str, Any] = {}
    if ctx.type == "MIRROR_PAD":
        attrs["mode"] = "reflect"
    elif ctx.type == "PADV2" and ctx.tensor(2) is not None:
        inputs.append(ctx.x(2))
    ctx.emit("Pad", inputs, attrs)


def _symmetric_pad(ctx: TfliteContext, x: str, pads: np.ndarray) -> None:
    """SYMMETRIC mirror padding (edge repeated), which ONNX Pad lacks: reversed slices concatenated."""
    shape = list(ctx.in_shape(0))
    ctx.step("split", "SYMMETRIC mirror pad as reversed edge slices concatenated on each axis")
    axes = [a for a in range(len(shape)) if pads[a].any()]
    for n, a in enumerate(axes):
        before, after = (int(p) for p in pads[a])
        size = shape[a]
        parts = []
        if before:
            part_shape = tuple(before if k == a else s for k, s in enumerate(shape))
            parts.append(ctx.node("Slice", [x, ctx.ints([before - 1]), ctx.ints([INT64_MIN]), ctx.ints([a]),
                                            ctx.ints([-1])], part_shape))  # fmt: skip
        parts.append(x)
        if after:
            part_shape = tuple(after if k == a else s for k, s in enumerate(shape))
            parts.append(ctx.node("Slice", [x, ctx.ints([size - 1]), ctx.ints([size - after - 1]),
                                            ctx.ints([a]), ctx.ints([-1])], part_shape))  # fmt: skip
        shape[a] = size + before + after
        if n == len(axes) - 1:
            ctx.emit("Concat", parts, {"axis": a})
        else:
            x = ctx.node("Concat", parts, tuple(shape), {"axis": a})


REDUCE = {"MEAN": "ReduceMean", "SUM": "ReduceSum", "REDUCE_MAX": "ReduceMax", "REDUCE_MIN": "ReduceMin",
          "REDUCE_PROD": "ReduceProd"}  # fmt: skip


@layer(TFLITE, *REDUCE)
def reduce(ctx: TfliteContext) -> None:
    rank = len(ctx.in_shape(0))
    axes = sorted({_axis(int(a), rank) for a in ctx.const(1).reshape(-1)})
    keep = 1 if ctx.option("KeepDims", False) else 0
    op_type = REDUCE[ctx.type]
    if op_type == "ReduceSum":
        ctx.emit(op_type, [ctx.x(0), ctx.ints(axes, "axes")], {"keepdims": keep})
    else:
        ctx.emit(op_type, [ctx.x(0)], {"axes": axes, "keepdims": keep})


@layer(TFLITE, "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def resize(ctx: TfliteContext) -> None:
    align = bool(ctx.option("AlignCorners", False))
    half = bool(ctx.option("HalfPixelCenters", False))
    bilinear = ctx.type == "RESIZE_BILINEAR"
    attrs: dict[str, Any] = {"mode": "linear" if bilinear else "nearest"}
    if align:
        attrs["coordinate_transformation_mode"] = "align_corners"
    elif half:
        attrs["coordinate_transformation_mode"] = "half_pixel"
    else:
        attrs["coordinate_transformation_mode"] = "asymmetric"
    if not bilinear:
        attrs["nearest_mode"] = "round_prefer_ceil" if align or half else "floor"
    sizes = ctx.ints(ctx.out_shape(), "sizes")
    ctx.emit("Resize", [ctx.x(0), "", "", sizes], attrs, layout="NHWC")


@layer(TFLITE, "STRIDED_SLICE")
def strided_slice(ctx: TfliteContext) -> None:
    """TFLite's sparse slice spec (masks, ellipsis, new axes) made dense, then Slice + Reshape."""
    shape = ctx.in_shape(0)
    begin, end, strides = (ctx.const(i).reshape(-1).astype(np.int64) for i in (1, 2, 3))
    masks = {k: int(ctx.option(k, 0)) for k in
             ("BeginMask", "EndMask", "EllipsisMask", "NewAxisMask", "ShrinkAxisMask")}  # fmt: skip
    if ctx.option("Offset", False):
        end = begin + end
    slices = _dense_slices(shape, begin, end, strides, masks)
    starts, ends, axes, steps, sliced = [], [], [], [], list(shape)
    for axis, (b, e, s) in enumerate(slices):
        start, stop, step = slice(b, e, s).indices(shape[axis])
        count = len(range(start, stop, step))
        if (start, count, step) == (0, shape[axis], 1):
            continue
        starts.append(start)
        ends.append(stop if stop >= 0 else INT64_MIN)
        axes.append(axis)
        steps.append(step)
        sliced[axis] = count
    x = ctx.x(0)
    out = ctx.out_shape()
    if not axes:
        ctx.emit("Reshape", [x, ctx.ints(out)])
        return
    inputs = [x, ctx.ints(starts), ctx.ints(ends), ctx.ints(axes), ctx.ints(steps)]
    if tuple(sliced) == tuple(out):
        ctx.emit("Slice", inputs)
        return
    part = ctx.node("Slice", inputs, tuple(sliced))
    ctx.emit("Reshape", [part, ctx.ints(out)])


def _dense_slices(
    shape: tuple[int, ...], begin: np.ndarray, end: np.ndarray, strides: np.ndarray, masks: dict[str, int]
) -> list[tuple[int | None, int | None, int]]:
    """Per input axis (begin, end, stride) in Python slice terms, as TensorFlow's BuildDenseSpec."""
    rank = len(shape)
    n = len(begin)

    def bit(mask: str, i: int) -> bool:
        return bool(masks[mask] >> i & 1)

    real = sum(1 for i in range(n) if not bit("EllipsisMask", i) and not bit("NewAxisMask", i))
    has_ellipsis = any(bit("EllipsisMask", i) for i in range(n))
    dense: list[tuple[int | None, int | None, int]] = []
    for i in range(n):
        if bit("EllipsisMask", i):
            dense.extend([(None, None, 1)] * (rank - real))
            continue
        if bit("NewAxisMask", i):
            continue
        stride = int(strides[i])
        if bit("ShrinkAxisMask", i):
            b = int(begin[i])
            b = b + shape[len(dense)] if b < 0 else b
            dense.append((b, b + 1, 1))
            continue
        b = None if bit("BeginMask", i) else int(begin[i])
        e = None if bit("EndMask", i) else int(end[i])
        dense.append((b, e, stride))
    if not has_ellipsis:
        dense.extend([(None, None, 1)] * (rank - len(dense)))
    return dense[:rank]


@layer(TFLITE, "SLICE")
def slice_op(ctx: TfliteContext) -> None:
    """begin and size (−1: to the end) as constants, or computed (loop bodies: Slice takes tensors)."""
    shape = ctx.in_shape(0)
    rank = len(shape)
    axes = ctx.ints(list(range(rank)), "axes")
    if ctx.need(1).has_data and ctx.need(2).has_data:
        begin = [int(b) for b in ctx.const(1).reshape(-1)]
        size = [int(s) for s in ctx.const(2).reshape(-1)]
        ends = [shape[a] if s == -1 else b + s for a, (b, s) in enumerate(zip(begin, size, strict=True))]
        ctx.emit("Slice", [ctx.x(0), ctx.ints(begin), ctx.ints(ends), axes])
        return
    begin, size = (
        ctx.node("Cast", [ctx.x(i)], (rank,), {"to": ONNX_TYPES["int64"]}, dtype="int64") for i in (1, 2)
    )
    end = ctx.node("Add", [begin, size], (rank,), dtype="int64")
    to_end = ctx.node("Less", [size, ctx.ints([0], "zero")], (rank,), dtype="bool")
    end = ctx.node("Where", [to_end, ctx.ints([INT64_MAX], "last"), end], (rank,), dtype="int64")
    ctx.emit("Slice", [ctx.x(0), begin, end, axes])


@layer(TFLITE, "GATHER")
def gather(ctx: TfliteContext) -> None:
    if ctx.option("BatchDims", 0):
        raise ctx.error("GATHER with batch_dims is not supported")
    rank = len(ctx.in_shape(0))
    ctx.emit("Gather", [ctx.x(0), ctx.x(1)], {"axis": _axis(int(ctx.option("Axis", 0)), rank)})


@layer(TFLITE, "BATCH_MATMUL")
def batch_matmul(ctx: TfliteContext) -> None:
    operands = []
    for i, flag in ((0, "AdjX"), (1, "AdjY")):
        x = ctx.x(i)
        if ctx.option(flag, False):
            shape = list(ctx.in_shape(i))
            perm = [*range(len(shape) - 2), len(shape) - 1, len(shape) - 2]
            x = ctx.node("Transpose", [x], tuple(shape[p] for p in perm), {"perm": perm})
        operands.append(x)
    ctx.emit("MatMul", operands)


@layer(TFLITE, "SHAPE")
def shape_op(ctx: TfliteContext) -> None:
    shape = ctx.node("Shape", [ctx.x(0)], ctx.out_shape(), dtype="int64")
    ctx.emit("Cast", [shape], {"to": ONNX_TYPES[ctx.out_tensor().dtype]})


# -------------------------------------------------------------------------------------------------
# recurrent


LSTM_GATES = {"i": 0, "f": 1, "c": 2, "o": 3}
"""TFLite's gate order in the LSTM inputs (input 1 + gate: input weights, 5 + gate: recurrent, 12 + gate:
biases); ONNX LSTM stacks them i, o, f, c."""


def _float_const(ctx: TfliteContext, i: int) -> np.ndarray:
    """A constant input's values as float32 (float16 and int8 weights dequantized here)."""
    t = ctx.need(i)
    source = ctx.state.graph.tensors[ctx.state.deferred.get(t.index, t.index)]
    values = np.asarray(ctx.const_of(source), dtype=np.float32)
    if source.quant is not None and source.dtype in ("int8", "uint8"):
        scale = source.quant.scale.astype(np.float32)
        zero = source.quant.zero_point.astype(np.float32)
        shape = [1] * values.ndim
        if scale.size > 1:
            shape[source.quant.axis] = scale.size
        values = (values - zero.reshape(shape)) * scale.reshape(shape)
    return values


@layer(TFLITE, "UNIDIRECTIONAL_SEQUENCE_LSTM")
def unidirectional_sequence_lstm(ctx: TfliteContext) -> None:
    """The fused Keras LSTM → ONNX LSTM, time-major (onnxruntime runs only layout=0), gates i, o, f, c."""
    if ctx.tensor(1) is None:
        raise ctx.error("LSTM with CIFG (coupled input and forget gates) is not supported")
    for i, what in ((9, "peephole connections"), (16, "projection"), (20, "layer normalization")):
        if ctx.tensor(i) is not None:
            raise ctx.error(f"LSTM with {what} is not supported")
    x_shape = ctx.in_shape(0)
    batch_major = not ctx.option("TimeMajor", False)
    steps, batch = (x_shape[1], x_shape[0]) if batch_major else (x_shape[0], x_shape[1])
    hidden = ctx.need(5).shape[0]
    order = "iofc"
    w = np.concatenate([_float_const(ctx, 1 + LSTM_GATES[g]) for g in order])[None]
    r = np.concatenate([_float_const(ctx, 5 + LSTM_GATES[g]) for g in order])[None]
    biases = [_float_const(ctx, 12 + LSTM_GATES[g]) for g in order]
    b = np.concatenate([*biases, np.zeros(4 * hidden, np.float32)])[None]
    ctx.step("fold", "gate weights and biases stacked in ONNX order i, o, f, c (TFLite: i, f, c, o)")
    states = []
    for i in (18, 19):
        t = ctx.need(i)
        values = _float_const(ctx, i) if t.has_data else np.zeros((batch, hidden), np.float32)
        states.append(values.reshape((1, batch, hidden)))
    act = {4: "Tanh", 1: "Relu", 0: "Tanh"}.get(int(ctx.option("FusedActivationFunction", 4)))
    if act is None:
        raise ctx.error(f"LSTM activation {ctx.option('FusedActivationFunction')} is not supported")
    clip = float(ctx.option("CellClip", 0.0))
    if clip > 0:
        ctx.step("param", f"cell_clip {clip:g} not applied: ONNX LSTM has no cell-state clip (its `clip` "
                          "bounds gate inputs); exact while |cell state| stays below it")  # fmt: skip
    x = ctx.x(0)
    if batch_major:
        x = ctx.node("Transpose", [x], (steps, batch, x_shape[2]), {"perm": [1, 0, 2]})
    attrs = {"hidden_size": hidden, "activations": ["Sigmoid", act, act]}
    inputs = [x, ctx.constant("W", w), ctx.constant("R", r), ctx.constant("B", b), "",
              ctx.constant("initial_h", states[0]), ctx.constant("initial_c", states[1])]  # fmt: skip
    y = ctx.node("LSTM", inputs, (steps, 1, batch, hidden), attrs)
    if not batch_major:
        ctx.emit("Squeeze", [y, ctx.ints([1], "axes")])
        return
    y = ctx.node("Squeeze", [y, ctx.ints([1], "axes")], (steps, batch, hidden))
    ctx.emit("Transpose", [y], {"perm": [1, 0, 2]})


# -------------------------------------------------------------------------------------------------
# comparisons, logic and control flow


COMPARE = {"LESS": "Less", "LESS_EQUAL": "LessOrEqual", "GREATER": "Greater",
           "GREATER_EQUAL": "GreaterOrEqual", "EQUAL": "Equal", "LOGICAL_AND": "And",
           "LOGICAL_OR": "Or"}  # fmt: skip


@layer(TFLITE, *COMPARE)
def compare(ctx: TfliteContext) -> None:
    ctx.emit(COMPARE[ctx.type], [ctx.x(0), ctx.x(1)])


@layer(TFLITE, "NOT_EQUAL", "LOGICAL_NOT")
def negated(ctx: TfliteContext) -> None:
    if ctx.type == "LOGICAL_NOT":
        ctx.emit("Not", [ctx.x(0)])
        return
    equal = ctx.node("Equal", [ctx.x(0), ctx.x(1)], ctx.out_shape(), dtype="bool")
    ctx.emit("Not", [equal])


@layer(TFLITE, "WHILE")
def while_loop(ctx: TfliteContext) -> None:
    """WHILE(cond, body) → ONNX Loop: the condition evaluated once before the loop (inlined), and again
    at the end of the body on its outputs, which is the Loop body's continue flag."""
    from netinspect.converters.tflite.subgraph import inline, nested_graph

    cond_index, body_index = int(ctx.option("CondSubgraphIndex", 0)), int(ctx.option("BodySubgraphIndex", 0))
    carried = [ctx.x(i) for i in range(len(ctx.op.inputs))]
    first = inline(ctx, cond_index, carried, "condition")[0]
    formal = [(ctx.builder.unique(f"{ctx.name}/iteration"), "int64", ()),
              (ctx.builder.unique(f"{ctx.name}/condition"), "bool", ())]  # fmt: skip
    body = nested_graph(ctx, body_index, "body", formal=formal, then=cond_index)
    ctx.step("split", f"WHILE → Loop: condition subgraph {cond_index} inlined before the loop and at "
                      f"the end of body subgraph {body_index}")  # fmt: skip
    results = [(ctx.out_shape(k), ctx.out_tensor(k).dtype) for k in range(len(ctx.op.outputs))]
    ctx.node_multi("Loop", ["", first, *carried], results, {"body": body}, list(ctx.outputs))


@layer(TFLITE, "IF")
def if_op(ctx: TfliteContext) -> None:
    """IF(cond, args…) → ONNX If whose branches read the arguments from the enclosing graph."""
    from netinspect.converters.tflite.subgraph import nested_graph

    args = [ctx.x(i) for i in range(1, len(ctx.op.inputs))]
    branches = {
        key: nested_graph(ctx, int(ctx.option(option, 0)), key.split("_")[0], outer=args)
        for key, option in (("then_branch", "ThenSubgraphIndex"), ("else_branch", "ElseSubgraphIndex"))
    }
    condition = ctx.x(0)
    if ctx.in_shape(0) != ():
        condition = ctx.node("Reshape", [condition, ctx.ints([], "scalar")], ())
    results = [(ctx.out_shape(k), ctx.out_tensor(k).dtype) for k in range(len(ctx.op.outputs))]
    ctx.node_multi("If", [condition], results, branches, list(ctx.outputs))


# -------------------------------------------------------------------------------------------------
# resource variables


@layer(TFLITE, "CALL_ONCE", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE")
def variable(ctx: TfliteContext) -> None:
    """Variables are folded where they only hold their initial constant (subgraph.defer); any other use
    keeps state from one run to the next, which an ONNX model cannot."""
    what = {"ASSIGN_VARIABLE": "assigns a resource variable", "READ_VARIABLE": "reads a variable that no "
            "CALL_ONCE initialiser sets to a constant"}.get(ctx.type, "uses resource variables")  # fmt: skip
    raise ctx.error(f"{what}: state kept across runs has no ONNX equivalent")
