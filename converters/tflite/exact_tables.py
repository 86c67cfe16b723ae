"""`--exact-int8 on`: 8-bit elementwise activations whose reference kernels are integer arithmetic on one
stored value — RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1 (ReluX), LEAKY_RELU (QuantizeLeakyRelu) and
HARD_SWISH (its int16 fixed point) — computed here in Python for each of the 256 values a tensor can
hold, exactly as the kernel does, and gathered by the stored value in the ONNX model.

- ReluX: zp_out + MultiplyByQuantizedMultiplier(q − zp_in, M, shift) (M, shift of in/out scale divided in
  float32),
  clamped to [zp_out + roundf(low/scale), zp_out + roundf(high/scale)] within the type;
- LEAKY_RELU: q − zp_in ≥ 0 → identity multiplier, else the multiplier of in_scale·α/out_scale (both
  computed in float32, as its Prepare does), + zp_out, saturated;
- HARD_SWISH: x·2⁷ in int16, its output-scale and "relu-ish" multipliers rounded to int16
  (DownScaleInt32ToInt16Multiplier), gemmlowp's int16 SaturatingRoundingDoublingHighMul, saturating
  shifts, the non-rounding SaturatingDoublingHighMul, RoundingDivideByPOT, + zp_out, saturated;
- RSQRT (int8): GetInvSqrtQuantizedMultiplierExp of q − zp_in (gemmlowp fixed-point Newton–Raphson, five
  steps in Q3.28), applied to 1 with 20 bits of headroom, then the multiplier of
  1/(sqrtf(in_scale)·out_scale); q = zp_in gives the maximum;
- ABS (int8): |q − zp_in|, rescaled by the multiplier of in/out scale when they differ, + zp_out;
- EXP, LOG and GELU (int8): LUTPopulate's float32 table — each value dequantized,
  transformed (LOG: the output's minimum at or below 0), × (1/out_scale), roundf, + zp_out truncated,
  saturated; the transforms in float32 step by step, each library call correctly rounded from float64;
- SQRT (int8): sqrtf of the dequantized value ÷ out_scale, truncated toward zero (not rounded), + zp_out.

HARD_SWISH is tabulated in the default (QDQ) conversion too (ALWAYS_TABULATED).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from netinspect.converters.tflite.context import TfliteContext
from netinspect.converters.tflite.exact import _eight_bit, _limits, _scale, _zero, quantize_multiplier
from netinspect.converters.tflite.exact_quantize import _gather, _multiply_by_quantized_multiplier
from netinspect.converters.tflite.exact_softmax import _divide_by_pot, _shift_left_saturating, _srdhm

RELU_BOUNDS = {
    "RELU": (0.0, math.inf),
    "RELU6": (0.0, 6.0),
    "RELU_N1_TO_1": (-1.0, 1.0),
    "RELU_0_TO_1": (0.0, 1.0),
}
INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


ALWAYS_TABULATED = ("HARD_SWISH",)
"""Tabulated in the default conversion too: dequantize → HardSwish → quantize lands one step below
LiteRT's builtin (and reference) int16 fixed point on 0.15 % of DBFace's hard-swish outputs, 92 % of
them in the same direction — a bias that accumulates over DBFace's 32 hard swishes; the table is
LiteRT's builtin kernel bit for bit (0 of 2.56 M values differ, measured)."""


def applies(ctx: TfliteContext) -> bool:
    """One of these operators on 8-bit input and output of one type (int8 for some), in exact mode — or
    HARD_SWISH (ALWAYS_TABULATED) in any mode."""
    if ctx.type not in (*RELU_BOUNDS, "LEAKY_RELU", "HARD_SWISH", *INT8_ONLY):
        return False
    if not ctx.state.exact_int8 and ctx.type not in ALWAYS_TABULATED:
        return False
    if ctx.type in INT8_ONLY and ctx.need(0).dtype != "int8":
        return False
    return _eight_bit(ctx.need(0), ctx.out_tensor()) and ctx.need(0).index in ctx.state.stored


def activation(ctx: TfliteContext) -> None:
    """The operator's 256-entry table, gathered by the stored value."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    low, high = _limits(out)
    if ctx.type in RELU_BOUNDS:
        function, what = _relu(ctx), "ReluX (fixed-point rescale, clamp)"
    elif ctx.type == "LEAKY_RELU":
        function, what = _leaky_relu(ctx), "QuantizeLeakyRelu (two fixed-point multipliers)"
    elif ctx.type == "RSQRT":
        function, what = _rsqrt(ctx), "GetInvSqrtQuantizedMultiplierExp's fixed-point Newton–Raphson"
    elif ctx.type == "ABS":
        function, what = _abs(ctx), "|q − zp|, rescaled"
    elif ctx.type == "SQRT":
        function, what = _sqrt(ctx), "sqrtf of the dequantized value ÷ out_scale, truncated"
    elif ctx.type == "HARD_SWISH":
        function, what = _hard_swish(ctx), "the reference kernel's int16 fixed point"
    else:
        function, what = _lut(ctx), "LUTPopulate's float32 table"
    values = [min(max(function(q - _zero(x_t)), low), high) for q in range(low, high + 1)]
    table = np.array(values, out.dtype)
    _gather(ctx, 0, table, ctx.outputs[0], f"{ctx.type} as {what}, tabulated over the 256 stored values")


def _relu(ctx: TfliteContext) -> Callable[[int], int]:
    x_t, out = ctx.need(0), ctx.out_tensor()
    multiplier, shift = quantize_multiplier(float(np.float32(_scale(x_t) / _scale(out))))  # float32 division
    low_real, high_real = RELU_BOUNDS[ctx.type]
    zero, (low, high) = _zero(out), _limits(out)
    floor = max(low, zero + _roundf(np.float32(low_real) / _scale(out)))
    if not math.isinf(high_real):
        high = min(high, zero + _roundf(np.float32(high_real) / _scale(out)))
    ceiling = high

    def relu(x: int) -> int:
        return min(max(zero + _multiply_by_quantized_multiplier(x, multiplier, shift), floor), ceiling)

    return relu


def _leaky_relu(ctx: TfliteContext) -> Callable[[int], int]:
    x_t, out = ctx.need(0), ctx.out_tensor()
    alpha = np.float32(ctx.option("Alpha", 0.0))
    alpha_real = float(np.float32(np.float32(_scale(x_t) * alpha) / _scale(out)))
    identity = quantize_multiplier(float(np.float32(_scale(x_t) / _scale(out))))
    negative_alpha = alpha_real < 0
    alpha_multiplier = quantize_multiplier(abs(alpha_real))
    zero = _zero(out)

    def leaky(x: int) -> int:
        if x >= 0:
            return zero + _multiply_by_quantized_multiplier(x, *identity)
        scaled = _multiply_by_quantized_multiplier(x, *alpha_multiplier)
        return zero + (-scaled if negative_alpha else scaled)

    return leaky


def _hard_swish(ctx: TfliteContext) -> Callable[[int], int]:
    x_t, out = ctx.need(0), ctx.out_tensor()
    hires = np.float32(np.float32(1.0 / 128.0) * _scale(x_t))
    output_multiplier, output_exponent = _int16_multiplier(float(np.float32(hires / _scale(out))))
    reluish_scale = np.float32(3.0 / 32768.0)
    reluish_multiplier, reluish_exponent = _int16_multiplier(float(np.float32(hires / reluish_scale)))
    zero = _zero(out)

    def hard_swish(x: int) -> int:
        hires_input = _int16(x * (1 << 7))
        preshift_output = _srdhm16(hires_input, output_multiplier)
        reluish = hires_input
        if reluish_exponent > 0:
            reluish = _saturating_left_shift(reluish, reluish_exponent - 1)
        reluish = _srdhm16(reluish, reluish_multiplier)
        if reluish_exponent > 0:
            reluish = _saturating_left_shift(reluish, 1)
        if reluish_exponent < 0:
            reluish = _divide_by_pot(reluish, -reluish_exponent)
        reluish = _int16((reluish + (1 << 15)) >> 1)
        product = _doubling_high_mul16(reluish, preshift_output)
        return _int16(_divide_by_pot(product, -output_exponent) + zero)

    return hard_swish


INT8_ONLY = ("RSQRT", "ABS", "EXP", "LOG", "SQRT", "GELU")
"""Operators whose 8-bit reference kernel exists for int8 only."""


def _abs(ctx: TfliteContext) -> Callable[[int], int]:
    x_t, out = ctx.need(0), ctx.out_tensor()
    rescale = _scale(x_t) != _scale(out)
    multiplier, shift = quantize_multiplier(float(np.float32(_scale(x_t) / _scale(out))))

    def absolute(x: int) -> int:
        value = abs(x)
        return _zero(out) + (
            _multiply_by_quantized_multiplier(value, multiplier, shift) if rescale else value
        )

    return absolute


def _rsqrt(ctx: TfliteContext) -> Callable[[int], int]:
    x_t, out = ctx.need(0), ctx.out_tensor()
    root = np.float32(np.sqrt(_scale(x_t), dtype=np.float32))
    multiplier, shift = quantize_multiplier(1.0 / float(np.float32(root * _scale(out))))
    headroom = 20

    def rsqrt(x: int) -> int:
        if x == 0:
            return _limits(out)[1]
        inverse, inverse_shift = inv_sqrt_multiplier(x)
        data = _multiply_by_quantized_multiplier(1, inverse, inverse_shift + headroom)
        return _multiply_by_quantized_multiplier(data, multiplier, shift - headroom) + _zero(out)

    return rsqrt


def inv_sqrt_multiplier(value: int) -> tuple[int, int]:
    """GetInvSqrtQuantizedMultiplierExp(value, kReverseShift = −1): (multiplier, left shift) with
    1/√value ≈ multiplier·2^(shift − 31)."""
    if value <= 1:
        return (1 << 31) - 1, 0
    shift = 11
    while value >= 1 << 29:
        value //= 4
        shift += 1
    pairs = (32 - value.bit_length() - 1) // 2 - 1
    shift -= pairs
    value <<= 2 * pairs
    half_input = _divide_by_pot(value >> 1, 1)
    half_three = (1 << 28) + (1 << 27)
    x = 1 << 28  # F3::One()
    for _ in range(5):
        cube = _shift_left_saturating(_srdhm(_srdhm(x, x), x), 6)  # Rescale<3> of an F9
        difference = _wrap32(_srdhm(half_three, x) - _srdhm(half_input, cube))
        x = _shift_left_saturating(difference, 3)  # Rescale<3> of an F6
    x = _srdhm(x, 1518500250)  # × √2/2 in Q0.31
    if shift < 0:
        x <<= -shift
        shift = 0
    return x, -shift


def _wrap32(value: int) -> int:
    return ((value + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _f32(value: float) -> float:
    return float(np.float32(value))


def _gelu_tanh(x: float) -> float:
    """GeluTransformApproximate in float32, in C's order of operations."""
    cube = _f32(_f32(_f32(_f32(0.044715) * x) * x) * x)
    argument = _f32(_f32(math.sqrt(2 / math.pi)) * _f32(x + cube))
    return _f32(_f32(0.5 * x) * _f32(1.0 + _f32(math.tanh(argument))))


def _gelu_erf(x: float) -> float:
    """GeluTransform in float32: 0.5·x·erfc(x·(−1/√2))."""
    return _f32(_f32(0.5 * x) * _f32(math.erfc(_f32(x * _f32(-math.sqrt(0.5))))))


def _lut(ctx: TfliteContext) -> Callable[[int], int]:
    """LUTPopulateInt8 with the operator's float transform."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    scale, inverse, zero = _scale(x_t), _f32(np.float32(1) / _scale(out)), _zero(out)
    floor = _f32((_limits(out)[0] - zero) * float(_scale(out)))
    transforms: dict[str, Callable[[float], float]] = {
        "EXP": lambda v: _f32(math.exp(v)) if v < 89 else math.inf,
        "LOG": lambda v: _f32(math.log(v)) if v > 0 else floor,
        "GELU": _gelu_tanh if ctx.option("Approximate", False) else _gelu_erf,
    }
    transform = transforms[ctx.type]

    def lookup(x: int) -> int:
        rescaled = _f32(transform(_f32(scale * np.float32(x))) * inverse)
        if not math.isfinite(rescaled) or abs(rescaled) >= 1 << 31:
            return -(1 << 31)  # static_cast<int32_t> of an out-of-range float on x86
        return int(_f32(_roundf(np.float32(rescaled)) + zero))

    return lookup


def _sqrt(ctx: TfliteContext) -> Callable[[int], int]:
    x_t, out = ctx.need(0), ctx.out_tensor()

    def root(x: int) -> int:
        value = _f32(_scale(x_t) * np.float32(x))
        return int(_f32(_f32(math.sqrt(max(value, 0.0))) / float(_scale(out)))) + _zero(out)

    return root


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier, then DownScaleInt32ToInt16Multiplier."""
    multiplier, exponent = quantize_multiplier(real)
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return INT16_MAX, exponent
    return (multiplier + (1 << 15)) >> 16, exponent


def _int16(value: int) -> int:
    """C's conversion to int16_t (two's complement wrap)."""
    return ((value + (1 << 15)) & 0xFFFF) - (1 << 15)


def _srdhm16(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int16."""
    if a == b == INT16_MIN:
        return INT16_MAX
    product = a * b
    nudge = (1 << 14) if product >= 0 else 1 - (1 << 14)
    total = product + nudge
    quotient = abs(total) >> 15
    return quotient if total >= 0 else -quotient


def _doubling_high_mul16(a: int, b: int) -> int:
    """SaturatingDoublingHighMul: (a·b) / 2¹⁵ truncating toward zero, no rounding."""
    if a == b == INT16_MIN:
        return INT16_MAX
    product = a * b
    quotient = abs(product) >> 15
    return _int16(quotient if product >= 0 else -quotient)


def _saturating_left_shift(value: int, amount: int) -> int:
    return min(max(value * (1 << amount), INT16_MIN), INT16_MAX)


def _roundf(value: np.float32) -> int:
    """C's roundf: half away from zero."""
    magnitude = abs(float(value))
    whole = math.floor(magnitude)
    return int(math.copysign(whole + (magnitude - whole >= 0.5), float(value)))
