"""Builtins from StableHLO that LiteRT has kernels for and ONNX expresses: STABLEHLO_ADD, _MULTIPLY,
_MAXIMUM, _MINIMUM (element-wise, same-shape operands, no fused activation) and DILATE (the
elements spread `dilation` apart, the gaps filled with a padding value)."""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import TFLITE, TfliteContext
from netinspect.registry import layer

ELEMENTWISE = {"STABLEHLO_ADD": "Add", "STABLEHLO_MULTIPLY": "Mul", "STABLEHLO_MAXIMUM": "Max",
               "STABLEHLO_MINIMUM": "Min"}  # fmt: skip


@layer(TFLITE, *ELEMENTWISE)
def elementwise(ctx: TfliteContext) -> None:
    ctx.emit(ELEMENTWISE[ctx.type], [ctx.x(0), ctx.x(1)])


@layer(TFLITE, "DILATE")
def dilate(ctx: TfliteContext) -> None:
    """Inputs: data, dilations (one per axis), padding value. Element i of an axis lands at
    i·dilation: ScatterND of the data into the padding value expanded to the output shape, at a
    constant grid of those places (shapes and dilations as the file stores them)."""
    shape = ctx.in_shape(0)
    if not ctx.need(1).has_data or any(d is None for d in ctx.need(0).dims):
        raise ctx.error("dilations or an input size known only at run time: the places are not known")
    steps = [int(d) for d in ctx.const(1).reshape(-1)]
    out_shape = tuple((n - 1) * d + 1 if n else 0 for n, d in zip(shape, steps, strict=True))
    places = np.moveaxis(np.indices(shape, dtype=np.int64), 0, -1) * np.array(steps, np.int64)
    dtype = ctx.compute_dtype()
    padding = ctx.node("Reshape", [ctx.x(2), ctx.ints([], "scalar")], (), dtype=dtype)
    base = ctx.node("Expand", [padding, ctx.ints(list(out_shape))], out_shape, dtype=dtype)
    ctx.step("split", f"DILATE by {steps} as ScatterND into the padding value at every {steps} place")
    ctx.emit("ScatterND", [base, ctx.constant("places", places), ctx.moved(0)], shape=out_shape)
