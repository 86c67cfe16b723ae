"""Caffe's element-wise layers, Softmax, Eltwise, Dropout and ArgMax (BVLC src/caffe/layers/*.cpp).

Power is (shift + scale·x)^power, a constant when power·scale = 0; Exp and Log take a base
(−1 = e) and scale/shift; Threshold is a strict `x > t`; Dropout is the identity at test time
(Caffe's dropout is inverted: it scales during training), recorded as a "dropout" step.
"""

from __future__ import annotations

import math

from netinspect.converters.caffe.context import CAFFE, CaffeContext
from netinspect.converters.caffe.layers_nn import canonical_axis, known
from netinspect.registry import layer


def _out(ctx: CaffeContext) -> str:
    return ctx.outputs[0]


@layer(CAFFE, "ReLU")
def relu(ctx: CaffeContext) -> None:
    slope = float(ctx.value("relu_param", "negative_slope", 0.0))
    shape = ctx.shape_of(0)
    if slope == 0:
        ctx.node("Relu", [ctx.inputs[0]], shape, output=_out(ctx))
    else:
        ctx.node("LeakyRelu", [ctx.inputs[0]], shape, {"alpha": slope}, output=_out(ctx))


SIMPLE = {"Sigmoid": "Sigmoid", "TanH": "Tanh", "AbsVal": "Abs", "BNLL": "Softplus"}


@layer(CAFFE, *SIMPLE)
def simple(ctx: CaffeContext) -> None:
    ctx.node(SIMPLE[ctx.type], [ctx.inputs[0]], ctx.shape_of(0), output=_out(ctx))


@layer(CAFFE, "ELU")
def elu(ctx: CaffeContext) -> None:
    alpha = float(ctx.value("elu_param", "alpha", 1.0))
    ctx.node("Elu", [ctx.inputs[0]], ctx.shape_of(0), {"alpha": alpha}, output=_out(ctx))


def _affine(ctx: CaffeContext, scale: float, shift: float, last: bool) -> str:
    """shift + scale·x, skipping the identity parts."""
    x, shape = ctx.inputs[0], ctx.shape_of(0)
    if scale != 1:
        x = ctx.node(
            "Mul", [x, ctx.const("scale", scale)], shape, output=_out(ctx) if last and shift == 0 else None
        )
    if shift != 0:
        x = ctx.node("Add", [x, ctx.const("shift", shift)], shape, output=_out(ctx) if last else None)
    if last and x == ctx.inputs[0]:
        x = ctx.node("Identity", [x], shape, output=_out(ctx))
    return x


@layer(CAFFE, "Power")
def power(ctx: CaffeContext) -> None:
    p = ctx.param("power_param")
    exponent, scale, shift = (
        float(p.get("power", 1.0)),
        float(p.get("scale", 1.0)),
        float(p.get("shift", 0.0)),
    )
    shape = ctx.shape_of(0)
    if exponent * scale == 0:  # PowerLayer::Forward_cpu: a constant
        value = 1.0 if exponent == 0 else shift**exponent
        dims = ctx.node("Shape", [ctx.inputs[0]], (len(shape),), dtype="int64")
        ctx.node("Expand", [ctx.const("value", value), dims], shape, output=_out(ctx))
        ctx.step("fold", f"power·scale = 0: the output is the constant {value:g}")
        return
    base = _affine(ctx, scale, shift, last=exponent == 1)
    if exponent != 1:
        ctx.node("Pow", [base, ctx.const("power", exponent)], shape, output=_out(ctx))


@layer(CAFFE, "Exp")
def exp(ctx: CaffeContext) -> None:
    p = ctx.param("exp_param")
    base, scale, shift = float(p.get("base", -1.0)), float(p.get("scale", 1.0)), float(p.get("shift", 0.0))
    if base != -1 and base <= 0:
        raise ctx.error(f"base {base} must be positive or -1 (e)")
    log_base = 1.0 if base == -1 else math.log(base)
    if log_base != 1:
        ctx.step("param", f"base {base:g}: exp(ln({base:g})·(shift + scale·x))")
    x = _affine(ctx, scale * log_base, shift * log_base, last=False)
    ctx.node("Exp", [x], ctx.shape_of(0), output=_out(ctx))


@layer(CAFFE, "Log")
def log(ctx: CaffeContext) -> None:
    p = ctx.param("log_param")
    base, scale, shift = float(p.get("base", -1.0)), float(p.get("scale", 1.0)), float(p.get("shift", 0.0))
    if base != -1 and (base <= 0 or base == 1):
        raise ctx.error(f"base {base} must be positive, not 1, or -1 (e)")
    x = _affine(ctx, scale, shift, last=False)
    shape = ctx.shape_of(0)
    if base == -1:
        ctx.node("Log", [x], shape, output=_out(ctx))
        return
    y = ctx.node("Log", [x], shape)
    ctx.node("Mul", [y, ctx.const("inv_ln_base", 1.0 / math.log(base))], shape, output=_out(ctx))


@layer(CAFFE, "Threshold")
def threshold(ctx: CaffeContext) -> None:
    t = float(ctx.value("threshold_param", "threshold", 0.0))
    shape = ctx.shape_of(0)
    above = ctx.node("Greater", [ctx.inputs[0], ctx.const("threshold", t)], shape, dtype="bool")
    ctx.node("Cast", [above], shape, {"to": 1}, output=_out(ctx))


@layer(CAFFE, "Softmax")
def softmax(ctx: CaffeContext) -> None:
    shape = ctx.shape_of(0)
    axis = canonical_axis(ctx, int(ctx.value("softmax_param", "axis", 1)), len(shape))
    ctx.node("Softmax", [ctx.inputs[0]], shape, {"axis": axis}, output=_out(ctx))


@layer(CAFFE, "Dropout")
def dropout(ctx: CaffeContext) -> None:
    ratio = float(ctx.value("dropout_param", "dropout_ratio", 0.5))
    ctx.step("dropout", f"identity at inference (Caffe scales by 1/(1−{ratio:g}) while training instead)")
    ctx.node("Identity", [ctx.inputs[0]], ctx.shape_of(0), output=_out(ctx))


@layer(CAFFE, "Eltwise")
def eltwise(ctx: CaffeContext) -> None:
    p = ctx.param("eltwise_param")
    operation = p.get("operation", "SUM")
    coeffs = [float(c) for c in p.all("coeff")]
    shape = ctx.shape_of(0)
    if len(ctx.inputs) < 2:
        raise ctx.error("Eltwise needs at least two bottoms")
    if coeffs and (operation != "SUM" or len(coeffs) != len(ctx.inputs)):
        raise ctx.error(f"{len(coeffs)} coeff for {len(ctx.inputs)} bottoms ({operation})")
    if operation == "MAX":
        ctx.node("Max", list(ctx.inputs), shape, output=_out(ctx))
        return
    if operation == "PROD":
        y = ctx.inputs[0]
        for i, x in enumerate(ctx.inputs[1:], 1):
            y = ctx.node("Mul", [y, x], shape, output=_out(ctx) if i == len(ctx.inputs) - 1 else None)
        return
    terms = list(ctx.inputs)
    if coeffs and any(c != 1 for c in coeffs):
        ctx.step("param", f"SUM with coefficients {coeffs}")
        terms = [x if c == 1 else ctx.node("Mul", [x, ctx.const(f"coeff{i}", c)], shape)
                 for i, (x, c) in enumerate(zip(terms, coeffs, strict=True))]  # fmt: skip
    ctx.node("Sum", terms, shape, output=_out(ctx))


@layer(CAFFE, "ArgMax")
def argmax(ctx: CaffeContext) -> None:
    p = ctx.param("argmax_param")
    top_k, out_max_val = int(p.get("top_k", 1)), bool(p.get("out_max_val", False))
    shape = ctx.shape_of(0)
    x = ctx.inputs[0]
    if p.has("axis"):
        axis = canonical_axis(ctx, int(p.get("axis")), len(shape))
        flat_shape = shape
    else:  # per sample, over everything after the batch axis
        axis = 1
        rest = shape[1:]
        count = int(math.prod(rest)) if known(*rest) else None  # type: ignore[arg-type]
        x = ctx.node("Flatten", [x], (shape[0], count), {"axis": 1})
        flat_shape = (shape[0], count)
    k = ctx.const("k", [top_k], "int64")
    out_shape = (*flat_shape[:axis], top_k, *flat_shape[axis + 1 :])
    values, indices = ctx.node_multi("TopK", [x, k], [(out_shape, "float32"), (out_shape, "int64")],
                                     {"axis": axis, "largest": 1, "sorted": 1})  # fmt: skip
    index = ctx.node("Cast", [indices], out_shape, {"to": 1})
    ctx.step("param", "indices as float, as Caffe stores them")
    if p.has("axis"):
        ctx.node("Identity", [values if out_max_val else index], out_shape, output=_out(ctx))
        return
    # no axis: top (N, 1, top_k) of indices, or (N, 2, top_k) of indices then values
    three = (shape[0], 1, top_k)
    target = ctx.const("shape", [0, 1, top_k], "int64")
    if not out_max_val:
        ctx.node("Reshape", [index, target], three, output=_out(ctx))
        return
    a = ctx.node("Reshape", [index, target], three)
    b = ctx.node("Reshape", [values, target], three)
    ctx.node("Concat", [a, b], (shape[0], 2, top_k), {"axis": 1}, output=_out(ctx))
