"""Caffe's layers that move data without computing: Concat, Slice, Split, Flatten, Reshape, Crop,
and SSD's Permute (BVLC src/caffe/layers/*.cpp; weiliu89/caffe ssd permute_layer.cpp).

Reshape follows ReshapeParameter: the dims from `axis` for `num_axes` are replaced, 0 copies the
input's dim at that position, one −1 is inferred; the ONNX node gets the full shape.
"""

from __future__ import annotations

import itertools
import math

from netinspect.converters.caffe.context import CAFFE, CaffeContext, Shape
from netinspect.converters.caffe.layers_nn import canonical_axis, known
from netinspect.ir import Dim
from netinspect.registry import layer


@layer(CAFFE, "Concat")
def concat(ctx: CaffeContext) -> None:
    p = ctx.param("concat_param")
    shape = ctx.shape_of(0)
    if p.has("axis") and p.has("concat_dim"):
        raise ctx.error("sets both axis and concat_dim")
    axis = canonical_axis(ctx, int(p.get("axis", p.get("concat_dim", 1))), len(shape))
    sizes = [s[axis] for s in ctx.input_shapes]
    total = sum(sizes) if known(*sizes) else None  # type: ignore[arg-type]
    out = (*shape[:axis], total, *shape[axis + 1 :])
    ctx.node("Concat", list(ctx.inputs), out, {"axis": axis}, output=ctx.outputs[0])


@layer(CAFFE, "Slice")
def slice_layer(ctx: CaffeContext) -> None:
    p = ctx.param("slice_param")
    shape = ctx.shape_of(0)
    axis = canonical_axis(ctx, int(p.get("axis", p.get("slice_dim", 1))), len(shape))
    n = shape[axis]
    if not isinstance(n, int):
        raise ctx.error("slicing needs the sliced axis' size")
    points = [int(v) for v in p.all("slice_point")]
    tops = len(ctx.outputs)
    if points:
        if len(points) != tops - 1 or points != sorted(points) or points[-1] > n or points[0] < 0:
            raise ctx.error(f"slice_point {points} does not cut {n} into {tops} parts")
        bounds = [0, *points, n]
        sizes = [b - a for a, b in itertools.pairwise(bounds)]
    else:
        if n % tops:
            raise ctx.error(f"{n} does not split evenly into {tops} tops")
        sizes = [n // tops] * tops
    split = ctx.const("split", sizes, "int64")
    results = [((*shape[:axis], s, *shape[axis + 1 :]), "float32") for s in sizes]
    ctx.node_multi("Split", [ctx.inputs[0], split], results, {"axis": axis}, outputs=ctx.outputs)


@layer(CAFFE, "Split")
def split(ctx: CaffeContext) -> None:
    for out in ctx.outputs:
        ctx.node("Identity", [ctx.inputs[0]], ctx.shape_of(0), output=out)


def _product(dims: tuple[Dim, ...]) -> Dim:
    return int(math.prod(dims)) if known(*dims) else None  # type: ignore[arg-type]


def _reshape(ctx: CaffeContext, target: tuple[Dim, ...]) -> None:
    """Reshape to a fully known target; the batch dim stays a copy (0) so any batch size runs."""
    shape = ctx.shape_of(0)
    if not known(*target[1:]):
        raise ctx.error(f"cannot reshape {list(shape)}: the target {list(target)} is not fully known")
    dims = [0, *target[1:]] if target and shape and target[0] == shape[0] else list(target)
    if any(d is None for d in dims):
        raise ctx.error(f"cannot reshape {list(shape)} to {list(target)}")
    ctx.node("Reshape", [ctx.inputs[0], ctx.const("shape", dims, "int64")], target, output=ctx.outputs[0])


@layer(CAFFE, "Flatten")
def flatten(ctx: CaffeContext) -> None:
    p = ctx.param("flatten_param")
    shape = ctx.shape_of(0)
    axis = canonical_axis(ctx, int(p.get("axis", 1)), len(shape))
    end = canonical_axis(ctx, int(p.get("end_axis", -1)), len(shape))
    if end < axis:
        raise ctx.error(f"end_axis {end} is before axis {axis}")
    _reshape(ctx, (*shape[:axis], _product(shape[axis : end + 1]), *shape[end + 1 :]))


def reshape_target(ctx: CaffeContext, shape: Shape) -> tuple[Dim, ...]:
    p = ctx.param("reshape_param")
    dims = [int(d) for d in p.sub("shape").all("dim")]
    rank = len(shape)
    axis = int(p.get("axis", 0))
    axis = axis if axis >= 0 else rank + axis + 1
    num_axes = int(p.get("num_axes", -1))
    end = rank if num_axes == -1 else axis + num_axes
    if not 0 <= axis <= rank or not axis <= end <= rank:
        raise ctx.error(f"axis {axis} / num_axes {num_axes} out of range for rank {rank}")
    if dims.count(-1) > 1:
        raise ctx.error("more than one -1 in the shape")
    new: list[Dim] = []
    for i, d in enumerate(dims):
        if d == 0:
            if axis + i >= rank:
                raise ctx.error(f"dim 0 at {i} copies an axis the input does not have")
            new.append(shape[axis + i])
        elif d < -1:
            raise ctx.error(f"invalid dim {d}")
        else:
            new.append(d)
    target = [*shape[:axis], *new, *shape[end:]]
    if -1 in target:
        total = _product(shape)
        rest = _product(tuple(d for d in target if d != -1))
        if total is None or not rest or total % rest:  # type: ignore[operator]
            raise ctx.error(f"cannot infer -1 reshaping {list(shape)} to {dims}")
        target[target.index(-1)] = total // rest  # type: ignore[operator]
    if known(*shape) and _product(tuple(target)) != _product(shape):
        raise ctx.error(f"cannot reshape {list(shape)} to {target}")
    return tuple(target)


@layer(CAFFE, "Reshape")
def reshape(ctx: CaffeContext) -> None:
    _reshape(ctx, reshape_target(ctx, ctx.shape_of(0)))


@layer(CAFFE, "Crop")
def crop(ctx: CaffeContext) -> None:
    if len(ctx.inputs) != 2:
        raise ctx.error("Crop takes two bottoms (the data and the reference)")
    p = ctx.param("crop_param")
    shape, ref = ctx.shape_of(0), ctx.shape_of(1)
    axis = canonical_axis(ctx, int(p.get("axis", 2)), len(shape))
    offsets = [int(o) for o in p.all("offset")]
    axes = list(range(axis, len(shape)))
    if len(offsets) == 1:
        offsets = offsets * len(axes)
    elif not offsets:
        offsets = [0] * len(axes)
    if len(offsets) != len(axes):
        raise ctx.error(f"{len(offsets)} offsets for {len(axes)} cropped axes")
    sizes = [ref[a] for a in axes]
    if not known(*sizes):
        raise ctx.error("cropping needs the reference's size")
    for a, o, s in zip(axes, offsets, sizes, strict=True):
        if isinstance(shape[a], int) and o + s > shape[a]:  # type: ignore[operator]
            raise ctx.error(f"axis {a}: offset {o} + size {s} exceeds {shape[a]}")
    starts = ctx.const("starts", offsets, "int64")
    ends = ctx.const("ends", [o + s for o, s in zip(offsets, sizes, strict=True)], "int64")  # type: ignore[operator]
    out = (*shape[:axis], *sizes)
    ctx.node(
        "Slice", [ctx.inputs[0], starts, ends, ctx.const("axes", axes, "int64")], out, output=ctx.outputs[0]
    )


@layer(CAFFE, "Permute")
def permute(ctx: CaffeContext) -> None:
    shape = ctx.shape_of(0)
    order = [int(o) for o in ctx.values("permute_param", "order")]
    if len(set(order)) != len(order) or any(not 0 <= o < len(shape) for o in order):
        raise ctx.error(f"order {order} is not a permutation of {len(shape)} axes")
    order += [a for a in range(len(shape)) if a not in order]
    out = tuple(shape[a] for a in order)
    ctx.node("Transpose", [ctx.inputs[0]], out, {"perm": order}, output=ctx.outputs[0])
