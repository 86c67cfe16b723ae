"""`--exact-int8 on`: int8 BATCH_MATMUL as LiteRT's reference kernel (reference_ops::BatchMatMul with
FullyConnectedParams) computes it: Σ (lhs − zp_lhs)·(rhs − zp_rhs) in int32 per output cell, then
MultiplyByQuantizedMultiplier with M, shift of lhs_scale·rhs_scale/out_scale (in double), + zp_out,
saturated. The sum is a float64 MatMul of the centred operands (exact: integer products, sums far below
2⁵³), AdjX/AdjY as transposes of the last two axes.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TfliteContext
from netinspect.converters.tflite.exact import (
    _centred_input,
    _eight_bit,
    _fixed_point,
    _limits,
    _params,
    _scale,
    quantize_multiplier,
)


def applies(ctx: TfliteContext) -> bool:
    """Exact mode; int8 operands and output quantized per tensor."""
    if not ctx.state.exact_int8 or ctx.type != "BATCH_MATMUL":
        return False
    tensors = (ctx.need(0), ctx.need(1), ctx.out_tensor())
    return (
        _eight_bit(*tensors) and tensors[0].dtype == "int8" and all(_params(t)[0].size == 1 for t in tensors)
    )


def batch_matmul(ctx: TfliteContext) -> None:
    """The exact int8 BATCH_MATMUL (module docstring)."""
    out = ctx.out_tensor()
    operands = []
    for i, flag in ((0, "AdjX"), (1, "AdjY")):
        shape = list(ctx.in_shape(i))
        value = ctx.node("Cast", [_centred_input(ctx, i)], tuple(shape), {"to": ONNX_TYPES["float64"]},
                         dtype="float64")  # fmt: skip
        if ctx.option(flag, False):
            perm = [*range(len(shape) - 2), len(shape) - 1, len(shape) - 2]
            value = ctx.node(
                "Transpose", [value], tuple(shape[p] for p in perm), {"perm": perm}, dtype="float64"
            )
        operands.append(value)
    product = ctx.node("MatMul", operands, out.dims, dtype="float64")
    acc = ctx.node("Cast", [product], out.dims, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    real = float(_scale(ctx.need(0))) * float(_scale(ctx.need(1))) / float(_scale(out))
    _fixed_point(ctx, acc, np.array([quantize_multiplier(real)], np.int64), out.dims, _limits(out))
