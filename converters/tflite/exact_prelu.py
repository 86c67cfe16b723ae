"""`--exact-int8 on`: 8-bit PRELU as LiteRT's reference kernel (BroadcastPrelu4DSlow / Prelu) computes it.

x = q − zp_in; x ≥ 0: MultiplyByQuantizedMultiplier(x, M₁, s₁) with M₁, s₁ of in_scale/out_scale;
x < 0: MultiplyByQuantizedMultiplier(x·(α − zp_α), M₂, s₂) with M₂, s₂ of in_scale·α_scale/out_scale (both
ratios computed in float32, as its Prepare does); + zp_out, saturated. int64 nodes, α a constant
broadcast as stored.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import TfliteContext
from netinspect.converters.tflite.exact import (
    _centred_input,
    _eight_bit,
    _i64,
    _limits,
    _multiply,
    _params,
    _saturate,
    _scale,
    _zero,
    quantize_multiplier,
)


def applies(ctx: TfliteContext) -> bool:
    """Exact mode, 8-bit input, α and output of one type, per-tensor α, the input computed by the model."""
    if not ctx.state.exact_int8 or ctx.type != "PRELU":
        return False
    x_t, alpha, out = ctx.need(0), ctx.need(1), ctx.out_tensor()
    return _eight_bit(x_t, alpha, out) and x_t.index in ctx.state.stored and _params(alpha)[0].size == 1


def prelu(ctx: TfliteContext) -> None:
    """PRELU in the reference kernel's fixed point (module docstring)."""
    x_t, alpha, out = ctx.need(0), ctx.need(1), ctx.out_tensor()
    shape = out.dims
    x = _centred_input(ctx, 0)
    slope = _centred_input(ctx, 1)
    positive = np.array([quantize_multiplier(float(np.float32(_scale(x_t) / _scale(out))))], np.int64)
    real = np.float32(np.float32(_scale(x_t) * _scale(alpha)) / _scale(out))
    negative = np.array([quantize_multiplier(float(real))], np.int64)
    scaled_positive = _multiply(ctx, x, positive, shape)
    product = ctx.node("Mul", [x, slope], shape, dtype="int64")
    scaled_negative = _multiply(ctx, product, negative, shape)
    sign = ctx.node("GreaterOrEqual", [x, _i64(ctx, "zero", 0)], shape, dtype="bool")
    chosen = ctx.node("Where", [sign, scaled_positive, scaled_negative], shape, dtype="int64")
    shifted = ctx.node("Add", [chosen, _i64(ctx, "output_zero_point", _zero(out))], shape, dtype="int64")
    _saturate(ctx, shifted, shape, _limits(out), True, "x ≥ 0 and x < 0 each by its Q31 multiplier")
