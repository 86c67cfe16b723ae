"""TFLite's shape and data-movement operators, with axes in TFLite's own (NHWC) order: the layout
pass moves them when it moves the data. Resize is the exception: channel-sensitive, emitted NHWC.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netinspect.converters.tflite import exact, exact_quantize, exact_resize
from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.converters.tflite.ops_signal import COMPLEX, complex_reshape
from netinspect.registry import layer

INT64_MAX = np.iinfo(np.int64).max


INT64_MIN = np.iinfo(np.int64).min


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


@layer(TFLITE, "RESHAPE")
def reshape(ctx: TfliteContext) -> None:
    """To the shape the file stores, unless that is only a placeholder (−1 in its signature): then to
    the new shape computed at run time (Tensordot on a batch of unknown size) or stored (with its −1,
    which ONNX Reshape reads alike)."""
    if ctx.need(0).dtype == COMPLEX:
        complex_reshape(ctx)
        return
    target = ctx.tensor(1)
    if target is not None and not target.has_data and None in ctx.out_tensor().dims:
        rank = ctx.in_shape(1)
        shape = ctx.node("Cast", [ctx.x(1)], rank, {"to": ONNX_TYPES["int64"]}, dtype="int64")
        ctx.step("param", "shape computed at run time (the file stores a placeholder for it)")
        ctx.emit("Reshape", [ctx.moved(0), shape])
        return
    if target is not None and None in ctx.out_tensor().dims and 0 not in (stored := ctx.const(1).reshape(-1)):
        ctx.step("param", f"to the stored new shape {[int(d) for d in stored]} (the output's: a placeholder)")
        ctx.emit("Reshape", [ctx.moved(0), ctx.ints(stored)])
        return
    ctx.emit("Reshape", [ctx.moved(0), ctx.ints(ctx.out_shape())])


@layer(TFLITE, "SQUEEZE")
def squeeze(ctx: TfliteContext) -> None:
    shape = ctx.in_shape(0)
    dims = [int(d) for d in ctx.option("SqueezeDims", np.zeros(0))]
    axes = sorted(_axis(d, len(shape)) for d in dims) if dims else [a for a, d in enumerate(shape) if d == 1]
    ctx.emit("Squeeze", [ctx.moved(0), ctx.ints(axes, "axes")])


@layer(TFLITE, "EXPAND_DIMS")
def expand_dims(ctx: TfliteContext) -> None:
    rank = len(ctx.out_shape())
    axis = _axis(int(ctx.const(1).reshape(-1)[0]), rank)
    ctx.emit("Unsqueeze", [ctx.moved(0), ctx.ints([axis], "axes")])


@layer(TFLITE, "TRANSPOSE")
def transpose(ctx: TfliteContext) -> None:
    ctx.emit("Transpose", [ctx.moved(0)], {"perm": [int(p) for p in ctx.const(1)]})


@layer(TFLITE, "CONCATENATION")
def concatenation(ctx: TfliteContext) -> None:
    rank = len(ctx.out_shape())
    if exact_quantize.applies(ctx):
        exact_quantize.concatenation(ctx, _axis(int(ctx.option("Axis", 0)), rank))
        return
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
    dtype = ctx.compute_dtype()
    parts = ctx.node_multi("Split", [ctx.moved(i), ctx.ints(sizes, "split")], [(s, dtype) for s in shapes],
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
    if exact.applies(ctx):
        exact.mean(ctx, axes, keep)
        return
    if op_type == "ReduceSum":
        ctx.emit(op_type, [ctx.x(0), ctx.ints(axes, "axes")], {"keepdims": keep})
    else:
        ctx.emit(op_type, [ctx.x(0)], {"axes": axes, "keepdims": keep})


@layer(TFLITE, "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def resize(ctx: TfliteContext) -> None:
    if exact_resize.applies(ctx):
        exact_resize.resize(ctx)
        return
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
    x = ctx.moved(0)
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
        ctx.emit("Slice", [ctx.moved(0), ctx.ints(begin), ctx.ints(ends), axes])
        return
    begin, size = (
        ctx.node("Cast", [ctx.x(i)], (rank,), {"to": ONNX_TYPES["int64"]}, dtype="int64") for i in (1, 2)
    )
    end = ctx.node("Add", [begin, size], (rank,), dtype="int64")
    to_end = ctx.node("Less", [size, ctx.ints([0], "zero")], (rank,), dtype="bool")
    end = ctx.node("Where", [to_end, ctx.ints([INT64_MAX], "last"), end], (rank,), dtype="int64")
    ctx.emit("Slice", [ctx.moved(0), begin, end, axes])


@layer(TFLITE, "GATHER")
def gather(ctx: TfliteContext) -> None:
    rank = len(ctx.in_shape(0))
    axis = _axis(int(ctx.option("Axis", 0)), rank)
    batch = _axis(int(ctx.option("BatchDims", 0)), len(ctx.in_shape(1)))
    if not batch:
        ctx.emit("Gather", [ctx.moved(0), ctx.x(1)], {"axis": axis})
        return
    _gather_batched(ctx, axis, batch)


def _gather_batched(ctx: TfliteContext, axis: int, batch: int) -> None:
    """GATHER with batch_dims b: for each of the first b (shared) axes' positions, a gather along
    `axis` of the params by the indices there. ONNX GatherND with batch_dims gathers along the axis
    right after the batch axes, so `axis` is moved there first, and its result axes moved back
    behind the axes between (params [B, P, A, Q] → [B, A, P, Q] → [B, I, P, Q] → [B, P, I, Q])."""
    params, indices = ctx.in_shape(0), ctx.in_shape(1)
    data = ctx.moved(0)
    between = list(range(batch, axis))
    if between:
        order = [*range(batch), axis, *between, *range(axis + 1, len(params))]
        data = ctx.node("Transpose", [data], tuple(params[i] for i in order), {"perm": order})
    index = ctx.node("Cast", [ctx.x(1)], indices, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    index = ctx.node("Unsqueeze", [index, ctx.ints([len(indices)], "axes")], (*indices, 1), dtype="int64")
    picked = indices[batch:]
    gathered_shape = (*params[:batch], *picked, *(params[i] for i in between), *params[axis + 1 :])
    moved = f", axis {axis} moved behind the batch axes and back" if between else ""
    ctx.step("split", f"GATHER with batch_dims {batch} as GatherND (batch_dims {batch}){moved}")
    if not between:
        ctx.emit("GatherND", [data, index], {"batch_dims": batch})
        return
    gathered = ctx.node("GatherND", [data, index], gathered_shape, {"batch_dims": batch})
    first, middle = batch + len(picked), batch + len(picked) + len(between)
    back = [*range(batch), *range(first, middle), *range(batch, first), *range(middle, len(gathered_shape))]
    ctx.emit("Transpose", [gathered], {"perm": back})


@layer(TFLITE, "SHAPE")
def shape_op(ctx: TfliteContext) -> None:
    shape = ctx.node("Shape", [ctx.x(0)], ctx.out_shape(), dtype="int64")
    ctx.emit("Cast", [shape], {"to": ONNX_TYPES[ctx.out_tensor().dtype]})


@layer(TFLITE, "ARG_MAX", "ARG_MIN")
def arg_extreme(ctx: TfliteContext) -> None:
    """ONNX ArgMax/ArgMin give int64 (first index on ties, as TFLite); cast when TFLite asks for int32."""
    rank = len(ctx.in_shape(0))
    axis = _axis(int(ctx.const(1).reshape(-1)[0]), rank)
    op_type = "ArgMax" if ctx.type == "ARG_MAX" else "ArgMin"
    dtype = ctx.out_tensor().dtype
    if dtype == "int64":
        ctx.emit(op_type, [ctx.x(0)], {"axis": axis, "keepdims": 0})
        return
    index = ctx.node(op_type, [ctx.x(0)], ctx.out_shape(), {"axis": axis, "keepdims": 0}, dtype="int64")
    ctx.emit("Cast", [index], {"to": ONNX_TYPES[dtype]})


@layer(TFLITE, "TILE", "BROADCAST_TO")
def tile(ctx: TfliteContext) -> None:
    """Multiples (TILE) or a target shape (BROADCAST_TO), constant or computed, as int64."""
    t = ctx.need(1)
    if t.has_data:
        amounts = ctx.ints(ctx.const(1).reshape(-1), "multiples" if ctx.type == "TILE" else "shape")
    else:
        amounts = ctx.node("Cast", [ctx.x(1)], t.shape, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    ctx.emit("Tile" if ctx.type == "TILE" else "Expand", [ctx.moved(0), amounts])


@layer(TFLITE, "DEPTH_TO_SPACE", "SPACE_TO_DEPTH")
def depth_space(ctx: TfliteContext) -> None:
    """TensorFlow's order within a block is ONNX DepthToSpace's DCR mode (SpaceToDepth has only it)."""
    block = int(ctx.option("BlockSize", 2))
    attrs: dict[str, Any] = {"blocksize": block}
    if ctx.type == "DEPTH_TO_SPACE":
        attrs["mode"] = "DCR"
    ctx.emit("DepthToSpace" if ctx.type == "DEPTH_TO_SPACE" else "SpaceToDepth", [ctx.moved(0)], attrs,
             layout="NHWC")  # fmt: skip


@layer(TFLITE, "REVERSE_V2")
def reverse(ctx: TfliteContext) -> None:
    shape = ctx.in_shape(0)
    axes = sorted({_axis(int(a), len(shape)) for a in ctx.const(1).reshape(-1)})
    starts = [shape[a] - 1 for a in axes]
    ends = [INT64_MIN] * len(axes)
    ctx.emit(
        "Slice", [ctx.moved(0), ctx.ints(starts), ctx.ints(ends), ctx.ints(axes), ctx.ints([-1] * len(axes))]
    )


@layer(TFLITE, "GATHER_ND")
def gather_nd(ctx: TfliteContext) -> None:
    indices = ctx.node("Cast", [ctx.x(1)], ctx.in_shape(1), {"to": ONNX_TYPES["int64"]}, dtype="int64")
    ctx.emit("GatherND", [ctx.moved(0), indices])


@layer(TFLITE, "CUMSUM")
def cumsum(ctx: TfliteContext) -> None:
    rank = len(ctx.in_shape(0))
    axis = ctx.ints([_axis(int(ctx.const(1).reshape(-1)[0]), rank)], "axis")
    attrs = {
        "exclusive": int(bool(ctx.option("Exclusive", False))),
        "reverse": int(bool(ctx.option("Reverse", False))),
    }
    ctx.emit("CumSum", [ctx.x(0), axis], attrs)


@layer(TFLITE, "ONE_HOT")
def one_hot(ctx: TfliteContext) -> None:
    """Inputs: indices, depth, on_value, off_value; ONNX OneHot takes [off, on] as one tensor."""
    dtype = ctx.compute_dtype()
    off, on = (ctx.node("Reshape", [ctx.moved(i), ctx.ints([1])], (1,), dtype=dtype) for i in (3, 2))
    values = ctx.node("Concat", [off, on], (2,), {"axis": 0}, dtype=dtype)
    ctx.emit("OneHot", [ctx.x(0), ctx.x(1), values], {"axis": int(ctx.option("Axis", -1))})


@layer(TFLITE, "TOPK_V2")
def top_k(ctx: TfliteContext) -> None:
    """Values and indices of the k largest along the last axis (sorted, as TFLite); indices to int32."""
    k = ctx.node("Cast", [ctx.x(1)], (), {"to": ONNX_TYPES["int64"]}, dtype="int64")
    k = ctx.node("Reshape", [k, ctx.ints([1])], (1,), dtype="int64")
    results = [(ctx.out_shape(0), ctx.compute_dtype(0)), (ctx.out_shape(1), "int64")]
    values, indices = ctx.node_multi(
        "TopK", [ctx.moved(0), k], results, {"axis": -1, "largest": 1, "sorted": 1}
    )
    ctx.finish_float(values, 0)
    ctx.emit("Cast", [indices], {"to": ONNX_TYPES[ctx.out_tensor(1).dtype]}, k=1)


@layer(TFLITE, "SPACE_TO_BATCH_ND")
def space_to_batch(ctx: TfliteContext) -> None:
    """Pad, then move each (bh, bw) block position to the batch: NHWC → reshape to
    [N, H/bh, bh, W/bw, bw, C], bring the block axes first, fold them into the batch."""
    n, h, w, c = ctx.in_shape(0)
    bh, bw = (int(v) for v in ctx.const(1).reshape(-1))
    if not ctx.need(2).has_data:
        _space_to_batch_at_run_time(ctx, bh, bw)
        return
    pads = ctx.const(2).reshape(2, 2).astype(np.int64)
    x = ctx.moved(0)
    h, w = h + int(pads[0].sum()), w + int(pads[1].sum())
    if pads.any():
        onnx_pads = [0, int(pads[0, 0]), int(pads[1, 0]), 0, 0, int(pads[0, 1]), int(pads[1, 1]), 0]
        x = ctx.node("Pad", [x, ctx.ints(onnx_pads, "pads")], (n, h, w, c))
    blocks = ctx.node(
        "Reshape", [x, ctx.ints([n, h // bh, bh, w // bw, bw, c])], (n, h // bh, bh, w // bw, bw, c)
    )
    moved = ctx.node("Transpose", [blocks], (bh, bw, n, h // bh, w // bw, c), {"perm": [2, 4, 0, 1, 3, 5]})
    ctx.emit("Reshape", [moved, ctx.ints(ctx.out_shape())])


def _dims(ctx: TfliteContext, x: str, rank: int) -> list[str]:
    """Each axis' size of `x` at run time, as int64 [1] values."""
    shape = ctx.node("Shape", [x], (rank,), dtype="int64")
    return [ctx.node("Gather", [shape, ctx.ints([k])], (1,), dtype="int64") for k in range(rank)]


def _concat(ctx: TfliteContext, parts: list[str], size: int | None = None) -> str:
    """int64 vectors joined (`size` elements; one per part by default)."""
    return ctx.node("Concat", parts, (size or len(parts),), {"axis": 0}, dtype="int64")


def _flat_pairs(ctx: TfliteContext, i: int) -> str:
    """Input `i`, [[top, bottom], [left, right]] computed at run time, as int64 [4]."""
    pairs = ctx.node("Cast", [ctx.x(i)], (2, 2), {"to": ONNX_TYPES["int64"]}, dtype="int64")
    return ctx.node("Reshape", [pairs, ctx.ints([4])], (4,), dtype="int64")


def _space_to_batch_at_run_time(ctx: TfliteContext, bh: int, bw: int) -> None:
    """SPACE_TO_BATCH_ND whose paddings the graph computes (a dilated convolution on an input sized
    at run time: TF's required_space_to_batch_paddings): Pad by those values, then the same
    reshapes with sizes read from the padded tensor."""
    flat = _flat_pairs(ctx, 2)
    begins = ctx.node("Gather", [flat, ctx.ints([0, 2])], (2,), dtype="int64")
    ends = ctx.node("Gather", [flat, ctx.ints([1, 3])], (2,), dtype="int64")
    zero = ctx.ints([0])
    pads = _concat(ctx, [zero, begins, zero, zero, ends, zero], 8)
    n, _h, _w, c = ctx.in_shape(0)
    x = ctx.node("Pad", [ctx.moved(0), pads], (n, None, None, c))
    dn, dh, dw, dc = _dims(ctx, x, 4)
    block_h, block_w = ctx.ints([bh]), ctx.ints([bw])
    rows, cols = (
        ctx.node("Div", [dh, block_h], (1,), dtype="int64"),
        ctx.node("Div", [dw, block_w], (1,), dtype="int64"),
    )
    blocks = ctx.node(
        "Reshape", [x, _concat(ctx, [dn, rows, block_h, cols, block_w, dc])], (n, None, bh, None, bw, c)
    )
    moved = ctx.node("Transpose", [blocks], (bh, bw, n, None, None, c), {"perm": [2, 4, 0, 1, 3, 5]})
    batch = ctx.node("Mul", [dn, ctx.ints([bh * bw])], (1,), dtype="int64")
    ctx.step("pad", "paddings computed at run time: Pad and reshapes sized from the tensor itself")
    ctx.emit("Reshape", [moved, _concat(ctx, [batch, rows, cols, dc])])


def _batch_to_space_at_run_time(ctx: TfliteContext, bh: int, bw: int) -> None:
    """BATCH_TO_SPACE_ND whose crops the graph computes: the inverse reshapes sized at run time,
    then a Slice by those crops."""
    c = ctx.in_shape(0)[3]
    x = ctx.moved(0)
    db, dh, dw, dc = _dims(ctx, x, 4)
    n = ctx.node("Div", [db, ctx.ints([bh * bw])], (1,), dtype="int64")
    blocks = ctx.node("Reshape", [x, _concat(ctx, [ctx.ints([bh]), ctx.ints([bw]), n, dh, dw, dc])],
                      (bh, bw, None, None, None, c))  # fmt: skip
    moved = ctx.node("Transpose", [blocks], (None, None, bh, None, bw, c), {"perm": [2, 3, 0, 4, 1, 5]})
    height = ctx.node("Mul", [dh, ctx.ints([bh])], (1,), dtype="int64")
    width = ctx.node("Mul", [dw, ctx.ints([bw])], (1,), dtype="int64")
    full = ctx.node("Reshape", [moved, _concat(ctx, [n, height, width, dc])], (None, None, None, c))
    flat = _flat_pairs(ctx, 2)
    starts = ctx.node("Gather", [flat, ctx.ints([0, 2])], (2,), dtype="int64")
    cut = ctx.node("Gather", [flat, ctx.ints([1, 3])], (2,), dtype="int64")
    ends = ctx.node("Sub", [_concat(ctx, [height, width]), cut], (2,), dtype="int64")
    ctx.step("pad", "crops computed at run time: reshapes sized from the tensor itself, then Slice")
    ctx.emit("Slice", [full, starts, ends, ctx.ints([1, 2])])


@layer(TFLITE, "BATCH_TO_SPACE_ND")
def batch_to_space(ctx: TfliteContext) -> None:
    """The inverse: unfold the batch into (bh, bw, N), interleave the blocks back, then crop."""
    b, h, w, c = ctx.in_shape(0)
    bh, bw = (int(v) for v in ctx.const(1).reshape(-1))
    if not ctx.need(2).has_data:
        _batch_to_space_at_run_time(ctx, bh, bw)
        return
    crops = ctx.const(2).reshape(2, 2).astype(np.int64)
    n = b // (bh * bw)
    blocks = ctx.node("Reshape", [ctx.moved(0), ctx.ints([bh, bw, n, h, w, c])], (bh, bw, n, h, w, c))
    moved = ctx.node("Transpose", [blocks], (n, h, bh, w, bw, c), {"perm": [2, 3, 0, 4, 1, 5]})
    full = (n, h * bh, w * bw, c)
    if not crops.any():
        ctx.emit("Reshape", [moved, ctx.ints(full)])
        return
    x = ctx.node("Reshape", [moved, ctx.ints(full)], full)
    starts = [int(crops[0, 0]), int(crops[1, 0])]
    ends = [full[1] - int(crops[0, 1]), full[2] - int(crops[1, 1])]
    ctx.emit("Slice", [x, ctx.ints(starts), ctx.ints(ends), ctx.ints([1, 2])])
