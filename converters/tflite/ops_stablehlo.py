"""Builtins from StableHLO that LiteRT has kernels for and ONNX expresses: STABLEHLO_ADD, _MULTIPLY,
_MAXIMUM, _MINIMUM (element-wise, same-shape operands, no fused activation), STABLEHLO_AND on
booleans, STABLEHLO_SHIFT_LEFT, DILATE (the elements
spread `dilation` apart, the gaps filled with a padding value), STABLEHLO_PAD (interior padding,
then edge padding, negative edges cropping), REDUCE_WINDOW and STABLEHLO_REDUCE_WINDOW (reductions
over sliding windows)."""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.converters.tflite.subgraph import subgraph_at
from netinspect.registry import layer

ELEMENTWISE = {"STABLEHLO_ADD": "Add", "STABLEHLO_MULTIPLY": "Mul", "STABLEHLO_MAXIMUM": "Max",
               "STABLEHLO_MINIMUM": "Min"}  # fmt: skip


@layer(TFLITE, *ELEMENTWISE)
def elementwise(ctx: TfliteContext) -> None:
    ctx.emit(ELEMENTWISE[ctx.type], [ctx.x(0), ctx.x(1)])


@layer(TFLITE, "STABLEHLO_AND")
def stablehlo_and(ctx: TfliteContext) -> None:
    """Logical on booleans (ONNX And); on integers it is bitwise, which ONNX has from opset 18 only."""
    if ctx.need(0).dtype != "bool":
        raise ctx.error(f"bitwise AND of {ctx.need(0).dtype}: ONNX BitwiseAnd needs opset 18 (netinspect "
                        "writes 17)")  # fmt: skip
    ctx.emit("And", [ctx.x(0), ctx.x(1)])


@layer(TFLITE, "STABLEHLO_SHIFT_LEFT")
def stablehlo_shift_left(ctx: TfliteContext) -> None:
    """x << y on int8/16/32 (the kernel's C++ shift: the value promoted to int, shifted, stored back
    wrapping): x · 2^y in int64, cast back to the type (onnxruntime's Cast wraps as C++ does). Shift
    counts 0–31 only: beyond them C++ leaves the result undefined."""
    dtype = ctx.need(0).dtype
    if dtype not in ("int8", "int16", "int32"):
        raise ctx.error(f"{dtype} operands: the kernel shifts int8, int16 and int32 only")
    shape = ctx.out_shape()
    wide = {"to": ONNX_TYPES["int64"]}
    x = ctx.node("Cast", [ctx.x(0)], ctx.in_shape(0), wide, dtype="int64")
    power = ctx.node("Pow", [ctx.constant("two", np.int64(2)),
                             ctx.node("Cast", [ctx.x(1)], ctx.in_shape(1), wide, dtype="int64")],
                     ctx.in_shape(1), dtype="int64")  # fmt: skip
    ctx.step("split", f"SHIFT_LEFT as x · 2^y in int64, cast back to {dtype} (wrapping)")
    ctx.emit("Cast", [ctx.node("Mul", [x, power], shape, dtype="int64")], {"to": ONNX_TYPES[dtype]})


def _static_shape(ctx: TfliteContext) -> tuple[int, ...]:
    if any(d is None for d in ctx.need(0).dims):
        raise ctx.error("an input size known only at run time: where its elements go is not known")
    return tuple(ctx.in_shape(0))


def _spread(
    ctx: TfliteContext, shape: tuple[int, ...], steps: list[int], fill: str, data: str | None = None
) -> tuple[str, tuple]:
    """`data` (input 0 by default) with element i of each axis moved to i·step, the gaps `fill`:
    ScatterND into `fill` expanded to the spread shape, at a constant grid of the places."""
    spread = tuple((n - 1) * d + 1 if n else 0 for n, d in zip(shape, steps, strict=True))
    places = np.moveaxis(np.indices(shape, dtype=np.int64), 0, -1) * np.array(steps, np.int64)
    dtype = ctx.compute_dtype()
    base = ctx.node("Expand", [fill, ctx.ints(list(spread))], spread, dtype=dtype)
    source = ctx.moved(0) if data is None else data
    value = ctx.node("ScatterND", [base, ctx.constant("places", places), source], spread, dtype=dtype)
    return value, spread


def _pad_crop(
    ctx: TfliteContext, value: str, shape: tuple[int, ...], low: list[int], high: list[int], fill: str
) -> tuple[str, tuple]:
    """StableHLO edge padding: Pad by the positive edges with `fill`, then Slice off the negative ones."""
    rank = len(shape)
    grow = [max(v, 0) for v in low] + [max(v, 0) for v in high]
    if any(grow):
        shape = tuple(n + a + b for n, a, b in zip(shape, grow[:rank], grow[rank:], strict=True))
        value = ctx.node("Pad", [value, ctx.ints(grow, "pads"), fill], shape, {"mode": "constant"})
    crop_low, crop_high = [max(-v, 0) for v in low], [max(-v, 0) for v in high]
    if any(crop_low) or any(crop_high):
        ends = [n - c for n, c in zip(shape, crop_high, strict=True)]
        shape = tuple(e - b for e, b in zip(ends, crop_low, strict=True))
        value = ctx.node("Slice", [value, ctx.ints(crop_low, "starts"), ctx.ints(ends, "ends")], shape)
    return value, shape


def _scalar(ctx: TfliteContext, i: int) -> str:
    return ctx.node("Reshape", [ctx.x(i), ctx.ints([], "scalar")], (), dtype=ctx.compute_dtype())


@layer(TFLITE, "DILATE")
def dilate(ctx: TfliteContext) -> None:
    """Inputs: data, dilations (one per axis, stored), padding value."""
    shape = _static_shape(ctx)
    if not ctx.need(1).has_data:
        raise ctx.error("dilations computed at run time: where the elements go is not known")
    steps = [int(d) for d in ctx.const(1).reshape(-1)]
    ctx.step("split", f"DILATE by {steps} as ScatterND into the padding value at every {steps} place")
    value, spread = _spread(ctx, shape, steps, _scalar(ctx, 2))
    ctx.emit("Identity", [value], shape=spread)


@layer(TFLITE, "STABLEHLO_PAD")
def stablehlo_pad(ctx: TfliteContext) -> None:
    """Inputs: operand, padding value; options: edge padding low / high (negative crops) and interior
    padding per axis. Interior as DILATE by interior + 1, then Pad by the positive edges with the
    padding value, then Slice off the negative ones."""
    shape = _static_shape(ctx)
    rank = len(shape)

    def option(key: str) -> list[int]:
        values = [int(v) for v in np.asarray(ctx.option(key, np.zeros(rank)), np.int64).reshape(-1)]
        return values or [0] * rank

    low, high, interior = option("EdgePaddingLow"), option("EdgePaddingHigh"), option("InteriorPadding")
    fill = _scalar(ctx, 1)
    value, current = ctx.moved(0), shape
    if any(interior):
        value, current = _spread(ctx, shape, [i + 1 for i in interior], fill)
    ctx.step("split", f"STABLEHLO_PAD low {low}, high {high}, interior {interior}: spread, Pad, Slice")
    value, current = _pad_crop(ctx, value, current, low, high, fill)
    ctx.emit("Identity", [value], shape=current)


WINDOW_REDUCTIONS = {1: "Add", 2: "Mul", 3: "Min", 4: "Max", 5: "And", 6: "Or"}
"""ReduceWindowFunction → the ONNX op folding one more window element in."""


@layer(TFLITE, "REDUCE_WINDOW")
def reduce_window(ctx: TfliteContext) -> None:
    """Inputs: data, init value, window shape, strides and dilations (stored, int64)."""
    shape = _static_shape(ctx)
    op = WINDOW_REDUCTIONS.get(int(ctx.option("ReduceFunction", 0)))
    if op is None:
        raise ctx.error(f"reduce function {ctx.option('ReduceFunction', 0)} is not one the kernel runs")
    if not all(ctx.need(i).has_data for i in (2, 3, 4)):
        raise ctx.error("window shape, strides or dilations computed at run time (the kernel needs them)")
    window, strides, dilations = ([int(v) for v in ctx.const(i).reshape(-1)] for i in (2, 3, 4))
    _fold_windows(ctx, ctx.moved(0), shape, window, strides, dilations, op)


BODY_REDUCTIONS = {
    "ADD": "Add", "STABLEHLO_ADD": "Add", "MUL": "Mul", "STABLEHLO_MULTIPLY": "Mul", "MAXIMUM": "Max",
    "STABLEHLO_MAXIMUM": "Max", "MINIMUM": "Min", "STABLEHLO_MINIMUM": "Min", "LOGICAL_AND": "And",
    "STABLEHLO_AND": "And", "LOGICAL_OR": "Or", "STABLEHLO_OR": "Or",
}  # fmt: skip
"""The one operator of a STABLEHLO_REDUCE_WINDOW body LiteRT's kernel recognises → the ONNX fold."""


@layer(TFLITE, "STABLEHLO_REDUCE_WINDOW")
def stablehlo_reduce_window(ctx: TfliteContext) -> None:
    """Inputs: data, init value; options: window dimensions, strides, base and window dilations,
    padding (low, high per axis), the body subgraph. As LiteRT's kernel: the data spread by the base
    dilations and padded (negative: cropped), both with the init value, then windows folded by the
    body's one operator."""
    shape = _static_shape(ctx)
    if len([i for i in ctx.op.inputs if i >= 0]) != 2:
        raise ctx.error("several operands reduced together are not supported (LiteRT's kernel takes one)")
    body = subgraph_at(ctx, int(ctx.option("BodySubgraphIndex", 0)), "body").operators
    op = BODY_REDUCTIONS.get(body[0].opcode) if len(body) == 1 else None
    if op is None:
        raise ctx.error(f"body {[o.opcode for o in body]}: LiteRT's kernel folds with one ADD, MUL, "
                        "MAXIMUM, MINIMUM, AND or OR")  # fmt: skip
    rank = len(shape)

    def option(key: str, default: int) -> list[int]:
        values = [int(v) for v in np.asarray(ctx.option(key, np.zeros(0)), np.int64).reshape(-1)]
        return values or [default] * (rank if key != "Padding" else 2 * rank)

    base, padding = option("BaseDilations", 1), option("Padding", 0)
    fill = _scalar(ctx, 1)
    value, current = ctx.moved(0), shape
    if any(d != 1 for d in base):
        value, current = _spread(ctx, shape, base, fill)
    value, current = _pad_crop(ctx, value, current, padding[0::2], padding[1::2], fill)
    window, strides = option("WindowDimensions", 1), option("WindowStrides", 1)
    _fold_windows(ctx, value, current, window, strides, option("WindowDilations", 1), op)


def _fold_windows(
    ctx: TfliteContext, data: str, shape: tuple[int, ...], window: list[int], strides: list[int],
    dilations: list[int], op: str,
) -> None:  # fmt: skip
    """Output element = the init value (input 1) folded with its window's elements, in row-major order,
    by `op`: each window offset is one strided Slice (the element at that offset of every window),
    folded in that order, so sums and products round as the kernel's do. Whole windows only:
    ⌊(n − extent) / stride⌋ + 1 of them, as LiteRT 2.3.0 counts."""
    extent = [(w - 1) * d + 1 for w, d in zip(window, dilations, strict=True)]
    if any(n < e for n, e in zip(shape, extent, strict=True)):
        raise ctx.error(f"windows {window} (dilations {dilations}) larger than the input {list(shape)}")
    out = tuple((n - e) // s + 1 for n, e, s in zip(shape, extent, strides, strict=True))
    axes, steps = ctx.ints(list(range(len(shape))), "axes"), ctx.ints(strides, "strides")
    dtype = ctx.compute_dtype()
    value = _scalar(ctx, 1)
    for offset in np.ndindex(*window):
        starts = [o * d for o, d in zip(offset, dilations, strict=True)]
        ends = [b + (m - 1) * s + 1 for b, m, s in zip(starts, out, strides, strict=True)]
        bounds = [ctx.ints(starts, "starts"), ctx.ints(ends, "ends"), axes, steps]
        value = ctx.node(op, [value, ctx.node("Slice", [data, *bounds], out, dtype=dtype)], out, dtype=dtype)
    folds = int(np.prod(window))
    ctx.step("split", f"{ctx.type} ({op}) over windows {window}, strides {strides}, dilations "
                      f"{dilations}: {folds} strided Slices folded in the kernel's order")  # fmt: skip
    ctx.emit("Identity", [value], shape=out)


def _operand_starts(
    ctx: TfliteContext, index_shape: tuple[int, ...], to_operand: list[int], rank: int
) -> tuple[str, tuple[int, ...]]:
    """Gather's and scatter's start indices (input 1) as full operand coordinates, one row per batch
    position (every index axis but index_vector_dim, in order): index k goes to operand axis
    to_operand[k], the other axes 0. Also the batch shape."""
    vector_dim = int(ctx.option("IndexVectorDim", len(index_shape)))
    indices = ctx.node("Cast", [ctx.x(1)], index_shape, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    if vector_dim == len(index_shape):  # one index per position: a vector of length 1
        indices = ctx.node("Unsqueeze", [indices, ctx.ints([vector_dim], "axes")], (*index_shape, 1),
                           dtype="int64")  # fmt: skip
        index_shape = (*index_shape, 1)
    batch_axes = [a for a in range(len(index_shape)) if a != vector_dim]
    batch = tuple(index_shape[a] for a in batch_axes)
    if vector_dim != len(index_shape) - 1:
        indices = ctx.node("Transpose", [indices], (*batch, index_shape[vector_dim]),
                           {"perm": [*batch_axes, vector_dim]}, dtype="int64")  # fmt: skip
    count = len(to_operand)
    column_shape = ctx.ints([*batch, 1], "column_shape")
    zero_column = ctx.node("Expand", [ctx.ints([0], "zero"), column_shape], (*batch, 1), dtype="int64")
    padded = ctx.node("Concat", [indices, zero_column], (*batch, count + 1), {"axis": -1}, dtype="int64")
    source = [to_operand.index(d) if d in to_operand else count for d in range(rank)]
    starts = ctx.node("Gather", [padded, ctx.ints(source, "axis_sources")], (*batch, rank), {"axis": -1},
                      dtype="int64")  # fmt: skip
    return starts, batch


@layer(TFLITE, "STABLEHLO_GATHER")
def stablehlo_gather(ctx: TfliteContext) -> None:
    """StableHLO gather: for each batch position of the start indices (every axis but index_vector_dim),
    a slice of `slice_sizes` of the operand starting where start_index_map sends the indices (0 on the
    other axes), each start clamped so the slice fits; collapsed_slice_dims dropped, the slice's other
    axes at offset_dims of the result, the batch axes in the remaining places. Here: the operand
    coordinates of every element of every slice (the clamped starts plus a constant grid over the
    slice), one GatherND, then a Reshape and a Transpose into the result's order."""
    shape = _static_shape(ctx)
    index_shape = tuple(ctx.in_shape(1))
    if any(d is None for d in ctx.need(1).dims):
        raise ctx.error("start indices sized at run time: the result's shape is not known")
    rank = len(shape)

    def option(key: str) -> list[int]:
        return [int(v) for v in np.asarray(ctx.option(key, np.zeros(0)), np.int64).reshape(-1)]

    offset_dims, collapsed = option("OffsetDims"), option("CollapsedSliceDims")
    start_map, sizes = option("StartIndexMap"), option("SliceSizes")
    full, batch = _operand_starts(ctx, index_shape, start_map, rank)
    upper = ctx.constant("upper", np.array([n - s for n, s in zip(shape, sizes, strict=True)], np.int64))
    start = ctx.node("Max", [ctx.node("Min", [full, upper], (*batch, rank), dtype="int64"),
                             ctx.ints([0], "zero")], (*batch, rank), dtype="int64")  # fmt: skip
    grid = np.moveaxis(np.indices(sizes, dtype=np.int64), 0, -1)
    lifted_shape = (*batch, *([1] * rank), rank)
    lifted = ctx.node("Reshape", [start, ctx.ints(list(lifted_shape))], lifted_shape, dtype="int64")
    places = ctx.node("Add", [lifted, ctx.constant("grid", grid)], (*batch, *sizes, rank), dtype="int64")
    dtype = ctx.compute_dtype()
    picked = ctx.node("GatherND", [ctx.moved(0), places], (*batch, *sizes), dtype=dtype)
    kept = [a for a in range(rank) if a not in collapsed]
    narrowed = ctx.node("Reshape", [picked, ctx.ints([*batch, *(sizes[a] for a in kept)])],
                        (*batch, *(sizes[a] for a in kept)), dtype=dtype)  # fmt: skip
    out_rank = len(batch) + len(kept)
    batch_places = [d for d in range(out_rank) if d not in offset_dims]
    source_of = {d: i for i, d in enumerate(batch_places)}
    source_of.update({d: len(batch) + i for i, d in enumerate(offset_dims)})
    ctx.step("split", "STABLEHLO_GATHER as GatherND at every slice element's operand coordinates (starts "
                      "clamped), then Reshape and Transpose to the result's axis order")  # fmt: skip
    ctx.emit("Transpose", [narrowed], {"perm": [source_of[d] for d in range(out_rank)]})


SCATTER_REDUCTIONS = {None: "none", "STABLEHLO_ADD": "add", "STABLEHLO_MULTIPLY": "mul"}
"""The update computation (an empty body: the update replaces) → ONNX ScatterND's reduction; maximum
and minimum need opset 18."""


@layer(TFLITE, "STABLEHLO_SCATTER")
def stablehlo_scatter(ctx: TfliteContext) -> None:
    """StableHLO scatter as LiteRT's kernel runs it: every update element, in row-major order, combined
    into the operand at start (its scatter position's index vector, sent to operand axes by
    scatter_dims_to_operand_dims) + its window position (inserted_window_dims as 0); elements landing
    outside the operand skipped. Here: those coordinates for all elements at once, the ones outside
    sent to one extra row padded onto axis 0 and sliced off after one ScatterND."""
    shape = _static_shape(ctx)
    index_shape, updates_shape = tuple(ctx.in_shape(1)), tuple(ctx.in_shape(2))
    rank, updates_rank = len(shape), len(updates_shape)
    body = subgraph_at(ctx, int(ctx.option("UpdateComputationSubgraphIndex", 0)), "update computation")
    kinds = [o.opcode for o in body.operators]
    reduction = SCATTER_REDUCTIONS.get(kinds[0] if kinds else None) if len(kinds) <= 1 else None
    if reduction is None:
        raise ctx.error(f"update computation {kinds}: ONNX ScatterND (opset 17) replaces, adds or multiplies")

    def option(key: str) -> list[int]:
        return [int(v) for v in np.asarray(ctx.option(key, np.zeros(0)), np.int64).reshape(-1)]

    window_dims, inserted = option("UpdateWindowDims"), option("InsertedWindowDims")
    to_operand = option("ScatterDimsToOperandDims")
    scatter_dims = [d for d in range(updates_rank) if d not in window_dims]
    start, _ = _operand_starts(ctx, index_shape, to_operand, rank)
    spread = [updates_shape[d] if d in scatter_dims else 1 for d in range(updates_rank)]
    start = ctx.node("Reshape", [start, ctx.ints([*spread, rank])], (*spread, rank), dtype="int64")
    window = np.zeros((*updates_shape, rank), np.int64)
    grid = np.moveaxis(np.indices(updates_shape, dtype=np.int64), 0, -1)
    operand_window_axes = [a for a in range(rank) if a not in inserted]
    window[..., operand_window_axes] = grid[..., window_dims]
    places = ctx.node("Add", [start, ctx.constant("window", window)], (*updates_shape, rank), dtype="int64")
    limits = ctx.constant("limits", np.array(shape, np.int64))
    each = (*updates_shape, rank)
    beyond = ctx.node("GreaterOrEqual", [places, limits], each, dtype="bool")
    before = ctx.node("Less", [places, ctx.ints([0], "zero")], each, dtype="bool")
    outside = ctx.node("Or", [beyond, before], each, dtype="bool")
    skipped = ctx.node("Cast", [outside], (*updates_shape, rank), {"to": ONNX_TYPES["uint8"]}, dtype="uint8")
    skipped = ctx.node(
        "ReduceMax", [skipped], (*updates_shape, 1), {"axes": [-1], "keepdims": 1}, dtype="uint8"
    )
    skipped = ctx.node("Cast", [skipped], (*updates_shape, 1), {"to": ONNX_TYPES["bool"]}, dtype="bool")
    trash = ctx.constant("spare_row", np.array([shape[0], *([0] * (rank - 1))], np.int64))
    places = ctx.node("Where", [skipped, trash, places], (*updates_shape, rank), dtype="int64")
    dtype = ctx.compute_dtype()
    grown = (shape[0] + 1, *shape[1:])
    pads = ctx.ints([0] * rank + [1] + [0] * (rank - 1), "pads")
    base = ctx.node("Pad", [ctx.moved(0), pads], grown, {"mode": "constant"}, dtype=dtype)
    scattered = ctx.node(
        "ScatterND", [base, places, ctx.moved(2)], grown, {"reduction": reduction}, dtype=dtype
    )
    ctx.step("split", f"STABLEHLO_SCATTER ({reduction}) as one ScatterND, updates outside the operand "
                      "sent to a spare row sliced off")  # fmt: skip
    ctx.emit("Slice", [scattered, ctx.ints([0], "start"), ctx.ints([shape[0]], "end"), ctx.ints([0], "axis")])
