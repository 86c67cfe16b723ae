"""SEGMENT_SUM and UNSORTED_SEGMENT_SUM / PROD / MAX / MIN (tensorflow/lite/kernels/segment_sum.cc,
unsorted_segment.cc): rows of the data reduced into the output row their segment id names.

The kernels start every output row at the reduction's identity (0, 1, the type's lowest, its
highest: what an empty segment keeps), then fold the data rows in order into row `id`, skipping
negative ids. Sum and product are ONNX ScatterND with `reduction` add / mul (folded in index order,
as the kernel); max and min have no ScatterND reduction before opset 18, so they compare each row
with every segment id (Equal → Where → ReduceMax/ReduceMin over the rows): [rows, segments, …]
elements, exact.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.registry import layer

SCATTERED = {"SEGMENT_SUM": "add", "UNSORTED_SEGMENT_SUM": "add", "UNSORTED_SEGMENT_PROD": "mul"}
COMPARED = {"UNSORTED_SEGMENT_MAX": "ReduceMax", "UNSORTED_SEGMENT_MIN": "ReduceMin"}


def _identity(op: str, dtype: np.dtype) -> np.ndarray:
    """What the kernel writes to every output element first (an empty segment keeps it)."""
    limits = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    value = {"add": 0, "mul": 1, "ReduceMax": limits.min, "ReduceMin": limits.max}[op]
    return np.array(value, dtype)


@layer(TFLITE, *SCATTERED, *COMPARED)
def segment_reduce(ctx: TfliteContext) -> None:
    shape = ctx.in_shape(0)
    if len(ctx.in_shape(1)) != 1:
        raise ctx.error(f"segment ids of shape {list(ctx.in_shape(1))}: one id per data row is supported")
    dtype = np.dtype(ctx.compute_dtype())
    reduction = SCATTERED.get(ctx.type) or COMPARED[ctx.type]
    ids = ctx.node("Cast", [ctx.x(1)], ctx.in_shape(1), {"to": ONNX_TYPES["int64"]}, dtype="int64")
    segments = _segment_count(ctx)
    rest = tuple(shape[1:])
    out_shape = (segments if isinstance(segments, int) else None, *rest)
    start = _identity(reduction, dtype)
    identity = ctx.constant("identity", start)
    if reduction in ("add", "mul"):
        ctx.step("split", f"{ctx.type} as ScatterND (reduction {reduction}) into {start.item()!r}s, negative "
                          "ids dropped (their rows scattered as the identity into row 0)")  # fmt: skip
        negative = ctx.node("Less", [ids, ctx.ints(0, "zero")], ctx.in_shape(1), dtype="bool")
        row_ids = ctx.node("Max", [ids, ctx.ints(0, "zero")], ctx.in_shape(1), dtype="int64")
        index = ctx.node("Unsqueeze", [row_ids, ctx.ints([1], "axes")], (shape[0], 1), dtype="int64")
        mask = _trailing(ctx, negative, len(rest), "bool")
        updates = ctx.node("Where", [mask, identity, ctx.x(0)], shape)
        base = ctx.node("Expand", [identity, _full_shape(ctx, segments, rest)], out_shape, dtype=dtype.name)
        ctx.emit("ScatterND", [base, index, updates], {"reduction": reduction})
        return
    ctx.step("split", f"{ctx.type} as each row compared with every segment id (Equal, Where its "
                      f"identity {start.item()!r}), then {reduction} over the rows")  # fmt: skip
    if isinstance(segments, int):
        every = ctx.constant("segment_ids", np.arange(segments, dtype=np.int64))
    else:
        last = ctx.node("Squeeze", [segments], (), dtype="int64")
        first, step = ctx.constant("first", np.int64(0)), ctx.constant("step", np.int64(1))
        every = ctx.node("Range", [first, last, step], (None,), dtype="int64")
    column = ctx.node("Unsqueeze", [ids, ctx.ints([1], "axes")], (shape[0], 1), dtype="int64")
    member = ctx.node("Equal", [column, every], (shape[0], out_shape[0]), dtype="bool")
    member = _trailing(ctx, member, len(rest), "bool")
    rows = ctx.node("Unsqueeze", [ctx.x(0), ctx.ints([1], "axes")], (shape[0], 1, *rest))
    kept = ctx.node("Where", [member, rows, identity], (shape[0], out_shape[0], *rest))
    ctx.emit(reduction, [kept], {"axes": [0], "keepdims": 0})


def _segment_count(ctx: TfliteContext) -> int | str:
    """How many output rows: UNSORTED_*'s num_segments input, SEGMENT_SUM's largest id + 1 — a number
    when the file stores it, else an int64 [1] value computed at run time."""
    if ctx.type != "SEGMENT_SUM":
        t = ctx.need(2)
        if t.has_data:
            return int(ctx.const(2).reshape(-1)[0])
        return ctx.node("Reshape", [ctx.node("Cast", [ctx.x(2)], ctx.in_shape(2), {"to": ONNX_TYPES["int64"]},
                                             dtype="int64"), ctx.ints([1])], (1,), dtype="int64")  # fmt: skip
    if ctx.need(1).has_data:
        return int(ctx.const(1).max(initial=-1)) + 1
    ids = ctx.node("Cast", [ctx.x(1)], ctx.in_shape(1), {"to": ONNX_TYPES["int64"]}, dtype="int64")
    largest = ctx.node("ReduceMax", [ids], (1,), {"keepdims": 1}, dtype="int64")
    return ctx.node("Add", [largest, ctx.ints([1], "one")], (1,), dtype="int64")


def _full_shape(ctx: TfliteContext, segments: int | str, rest: tuple[int | None, ...]) -> str:
    """The output's shape as an int64 [rank] value: [segments, *data.shape[1:]]."""
    if isinstance(segments, int) and None not in rest:
        return ctx.ints([segments, *rest], "shape")
    count = ctx.ints([segments], "segments") if isinstance(segments, int) else segments
    data_shape = ctx.node("Shape", [ctx.x(0)], (len(rest),), {"start": 1}, dtype="int64")
    return ctx.node("Concat", [count, data_shape], (len(rest) + 1,), {"axis": 0}, dtype="int64")


def _trailing(ctx: TfliteContext, value: str, count: int, dtype: str) -> str:
    """`value` with `count` axes of size 1 appended, to broadcast against the data's trailing axes."""
    if not count:
        return value
    shape = ctx.builder.shape(value) or ()
    axes = list(range(len(shape), len(shape) + count))
    return ctx.node("Unsqueeze", [value, ctx.ints(axes, "axes")], (*shape, *([1] * count)), dtype=dtype)
