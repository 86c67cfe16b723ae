"""TFLite's spectral operators: RFFT2D → ONNX DFT, and the complex64 values it makes.

ONNX runtimes have no complex tensors in their graphs, so a complex64 TFLite tensor is held as
float32 with a trailing axis of 2 (real, imaginary) — the form ONNX's DFT reads and writes.
COMPLEX_ABS, REAL and IMAG read that axis; RESHAPE of a complex tensor keeps it (complex_reshape).
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.context import TFLITE, TfliteContext
from netinspect.registry import layer

COMPLEX = "complex64"


def pair_shape(dims: tuple[int | None, ...]) -> tuple[int | None, ...]:
    """The float32 (…, 2) shape holding a complex tensor of `dims`."""
    return (*dims, 2)


@layer(TFLITE, "RFFT2D")
def rfft2d(ctx: TfliteContext) -> None:
    """The real 2-D FFT over the last two axes, cropped or zero-padded to fft_length: a one-sided DFT
    along the last axis (real input), then a full DFT along the one before."""
    shape = ctx.in_shape(0)
    rank = len(shape)
    if rank < 2:
        raise ctx.error(f"RFFT2D needs at least 2 axes, the input has {rank}")
    height, width = (int(n) for n in ctx.const(1).reshape(-1))
    real = ctx.node("Unsqueeze", [ctx.x(0), ctx.ints([rank], "axes")], (*shape, 1))
    rows = (*shape[:-1], width // 2 + 1, 2)
    along_w = ctx.node("DFT", [real, ctx.constant("length", np.int64(width))], rows,
                       {"axis": rank - 1, "onesided": 1})  # fmt: skip
    out = ctx.out_tensor()
    ctx.step("split", f"RFFT2D as a one-sided DFT of length {width} along the last axis, then one of "
                      f"length {height} along the axis before; complex values as float (…, 2)")  # fmt: skip
    ctx.node("DFT", [along_w, ctx.constant("length", np.int64(height))], pair_shape(out.dims),
             {"axis": rank - 2, "onesided": 0}, output=ctx.outputs[0])  # fmt: skip


@layer(TFLITE, "COMPLEX_ABS")
def complex_abs(ctx: TfliteContext) -> None:
    """|re + i·im| = the L2 norm of the (re, im) axis."""
    ctx.emit("ReduceL2", [_complex_input(ctx)], {"axes": [-1], "keepdims": 0})


@layer(TFLITE, "REAL", "IMAG")
def real_or_imaginary(ctx: TfliteContext) -> None:
    index = ctx.constant("part", np.int64(0 if ctx.type == "REAL" else 1))
    ctx.emit("Gather", [_complex_input(ctx), index], {"axis": -1})


def complex_reshape(ctx: TfliteContext) -> None:
    """RESHAPE of a complex tensor: its (re, im) axis stays last."""
    shape = pair_shape(ctx.out_shape())
    ctx.node("Reshape", [_complex_input(ctx), ctx.ints(shape)], shape, output=ctx.outputs[0])


def _complex_input(ctx: TfliteContext) -> str:
    if ctx.need(0).dtype != COMPLEX:
        raise ctx.error(f"expects a complex64 input, not {ctx.need(0).dtype}")
    return ctx.x(0)
