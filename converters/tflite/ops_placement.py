"""Builtins that write values at chosen places of a tensor: SPARSE_TO_DENSE, DYNAMIC_UPDATE_SLICE and
MATRIX_SET_DIAG (tensorflow/lite/kernels/sparse_to_dense.cc, dynamic_update_slice.cc,
matrix_set_diag.cc), each an ONNX ScatterND or Where."""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.registry import layer


def _int64(ctx: TfliteContext, i: int) -> str:
    return ctx.node("Cast", [ctx.x(i)], ctx.in_shape(i), {"to": ONNX_TYPES["int64"]}, dtype="int64")


@layer(TFLITE, "SPARSE_TO_DENSE")
def sparse_to_dense(ctx: TfliteContext) -> None:
    """Inputs: indices ([n, rank], [n] for a vector, or a scalar), output_shape, values ([n] or one for
    all), default value: the default expanded to the output shape, the values scattered into it."""
    index_shape = ctx.in_shape(0)
    indices = _int64(ctx, 0)
    if len(index_shape) < 2:
        count = index_shape[0] if index_shape else 1
        indices = ctx.node("Reshape", [indices, ctx.ints([count, 1])], (count, 1), dtype="int64")
    else:
        count = index_shape[0]
    values = ctx.x(2)
    if ctx.in_shape(2) != (count,):
        values = ctx.node("Expand", [values, ctx.ints([count])], (count,), dtype=ctx.compute_dtype())
    base = ctx.node("Expand", [ctx.x(3), _int64(ctx, 1)], ctx.out_shape(), dtype=ctx.compute_dtype())
    ctx.emit("ScatterND", [base, indices, values])


@layer(TFLITE, "DYNAMIC_UPDATE_SLICE")
def dynamic_update_slice(ctx: TfliteContext) -> None:
    """Inputs: operand, update, start indices. The kernel clamps each start to [0, operand − update]
    so the update fits, then copies it there: ScatterND at the update's coordinates (a constant grid
    over its static shape) plus the clamped start."""
    update_shape = ctx.need(1).dims
    if any(d is None or d < 0 for d in update_shape):
        raise ctx.error(f"update of shape {list(update_shape)} sized at run time: where it goes is not known")
    rank = len(update_shape)
    operand = ctx.node("Shape", [ctx.x(0)], (rank,), dtype="int64")
    sizes = ctx.node("Sub", [operand, ctx.ints(list(update_shape), "update_shape")], (rank,), dtype="int64")
    fitted = ctx.node("Min", [_int64(ctx, 2), sizes], (rank,), dtype="int64")
    start = ctx.node("Max", [fitted, ctx.ints([0], "zero")], (rank,), dtype="int64")
    grid = np.moveaxis(np.indices(update_shape, dtype=np.int64), 0, -1)
    places = ctx.node("Add", [ctx.constant("grid", grid), start], (*update_shape, rank), dtype="int64")
    ctx.step("split", "DYNAMIC_UPDATE_SLICE as ScatterND at the update's coordinates plus the start "
                      "clamped to [0, operand − update]")  # fmt: skip
    ctx.emit("ScatterND", [ctx.moved(0), places, ctx.moved(1)])


@layer(TFLITE, "MATRIX_SET_DIAG")
def matrix_set_diag(ctx: TfliteContext) -> None:
    """[..., m, n] with its main diagonal replaced by [..., min(m, n)]: each diagonal value spread
    along its column (zeros past it when n > m), chosen where eye(m, n) is true."""
    shape = ctx.in_shape(0)
    m, n = shape[-2], shape[-1]
    k = min(m, n)
    batch = tuple(shape[:-2])
    spread = ctx.node("Unsqueeze", [ctx.moved(1), ctx.ints([len(shape) - 2], "axes")], (*batch, 1, k))
    if k < n:
        pads = [0] * (2 * len(shape))
        pads[2 * len(shape) - 1] = n - k
        spread = ctx.node("Pad", [spread, ctx.ints(pads, "pads")], (*batch, 1, n))
    eye = ctx.constant("diagonal", np.eye(m, n, dtype=bool))
    ctx.emit("Where", [eye, spread, ctx.moved(0)])
