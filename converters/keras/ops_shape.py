"""Sizes and flat positions (Keras 3 `keras.ops.size`, `ndim`, `unravel_index`) and tensors passed
on as they are (`convert_to_tensor`, `array`)."""

from __future__ import annotations

import numpy as np

from netinspect.converters.keras.ops import Call, op
from netinspect.dtypes import elem_type


@op(("Size",), ())
def size(c: Call) -> None:
    """The element count, from the shape at run time (the batch is not known when read), int32 as
    TensorFlow's tf.size."""
    x, shape, _ = c.first()
    dims = c.node("Shape", [x], (len(shape),), dtype="int64")
    count = c.node("ReduceProd", [dims], (), {"keepdims": 0}, dtype="int64")
    c.node("Cast", [count], (), {"to": elem_type("int32")}, dtype="int32", final=True)


@op(("Ndim",), ())
def ndim(c: Call) -> None:
    """The rank, a constant of the graph (Keras' TensorFlow backend returns the Python int)."""
    _, shape, _ = c.first()
    rank = c.ctx.constant("rank", np.array(len(shape), np.int32))
    c.node("Identity", [rank], (), dtype="int32", final=True)


@op(("UnravelIndex",), ())
def unravel_index(c: Call) -> None:
    """Flat positions → one coordinate per axis of `shape` (row-major, as NumPy): the position
    divided by the product of the later sizes, modulo its own. Integer division of non-negative
    positions truncates, as floor division does; Keras' TensorFlow backend agrees with NumPy for
    vector positions (for higher ranks it takes the sizes in reverse order, which is not copied)."""
    x, shape, dtype = c.first()
    dims = [int(d) for d in c.const(1, "shape")]
    if dtype.startswith("float"):
        raise c.ctx.error("unravel_index takes integer positions")
    outputs = list(c.ctx.outputs)
    stride = 1
    strides = []
    for d in reversed(dims):
        strides.append(stride)
        stride *= d
    strides.reverse()
    for k, (d, s) in enumerate(zip(dims, strides, strict=True)):
        if k >= len(outputs) or outputs[k] is None:
            continue
        quotient = c.node("Div", [x, c.ctx.constant("stride", np.array(s, dtype))], shape, dtype=dtype)
        c.ctx.node("Mod", [quotient, c.ctx.constant("size", np.array(d, dtype))], shape,
                   output=outputs[k], dtype=dtype)  # fmt: skip


@op(("ConvertToTensor", "Array"), ())
def convert_to_tensor(c: Call) -> None:
    """A tensor the model computed, passed on (cast when a `dtype` is given)."""
    x, shape, dtype = c.first()
    target = c.const(99, "dtype", default=None)
    if target is None or str(target) == dtype:
        c.node("Identity", [x], shape, dtype=dtype, final=True)
        return
    c.node("Cast", [x], shape, {"to": elem_type(str(target))}, dtype=str(target), final=True)
