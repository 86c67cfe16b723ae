"""`--exact-int8 on`: int8 and uint8 SOFTMAX as LiteRT's reference kernel computes it, in gemmlowp's fixed
point (int8 → int16 too, in every mode).

Per row: diff = q − max(q) (an integer in [−255, 0]); where diff ≥ diff_min, exp(diff·β·scale) in Q0.31 —
diff rescaled to Q5.26 by MultiplyByQuantizedMultiplierGreaterThanOne, then exp_on_negative_values
(a Taylor polynomial on [−¼, 0) and a barrel shifter of exp(−2^k) constants). Both depend on diff alone,
so they are computed here, once per possible diff, and the ONNX model gathers them. The row's sum of
exps in Q12.19, its reciprocal (GetReciprocal: the sum normalised by its leading zeros, then
one_over_one_plus_x_for_x_in_0_1's three Newton–Raphson steps) and each output
RoundingDivideByPOT(exp·reciprocal, bits over unit + 31 − output bits) + the type's minimum depend on the
row and are int64 nodes.
"""

from __future__ import annotations

import math

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TfliteContext, quant_params
from netinspect.converters.tflite.exact import _eight_bit, _i64, _limits, _scale, _zero, quantize_multiplier

INT32_MAX = (1 << 31) - 1
INT32_MIN = -(1 << 31)
DIFF_BITS = 5
"""Integer bits of the rescaled input difference (kScaledDiffIntegerBits)."""
SUM_BITS = 12
"""Integer bits of the sum of exps (kAccumulationIntegerBits)."""


def applies(ctx: TfliteContext) -> bool:
    """int8 or uint8 in and out (or int8 in, int16 out) under `--exact-int8 on`, the output at the zero
    point the kernel writes (the type's minimum: −128, 0 or −32768)."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    typed = _eight_bit(x_t, out) or to_int16(ctx)
    return ctx.state.exact_int8 and typed and _zero(out) == _limits(out)[0]


def to_int16(ctx: TfliteContext) -> bool:
    """int8 in, int16 out, both quantized: the 16-bit probabilities keyword-spotting models end with
    (no QDQ form of int16 before opset 21)."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    typed = x_t.dtype == "int8" and out.dtype == "int16"
    return typed and quant_params(x_t) is not None and quant_params(out) is not None


def float_table(ctx: TfliteContext) -> None:
    """int8 → int16 SOFTMAX as LiteRT's builtin kernel (optimized_ops::Softmax; its reference kernel is
    the fixed point above): e = table[max − q], the float32 table expf(−scale·β · d) over d = 0…255; per
    row 1/(Σe · out_scale) in float32; round(e · that) half away from zero + zp_out, saturated."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    shape = out.dims
    row = (*shape[:-1], 1)
    step = np.float32(-_scale(x_t) * np.float32(ctx.option("Beta", 1.0)))
    table = np.array([math.exp(float(np.float32(step * np.float32(d)))) for d in range(256)], np.float32)
    wide = ctx.node("Cast", [ctx.state.stored[x_t.index]], shape, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    top = ctx.node("ReduceMax", [wide], row, {"axes": [-1], "keepdims": 1}, dtype="int64")
    below = ctx.node("Sub", [top, wide], shape, dtype="int64")
    e = ctx.node("Gather", [ctx.constant("exp_table", table), below], shape)
    total = ctx.node("ReduceSum", [e, ctx.ints([-1], "axes")], row, {"keepdims": 1})
    scaled_total = ctx.node("Mul", [total, ctx.constant("out_scale", _scale(out))], row)
    inverse = ctx.node("Div", [ctx.constant("one", np.float32(1)), scaled_total], row)
    rounded = ctx.round_half_away(ctx.node("Mul", [e, inverse], shape), shape)
    shifted = ctx.node("Add", [rounded, ctx.constant("zero_point", np.float32(_zero(out)))], shape)
    low, high = _limits(out)
    bounds = [ctx.constant("lo", np.float32(low)), ctx.constant("hi", np.float32(high))]
    clipped = ctx.node("Clip", [shifted, *bounds], shape)
    ctx.step("param", f"{out.dtype} SOFTMAX as LiteRT's builtin kernel: float32 exp table over the 256 "
                      "differences from the row maximum, 1/(sum·out_scale), rounded half away")  # fmt: skip
    ctx.node("Cast", [clipped], shape, {"to": ONNX_TYPES[out.dtype]}, output=ctx.outputs[0], dtype=out.dtype)


def _srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul on Python ints."""
    if a == b == INT32_MIN:
        return INT32_MAX
    product = a * b
    nudge = (1 << 30) if product >= 0 else 1 - (1 << 30)
    total = product + nudge
    quotient = abs(total) >> 31  # C++ division: truncates toward zero
    return quotient if total >= 0 else -quotient


def _divide_by_pot(x: int, exponent: int) -> int:
    """RoundingDivideByPOT: round half away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _shift_left_saturating(x: int, exponent: int) -> int:
    """SaturatingRoundingMultiplyByPOT for a positive exponent."""
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return INT32_MAX
    if x < -threshold:
        return INT32_MIN
    return x << exponent


def _q31(value: float) -> int:
    return round(value * (1 << 31))


def _exp_near_zero(a: int) -> int:
    """exp_on_interval_between_negative_one_quarter_and_0_excl in Q0.31: Taylor around −⅛."""
    x = a + (1 << 28)
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    poly = _divide_by_pot(_srdhm(_divide_by_pot(x4, 2) + x3, _q31(1 / 3)) + x2, 1)
    constant = _q31(math.exp(-1 / 8))
    return constant + _srdhm(constant, x + poly)


def exp_on_negative_values(a: int) -> int:
    """exp of a Q5.26 value ≤ 0, in Q0.31."""
    fraction_bits = 31 - DIFF_BITS
    quarter = 1 << (fraction_bits - 2)
    shifted = (a & (quarter - 1)) - quarter
    result = _exp_near_zero(_shift_left_saturating(shifted, DIFF_BITS))
    remainder = shifted - a
    for exponent in range(-2, DIFF_BITS):
        if remainder & (1 << (fraction_bits + exponent)):
            result = _srdhm(result, _q31(math.exp(-(2.0**exponent))))
    return INT32_MAX if a == 0 else result


def _tables(ctx: TfliteContext) -> tuple[np.ndarray, np.ndarray]:
    """exp(diff) in Q0.31 and in Q12.19 for diff = −255 … 0 (index diff + 255); 0 below diff_min."""
    beta = float(ctx.option("Beta", 1.0))
    real = min(beta * float(_scale(ctx.need(0))) * (1 << (31 - DIFF_BITS)), float(INT32_MAX))
    multiplier, shift = quantize_multiplier(real)
    radius = math.floor(((1 << DIFF_BITS) - 1) * (1 << (31 - DIFF_BITS)) / (1 << shift))
    exps, terms = np.zeros(256, np.int64), np.zeros(256, np.int64)
    for diff in range(-255, 1):
        if diff >= -radius:
            value = exp_on_negative_values(_srdhm(diff * (1 << shift), multiplier))
            exps[diff + 255], terms[diff + 255] = value, _divide_by_pot(value, SUM_BITS)
    return exps, terms


def softmax(ctx: TfliteContext) -> None:
    """SOFTMAX over the last axis in the reference kernel's fixed point (module docstring)."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    shape = out.dims
    row = (*shape[:-1], 1)
    exps, terms = _tables(ctx)

    def node(op_type: str, inputs: list[str], dims: tuple = shape, dtype: str = "int64", **attrs: int) -> str:
        return ctx.node(op_type, inputs, dims, attrs or None, dtype=dtype)

    def c(name: str, value: int | np.ndarray) -> str:
        return _i64(ctx, name, value)

    wide = node("Cast", [ctx.state.stored[x_t.index]], to=ONNX_TYPES["int64"])
    top = ctx.node("ReduceMax", [wide], row, {"axes": [-1], "keepdims": 1}, dtype="int64")
    index = node("Add", [node("Sub", [wide, top]), c("offset", 255)])
    exp = node("Gather", [ctx.constant("exp_q0_31", exps), index])
    term = node("Gather", [ctx.constant("exp_q12_19", terms), index])
    total = ctx.node("ReduceSum", [term, ctx.ints([-1], "axes")], row, {"keepdims": 1}, dtype="int64")
    wide_row = (*row, 32)
    column = node("Unsqueeze", [total, ctx.ints([-1], "axes")], (*row, 1))
    above = node("GreaterOrEqual", [column, c("powers", 1 << np.arange(32))], wide_row, dtype="bool")
    counted = node("Cast", [above], wide_row, to=ONNX_TYPES["int64"])
    bits = ctx.node("ReduceSum", [counted, ctx.ints([-1], "axes")], row, {"keepdims": 0}, dtype="int64")
    reciprocal, over_unit = _reciprocal(ctx, total, bits, row)
    product = _srdhm_node(ctx, reciprocal, exp, shape)  # exp is 0 below diff_min: the output is the minimum
    bits_out = 8 * np.dtype(out.dtype).itemsize
    exponent = ctx.node("Add", [over_unit, c("out_bits", 31 - bits_out)], row, dtype="int64")
    scaled = _divide_by_pot_node(ctx, product, exponent, shape, row)
    low, high = _limits(out)
    clamped = node("Clip", [node("Add", [scaled, c("output_zero_point", low)]), c("lo", low), c("hi", high)])
    what = "exp tables over the 256 differences from the row maximum, Newton–Raphson reciprocal"
    ctx.step("param", f"exact {out.dtype}: SOFTMAX in the reference kernel's gemmlowp fixed point ({what})")
    ctx.node("Cast", [clamped], shape, {"to": ONNX_TYPES[out.dtype]}, output=ctx.outputs[0], dtype=out.dtype)


def _srdhm_node(ctx: TfliteContext, a: str, b: str, shape: tuple) -> str:
    """SaturatingRoundingDoublingHighMul of int64 values holding int32s (the both-minimum case aside:
    the values here are never both −2³¹)."""
    product = ctx.node("Mul", [a, b], shape, dtype="int64")
    positive = ctx.node("GreaterOrEqual", [product, _i64(ctx, "zero", 0)], shape, dtype="bool")
    nudges = [_i64(ctx, "nudge", 1 << 30), _i64(ctx, "nudge_negative", 1 - (1 << 30))]
    nudge = ctx.node("Where", [positive, *nudges], shape, dtype="int64")
    total = ctx.node("Add", [product, nudge], shape, dtype="int64")
    return ctx.node("Div", [total, _i64(ctx, "two_31", 1 << 31)], shape, dtype="int64")


def _divide_by_pot_node(ctx: TfliteContext, x: str, exponent: str, shape: tuple, row: tuple) -> str:
    """RoundingDivideByPOT by a per-row exponent (int64 values)."""
    divisor = ctx.node(
        "Gather", [ctx.constant("powers_of_two", 1 << np.arange(62)), exponent], row, dtype="int64"
    )
    remainder = ctx.node("Mod", [x, divisor], shape, {"fmod": 0}, dtype="int64")
    negative = ctx.node("Cast", [ctx.node("Less", [x, _i64(ctx, "zero", 0)], shape, dtype="bool")], shape,
                        {"to": ONNX_TYPES["int64"]}, dtype="int64")  # fmt: skip
    mask = ctx.node("Sub", [divisor, _i64(ctx, "one", 1)], row, dtype="int64")
    half = ctx.node("Div", [mask, _i64(ctx, "two", 2)], row, dtype="int64")
    threshold = ctx.node("Add", [half, negative], shape, dtype="int64")
    floor = ctx.node(
        "Div", [ctx.node("Sub", [x, remainder], shape, dtype="int64"), divisor], shape, dtype="int64"
    )
    up = ctx.node("Cast", [ctx.node("Greater", [remainder, threshold], shape, dtype="bool")], shape,
                  {"to": ONNX_TYPES["int64"]}, dtype="int64")  # fmt: skip
    return ctx.node("Add", [floor, up], shape, dtype="int64")


def _reciprocal(ctx: TfliteContext, total: str, bits: str, row: tuple) -> tuple[str, str]:
    """GetReciprocal(sum, 12): (1/(1 + x) in Q0.31 for the sum normalised to [1, 2), bits over unit)."""

    def node(op_type: str, *inputs: str) -> str:
        return ctx.node(op_type, list(inputs), row, dtype="int64")

    def c(name: str, value: int) -> str:
        return _i64(ctx, name, value)

    def srdhm(a: str, b: str) -> str:
        return _srdhm_node(ctx, a, b, row)

    leading = node("Sub", c("word", 32), bits)
    over_unit = node("Sub", c("sum_bits", SUM_BITS), leading)
    powers = ctx.constant("powers_of_two", 1 << np.arange(62))
    normalised = node("Sub", node("Mul", total, ctx.node("Gather", [powers, leading], row, dtype="int64")),
                      c("two_31", 1 << 31))  # fmt: skip
    # RoundingHalfSum(x, One of Q0.31): (x + 2³¹ − 1 + sign) / 2, truncating
    summed = node("Add", normalised, c("one_q0", INT32_MAX))
    sign = node("Sub", node("Mul", _nonneg(ctx, summed, row), c("two", 2)), c("one", 1))
    half_denominator = node("Div", node("Add", summed, sign), c("two", 2))
    x = node(
        "Add", c("c48_17", _q31(48 / 17 / 4)), srdhm(half_denominator, c("c_neg32_17", _q31(-32 / 17 / 4)))
    )
    for _ in range(3):
        one_minus = node("Sub", c("one_q2", 1 << 29), srdhm(half_denominator, x))
        x = node("Add", x, _shift_left_saturating_node(ctx, srdhm(x, one_minus), 2, row))
    return _shift_left_saturating_node(ctx, x, 1, row), over_unit


def _nonneg(ctx: TfliteContext, x: str, row: tuple) -> str:
    ge = ctx.node("GreaterOrEqual", [x, _i64(ctx, "zero", 0)], row, dtype="bool")
    return ctx.node("Cast", [ge], row, {"to": ONNX_TYPES["int64"]}, dtype="int64")


def _shift_left_saturating_node(ctx: TfliteContext, x: str, exponent: int, row: tuple) -> str:
    shifted = ctx.node("Mul", [x, _i64(ctx, f"two_{exponent}", 1 << exponent)], row, dtype="int64")
    bounds = [_i64(ctx, "int32_min", INT32_MIN), _i64(ctx, "int32_max", INT32_MAX)]
    return ctx.node("Clip", [shifted, *bounds], row, dtype="int64")
