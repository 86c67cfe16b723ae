"""TFLite's element-wise operators, activations, softmax, casts and (de)quantization.

Fused activations are the context's business (TfliteContext.emit); quantized inputs arrive
dequantized and quantized outputs are re-quantized there too, so these handlers compute in float.
"""

from __future__ import annotations

import math

import numpy as np

from netinspect.converters.tflite import (
    exact,
    exact_div,
    exact_matmul,
    exact_prelu,
    exact_quantize,
    exact_softmax,
    exact_tables,
)
from netinspect.converters.tflite.context import ONNX_TYPES, TFLITE, TfliteContext
from netinspect.registry import layer

BINARY = {"ADD": "Add", "SUB": "Sub", "MUL": "Mul", "DIV": "Div", "MAXIMUM": "Max", "MINIMUM": "Min",
          "POW": "Pow", "FLOOR_DIV": "Div", "SQUARED_DIFFERENCE": "Sub"}  # fmt: skip


@layer(TFLITE, *BINARY)
def binary(ctx: TfliteContext) -> None:
    if exact.applies(ctx):
        exact.binary(ctx)
        return
    if exact_div.applies(ctx):
        exact_div.div(ctx)
        return
    a, b = ctx.x(0), ctx.x(1)
    act = ctx.option("FusedActivationFunction", 0)
    if ctx.type == "SQUARED_DIFFERENCE":
        diff = ctx.node("Sub", [a, b], ctx.out_shape())
        ctx.emit("Mul", [diff, diff], activation=act)
    elif ctx.type == "FLOOR_DIV" and np.dtype(ctx.compute_dtype()).kind in "iu":
        # integers: ONNX Div truncates and Floor takes floats; (a − a mod b) / b is exact, Mod (fmod 0)
        # having the divisor's sign as Python's and TFLite's floor division
        remainder = ctx.node("Mod", [a, b], ctx.out_shape(), {"fmod": 0})
        ctx.emit("Div", [ctx.node("Sub", [a, remainder], ctx.out_shape()), b])
    elif ctx.type == "FLOOR_DIV":
        quotient = ctx.node("Div", [a, b], ctx.out_shape())
        ctx.emit("Floor", [quotient])
    else:
        ctx.emit(BINARY[ctx.type], [a, b], activation=act)


UNARY = {"RELU": "Relu", "TANH": "Tanh", "LOGISTIC": "Sigmoid", "HARD_SWISH": "HardSwish", "ELU": "Elu",
         "ABS": "Abs", "EXP": "Exp", "LOG": "Log", "SQRT": "Sqrt", "NEG": "Neg", "FLOOR": "Floor",
         "CEIL": "Ceil", "SIN": "Sin", "COS": "Cos", "ROUND": "Round", "SIGN": "Sign"}  # fmt: skip


@layer(TFLITE, *UNARY)
def unary(ctx: TfliteContext) -> None:
    if exact.applies(ctx):
        exact.table(ctx)
        return
    if exact_tables.applies(ctx):
        exact_tables.activation(ctx)
        return
    ctx.emit(UNARY[ctx.type], [ctx.x(0)])


@layer(TFLITE, "RSQRT", "SQUARE")
def rsqrt_square(ctx: TfliteContext) -> None:
    if exact_tables.applies(ctx):
        exact_tables.activation(ctx)
        return
    x = ctx.x(0)
    if ctx.type == "SQUARE":
        ctx.emit("Mul", [x, x])
        return
    root = ctx.node("Sqrt", [x], ctx.out_shape())
    ctx.emit("Reciprocal", [root])


@layer(TFLITE, "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1")
def clipped_relu(ctx: TfliteContext) -> None:
    if exact_tables.applies(ctx):
        exact_tables.activation(ctx)
        return
    low, high = {"RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0), "RELU_0_TO_1": (0.0, 1.0)}[ctx.type]
    bounds = [ctx.constant("min", np.float32(low)), ctx.constant("max", np.float32(high))]
    ctx.emit("Clip", [ctx.x(0), *bounds])


@layer(TFLITE, "LEAKY_RELU")
def leaky_relu(ctx: TfliteContext) -> None:
    if exact_tables.applies(ctx):
        exact_tables.activation(ctx)
        return
    ctx.emit("LeakyRelu", [ctx.x(0)], {"alpha": float(ctx.option("Alpha", 0.0))})


@layer(TFLITE, "PRELU")
def prelu(ctx: TfliteContext) -> None:
    if exact_prelu.applies(ctx):
        exact_prelu.prelu(ctx)
        return
    ctx.emit("PRelu", [ctx.x(0), ctx.x(1)])


@layer(TFLITE, "GELU")
def gelu(ctx: TfliteContext) -> None:
    """GELU decomposed for opset 17: exact 0.5·x·(1+erf(x/√2)), or TFLite's tanh approximation."""
    if exact_tables.applies(ctx):
        exact_tables.activation(ctx)
        return
    x = ctx.x(0)
    shape = ctx.out_shape()

    def c(value: float) -> str:
        return ctx.constant("c", np.float32(value))

    if ctx.option("Approximate", False):
        cube = ctx.node("Mul", [ctx.node("Mul", [x, x], shape), x], shape)
        inner = ctx.node("Add", [x, ctx.node("Mul", [cube, c(0.044715)], shape)], shape)
        core = ctx.node("Tanh", [ctx.node("Mul", [inner, c(math.sqrt(2 / math.pi))], shape)], shape)
        ctx.step("split", "GELU (tanh approximation) as 0.5·x·(1+tanh(√(2/π)·(x+0.044715·x³)))")
    else:
        core = ctx.node("Erf", [ctx.node("Mul", [x, c(1 / math.sqrt(2))], shape)], shape)
        ctx.step("split", "GELU as 0.5·x·(1+erf(x/√2))")
    half = ctx.node("Mul", [x, c(0.5)], shape)
    ctx.emit("Mul", [half, ctx.node("Add", [core, c(1.0)], shape)])


@layer(TFLITE, "SOFTMAX")
def softmax(ctx: TfliteContext) -> None:
    if exact_softmax.applies(ctx):
        exact_softmax.softmax(ctx)
        return
    if exact_softmax.to_int16(ctx):
        exact_softmax.float_table(ctx)
        return
    x = ctx.x(0)
    beta = float(ctx.option("Beta", 1.0))
    if beta != 1.0:
        x = ctx.node("Mul", [x, ctx.constant("beta", np.float32(beta))], ctx.in_shape(0))
        ctx.step("param", f"softmax beta {beta:g} as a scaling of the logits")
    ctx.emit("Softmax", [x], {"axis": -1})


@layer(TFLITE, "LOG_SOFTMAX")
def log_softmax(ctx: TfliteContext) -> None:
    ctx.emit("LogSoftmax", [ctx.x(0)], {"axis": -1})


@layer(TFLITE, "CAST")
def cast(ctx: TfliteContext) -> None:
    dtype = ctx.out_tensor().dtype
    if dtype not in ONNX_TYPES:
        raise ctx.error(f"cast to {dtype} is not supported")
    ctx.emit("Cast", [ctx.x(0)], {"to": ONNX_TYPES[dtype]})


@layer(TFLITE, "QUANTIZE")
def quantize(ctx: TfliteContext) -> None:
    """Float (or another quantization) → the output's int8/uint8: the emitter's QuantizeLinear."""
    if exact_quantize.applies(ctx):
        exact_quantize.quantize(ctx)
        return
    if exact_quantize.from_int16(ctx):
        return
    ctx.finish_float(ctx.x(0))


@layer(TFLITE, "DENSIFY")
def densify(ctx: TfliteContext) -> None:
    """A sparse constant's DENSIFY is folded into its consumer (subgraph.defer); what reaches here is
    already dense."""
    ctx.emit("Identity", [ctx.x(0)])


@layer(TFLITE, "DEQUANTIZE")
def dequantize(ctx: TfliteContext) -> None:
    source = ctx.need(0)
    if source.dtype == "float16":
        ctx.emit("Cast", [ctx.x(0)], {"to": ONNX_TYPES["float32"]})
        return
    ctx.float_view(source, output=ctx.outputs[0])


@layer(TFLITE, "BATCH_MATMUL")
def batch_matmul(ctx: TfliteContext) -> None:
    if exact_matmul.applies(ctx):
        exact_matmul.batch_matmul(ctx)
        return
    operands = []
    for i, flag in ((0, "AdjX"), (1, "AdjY")):
        x = ctx.x(i)
        if ctx.option(flag, False):
            shape = list(ctx.in_shape(i))
            perm = [*range(len(shape) - 2), len(shape) - 1, len(shape) - 2]
            x = ctx.node("Transpose", [x], tuple(shape[p] for p in perm), {"perm": perm})
        operands.append(x)
    ctx.emit("MatMul", operands)


COMPARE = {"LESS": "Less", "LESS_EQUAL": "LessOrEqual", "GREATER": "Greater",
           "GREATER_EQUAL": "GreaterOrEqual", "EQUAL": "Equal", "LOGICAL_AND": "And",
           "LOGICAL_OR": "Or"}  # fmt: skip


@layer(TFLITE, *COMPARE)
def compare(ctx: TfliteContext) -> None:
    ctx.emit(COMPARE[ctx.type], [ctx.x(0), ctx.x(1)])


@layer(TFLITE, "NOT_EQUAL", "LOGICAL_NOT")
def negated(ctx: TfliteContext) -> None:
    if ctx.type == "LOGICAL_NOT":
        ctx.emit("Not", [ctx.x(0)])
        return
    equal = ctx.node("Equal", [ctx.x(0), ctx.x(1)], ctx.out_shape(), dtype="bool")
    ctx.emit("Not", [equal])


@layer(TFLITE, "SELECT", "SELECT_V2")
def select(ctx: TfliteContext) -> None:
    ctx.emit("Where", [ctx.x(0), ctx.x(1), ctx.x(2)])


@layer(TFLITE, "ADD_N")
def add_n(ctx: TfliteContext) -> None:
    ctx.emit("Sum", [ctx.x(i) for i in range(len(ctx.op.inputs))])


@layer(TFLITE, "FLOOR_MOD")
def floor_mod(ctx: TfliteContext) -> None:
    """The remainder with the divisor's sign: ONNX Mod(fmod=0) for integers; x − floor(x/y)·y for floats
    (ONNX forbids fmod=0 on floats)."""
    a, b = ctx.x(0), ctx.x(1)
    if ctx.out_tensor().dtype.startswith("int"):
        ctx.emit("Mod", [a, b], {"fmod": 0})
        return
    shape = ctx.out_shape()
    whole = ctx.node("Mul", [ctx.node("Floor", [ctx.node("Div", [a, b], shape)], shape), b], shape)
    ctx.emit("Sub", [a, whole])


@layer(TFLITE, "EMBEDDING_LOOKUP")
def embedding_lookup(ctx: TfliteContext) -> None:
    """Inputs: ids, then the table: rows of the table."""
    ctx.emit("Gather", [ctx.x(1), ctx.x(0)], {"axis": 0})
