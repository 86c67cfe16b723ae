"""TFLite operators that build arrays rather than compute on them: FILL (the zero states of unrolled
RNNs, sized from the run-time batch), ZEROS_LIKE, ONES_LIKE and RANGE."""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.registry import layer


def _shape_input(ctx: TfliteContext, i: int) -> str:
    """Input `i` (dims, int32 or int64) as ONNX's int64 shape: a constant when the file stores one."""
    if ctx.need(i).has_data:
        return ctx.ints(ctx.const(i).reshape(-1))
    rank = ctx.in_shape(i)
    return ctx.node("Cast", [ctx.x(i)], rank, {"to": ONNX_TYPES["int64"]}, dtype="int64")


@layer(TFLITE, "FILL")
def fill(ctx: TfliteContext) -> None:
    """Inputs: dims, value (a scalar): Expand broadcasts the value to dims."""
    ctx.emit("Expand", [ctx.moved(1), _shape_input(ctx, 0)])


@layer(TFLITE, "ZEROS_LIKE", "ONES_LIKE")
def zeros_or_ones_like(ctx: TfliteContext) -> None:
    """A constant of the input's type broadcast to its shape (read at run time: the batch may vary)."""
    t = ctx.need(0)
    value = ctx.constant("fill", np.array(0 if ctx.type == "ZEROS_LIKE" else 1, dtype=np.dtype(t.dtype)))
    shape = ctx.node("Shape", [ctx.x(0)], (len(t.shape),), dtype="int64")
    ctx.emit("Expand", [value, shape])


@layer(TFLITE, "RANGE")
def range_op(ctx: TfliteContext) -> None:
    """Inputs: start, limit, delta (scalars of one type): ONNX Range."""
    ctx.emit("Range", [ctx.x(0), ctx.x(1), ctx.x(2)])
