"""Sizes and flat positions (Keras 3 `keras.ops.size`, `ndim`, `unravel_index`), einops
`rearrange`, and tensors passed on as they are (`convert_to_tensor`, `array`)."""

from __future__ import annotations

import re

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


def _einops_side(text: str) -> list[list[str]]:
    """One side of an einops pattern as its axes, each the list of names grouped into it."""
    axes: list[list[str]] = []
    group: list[str] | None = None
    for token in re.findall(r"\(|\)|[A-Za-z_][A-Za-z0-9_]*|\S", text):
        if token == "(":
            group = []
        elif token == ")":
            if group is None:
                raise ValueError("unbalanced parenthesis")
            axes.append(group)
            group = None
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
            if group is None:
                axes.append([token])
            else:
                group.append(token)
        else:
            raise ValueError(f"unsupported token {token!r}")
    if group is not None:
        raise ValueError("unbalanced parenthesis")
    return axes


@op(("Rearrange",), ())
def rearrange(c: Call) -> None:
    """An einops pattern ("(a b) w c -> b w (c a)", sizes by keyword) as Reshape to the named axes,
    Transpose to the output's order, Reshape to its groups; every size must be known (Keras'
    TensorFlow backend cannot rearrange an unknown one either). The tensor is read by position:
    axis sizes come as keywords, which may be named like Call.first's operand names."""
    x, shape, dtype = c.tensor(c.arg(0, "tensor"))
    pattern = str(c.const(1, "pattern"))
    sizes = {k: int(v) for k, v in c.kwargs.items() if k != "pattern" and isinstance(v, int)}
    try:
        left, right = (_einops_side(side) for side in pattern.split("->"))
    except ValueError as error:
        raise c.ctx.error(f"rearrange pattern {pattern!r}: {error}") from None
    if len(left) != len(shape) or not all(isinstance(d, int) for d in shape):
        raise c.ctx.error(
            f"rearrange pattern {pattern!r} needs an input of rank {len(left)} with every size known"
        )
    for group, size in zip(left, shape, strict=True):
        unknown = [n for n in group if n not in sizes]
        known = int(np.prod([sizes[n] for n in group if n in sizes]))
        if len(unknown) > 1:
            raise c.ctx.error(f"rearrange pattern {pattern!r}: give the sizes of {unknown[1:]}")
        if unknown:
            sizes[unknown[0]] = int(size) // known  # type: ignore[arg-type]
    names = [n for group in left for n in group]
    outputs = [n for group in right for n in group]
    if sorted(names) != sorted(outputs):
        raise c.ctx.error(f"rearrange pattern {pattern!r} must name the same axes on both sides")
    split = tuple(sizes[n] for n in names)
    y = c.node("Reshape", [x, c.ctx.constant("shape", np.array(split, np.int64))], split, dtype=dtype)
    moved = tuple(sizes[n] for n in outputs)
    y = c.node("Transpose", [y], moved, {"perm": [names.index(n) for n in outputs]}, dtype=dtype)
    out = tuple(int(np.prod([sizes[n] for n in group])) for group in right)
    c.node("Reshape", [y, c.ctx.constant("shape", np.array(out, np.int64))], out, dtype=dtype, final=True)
