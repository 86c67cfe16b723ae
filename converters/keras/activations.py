"""Keras activation functions as ONNX nodes (opset 17: Gelu and Mish are composed).

Definitions (keras 1.2.2 keras/backend/tensorflow_backend.py, tf-keras tf_keras/backend.py, Keras 3
keras/src/backend/tensorflow/nn.py): hard_sigmoid is clip(0.2x+0.5) in Keras 1/2 and
relu6(x+3)/6 in Keras 3; swish/silu x·sigmoid(x); hard_swish/hard_silu x·relu6(x+3)/6; gelu exact
(erf) unless `approximate`; selu with ONNX's default constants (the same as Keras').
"""

from __future__ import annotations

import math
from typing import Any

from netinspect.converters.keras.context import KerasContext
from netinspect.ir import Dim

Shape = tuple[Dim, ...]


def activation_name(value: Any) -> str:
    """`"relu"`, or a Keras 3 serialized activation `{"config": "relu", …}`, as a name."""
    if value is None:
        return "linear"
    if isinstance(value, dict):
        inner = value.get("config")
        if isinstance(inner, dict):
            inner = inner.get("name") or value.get("class_name")
        value = inner if isinstance(inner, str) else value.get("class_name")
    return str(value).lower()


def is_linear(value: Any) -> bool:
    return activation_name(value) in ("linear", "none", "")


def apply(
    ctx: KerasContext, x: str, shape: Shape, value: Any, output: str | None, axis: int = -1, **kw: Any
) -> str:
    """Emit activation `value` on x; the last node produces `output` (an Identity for linear)."""
    name = activation_name(value)
    rank = len(shape)
    if name in ("linear", "none", ""):
        return ctx.node("Identity", [x], shape, output=output)
    if name == "relu" and not kw:
        return ctx.node("Relu", [x], shape, output=output)
    if name == "relu":
        return relu(ctx, x, shape, output, **kw)
    simple = {
        "sigmoid": "Sigmoid",
        "tanh": "Tanh",
        "softplus": "Softplus",
        "softsign": "Softsign",
        "exponential": "Exp",
        "selu": "Selu",
    }
    if name in simple:
        return ctx.node(simple[name], [x], shape, output=output)
    if name == "elu":
        return ctx.node("Elu", [x], shape, {"alpha": 1.0}, output=output)
    if name == "relu6":
        return relu(ctx, x, shape, output, max_value=6.0)
    if name in ("softmax", "log_softmax"):
        op = "Softmax" if name == "softmax" else "LogSoftmax"
        return ctx.node(op, [x], shape, {"axis": axis % rank if rank else -1}, output=output)
    if name == "leaky_relu":
        slope = 0.2 if ctx.env.major >= 3 else 0.3
        return ctx.node("LeakyRelu", [x], shape, {"alpha": slope}, output=output)
    if name == "hard_sigmoid":
        if ctx.env.major >= 3:
            return ctx.node("HardSigmoid", [x], shape, {"alpha": 1.0 / 6.0, "beta": 0.5}, output=output)
        return ctx.node("HardSigmoid", [x], shape, {"alpha": 0.2, "beta": 0.5}, output=output)
    if name in ("swish", "silu"):
        s = ctx.node("Sigmoid", [x], shape)
        return ctx.node("Mul", [x, s], shape, output=output)
    if name in ("hard_swish", "hard_silu"):
        return ctx.node("HardSwish", [x], shape, output=output)
    if name == "gelu":
        return gelu(ctx, x, shape, output, approximate=bool(kw.get("approximate", False)))
    if name == "mish":
        sp = ctx.node("Softplus", [x], shape)
        t = ctx.node("Tanh", [sp], shape)
        return ctx.node("Mul", [x, t], shape, output=output)
    raise ctx.error(f"activation {name!r} is not supported")


def gelu(ctx: KerasContext, x: str, shape: Shape, output: str | None, approximate: bool) -> str:
    half = ctx.scalar("half", 0.5)
    one = ctx.scalar("one", 1.0)
    if approximate:
        cube = ctx.node("Mul", [x, ctx.node("Mul", [x, x], shape)], shape)
        inner = ctx.node("Add", [x, ctx.node("Mul", [cube, ctx.scalar("c", 0.044715)], shape)], shape)
        t = ctx.node(
            "Tanh", [ctx.node("Mul", [inner, ctx.scalar("k", math.sqrt(2 / math.pi))], shape)], shape
        )
    else:
        t = ctx.node("Erf", [ctx.node("Div", [x, ctx.scalar("sqrt2", math.sqrt(2.0))], shape)], shape)
    return ctx.node(
        "Mul", [ctx.node("Mul", [x, half], shape), ctx.node("Add", [t, one], shape)], shape, output=output
    )


def relu(
    ctx: KerasContext,
    x: str,
    shape: Shape,
    output: str | None,
    max_value: float | None = None,
    negative_slope: float = 0.0,
    threshold: float = 0.0,
) -> str:
    """Keras relu: clip(x·[x > threshold], 0, max_value) − negative_slope·relu(threshold − x), exactly
    as tf-keras' backend.relu and Keras 3's ReLU compute it (the clip only when max_value is set)."""
    if not negative_slope and not threshold:
        if max_value is None:
            return ctx.node("Relu", [x], shape, output=output)
        lo, hi = ctx.scalar("min", 0.0), ctx.scalar("max", float(max_value))
        return ctx.node("Clip", [x, lo, hi], shape, output=output)
    if not threshold and max_value is None:
        return ctx.node("LeakyRelu", [x], shape, {"alpha": float(negative_slope)}, output=output)
    last = not negative_slope
    if threshold:
        t = ctx.scalar("threshold", float(threshold))
        keep = ctx.node("Greater", [x, t], shape, dtype="bool")
        pos = ctx.node(
            "Where",
            [keep, x, ctx.scalar("zero", 0.0)],
            shape,
            output=output if last and max_value is None else None,
        )
    else:
        pos = ctx.node("Relu", [x], shape, output=output if last and max_value is None else None)
    if max_value is not None:
        lo, hi = ctx.scalar("min", 0.0), ctx.scalar("max", float(max_value))
        pos = ctx.node("Clip", [pos, lo, hi], shape, output=output if last else None)
    if last:
        return pos
    t = ctx.scalar("threshold", float(threshold))
    neg = ctx.node("Relu", [ctx.node("Sub", [t, x], shape)], shape)
    scaled = ctx.node("Mul", [neg, ctx.scalar("slope", float(negative_slope))], shape)
    return ctx.node("Sub", [pos, scaled], shape, output=output)
