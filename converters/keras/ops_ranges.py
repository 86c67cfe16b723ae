"""Tensors built from values the model computes (Keras 3 `keras.ops.linspace`, `logspace`,
`geomspace` with tensor bounds, `full` with a tensor fill, `vander`), as Keras' TensorFlow backend
computes them: tf.linspace's start + k·step with the last point the stop itself, logspace as
base ** linspace, geomspace as 10 ** linspace of the bounds' log10 times the start's sign."""

from __future__ import annotations

import numpy as np

from netinspect.converters.keras.ops import Call, Shape, op
from netinspect.dtypes import elem_type


def _float(c: Call, value: object) -> tuple[str, Shape]:
    name, shape, dtype = c.tensor(value)
    if dtype != "float32":
        name = c.node("Cast", [name], shape, {"to": elem_type("float32")})
    return name, shape


def _points(
    c: Call, start: str, stop: str, shape: Shape, num: int, endpoint: bool, axis: int
) -> tuple[str, Shape]:
    """`num` evenly spaced points between start and stop (broadcast to `shape`) on a new `axis`."""
    count = num - 1 if endpoint else num
    fraction = (np.arange(num, dtype=np.float32) / np.float32(max(count, 1))).astype(np.float32)
    rank = len(shape) + 1
    axis = axis % rank
    view = [1] * rank
    view[axis] = num
    steps = c.ctx.constant("steps", fraction.reshape(view))
    axes = c.ctx.constant("axes", np.array([axis], np.int64))
    out = (*shape[:axis], num, *shape[axis:])
    span = c.node("Sub", [stop, start], shape)
    first = c.node("Unsqueeze", [start, axes], (*shape[:axis], 1, *shape[axis:]))
    delta = c.node("Unsqueeze", [span, axes], (*shape[:axis], 1, *shape[axis:]))
    points = c.node("Add", [first, c.node("Mul", [delta, steps], out)], out)
    if endpoint and num > 1:  # tf.linspace ends on the stop exactly
        last = c.ctx.constant("last", (np.arange(num) == num - 1).reshape(view))
        end = c.node("Unsqueeze", [stop, axes], (*shape[:axis], 1, *shape[axis:]))
        points = c.node("Where", [last, end, points], out)
    return points, out


def _bounds(c: Call) -> tuple[str, str, Shape, int, bool, int]:
    (start, sshape), (stop, eshape) = _float(c, c.arg(0, "start")), _float(c, c.arg(1, "stop"))
    if sshape != eshape:
        raise c.ctx.error("the bounds need the same shape")
    num = int(c.const(2, "num", default=50))
    endpoint = bool(c.const(3, "endpoint", default=True))
    axis = int(c.const(99, "axis", default=0))
    if c.const(99, "retstep", default=False):
        raise c.ctx.error("linspace with retstep is not supported")
    dtype = c.const(99, "dtype", default=None)
    if dtype not in (None, "float32"):
        raise c.ctx.error(f"a range of {dtype} is not supported (float32 only)")
    return start, stop, sshape, num, endpoint, axis


@op(("Linspace",), ())
def linspace(c: Call) -> None:
    start, stop, shape, num, endpoint, axis = _bounds(c)
    points, out = _points(c, start, stop, shape, num, endpoint, axis)
    c.node("Identity", [points], out, final=True)


@op(("Logspace",), ())
def logspace(c: Call) -> None:
    start, stop, shape, num, endpoint, axis = _bounds(c)
    points, out = _points(c, start, stop, shape, num, endpoint, axis)
    base = c.ctx.constant("base", np.array(float(c.const(4, "base", default=10)), np.float32))
    c.node("Pow", [base, points], out, final=True)


@op(("Geomspace",), ())
def geomspace(c: Call) -> None:
    start, stop, shape, num, endpoint, axis = _bounds(c)
    ln10 = c.ctx.constant("ln10", np.array(np.log(10.0), np.float32))
    logs = [
        c.node("Div", [c.node("Log", [c.node("Abs", [v], shape)], shape), ln10], shape) for v in (start, stop)
    ]
    points, out = _points(c, logs[0], logs[1], shape, num, endpoint, axis)
    powers = c.node("Pow", [c.ctx.constant("base", np.array(10.0, np.float32)), points], out)
    sign = c.node("Sign", [start], shape)
    rank = len(out)
    sign = c.node("Unsqueeze", [sign, c.ctx.constant("axes", np.array([axis % rank], np.int64))],
                  tuple(1 if k == axis % rank else d for k, d in enumerate(out)))  # fmt: skip
    c.node("Mul", [powers, sign], out, final=True)


@op(("Full",), ())
def full(c: Call) -> None:
    """`fill_value` (a tensor the model computes) broadcast to the constant `shape` (which Keras 3
    keeps in the operation's config, passing the fill as the only operand)."""
    shape = tuple(int(d) for d in c.const(99, "shape"))
    dtype = str(c.const(99, "dtype", default=None) or "float32")
    fill, _, fill_dtype = c.tensor(c.arg(0, "fill_value"), like=dtype)
    if fill_dtype != dtype:
        fill = c.node("Cast", [fill], (), {"to": elem_type(dtype)}, dtype=dtype)
    dims = c.ctx.constant("shape", np.array(shape, np.int64))
    c.node("Expand", [fill, dims], shape, dtype=dtype, final=True)


@op(("Vander",), ())
def vander(c: Call) -> None:
    """Columns of x's powers, decreasing to 0 (increasing with `increasing`); 0 ** 0 = 1."""
    x, shape = _float(c, c.arg(0, "x"))
    n = c.const(1, "N", default=None)
    n = shape[0] if n is None else int(n)
    if len(shape) != 1 or not isinstance(n, int):
        raise c.ctx.error("vander takes a vector with the column count known")
    powers = np.arange(n, dtype=np.float32)
    if not c.const(2, "increasing", default=False):
        powers = powers[::-1].copy()
    column = c.node("Unsqueeze", [x, c.ctx.constant("axes", np.array([1], np.int64))], (shape[0], 1))
    c.node("Pow", [column, c.ctx.constant("powers", powers)], (shape[0], n), final=True)
