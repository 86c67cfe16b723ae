"""Caffe's weighted and windowed layers (Convolution, Deconvolution, Pooling, InnerProduct, LRN,
BatchNorm, Scale, Bias, PReLU) with BVLC Caffe's exact semantics (src/caffe/layers/*.cpp).

Filters are stored OIHW (Deconvolution: C_in × C_out/group × kh × kw), as ONNX reads them, so
weights are used as stored and their file bytes can be copied. Output sizes: convolution floors;
pooling rounds up and drops a last window that would start in the padding; average pooling divides
by the window clipped to the padded border (not to the image), which a zero Pad followed by an
AveragePool that excludes only its own overhang reproduces.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.caffe.context import CAFFE, CaffeContext, Shape
from netinspect.ir import Dim, Tensor
from netinspect.registry import layer


def known(*dims: Dim) -> bool:
    return all(isinstance(d, int) for d in dims)


def spatial(ctx: CaffeContext, message: str, name: str, default: int | None, count: int = 2) -> list[int]:
    """kernel/pad/stride as Caffe reads them: `<name>_h`/`<name>_w`, else `<name>_size`/`<name>`
    given once or once per spatial axis, else `default`."""
    p = ctx.param(message)
    if p.has(f"{name}_h") or p.has(f"{name}_w"):
        if count != 2:
            raise ctx.error(f"{name}_h/{name}_w are for 2-D layers only")
        return [int(p.get(f"{name}_h", default or 0)), int(p.get(f"{name}_w", default or 0))]
    field = "kernel_size" if name == "kernel" else name
    values = [int(v) for v in p.all(field)]
    if not values:
        if default is None:
            raise ctx.error(f"{message} sets no {field}")
        return [default] * count
    if len(values) == 1:
        return values * count
    if len(values) != count:
        raise ctx.error(f"{field} has {len(values)} values for {count} spatial axes")
    return values


# -- convolution ----------------------------------------------------------------------------------


@layer(CAFFE, "Convolution", "Deconvolution")
def convolution(ctx: CaffeContext) -> None:
    deconv = ctx.type == "Deconvolution"
    p = ctx.param("convolution_param")
    if int(p.get("axis", 1)) != 1:
        raise ctx.error("convolution over an axis other than 1 is not supported")
    x_shape = ctx.shape_of(0)
    if len(x_shape) != 4:
        raise ctx.error(f"only 2-D convolution is supported (input rank {len(x_shape)})")
    kernel = spatial(ctx, "convolution_param", "kernel", None)
    pads = spatial(ctx, "convolution_param", "pad", 0)
    strides = spatial(ctx, "convolution_param", "stride", 1)
    dilations = [int(d) for d in p.all("dilation")] or [1]
    dilations = dilations * 2 if len(dilations) == 1 else dilations
    group = int(p.get("group", 1))
    num_output = int(p.get("num_output", 0))
    if num_output <= 0 or group <= 0 or num_output % group:
        raise ctx.error(f"num_output {num_output} is not a positive multiple of group {group}")
    channels = x_shape[1]
    area = kernel[0] * kernel[1]
    if deconv:
        expected = channels * num_output // group * area if isinstance(channels, int) else None
        in_channels = ctx.blob_size(0, "weights", expected) // (num_output // group * area)
        w_shape = (in_channels, num_output // group, kernel[0], kernel[1])
    else:
        expected = num_output * channels // group * area if isinstance(channels, int) else None
        stored_in = ctx.blob_size(0, "weights", expected) // (num_output * area)
        w_shape = (num_output, stored_in, kernel[0], kernel[1])
        if isinstance(channels, int) and channels != w_shape[1] * group:
            raise ctx.error(f"{channels} input channels, but the filters take {w_shape[1]} × group {group}")
        if channels is None:
            ctx.refine(ctx.inputs[0], (x_shape[0], w_shape[1] * group, *x_shape[2:]))
    weights = ctx.blob_tensor(0, "weights", w_shape)
    inputs = [weights]
    if p.get("bias_term", True):
        inputs.append(ctx.blob_tensor(1, "bias", (num_output,)))
    attributes = {
        "kernel_shape": kernel,
        "pads": pads + pads,
        "strides": strides,
        "dilations": dilations,
        "group": group,
    }
    for i, (x, out) in enumerate(zip(ctx.inputs, ctx.outputs, strict=False)):
        shape = ctx.input_shapes[i]
        size = []
        for axis in range(2):
            n, k, s, pad, d = shape[2 + axis], kernel[axis], strides[axis], pads[axis], dilations[axis]
            extent = d * (k - 1) + 1
            if not isinstance(n, int):
                size.append(None)
            elif deconv:
                size.append(s * (n - 1) + extent - 2 * pad)
            else:
                size.append((n + 2 * pad - extent) // s + 1)
        op = "ConvTranspose" if deconv else "Conv"
        ctx.node(op, [x, *inputs], (shape[0], num_output, *size), attributes, output=out)
    if len(ctx.inputs) != len(ctx.outputs):
        raise ctx.error(f"{len(ctx.inputs)} bottoms but {len(ctx.outputs)} tops")


# -- pooling --------------------------------------------------------------------------------------


def pooled_size(n: int, k: int, s: int, pad: int, floor: bool) -> int:
    """PoolingLayer::Reshape: ceil (or floor) division, then a last window starting in the
    padding is dropped."""
    out = (n + 2 * pad - k) // s + 1 if floor else -((k - n - 2 * pad) // s) + 1
    if pad and (out - 1) * s >= n + pad:
        out -= 1
    return out


@layer(CAFFE, "Pooling")
def pooling(ctx: CaffeContext) -> None:
    p = ctx.param("pooling_param")
    method = p.get("pool", "MAX")
    x, (n, c, h, w) = ctx.inputs[0], _rank4(ctx)
    if method == "STOCHASTIC":
        raise ctx.error("STOCHASTIC pooling has no CPU inference in Caffe")
    if p.get("global_pooling", False):
        op = "GlobalMaxPool" if method == "MAX" else "GlobalAveragePool"
        ctx.node(op, [x], (n, c, 1, 1), output=ctx.outputs[0])
        return
    kernel = spatial(ctx, "pooling_param", "kernel", None)
    pads = spatial(ctx, "pooling_param", "pad", 0)
    strides = spatial(ctx, "pooling_param", "stride", 1)
    floor = p.get("round_mode", "CEIL") == "FLOOR"
    if not known(h, w):
        _pool_unsized(ctx, method, kernel, pads, strides, floor)
        return
    emit_pool(ctx, x, (n, c, h, w), method, kernel, pads, strides, floor, ctx.outputs[0])


def emit_pool(
    ctx: CaffeContext,
    x: str,
    shape: Shape,
    method: str,
    kernel: list[int],
    pads: list[int],
    strides: list[int],
    floor: bool,
    output: str | None = None,
) -> str:
    """One Caffe pooling of a 4-D value of known spatial size (PoolingLayer::Forward_cpu)."""
    n, c, h, w = shape
    size = [
        pooled_size(d, k, s, pad, floor) for d, k, s, pad in zip((h, w), kernel, strides, pads, strict=True)
    ]
    ends = [
        (o - 1) * s + k - d - pad for o, s, k, d, pad in zip(size, strides, kernel, (h, w), pads, strict=True)
    ]
    if any(e != pad for e, pad in zip(ends, pads, strict=True)):
        ctx.step("pad", f"Caffe's {'floor' if floor else 'ceil'}-mode output {size}: end pads {ends} "
                        f"instead of {pads} (last window clipped)")  # fmt: skip
    attributes = {"kernel_shape": kernel, "strides": strides}
    if method == "MAX":
        return ctx.node(
            "MaxPool",
            [x],
            (n, c, *size),
            {**attributes, "pads": pads + [max(e, 0) for e in ends]},
            output=output,
        )
    if method != "AVE":
        raise ctx.error(f"unknown pooling method {method}")
    # Caffe divides by the window clipped to [-pad, n + pad): zeros for the padding count, the
    # overhang past n + pad does not.
    inner = [min(pad, max(e, 0)) for pad, e in zip(pads, ends, strict=True)]
    overhang = [max(e - pad, 0) for e, pad in zip(ends, pads, strict=True)]
    if any(pads) or any(inner):
        padded_shape = (n, c, h + pads[0] + inner[0], w + pads[1] + inner[1])  # type: ignore[operator]
        pad_values = ctx.const("pads", [0, 0, pads[0], pads[1], 0, 0, inner[0], inner[1]], "int64")
        x = ctx.node("Pad", [x, pad_values], padded_shape)
        ctx.step("pad", f"zero padding {pads} made explicit: Caffe's AVE divisor counts it")
    return ctx.node(
        "AveragePool",
        [x],
        (n, c, *size),
        {**attributes, "pads": [0, 0, *overhang], "count_include_pad": 0},
        output=output,
    )


def _pool_unsized(
    ctx: CaffeContext, method: str, kernel: list[int], pads: list[int], strides: list[int], floor: bool
) -> None:
    """Free spatial sizes (a training net shown without its data shapes): ONNX's ceil mode, which
    differs from Caffe's only where a last window would start in the padding."""
    n, c = ctx.shape_of(0)[:2]
    op = "MaxPool" if method == "MAX" else "AveragePool"
    attributes = {
        "kernel_shape": kernel,
        "strides": strides,
        "pads": pads + pads,
        "ceil_mode": 0 if floor else 1,
    }
    if op == "AveragePool":
        attributes["count_include_pad"] = 1
    ctx.step(
        "pad", "spatial sizes unknown: ONNX ceil_mode pooling (pin --input-shape for Caffe's exact edges)"
    )
    ctx.node(op, [ctx.inputs[0]], (n, c, None, None), attributes, output=ctx.outputs[0])


def _rank4(ctx: CaffeContext, index: int = 0) -> Shape:
    shape = ctx.shape_of(index)
    if len(shape) != 4:
        raise ctx.error(f"expects a 4-D input, got rank {len(shape)}")
    return shape


# -- inner product --------------------------------------------------------------------------------


def canonical_axis(ctx: CaffeContext, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ctx.error(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


@layer(CAFFE, "InnerProduct")
def inner_product(ctx: CaffeContext) -> None:
    p = ctx.param("inner_product_param")
    shape = ctx.shape_of(0)
    axis = canonical_axis(ctx, int(p.get("axis", 1)), len(shape))
    num_output = int(p.get("num_output", 0))
    if num_output <= 0:
        raise ctx.error("num_output must be positive")
    tail = shape[axis:]
    count = ctx.blob_size(0, "weights", num_output * int(np.prod(tail)) if known(*tail) else None)
    if count % num_output:
        raise ctx.error(f"weights hold {count} values, not a multiple of num_output {num_output}")
    k = count // num_output
    if known(*tail) and int(np.prod(tail)) != k:
        raise ctx.error(f"input has {int(np.prod(tail))} features per row, weights take {k}")
    transpose = bool(p.get("transpose", False))
    w_shape = (k, num_output) if transpose else (num_output, k)
    weights = ctx.blob_tensor(0, "weights", w_shape)
    lead = shape[:axis]
    x = ctx.inputs[0]
    if len(shape) != 2 or axis != 1:
        rows = int(np.prod(lead)) if known(*lead) else None
        if axis == 1:
            x = ctx.node("Flatten", [x], (lead[0], k), {"axis": 1})
        else:
            target = ctx.const("rows", [-1, k], "int64")
            x = ctx.node("Reshape", [x, target], (rows, k))
        ctx.step("layout", f"input flattened from axis {axis} to rows of {k} (C-order, as Caffe reads it)")
    inputs = [x, weights]
    if p.get("bias_term", True):
        inputs.append(ctx.blob_tensor(1, "bias", (num_output,)))
    out_shape = (*lead, num_output)
    last = axis == 1
    y = ctx.node(
        "Gemm", inputs, (lead[0] if axis == 1 else None, num_output), {"transB": 0 if transpose else 1},
        output=ctx.outputs[0] if last else None,
    )  # fmt: skip
    if transpose:
        ctx.step("param", "transpose: weights stored K×N, used as stored (Gemm transB=0)")
    if not last:
        if not known(*lead[1:]):
            raise ctx.error(f"cannot restore the leading dims {list(lead)} after the product")
        target = ctx.const("shape", [-1, *lead[1:], num_output], "int64")
        ctx.node("Reshape", [y, target], out_shape, output=ctx.outputs[0])


# -- normalization ---------------------------------------------------------------------------------


@layer(CAFFE, "LRN")
def lrn(ctx: CaffeContext) -> None:
    p = ctx.param("lrn_param")
    size = int(p.get("local_size", 5))
    alpha, beta, k = float(p.get("alpha", 1.0)), float(p.get("beta", 0.75)), float(p.get("k", 1.0))
    if size % 2 == 0:
        raise ctx.error(f"local_size {size} must be odd")
    shape = ctx.shape_of(0)
    x = ctx.inputs[0]
    if p.get("norm_region", "ACROSS_CHANNELS") == "ACROSS_CHANNELS":
        attributes = {"size": size, "alpha": alpha, "beta": beta, "bias": k}
        ctx.node("LRN", [x], shape, attributes, output=ctx.outputs[0])
        return
    # WITHIN_CHANNEL: x · (1 + α/n² · Σ_{n×n} x²)^−β; Caffe builds it from AVE pooling (pad (n−1)/2,
    # the window never overhangs, so the divisor is n²) and ignores k.
    squared = ctx.node("Mul", [x, x], shape)
    pad = (size - 1) // 2
    mean = ctx.node("AveragePool", [squared], shape,
                    {"kernel_shape": [size, size], "pads": [pad] * 4, "count_include_pad": 1})  # fmt: skip
    scaled = ctx.node("Mul", [mean, ctx.const("alpha", alpha)], shape)
    base = ctx.node("Add", [scaled, ctx.const("one", 1.0)], shape)
    factor = ctx.node("Pow", [base, ctx.const("neg_beta", -beta)], shape)
    ctx.node("Mul", [x, factor], shape, output=ctx.outputs[0])
    ctx.step("param", f"WITHIN_CHANNEL: x·(1 + α·mean_{size}×{size}(x²))^−β (Caffe ignores k={k})")


def per_channel(ctx: CaffeContext, rank: int, axis: int = 1, count: int = 1) -> tuple[int, ...]:
    """The trailing singleton dims that broadcast a per-channel vector over axes after `axis`."""
    return (1,) * (rank - axis - count)


@layer(CAFFE, "BatchNorm")
def batch_norm(ctx: CaffeContext) -> None:
    p = ctx.param("batch_norm_param")
    if not p.get("use_global_stats", True):
        ctx.step("param", "use_global_stats: false (batch statistics, a training setting): "
                          "the stored statistics are used, as at test time")  # fmt: skip
    eps = float(p.get("eps", 1e-5))
    shape = ctx.shape_of(0)
    channels = ctx.blob_size(0, "mean", shape[1])
    if ctx.blob_size(1, "variance", channels) != channels or (
        isinstance(shape[1], int) and shape[1] != channels
    ):
        raise ctx.error(f"statistics for {channels} channels, input has {shape[1]}")
    factor_values = ctx.blob_array(2, "scale factor", np.ones(1, np.float32))
    if factor_values.size != 1:
        raise ctx.error(f"the scale factor blob holds {factor_values.size} values, not 1")
    factor = float(factor_values[0])
    scale = 0.0 if factor == 0 else 1.0 / factor
    if ctx.structure_only:
        mean = ctx.blob_tensor(0, "mean", (channels,))
        var = ctx.blob_tensor(1, "variance", (channels,))
    else:
        ctx.step("fold", f"mean and variance divided by the stored scale factor {factor:g} (×{scale:g})")

        def scaled(blob_index: int, role: str) -> Tensor:
            blob = ctx.blob(blob_index, role)
            return Tensor(role, "float32", (channels,), loader=lambda: blob.load() * np.float32(scale))

        mean = ctx.constant("mean", scaled(0, "mean"))
        var = ctx.constant("variance", scaled(1, "variance"))
    ones = ctx.const("scale", np.ones(channels, np.float32))
    zeros = ctx.const("bias", np.zeros(channels, np.float32))
    ctx.node("BatchNormalization", [ctx.inputs[0], ones, zeros, mean, var], shape, {"epsilon": eps},
             output=ctx.outputs[0])  # fmt: skip


def _axes(ctx: CaffeContext, message: str, shape: Shape, operand: Shape | None) -> tuple[int, int]:
    """Scale/Bias: the first axis and the number of axes the operand covers."""
    p = ctx.param(message)
    axis = canonical_axis(ctx, int(p.get("axis", 1)), len(shape)) if shape else 0
    if operand is not None:
        return axis, len(operand)
    num_axes = int(p.get("num_axes", 1))
    if num_axes == -1:
        num_axes = len(shape) - axis
    if num_axes < 0 or axis + num_axes > len(shape):
        raise ctx.error(f"num_axes {num_axes} from axis {axis} exceeds rank {len(shape)}")
    return axis, num_axes


def _broadcast_blob(ctx: CaffeContext, index: int, role: str, shape: Shape, axis: int, count: int) -> str:
    covered = shape[axis : axis + count]
    if not known(*covered):
        blob = ctx.blob(index, role)
        dims = blob.shape if blob.shape else (1,)
        covered = tuple(d for d in dims if d != 1) or (1,)
        if len(covered) != count:
            raise ctx.error(f"cannot tell which axes {role} covers")
    return ctx.blob_tensor(index, role, (*covered, *per_channel(ctx, len(shape), axis, count)))  # type: ignore[arg-type]


def _operand(ctx: CaffeContext, x_shape: Shape, axis: int, count: int) -> str:
    """A second bottom as a broadcastable operand: its shape with trailing ones."""
    second = ctx.shape_of(1)
    trailing = per_channel(ctx, len(x_shape), axis, count)
    if not trailing:
        return ctx.inputs[1]
    target = ctx.const("operand_shape", [0] * len(second) + [1] * len(trailing), "int64")
    return ctx.node("Reshape", [ctx.inputs[1], target], (*second, *trailing))


@layer(CAFFE, "Scale")
def scale(ctx: CaffeContext) -> None:
    p = ctx.param("scale_param")
    shape = ctx.shape_of(0)
    two = len(ctx.inputs) == 2
    axis, count = _axes(ctx, "scale_param", shape, ctx.shape_of(1) if two else None)
    bias = bool(p.get("bias_term", False))
    factor = (
        _operand(ctx, shape, axis, count) if two else _broadcast_blob(ctx, 0, "scale", shape, axis, count)
    )
    last = not bias
    y = ctx.node("Mul", [ctx.inputs[0], factor], shape, output=ctx.outputs[0] if last else None)
    if bias:
        b = _broadcast_blob(ctx, 0 if two else 1, "bias", shape, axis, count)
        ctx.node("Add", [y, b], shape, output=ctx.outputs[0])


@layer(CAFFE, "Bias")
def bias(ctx: CaffeContext) -> None:
    shape = ctx.shape_of(0)
    two = len(ctx.inputs) == 2
    axis, count = _axes(ctx, "bias_param", shape, ctx.shape_of(1) if two else None)
    b = _operand(ctx, shape, axis, count) if two else _broadcast_blob(ctx, 0, "bias", shape, axis, count)
    ctx.node("Add", [ctx.inputs[0], b], shape, output=ctx.outputs[0])


@layer(CAFFE, "PReLU")
def prelu(ctx: CaffeContext) -> None:
    shape = ctx.shape_of(0)
    shared = bool(ctx.value("prelu_param", "channel_shared", False))
    if shared:
        slope = ctx.blob_tensor(0, "slope", (1,))
        ctx.step("param", "channel_shared: one slope for every channel")
    else:
        channels = ctx.blob_size(0, "slope", shape[1])
        slope = ctx.blob_tensor(0, "slope", (channels, *per_channel(ctx, len(shape))))
    ctx.node("PRelu", [ctx.inputs[0], slope], shape, output=ctx.outputs[0])
