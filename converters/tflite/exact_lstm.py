"""Full-integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8 input, weights and output; int32 biases; int16 cell
state; no layer norm, peephole, projection or CIFG) as LiteRT's kernel computes it (lstm_eval.cc
EvalInteger8x8_16), in int64 nodes, in every mode: the integer arithmetic is LiteRT's, where a float LSTM
over dequantized weights lands within a step of it per layer and a following LOGISTIC amplifies that
(DTLN: 3 steps on 11 % of its outputs).

Per step, each gate g: sat16(MBQM(Σ x·W_g + b_g − zp_x·ΣW_g, in·w/2⁻¹²)) then + MBQM(Σ h·R_g − zp_h·ΣR_g,
h·r/2⁻¹²), saturated to int16 (Q3.12); σ for i, f, o and tanh for the cell gate are gemmlowp's int16
fixed-point functions, tabulated here over the 65536 values; c ← sat16(rdiv(f·c, 2¹⁵) +
rdiv(i·g, 2^(30 + cell exponent))), clipped to the quantized cell_clip; h ← clamp8(MBQM(o·tanh(c),
2⁻³⁰/hidden scale) + hidden zp), tanh(c) read with 15 + cell exponent integer bits. The steps are
unrolled (the time axis is static).
"""

from __future__ import annotations

import math

import numpy as np

from netinspect.converters.tflite.context import ONNX_TYPES, TfliteContext, quant_params
from netinspect.converters.tflite.exact import _multiply, _scale, _zero, quantize_multiplier
from netinspect.converters.tflite.flatbuffer import TflTensor

GATES = "ifco"
"""TFLite's gate order: inputs 1–4 input weights, 5–8 recurrent weights, 12–15 biases."""


def applies(ctx: TfliteContext) -> bool:
    """A one-direction sequence LSTM with int8 input, weights and output state, an int16 cell state at a
    power-of-two scale, and nothing optional but the biases."""
    if ctx.type != "UNIDIRECTIONAL_SEQUENCE_LSTM" or ctx.tensor(1) is None:
        return False
    tensors = [ctx.tensor(i) for i in range(len(ctx.op.inputs))]
    if any(tensors[i] is not None for i in (9, 10, 11, 16, 17, *range(20, len(tensors)))):
        return False
    int8 = [0, *range(1, 9), 18]
    for i in int8:
        t = tensors[i]
        if t is None or t.dtype != "int8" or quant_params(t) is None:
            return False
    cell = tensors[19]
    if cell is None or cell.dtype != "int16" or quant_params(cell) is None or len(ctx.op.intermediates) != 5:
        return False
    if quant_params(ctx.state.graph.tensors[ctx.op.intermediates[4]]) is None:
        return False  # the hidden state's scale: LiteRT's kernel needs it too
    exponent = math.log2(float(_scale(cell)))
    tanh = int(ctx.option("FusedActivationFunction", 4)) == 4
    return exponent == int(exponent) and ctx.out_tensor().dtype == "int8" and tanh


# -- gemmlowp's int16 fixed point, on int64 arrays --------------------------------------------------------
def _wrap16(x: np.ndarray) -> np.ndarray:
    return ((x + 32768) & 0xFFFF) - 32768


def _high_mul(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul for int16."""
    product = a * b
    nudge = np.where(product >= 0, 1 << 14, 1 - (1 << 14))
    total = product + nudge
    high = np.where(total >= 0, total >> 15, -((-total) >> 15))
    return np.where((a == b) & (a == -32768), 32767, high)


def _divide_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def _multiply_by_pot(x: np.ndarray, exponent: int) -> np.ndarray:
    """SaturatingRoundingMultiplyByPOT for int16."""
    if exponent <= 0:
        return _divide_by_pot(x, -exponent)
    threshold = (1 << (15 - exponent)) - 1
    return np.where(x > threshold, 32767, np.where(x < -threshold, -32768, _wrap16(x << exponent)))


def _constant(raw32: int) -> int:
    """GEMMLOWP_CHECKED_FIXEDPOINT_CONSTANT for int16: the int32 constant rounding-divided by 2¹⁶."""
    return int(_divide_by_pot(np.int64(raw32), 16))


def _exp_quarter(a: np.ndarray) -> np.ndarray:
    """exp_on_interval_between_negative_one_quarter_and_0_excl (Q0.15)."""
    constant_term, third = _constant(1895147668), _constant(715827883)
    x = _wrap16(a + (1 << 12))
    x2 = _high_mul(x, x)
    x3 = _high_mul(x2, x)
    x4 = _high_mul(x2, x2)
    x4_over_4 = _multiply_by_pot(x4, -2)
    poly = _multiply_by_pot(_wrap16(_high_mul(_wrap16(x4_over_4 + x3), third) + x2), -1)
    product = _high_mul(np.full_like(a, constant_term), _wrap16(x + poly))
    return np.clip(constant_term + product, -32768, 32767)  # AddSaturatingIf16Bit


BARREL = [(-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
          (4, 242)]  # fmt: skip


def _exp_on_negative(a: np.ndarray, integer_bits: int) -> np.ndarray:
    """exp_on_negative_values of a Q(integer_bits).(15 − integer_bits) value, as Q0.15."""
    fractional = 15 - integer_bits
    quarter = 1 << (fractional - 2)
    shifted = _wrap16((a & (quarter - 1)) - quarter)
    result = _exp_quarter(_multiply_by_pot(shifted, integer_bits))
    remainder = _wrap16(shifted - a)
    for exponent, multiplier in BARREL:
        if integer_bits > exponent:
            bit = (remainder & (1 << (fractional + exponent))) != 0
            result = np.where(bit, _high_mul(result, _constant(multiplier)), result)
    if integer_bits > 5:
        result = np.where(a < _constant(-(1 << (36 - integer_bits))), 0, result)
    return np.where(a == 0, 32767, result)


def _newton(half_denominator: np.ndarray) -> np.ndarray:
    """The three Newton–Raphson steps of 1/(1 + x) in Q2.13."""
    x = _wrap16(_constant(1515870810) + _high_mul(half_denominator, _constant(-1010580540)))
    one = 1 << 13
    for _ in range(3):
        times = _high_mul(half_denominator, x)
        x = _wrap16(x + _multiply_by_pot(_high_mul(x, _wrap16(one - times)), 2))
    return x


def _half_sum_with_one(a: np.ndarray) -> np.ndarray:
    """RoundingHalfSum(a, One) for a ≥ 0 (the sum is positive: (sum + 1) / 2, truncated)."""
    return (a + 32767 + 1) >> 1


def logistic_table(integer_bits: int) -> np.ndarray:
    """gemmlowp::logistic over every int16 input (index raw + 32768), Q0.15 out."""
    a = np.arange(-32768, 32768, dtype=np.int64)
    positive = a > 0
    magnitude = np.where(positive, a, _wrap16(-a))
    exp = _exp_on_negative(_wrap16(-magnitude), integer_bits)
    on_positive = _multiply_by_pot(_newton(_half_sum_with_one(exp)), 1)
    result = np.where(positive, on_positive, _wrap16(32767 - on_positive))
    return np.where(a == 0, 1 << 14, result)


def tanh_table(integer_bits: int) -> np.ndarray:
    """gemmlowp::tanh over every int16 input (index raw + 32768), Q0.15 out."""
    a = np.arange(-32768, 32768, dtype=np.int64)
    negative = a < 0
    n = np.where(negative, a, _wrap16(-a))
    exp = _exp_on_negative(n, integer_bits + 1)
    t = _multiply_by_pot(_wrap16(_newton(_half_sum_with_one(exp)) - (1 << 13)), 2)
    return np.where(a == 0, 0, np.where(negative, _wrap16(-t), t))


# -- the graph ---------------------------------------------------------------------------------------------
def lstm(ctx: TfliteContext) -> None:
    """The kernel's steps (module docstring) unrolled over the static time axis, from LiteRT's initial
    state (the hidden state at its zero point, the cell at 0); the scales as its Prepare computes them
    (gate multipliers from float32 w·in/2⁻¹², the hidden one from 2⁻³⁰/hidden scale in float32)."""
    x_t, out = ctx.need(0), ctx.out_tensor()
    h_t, c_t = ctx.need(18), ctx.need(19)
    batch_major = not ctx.option("TimeMajor", False)
    shape = ctx.in_shape(0)
    steps, batch = (shape[1], shape[0]) if batch_major else (shape[0], shape[1])
    cells = ctx.need(5).shape[0]
    hidden_t = ctx.state.graph.tensors[ctx.op.intermediates[4]]
    cell_exponent = int(math.log2(float(_scale(c_t))))
    gate_scale = np.float32(2.0**-12)

    def i64(name: str, values: np.ndarray | int) -> str:
        return ctx.constant(name, np.asarray(values, np.int64))

    def node(op_type: str, inputs: list[str], dims: tuple, **attrs: object) -> str:
        return ctx.node(op_type, inputs, dims, dict(attrs) or None, dtype="int64")

    row = (batch, cells)
    int16_bounds = [i64("int16_min", -32768), i64("int16_max", 32767)]
    int8_bounds = [i64("int8_min", -128), i64("int8_max", 127)]
    offset = i64("table_offset", 32768)

    def saturate16(value: str) -> str:
        return node("Clip", [value, *int16_bounds], row)

    def ratio(a: np.float32, b: np.float32, c: np.float32) -> float:
        return float(np.float32(np.float32(a * b) / c))

    Gate = tuple[str, str, np.ndarray]

    def operand(weight_index: int, source_t: TflTensor, bias: np.ndarray | int) -> Gate:
        """One gate's weight and effective bias (bias − zp·ΣW) as float64 constants, made once, and its
        Q31 multiplier (float32 w·in/2⁻¹²)."""
        w_t = ctx.need(weight_index)
        weight = np.asarray(w_t.data(), np.int64)
        effective = bias - _zero(source_t) * weight.sum(axis=1)
        fixed = np.array([quantize_multiplier(ratio(_scale(w_t), _scale(source_t), gate_scale))], np.int64)
        return (ctx.constant("weight", weight.astype(np.float64)),
                ctx.constant("effective_bias", effective.astype(np.float64)), fixed)  # fmt: skip

    def matmul(value: str, columns: int, gate: Gate) -> str:
        """MBQM(Σ value·Wᵀ + effective bias) in int64 (a float64 Gemm: exact integer sums)."""
        weight, bias, fixed = gate
        wide = ctx.node("Cast", [value], (batch, columns), {"to": ONNX_TYPES["float64"]}, dtype="float64")
        acc = ctx.node("Gemm", [wide, weight, bias], row, {"transB": 1}, dtype="float64")
        return _multiply(ctx, node("Cast", [acc], row, to=ONNX_TYPES["int64"]), fixed, row)

    gates_in, gates_rec = [], []
    for k in range(4):
        bias = np.asarray(ctx.const(12 + k), np.int64) if ctx.tensor(12 + k) is not None else 0
        gates_in.append(operand(1 + k, x_t, bias))
        gates_rec.append(operand(5 + k, h_t, 0))
    tables = {"sigmoid": logistic_table(3), "tanh": tanh_table(3),
              "cell_tanh": tanh_table(15 + cell_exponent)}  # fmt: skip
    wide = ONNX_TYPES["int64"]
    names = {k: node("Cast", [ctx.constant(f"{k}_q0_15", v.astype(np.int16))], (65536,), to=wide)
             for k, v in tables.items()}  # fmt: skip

    def lookup(table: str, value: str) -> str:
        return node("Gather", [names[table], node("Add", [value, offset], row)], row)

    x_all = ctx.state.stored[x_t.index]
    h = ctx.constant("initial_h", np.full((batch, cells), _zero(h_t), np.int8))
    c = i64("initial_c", np.zeros(row, np.int64))
    hidden_scale = 2.0**-15 / float(_scale(hidden_t)) * 2.0**-15
    hidden_fixed = np.array([quantize_multiplier(float(np.float32(hidden_scale)))], np.int64)
    hidden_zero = i64("hidden_zero_point", _zero(hidden_t))
    clip = float(ctx.option("CellClip", 0.0))
    quantized_clip = int(min(max(np.float32(clip) / _scale(c_t), -32768.0), 32767.0)) if clip > 0 else 0
    clip_bounds = [i64("cell_clip_min", -quantized_clip), i64("cell_clip_max", quantized_clip)]
    outputs = []
    for t in range(steps):
        axis = 1 if batch_major else 0
        x = ctx.node("Gather", [x_all, ctx.constant("step", np.int64(t))], (batch, shape[2]), {"axis": axis},
                     dtype="int8")  # fmt: skip
        gates = {}
        for k, g in enumerate(GATES):
            first = saturate16(matmul(x, shape[2], gates_in[k]))
            pre = saturate16(node("Add", [first, matmul(h, cells, gates_rec[k])], row))
            gates[g] = lookup("tanh" if g == "c" else "sigmoid", pre)
        kept = _rdiv(ctx, node("Mul", [gates["f"], c], row), 15, row)
        fresh = _rdiv(ctx, node("Mul", [gates["i"], gates["c"]], row), 30 + cell_exponent, row)
        c = saturate16(node("Add", [kept, fresh], row))
        if quantized_clip > 0:
            c = node("Clip", [c, *clip_bounds], row)
        product = node("Mul", [gates["o"], lookup("cell_tanh", c)], row)
        shifted = node("Add", [_multiply(ctx, product, hidden_fixed, row), hidden_zero], row)
        clamped = node("Clip", [shifted, *int8_bounds], row)
        h = ctx.node("Cast", [clamped], row, {"to": ONNX_TYPES["int8"]}, dtype="int8")
        outputs.append(h)
    ctx.step("param", f"integer LSTM as LiteRT's 8x8_16 kernel: {steps} step(s) unrolled, gates in Q3.12 "
                      f"through gemmlowp's int16 sigmoid/tanh tables, cell 2^{cell_exponent}, cell clip "
                      f"{quantized_clip}, state from zeros (LiteRT's first run)")  # fmt: skip
    one_step = (batch, 1, cells) if batch_major else (1, batch, cells)
    axes = ctx.ints([1 if batch_major else 0], "axes")
    stacked = [ctx.node("Unsqueeze", [o, axes], one_step, dtype="int8") for o in outputs]
    if len(stacked) == 1:
        ctx.node("Identity", stacked, out.dims, output=ctx.outputs[0], dtype="int8")
    else:
        ctx.node("Concat", stacked, out.dims, {"axis": 1 if batch_major else 0}, output=ctx.outputs[0],
                 dtype="int8")  # fmt: skip


def _rdiv(ctx: TfliteContext, value: str, exponent: int, shape: tuple) -> str:
    """gemmlowp's RoundingDivideByPOT in int64 nodes (half away from zero)."""
    divisor = ctx.constant("divisor", np.int64(1 << exponent))
    remainder = ctx.node("Mod", [value, divisor], shape, {"fmod": 0}, dtype="int64")
    below = ctx.node("Less", [value, ctx.constant("zero", np.int64(0))], shape, dtype="bool")
    negative = ctx.node("Cast", [below], shape, {"to": ONNX_TYPES["int64"]}, dtype="int64")
    half_mask = ctx.constant("half_mask", np.int64(((1 << exponent) - 1) >> 1))
    threshold = ctx.node("Add", [half_mask, negative], shape, dtype="int64")
    floor = ctx.node("Div", [ctx.node("Sub", [value, remainder], shape, dtype="int64"), divisor], shape,
                     dtype="int64")  # fmt: skip
    up = ctx.node("Cast", [ctx.node("Greater", [remainder, threshold], shape, dtype="bool")], shape,
                  {"to": ONNX_TYPES["int64"]}, dtype="int64")  # fmt: skip
    return ctx.node("Add", [floor, up], shape, dtype="int64")
