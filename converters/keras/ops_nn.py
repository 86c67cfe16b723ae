"""Neural-network operations of functional graphs (Keras 3 `keras.ops.nn`, tf-keras `tf.nn`):
pooling and depth/space moves on channels-last tensors, batch/layer/RMS normalization with the
statistics and weights given as operands, `moments`, and `dot_product_attention`.

Channels-last images are computed in NCHW between two transposes the layout pass removes. Each
formula is the one Keras' TensorFlow backend evaluates (`keras/src/ops/nn.py`,
`keras/src/backend/tensorflow/nn.py`), Keras' default epsilon 1e-7 included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netinspect.build import same_pads
from netinspect.converters.keras.ops import Call, Shape, TensorArg, _axes, broadcast, op
from netinspect.dtypes import elem_type
from netinspect.ir import Dim

KERAS_EPSILON = 1e-7


def _to_channels_first(c: Call, x: str, shape: Shape, dtype: str) -> tuple[str, Shape]:
    perm = [0, len(shape) - 1, *range(1, len(shape) - 1)]
    moved = tuple(shape[i] for i in perm)
    return c.node("Transpose", [x], moved, {"perm": perm}, dtype=dtype), moved


def _to_channels_last(c: Call, x: str, shape: Shape, dtype: str) -> None:
    perm = [0, *range(2, len(shape)), 1]
    c.node("Transpose", [x], tuple(shape[i] for i in perm), {"perm": perm}, dtype=dtype, final=True)


def _channels_last(c: Call, keras3_default: str = "channels_last") -> None:
    fmt = str(c.const(99, "data_format", default=keras3_default if c.keras3 else "NHWC") or "NHWC")
    if fmt not in ("channels_last", "NHWC", "NWC", "NDHWC"):
        raise c.ctx.error(f"data_format {fmt!r} is not supported (only channels last)")


_DEPTH_SPACE_TF = (
    "nn.depth_to_space",
    "compat.v1.depth_to_space",
    "nn.space_to_depth",
    "compat.v1.space_to_depth",
)


@op(("DepthToSpace", "SpaceToDepth"), _DEPTH_SPACE_TF)
def depth_space(c: Call) -> None:
    """TensorFlow's NHWC depth_to_space orders the depth as (block row, block column, channel),
    ONNX DepthToSpace's DCR mode; SpaceToDepth is the inverse in both."""
    x, shape, dtype = c.first()
    _channels_last(c)
    if len(shape) != 4:
        raise c.ctx.error(f"expects a rank-4 channels-last tensor, not rank {len(shape)}")
    block = int(c.const(1, "block_size"))
    y, (n, ch, h, w) = _to_channels_first(c, x, shape, dtype)

    def scale(d: Dim, up: bool) -> Dim:
        return d if not isinstance(d, int) else (d * block if up else d // block)

    if "depth" in c.ctx.type.lower().split(".")[-1][:6]:  # DepthToSpace, depth_to_space
        depth = ch // (block * block) if isinstance(ch, int) else None
        moved = (n, depth, scale(h, True), scale(w, True))
        y = c.node("DepthToSpace", [y], moved, {"blocksize": block, "mode": "DCR"}, dtype=dtype)
    else:
        depth = ch * block * block if isinstance(ch, int) else None
        moved = (n, depth, scale(h, False), scale(w, False))
        y = c.node("SpaceToDepth", [y], moved, {"blocksize": block}, dtype=dtype)
    _to_channels_last(c, y, moved, dtype)


def _per_axis(value: Any, spatial: int) -> list[int]:
    values = [int(v) for v in (value if isinstance(value, list | tuple) else [value])]
    if len(values) == 1:
        return values * spatial
    if len(values) == spatial + 2:  # TensorFlow's NHWC form [1, h, w, 1]
        return values[1:-1]
    return values


@op(("MaxPool", "AveragePool"),
    ("nn.max_pool2d", "nn.avg_pool2d", "nn.max_pool1d", "nn.avg_pool1d", "nn.max_pool3d", "nn.avg_pool3d",
     "nn.max_pool", "nn.avg_pool", "compat.v1.nn.max_pool", "compat.v1.nn.avg_pool"))  # fmt: skip
def pool(c: Call) -> None:
    """Channels-last pooling: SAME pads placed as TensorFlow places them; an average over SAME
    divides by the window's valid inputs (`count_include_pad=0`)."""
    x, shape, dtype = c.first()
    _channels_last(c)
    spatial = len(shape) - 2
    kernel = _per_axis(c.const(1, "pool_size", "ksize", "window_shape"), spatial)
    strides_given = c.const(2, "strides", default=None)
    strides = kernel if strides_given is None else _per_axis(strides_given, spatial)
    padding = str(c.const(3, "padding", default="valid")).upper()
    y, moved = _to_channels_first(c, x, shape, dtype)
    sizes: list[Dim] = list(moved[2:])
    begin, end = [0] * spatial, [0] * spatial
    if padding == "SAME":
        if not all(isinstance(d, int) for d in sizes):
            raise c.ctx.error("SAME pooling needs the spatial sizes known")
        for i, d in enumerate(sizes):
            begin[i], end[i] = same_pads(int(d), kernel[i], strides[i])  # type: ignore[arg-type]
    out = [(d + b + e - k) // s + 1 if isinstance(d, int) else None
           for d, b, e, k, s in zip(sizes, begin, end, kernel, strides, strict=True)]  # fmt: skip
    pooled = (moved[0], moved[1], *out)
    attrs: dict[str, Any] = {"kernel_shape": kernel, "strides": strides, "pads": begin + end}
    average = "avg" in c.ctx.type.lower() or "average" in c.ctx.type.lower()
    if average:
        attrs["count_include_pad"] = 0
    y = c.node("AveragePool" if average else "MaxPool", [y], pooled, attrs, dtype=dtype)
    _to_channels_last(c, y, pooled, dtype)


def _along(
    c: Call, value: Any, rank: int, axes: list[int], dtype: str, hint: str
) -> tuple[str, Shape] | None:
    """A per-feature operand (mean, scale…) and its shape, broadcast along `axes` of a
    rank-`rank` tensor (reshaped when it holds only those axes and they are not just the last)."""
    if value is None:
        return None
    name, vshape, _ = c.tensor(value, dtype, hint)
    if len(vshape) in (0, rank) or axes == [rank - 1]:
        return name, vshape
    sizes = iter(vshape)
    target = tuple(int(next(sizes)) if i in axes else 1 for i in range(rank))  # type: ignore[arg-type]
    spec = c.ctx.constant("shape", np.array(target, np.int64))
    return c.node("Reshape", [name, spec], target, dtype=dtype), target


@op(("BatchNorm",), ("nn.batch_normalization",))
def batch_normalization(c: Call) -> None:
    """(x − mean)·rsqrt(variance + ε)·scale + offset, the statistics along `axis` (TensorFlow:
    broadcast as given)."""
    x, shape, dtype = c.first()
    rank = len(shape)
    axes = _axes(c.const(99, "axis", default=-1), rank) if c.keras3 else [rank - 1]
    operands = [_along(c, c.arg(i, role, default=None), rank, axes, dtype, role)
                for i, role in enumerate(("mean", "variance", "offset", "scale"), start=1)]  # fmt: skip
    mean, variance, offset, scale = operands
    if mean is None or variance is None:
        raise c.ctx.error("its call has no mean or variance")
    epsilon = float(c.const(5, "epsilon", "variance_epsilon", default=1e-3))
    eps = c.ctx.constant("epsilon", np.asarray(epsilon, dtype))
    vshape = variance[1]
    shifted = c.node("Add", [variance[0], eps], vshape, dtype=dtype)
    inv = c.node("Reciprocal", [c.node("Sqrt", [shifted], vshape, dtype=dtype)], vshape, dtype=dtype)
    if scale is not None:
        vshape = broadcast(vshape, scale[1])
        inv = c.node("Mul", [inv, scale[0]], vshape, dtype=dtype)
    centered = c.node("Sub", [x, mean[0]], broadcast(shape, mean[1]), dtype=dtype)
    out = broadcast(shape, mean[1], vshape)
    y = c.node("Mul", [centered, inv], out, dtype=dtype, final=offset is None)
    if offset is not None:
        c.node("Add", [y, offset[0]], broadcast(out, offset[1]), dtype=dtype, final=True)


def _moments(
    c: Call, x: str, shape: Shape, dtype: str, axes: list[int], keep: bool
) -> tuple[str, str, Shape]:
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    out = kept if keep else tuple(d for i, d in enumerate(shape) if i not in axes)
    mean = c.node("ReduceMean", [x], kept, {"axes": axes, "keepdims": 1}, dtype=dtype)
    centered = c.node("Sub", [x, mean], shape, dtype=dtype)
    variance = c.node("ReduceMean", [c.node("Mul", [centered, centered], shape, dtype=dtype)], out,
                      {"axes": axes, "keepdims": int(keep)}, dtype=dtype)  # fmt: skip
    if not keep:
        mean = c.node("ReduceMean", [x], out, {"axes": axes, "keepdims": 0}, dtype=dtype)
    return mean, variance, out


@op(("Moments",), ("nn.moments",))
def moments(c: Call) -> None:
    """(mean, variance) over `axes`: two outputs."""
    x, shape, dtype = c.first()
    axes = _axes(c.const(1, "axes"), len(shape))
    keep = bool(c.const(2, "keepdims", "keep_dims", default=False))
    mean, variance, out = _moments(c, x, shape, dtype, axes, keep)
    outputs = list(c.ctx.outputs)
    c.ctx.node("Identity", [mean], out, output=outputs[0], dtype=dtype)
    if len(outputs) > 1:
        c.ctx.node("Identity", [variance], out, output=outputs[1], dtype=dtype)


@op(("LayerNorm", "RMSNorm"), ())
def layer_normalization(c: Call) -> None:
    """LayerNorm: x·inv + (β − mean·inv), inv = rsqrt(var + ε)·γ; with `rms_scaling` x·rsqrt(var + ε)·γ.
    RMSNorm: x·rsqrt(mean(x²) + ε)·scale. ε defaults to Keras' 1e-7."""
    x, shape, dtype = c.first()
    rank = len(shape)
    axes = _axes(c.const(99, "axis", default=-1), rank)
    epsilon = c.const(99, "epsilon", default=None)
    eps = c.ctx.constant("epsilon", np.asarray(KERAS_EPSILON if epsilon is None else float(epsilon), dtype))
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    if c.ctx.type.endswith("RMSNorm"):
        gamma = _along(c, c.arg(1, "scale", default=None), rank, axes, dtype, "scale")
        squares = c.node("ReduceMean", [c.node("Mul", [x, x], shape, dtype=dtype)], kept,
                         {"axes": axes, "keepdims": 1}, dtype=dtype)  # fmt: skip
        inv = c.node("Reciprocal", [c.node("Sqrt", [c.node("Add", [squares, eps], kept, dtype=dtype)], kept,
                                           dtype=dtype)], kept, dtype=dtype)  # fmt: skip
        y = c.node("Mul", [x, inv], shape, dtype=dtype, final=gamma is None)
        if gamma is not None:
            c.node("Mul", [y, gamma[0]], shape, dtype=dtype, final=True)
        return
    gamma = _along(c, c.arg(1, "gamma", default=None), rank, axes, dtype, "gamma")
    beta = _along(c, c.arg(2, "beta", default=None), rank, axes, dtype, "beta")
    mean, variance, _ = _moments(c, x, shape, dtype, axes, True)
    inv = c.node("Reciprocal", [c.node("Sqrt", [c.node("Add", [variance, eps], kept, dtype=dtype)], kept,
                                       dtype=dtype)], kept, dtype=dtype)  # fmt: skip
    scaled = kept
    if gamma is not None:
        scaled = broadcast(kept, gamma[1])
        inv = c.node("Mul", [inv, gamma[0]], scaled, dtype=dtype)
    if c.const(99, "rms_scaling", default=False):
        c.node("Mul", [x, inv], shape, dtype=dtype, final=True)
        return
    shift = c.node("Neg", [c.node("Mul", [mean, inv], scaled, dtype=dtype)], scaled, dtype=dtype)
    if beta is not None:
        shift = c.node("Add", [shift, beta[0]], broadcast(scaled, beta[1]), dtype=dtype)
    c.node("Add", [c.node("Mul", [x, inv], shape, dtype=dtype), shift], shape, dtype=dtype, final=True)


@op(("DotProductAttention",), ())
def dot_product_attention(c: Call) -> None:
    """softmax(q·kᵀ·scale + bias, masked)·v on (batch, time, heads, size) tensors (rank 3: no
    batch), scale 1/√size by default; `is_causal` keeps key j ≤ query i, a boolean `mask` keeps
    its True entries (both as Keras: the other scores are replaced before the softmax)."""
    (q, qs, dtype), (k, ks, _), (v, vs, _) = c.operands(c.arg(0, "query"), c.arg(1, "key"), c.arg(2, "value"))
    if c.const(99, "attn_logits_soft_cap", default=None) is not None:
        raise c.ctx.error("attn_logits_soft_cap is not supported")
    batch = "b" if len(qs) == 4 else ""
    if len(qs) not in (3, 4):
        raise c.ctx.error(f"expects (batch,) time, heads, size tensors, not rank {len(qs)}")
    lead = qs[:1] if batch else ()
    logits_shape = (*lead, qs[-2], qs[-3], ks[-3])
    equation = f"{batch}tnh,{batch}snh->{batch}nts"
    logits = c.node("Einsum", [q, k], logits_shape, {"equation": equation}, dtype=dtype)
    scale = c.const(5, "scale", default=None)
    size = qs[-1]
    if scale is None:
        if not isinstance(size, int):
            raise c.ctx.error("the default scale needs the head size known")
        scale = 1.0 / np.sqrt(size)
    logits = c.node(
        "Mul", [logits, c.ctx.constant("scale", np.asarray(scale, dtype))], logits_shape, dtype=dtype
    )
    bias = c.arg(3, "bias", default=None)
    if bias is not None:
        b, bshape, _ = c.tensor(bias, dtype, "bias")
        logits_shape = broadcast(logits_shape, bshape)
        logits = c.node("Add", [logits, b], logits_shape, dtype=dtype)
    mask = c.arg(4, "mask", default=None)
    keep = None
    if mask is not None:
        keep, _, mtype = c.tensor(mask, "bool", "mask")
        if mtype != "bool":
            raise c.ctx.error("only a boolean mask is supported")
    if c.const(6, "is_causal", default=False):
        tq, tk = qs[-3], ks[-3]
        if not (isinstance(tq, int) and isinstance(tk, int)):
            raise c.ctx.error("a causal mask needs the sequence lengths known")
        causal = c.ctx.constant("causal", np.tril(np.ones((tq, tk), bool)))
        keep = causal if keep is None else c.node("And", [keep, causal], logits_shape, dtype="bool")
    if keep is not None:
        lowest = c.ctx.constant("masked", np.asarray(-0.7 * float(np.finfo(np.float32).max), dtype))
        logits = c.node("Where", [keep, logits, lowest], logits_shape, dtype=dtype)
    probs = c.node("Softmax", [logits], logits_shape, {"axis": -1}, dtype=dtype)
    out = (*lead, qs[-3], qs[-2], vs[-1])
    c.node("Einsum", [probs, v], out, {"equation": f"{batch}nts,{batch}snh->{batch}tnh"}, dtype=dtype,
           final=True)  # fmt: skip


_RESIZE_TF = tuple(
    prefix + name
    for prefix in ("image.", "compat.v1.image.")
    for name in ("resize", "resize_bilinear", "resize_nearest_neighbor")
)


@op(("Resize",), _RESIZE_TF)
def resize(c: Call) -> None:
    """tf.image.resize without antialiasing, as ONNX Resize on NCHW: bilinear with half-pixel
    centres; nearest with half-pixel centres rounding down (ONNX `round_prefer_ceil` of the shifted
    coordinate). TF 1's resize_bilinear/_nearest_neighbor take `align_corners` or
    `half_pixel_centers`, else the asymmetric grid."""
    x, shape, dtype = c.first()
    _channels_last(c)
    if len(shape) != 4:
        raise c.ctx.error(f"expects (batch, height, width, channels), not rank {len(shape)}")
    name = c.ctx.type.rsplit(".", 1)[-1]
    size = [int(v) for v in c.const(1, "size")]
    method = str(c.const(2, "interpolation", "method", default="bilinear")).lower()
    if name == "resize_nearest_neighbor":
        method = "nearest"
    elif name == "resize_bilinear":
        method = "bilinear"
    for flag in ("antialias", "crop_to_aspect_ratio", "pad_to_aspect_ratio", "preserve_aspect_ratio"):
        if c.const(99, flag, default=False):
            raise c.ctx.error(f"resize with {flag} is not supported")
    if name in ("resize_bilinear", "resize_nearest_neighbor"):
        align = bool(c.const(2, "align_corners", default=False))
        half = bool(c.const(4, "half_pixel_centers", default=False))
        grid = "align_corners" if align else ("half_pixel" if half else "asymmetric")
        rounding = "round_prefer_ceil" if align or half else "floor"
    else:
        grid, rounding = "half_pixel", "round_prefer_ceil"
    if method == "bilinear":
        attrs: dict[str, Any] = {"mode": "linear", "coordinate_transformation_mode": grid}
    elif method == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": grid, "nearest_mode": rounding}
    else:
        raise c.ctx.error(f"resize method {method!r} is not supported (bilinear, nearest)")
    y, (n, ch, _, _) = _to_channels_first(c, x, shape, dtype)
    dims = c.node("Shape", [y], (4,), dtype="int64")
    bounds = [c.ctx.constant(h, np.array([v], np.int64)) for h, v in (("starts", 0), ("ends", 2))]
    head = c.node("Slice", [dims, *bounds], (2,), dtype="int64")
    target = c.node("Concat", [head, c.ctx.constant("spatial", np.array(size, np.int64))], (4,), {"axis": 0},
                    dtype="int64")  # fmt: skip
    moved = (n, ch, size[0], size[1])
    y = c.node("Resize", [y, "", "", target], moved, attrs, dtype=dtype)
    _to_channels_last(c, y, moved, dtype)


@op(("LocalResponseNormalization",), ("nn.local_response_normalization", "nn.lrn"))
def lrn(c: Call) -> None:
    """TensorFlow's LRN x / (bias + alpha·Σ x²)^beta over channels c − r … c + r is ONNX LRN with
    size 2r + 1 and alpha·size (ONNX divides alpha by the size)."""
    x, shape, dtype = c.first()
    radius = int(c.const(1, "depth_radius", default=5))
    bias = float(c.const(2, "bias", default=1.0))
    alpha = float(c.const(3, "alpha", default=1.0))
    beta = float(c.const(4, "beta", default=0.5))
    size = 2 * radius + 1
    y, moved = _to_channels_first(c, x, shape, dtype)
    attrs = {"size": size, "alpha": alpha * size, "beta": beta, "bias": bias}
    y = c.node("LRN", [y], moved, attrs, dtype=dtype)
    _to_channels_last(c, y, moved, dtype)


def _kernel(c: Call, value: Any, perm: list[int], dtype: str, hint: str) -> tuple[str, Shape]:
    """A kernel operand moved to ONNX's order by `perm` (a constant once, a tensor by a Transpose)."""
    if isinstance(value, TensorArg):
        name, shape, _ = c.tensor(value)
        moved = tuple(shape[i] for i in perm)
        return c.node("Transpose", [name], moved, {"perm": perm}, dtype=dtype), moved
    array = np.transpose(np.asarray(value, dtype=dtype), perm)
    return c.ctx.constant(hint, array), tuple(int(d) for d in array.shape)


def _conv_geometry(
    c: Call, spatial: Shape, kernel: list[int], first: int
) -> tuple[dict[str, Any], list[Dim]]:
    """Conv attributes (strides, dilations, TF SAME or VALID pads) and output sizes; `first` is the
    position of `strides` among the call's arguments."""
    rank = len(spatial)
    strides = _per_axis(c.const(first, "strides", default=1), rank)
    dilations = _per_axis(c.const(first + 3, "dilation_rate", "dilations", default=1), rank)
    padding = str(c.const(first + 1, "padding", default="valid")).upper()
    if padding not in ("SAME", "VALID"):
        raise c.ctx.error(f"padding {padding!r} is not supported (SAME, VALID)")
    begin, end = [0] * rank, [0] * rank
    if padding == "SAME":
        if not all(isinstance(d, int) for d in spatial):
            raise c.ctx.error("SAME convolution needs the spatial sizes known")
        for i, d in enumerate(spatial):
            begin[i], end[i] = same_pads(int(d), kernel[i], strides[i], dilations[i])  # type: ignore[arg-type]
    sizes = [
        (d + b + e - (k - 1) * r - 1) // s + 1 if isinstance(d, int) else None
        for d, b, e, k, s, r in zip(spatial, begin, end, kernel, strides, dilations, strict=True)
    ]
    attrs = {"kernel_shape": kernel, "strides": strides, "dilations": dilations, "pads": begin + end}
    return attrs, sizes


_CONV_TF = ("nn.conv2d", "nn.conv1d", "nn.convolution", "nn.depthwise_conv2d")


@op(("Conv", "DepthwiseConv"), _CONV_TF + tuple("compat.v1." + n for n in _CONV_TF))
def conv(c: Call) -> None:
    """Channels-last convolution with its kernel as an operand: `(spatial…, in/groups, out)`
    (Keras 3 groups when the input has a multiple of the kernel's depth), depthwise
    `(spatial…, in, multiplier)` as a grouped Conv."""
    x, shape, dtype = c.first()
    _channels_last(c)
    value = c.arg(1, "kernel", "filters", "filter")
    rank = len(shape) - 2
    y, moved = _to_channels_first(c, x, shape, dtype)
    depthwise = "depthwise" in c.ctx.type.lower()
    if depthwise:  # (spatial…, in, mult) → (in·mult, 1, spatial…)
        kshape = tuple(np.shape(value)) if not isinstance(value, TensorArg) else c.tensor(value)[1]
        if isinstance(value, TensorArg):
            raise c.ctx.error("a depthwise kernel computed by the model is not supported")
        array = np.asarray(value, dtype=dtype)
        array = np.transpose(array.reshape(*kshape[:rank], 1, -1), [rank + 1, rank, *range(rank)])
        weight, wshape = c.ctx.constant("kernel", array), tuple(int(d) for d in array.shape)
        groups = int(kshape[rank])  # type: ignore[arg-type]
    else:
        weight, wshape = _kernel(c, value, [rank + 1, rank, *range(rank)], dtype, "kernel")
        channels, depth = moved[1], wshape[1]
        groups = channels // depth if isinstance(channels, int) and isinstance(depth, int) else 1
    attrs, sizes = _conv_geometry(c, moved[2:], [int(d) for d in wshape[2:]], 2)  # type: ignore[arg-type]
    attrs["group"] = groups
    out = (moved[0], wshape[0], *sizes)
    y = c.node("Conv", [y, weight], out, attrs, dtype=dtype)
    _to_channels_last(c, y, out, dtype)


@op(("SeparableConv",), ("nn.separable_conv2d",))
def separable_conv(c: Call) -> None:
    """A depthwise Conv (group = input channels) then a 1×1 Conv, both kernels constants."""
    x, shape, dtype = c.first()
    _channels_last(c)
    depth, point = (
        c.arg(1, "depthwise_kernel", "depthwise_filter"),
        c.arg(2, "pointwise_kernel", "pointwise_filter"),
    )
    if isinstance(depth, TensorArg) or isinstance(point, TensorArg):
        raise c.ctx.error("separable kernels computed by the model are not supported")
    rank = len(shape) - 2
    y, moved = _to_channels_first(c, x, shape, dtype)
    d = np.asarray(depth, dtype=dtype)
    d = np.transpose(d.reshape(*d.shape[:rank], 1, -1), [rank + 1, rank, *range(rank)])
    attrs, sizes = _conv_geometry(c, moved[2:], list(d.shape[2:]), 3)
    attrs["group"] = int(np.shape(depth)[rank])
    mid = (moved[0], d.shape[0], *sizes)
    y = c.node("Conv", [y, c.ctx.constant("depthwise_kernel", d)], mid, attrs, dtype=dtype)
    p = np.asarray(point, dtype=dtype)
    p = np.transpose(p.reshape(-1, p.shape[-1]), [1, 0]).reshape(p.shape[-1], -1, *([1] * rank))
    out = (moved[0], p.shape[0], *sizes)
    y = c.node(
        "Conv", [y, c.ctx.constant("pointwise_kernel", p)], out, {"kernel_shape": [1] * rank}, dtype=dtype
    )
    _to_channels_last(c, y, out, dtype)


@op(("InTopK",), ("math.in_top_k", "nn.in_top_k", "compat.v1.math.in_top_k", "compat.v1.nn.in_top_k"))
def in_top_k(c: Call) -> None:
    """targets' scores are among the k largest: fewer than k classes score strictly higher (ties
    at the boundary count as in, as TensorFlow's)."""
    if c.keras3:  # keras.ops.in_top_k(targets, predictions, k)
        targets_arg, predictions_arg = c.arg(0, "targets"), c.arg(1, "predictions")
    else:  # TensorFlow records compat.v1's in_top_k(predictions, targets, k)
        predictions_arg, targets_arg = c.arg(0, "predictions"), c.arg(1, "targets")
    (targets, tshape, ttype), (predictions, pshape, dtype) = c.tensor(targets_arg), c.tensor(predictions_arg)
    k = int(c.const(2, "k"))
    if ttype != "int64":
        targets = c.node("Cast", [targets], tshape, {"to": elem_type("int64")}, dtype="int64")
    column = (*tshape, 1)
    targets = c.node(
        "Unsqueeze", [targets, c.ctx.constant("axes", np.array([1], np.int64))], column, dtype="int64"
    )
    score = c.node("GatherElements", [predictions, targets], column, {"axis": 1}, dtype=dtype)
    higher = c.node("Cast", [c.node("Greater", [predictions, score], pshape, dtype="bool")], pshape,
                    {"to": elem_type("int64")}, dtype="int64")  # fmt: skip
    count = c.node("ReduceSum", [higher, c.ctx.constant("axes", np.array([1], np.int64))], tshape,
                   {"keepdims": 0}, dtype="int64")  # fmt: skip
    c.node("Less", [count, c.ctx.constant("k", np.asarray(k, np.int64))], tshape, dtype="bool", final=True)


@op(("RGBToGrayscale",), ("image.rgb_to_grayscale",))
def rgb_to_grayscale(c: Call) -> None:
    """0.2989·R + 0.5870·G + 0.1140·B on the channel axis, kept as one channel (TensorFlow's weights)."""
    x, shape, dtype = c.first()
    _channels_last(c)
    if shape[-1] != 3:
        raise c.ctx.error(f"expects 3 channels, not {shape[-1]}")
    weights = c.ctx.constant("weights", np.array([[0.2989], [0.5870], [0.1140]], dtype))
    c.node("MatMul", [x, weights], (*shape[:-1], 1), dtype=dtype, final=True)


@op((), ("image.flip_left_right", "image.flip_up_down"))
def image_flip(c: Call) -> None:
    """The width (height) axis reversed: the one before (two before) the channels."""
    x, shape, dtype = c.first()
    axis = len(shape) - (2 if c.ctx.type.endswith("left_right") else 3)
    bounds = (("starts", [-1]), ("ends", [np.iinfo(np.int64).min]), ("axes", [axis]), ("steps", [-1]))
    ins = [x, *(c.ctx.constant(h, np.array(v, np.int64)) for h, v in bounds)]
    c.node("Slice", ins, shape, dtype=dtype, final=True)


@op((), ("image.per_image_standardization",))
def per_image_standardization(c: Call) -> None:
    """(x − mean) / max(std, 1/√N) over each image's height, width and channels (N of them)."""
    x, shape, dtype = c.first()
    axes = list(range(len(shape) - 3, len(shape)))
    count = list(shape[-3:])
    if not all(isinstance(d, int) for d in count):
        raise c.ctx.error("per-image standardization needs the image size known")
    n = int(np.prod(count))
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    mean = c.node("ReduceMean", [x], kept, {"axes": axes, "keepdims": 1}, dtype=dtype)
    centered = c.node("Sub", [x, mean], shape, dtype=dtype)
    variance = c.node("ReduceMean", [c.node("Mul", [centered, centered], shape, dtype=dtype)], kept,
                      {"axes": axes, "keepdims": 1}, dtype=dtype)  # fmt: skip
    floor = c.ctx.constant("floor", np.asarray(1.0 / np.sqrt(n), dtype))
    std = c.node("Max", [c.node("Sqrt", [variance], kept, dtype=dtype), floor], kept, dtype=dtype)
    c.node("Div", [centered, std], shape, dtype=dtype, final=True)


@op((), ("gather_nd", "compat.v1.gather_nd"))
def gather_nd(c: Call) -> None:
    """ONNX GatherND: the last axis of `indices` indexes the leading axes of `params`."""
    x, shape, dtype = c.first()
    value = c.arg(1, "indices")
    batch_dims = int(c.const(3, "batch_dims", default=0) or 0)
    if isinstance(value, TensorArg):
        index, ishape, itype = c.tensor(value)
        if itype != "int64":
            index = c.node("Cast", [index], ishape, {"to": elem_type("int64")}, dtype="int64")
    else:
        array = np.asarray(value, np.int64)
        index, ishape = c.ctx.constant("indices", array), tuple(int(d) for d in array.shape)
    depth = ishape[-1]
    if not isinstance(depth, int):
        raise c.ctx.error("gather_nd needs the index depth known")
    out = (*ishape[:-1], *shape[batch_dims + depth :])
    c.node("GatherND", [x, index], out, {"batch_dims": batch_dims}, dtype=dtype, final=True)
