"""`--exact-int8 on`: 8-bit DIV as LiteRT's reference kernel (DivElementwise) computes it.

Per pair of stored values: v₁ = q₁ − zp₁, v₂ = q₂ − zp₂ (both negated when v₂ < 0); the reciprocal of
v₂ in Q0.31 (GetReciprocal: v₂ normalised by its leading zeros, gemmlowp's
one_over_one_plus_x_for_x_in_0_1 — three Newton–Raphson steps in Q2.29); v₁ shifted up by its leading
sign bits and multiplied by it (SaturatingRoundingDoublingHighMul); then the multiplier of
in₁_scale / (in₂_scale·out_scale) (float32, as Prepare computes it) with the shifts combined, + zp_out,
clamped to the fused activation's range. The result depends on the two stored values only, so it is
a 256 × 256 table computed here with that integer arithmetic; the ONNX model gathers from it at
(q₁ − min)·256 + (q₂ − min), broadcasting as DIV does.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TfliteContext
from netinspect.converters.tflite.exact import (
    _activation_range,
    _eight_bit,
    _i64,
    _limits,
    _params,
    _scale,
    _zero,
    quantize_multiplier,
)
from netinspect.converters.tflite.exact_softmax import (
    INT32_MAX,
    _divide_by_pot,
    _shift_left_saturating,
    _srdhm,
)


def applies(ctx: TfliteContext) -> bool:
    """Exact mode; 8-bit inputs and output of one type, per tensor, both inputs computed or constant."""
    if not ctx.state.exact_int8 or ctx.type != "DIV":
        return False
    tensors = (ctx.need(0), ctx.need(1), ctx.out_tensor())
    return _eight_bit(*tensors) and all(_params(t)[0].size == 1 for t in tensors)


def div(ctx: TfliteContext) -> None:
    """The exact 8-bit DIV (module docstring)."""
    a_t, b_t, out = ctx.need(0), ctx.need(1), ctx.out_tensor()
    low, high = _limits(out)
    floor, ceiling = _activation_range(ctx)
    real = float(np.float32(_scale(a_t) / np.float32(_scale(b_t) * _scale(out))))
    multiplier, shift = quantize_multiplier(real)
    values = np.arange(low, high + 1)
    table = np.empty((256, 256), out.dtype)
    for i, q1 in enumerate(values):
        for j, q2 in enumerate(values):
            value = _divide(int(q1) - _zero(a_t), int(q2) - _zero(b_t), multiplier, shift)
            table[i, j] = min(max(value + _zero(out), floor), ceiling)
    shape = out.dims
    indices = []
    for i, t in enumerate((a_t, b_t)):
        wide = _wide(ctx, i)
        indices.append(ctx.node("Sub", [wide, _i64(ctx, "low", low)], t.dims, dtype="int64"))
    row = ctx.node("Mul", [indices[0], _i64(ctx, "row", 256)], a_t.dims, dtype="int64")
    index = ctx.node("Add", [row, indices[1]], shape, dtype="int64")
    what = f"GetReciprocal's Newton–Raphson, Q31 multiplier {multiplier}, shift {shift}"
    ctx.step("param", f"exact {out.dtype}: DIV as DivElementwise ({what}), tabulated over the stored pairs")
    lookup = ctx.constant("table", table.reshape(-1))
    ctx.node("Gather", [lookup, index], shape, output=ctx.outputs[0], dtype=out.dtype)


def _wide(ctx: TfliteContext, i: int) -> str:
    """Input `i` as stored, in int64 (a constant folded here)."""
    t = ctx.need(i)
    if t.index in ctx.state.stored:
        return ctx.node(
            "Cast", [ctx.state.stored[t.index]], t.dims, {"to": ONNX_TYPES["int64"]}, dtype="int64"
        )
    return ctx.constant("stored", np.asarray(t.data()).astype(np.int64))


def _divide(numerator: int, denominator: int, multiplier: int, shift: int) -> int:
    """DivElementwise on one pair of centred values, before the output zero point."""
    if denominator == 0:
        return INT32_MAX  # the kernel's input is invalid (it DCHECKs); saturate
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    reciprocal, bits_over_unit = _reciprocal(denominator)
    headroom = _leading_sign_bits(numerator)
    unscaled = _srdhm(numerator * (1 << headroom), reciprocal)
    total_shift = shift - bits_over_unit - headroom
    return _divide_by_pot(_srdhm(unscaled, multiplier), -total_shift)


def _reciprocal(x: int) -> tuple[int, int]:
    """GetReciprocal(x, 31): (1/x normalised, in Q0.31, and the bits over unit)."""
    headroom_plus_one = 32 - x.bit_length()
    shifted_minus_one = _wrap32((x << headroom_plus_one) - (1 << 31))
    total = shifted_minus_one + INT32_MAX  # RoundingHalfSum with F0::One()
    half_denominator = int((total + (1 if total >= 0 else -1)) / 2)
    x_f2 = _wrap32(1515870810 + _srdhm(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = _wrap32((1 << 29) - _srdhm(half_denominator, x_f2))
        x_f2 = _wrap32(x_f2 + _shift_left_saturating(_srdhm(x_f2, one_minus), 2))
    return _shift_left_saturating(x_f2, 1), 31 - headroom_plus_one


def _leading_sign_bits(value: int) -> int:
    """CountLeadingSignBits of an int32 (__builtin_clrsb; 31 for 0)."""
    if value == 0:
        return 31
    return 32 - (value if value >= 0 else ~value).bit_length() - 1


def _wrap32(value: int) -> int:
    return ((value + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
