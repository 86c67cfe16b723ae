"""The rest of BVLC Caffe's inference layers (src/caffe/layers/*.cpp): MVN, Clip, Swish, Tile,
Reduction, Embed, Parameter and SPP.

MVN divides by the standard deviation plus eps (not by √(var + eps)); Reduction reduces every axis
from `axis` on and scales by `coeff`; Embed looks rows up by indices given as floats.
"""

from __future__ import annotations

from netinspect.converters.caffe.context import CAFFE, CaffeContext
from netinspect.converters.caffe.layers_nn import canonical_axis, emit_pool, known
from netinspect.registry import layer


@layer(CAFFE, "MVN")
def mvn(ctx: CaffeContext) -> None:
    p = ctx.param("mvn_param")
    shape = ctx.shape_of(0)
    across, scale = bool(p.get("across_channels", False)), bool(p.get("normalize_variance", True))
    eps = float(p.get("eps", 1e-9))
    axes = list(range(1 if across else 2, len(shape)))
    if not axes:
        raise ctx.error(f"MVN needs spatial axes (input rank {len(shape)})")
    reduced = tuple(1 if i in axes else d for i, d in enumerate(shape))
    x = ctx.inputs[0]
    mean = ctx.node("ReduceMean", [x], reduced, {"axes": axes, "keepdims": 1})
    centred = ctx.node("Sub", [x, mean], shape, output=None if scale else ctx.outputs[0])
    if not scale:
        return
    variance = ctx.node(
        "ReduceMean", [ctx.node("Mul", [centred, centred], shape)], reduced, {"axes": axes, "keepdims": 1}
    )
    std = ctx.node("Add", [ctx.node("Sqrt", [variance], reduced), ctx.const("eps", eps)], reduced)
    ctx.step("param", f"(x − mean) / (std + {eps:g}) over {'C, H, W' if across else 'H, W per channel'}")
    ctx.node("Div", [centred, std], shape, output=ctx.outputs[0])


@layer(CAFFE, "Clip")
def clip(ctx: CaffeContext) -> None:
    p = ctx.param("clip_param")
    if not p.has("min") or not p.has("max"):
        raise ctx.error("clip_param needs min and max")
    bounds = [ctx.const("min", float(p.get("min"))), ctx.const("max", float(p.get("max")))]
    ctx.node("Clip", [ctx.inputs[0], *bounds], ctx.shape_of(0), output=ctx.outputs[0])


@layer(CAFFE, "Swish")
def swish(ctx: CaffeContext) -> None:
    beta = float(ctx.value("swish_param", "beta", 1.0))
    x, shape = ctx.inputs[0], ctx.shape_of(0)
    scaled = x if beta == 1 else ctx.node("Mul", [x, ctx.const("beta", beta)], shape)
    gate = ctx.node("Sigmoid", [scaled], shape)
    ctx.node("Mul", [x, gate], shape, output=ctx.outputs[0])


@layer(CAFFE, "Tile")
def tile(ctx: CaffeContext) -> None:
    p = ctx.param("tile_param")
    shape = ctx.shape_of(0)
    axis = canonical_axis(ctx, int(p.get("axis", 1)), len(shape))
    tiles = int(p.get("tiles", 0))
    if tiles <= 0:
        raise ctx.error("tile_param needs a positive tiles")
    repeats = [tiles if i == axis else 1 for i in range(len(shape))]
    size = shape[axis] * tiles if isinstance(shape[axis], int) else None  # type: ignore[operator]
    out = (*shape[:axis], size, *shape[axis + 1 :])
    ctx.node("Tile", [ctx.inputs[0], ctx.const("repeats", repeats, "int64")], out, output=ctx.outputs[0])


REDUCTIONS = {"SUM": "ReduceSum", "ASUM": "ReduceL1", "SUMSQ": "ReduceSumSquare", "MEAN": "ReduceMean"}


@layer(CAFFE, "Reduction")
def reduction(ctx: CaffeContext) -> None:
    p = ctx.param("reduction_param")
    shape = ctx.shape_of(0)
    axis = canonical_axis(ctx, int(p.get("axis", 0)), len(shape)) if shape else 0
    operation, coeff = p.get("operation", "SUM"), float(p.get("coeff", 1.0))
    axes = list(range(axis, len(shape)))
    out = tuple(shape[:axis])
    op = REDUCTIONS[operation]
    last = coeff == 1
    target = ctx.outputs[0] if last else None
    if op == "ReduceSum":  # opset 13+: axes as an input
        y = ctx.node(
            op, [ctx.inputs[0], ctx.const("axes", axes, "int64")], out, {"keepdims": 0}, output=target
        )
    else:
        y = ctx.node(op, [ctx.inputs[0]], out, {"axes": axes, "keepdims": 0}, output=target)
    if not last:
        ctx.node("Mul", [y, ctx.const("coeff", coeff)], out, output=ctx.outputs[0])


@layer(CAFFE, "Embed")
def embed(ctx: CaffeContext) -> None:
    p = ctx.param("embed_param")
    num_output, input_dim = int(p.get("num_output", 0)), int(p.get("input_dim", 0))
    if num_output <= 0 or input_dim <= 0:
        raise ctx.error("embed_param needs num_output and input_dim")
    shape = ctx.shape_of(0)
    out = (*shape, num_output)
    weights = ctx.blob_tensor(0, "weights", (input_dim, num_output))
    index = ctx.node("Cast", [ctx.inputs[0]], shape, {"to": 7}, dtype="int64")
    ctx.step("param", "indices given as floats, cast to int64")
    bias = bool(p.get("bias_term", True))
    rows = ctx.node("Gather", [weights, index], out, {"axis": 0}, output=None if bias else ctx.outputs[0])
    if bias:
        ctx.node("Add", [rows, ctx.blob_tensor(1, "bias", (num_output,))], out, output=ctx.outputs[0])


@layer(CAFFE, "Parameter")
def parameter(ctx: CaffeContext) -> None:
    dims = tuple(int(d) for d in ctx.param("parameter_param").sub("shape").all("dim"))
    if not known(*dims):
        raise ctx.error("parameter_param needs a shape")
    value = ctx.blob_tensor(0, "value", dims)
    ctx.node("Identity", [value], dims, output=ctx.outputs[0])


@layer(CAFFE, "SPP")
def spp(ctx: CaffeContext) -> None:
    """SPPLayer: level l pools into 2^l × 2^l bins (kernel ceil(H / bins), pad half the remainder
    rounded up, stride = kernel, Caffe's pooling rules), each flattened, all concatenated; one level
    is that pooling alone."""
    p = ctx.param("spp_param")
    height, method = int(p.get("pyramid_height", 0)), p.get("pool", "MAX")
    shape = ctx.shape_of(0)
    if height <= 0:
        raise ctx.error("spp_param needs a positive pyramid_height")
    if len(shape) != 4 or not known(*shape[1:]):
        raise ctx.error("SPP needs a 4-D input of known channels and size")
    n, c, h, w = shape
    pieces, total = [], 0
    for level in range(height):
        bins = 2**level
        kernel = [-(-int(h) // bins), -(-int(w) // bins)]  # type: ignore[call-overload]
        pads = [(kernel[0] * bins - int(h) + 1) // 2, (kernel[1] * bins - int(w) + 1) // 2]  # type: ignore[call-overload]
        last = height == 1
        pooled = emit_pool(
            ctx, ctx.inputs[0], shape, method, kernel, pads, kernel, False, ctx.outputs[0] if last else None
        )
        if last:
            return
        size = ctx.builder.shape(pooled)
        features = int(c) * int(size[2]) * int(size[3])  # type: ignore[index, arg-type]
        pieces.append(ctx.node("Reshape", [pooled, ctx.const("flat", [0, -1], "int64")], (n, features)))
        total += features
    ctx.node("Concat", pieces, (n, total), {"axis": 1}, output=ctx.outputs[0])


@layer(CAFFE, "BatchReindex")
def batch_reindex(ctx: CaffeContext) -> None:
    """BatchReindexLayer: the rows of bottom[0] at the indices bottom[1] holds (as floats)."""
    if len(ctx.inputs) != 2:
        raise ctx.error("BatchReindex takes the data and the indices")
    shape, index_shape = ctx.shape_of(0), ctx.shape_of(1)
    index = ctx.node("Cast", [ctx.inputs[1]], index_shape, {"to": 7}, dtype="int64")
    out = (index_shape[0], *shape[1:])
    ctx.node("Gather", [ctx.inputs[0], index], out, {"axis": 0}, output=ctx.outputs[0])


@layer(CAFFE, "Filter")
def filter_layer(ctx: CaffeContext) -> None:
    """FilterLayer: the items of each bottom whose selector (the last bottom) is non-zero."""
    if len(ctx.inputs) < 2 or len(ctx.outputs) != len(ctx.inputs) - 1:
        raise ctx.error("Filter takes data bottoms and a selector, and has one top per data bottom")
    selector = ctx.node("Reshape", [ctx.inputs[-1], ctx.const("flat", [-1], "int64")], (None,))
    kept = ctx.node("NonZero", [selector], (1, None), dtype="int64")
    rows = ctx.node("Squeeze", [kept, ctx.const("axis0", [0], "int64")], (None,), dtype="int64")
    for x, shape, out in zip(ctx.inputs[:-1], ctx.input_shapes[:-1], ctx.outputs, strict=True):
        ctx.node("Gather", [x, rows], (None, *shape[1:]), {"axis": 0}, output=out)
