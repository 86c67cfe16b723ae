"""Matrices built from tensors (Keras 3 `keras.ops.diag`, `diagflat`, `inner`, `cdist`,
`meshgrid`), each as Keras' TensorFlow backend computes it, with the sizes the
construction needs known when the model is read."""

from __future__ import annotations

import numpy as np

from netinspect.converters.keras.ops import Call, Shape, TensorArg, broadcast, op

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _i64(c: Call, hint: str, values: list[int]) -> str:
    return c.ctx.constant(hint, np.array(values, np.int64))


def _known(c: Call, shape: Shape, what: str) -> tuple[int, ...]:
    if not all(isinstance(d, int) for d in shape):
        raise c.ctx.error(f"{what} needs every size known (the operand is {shape})")
    return tuple(int(d) for d in shape)  # type: ignore[arg-type]


def _diag_matrix(c: Call, x: str, n: int, dtype: str, k: int) -> None:
    """A vector of n laid on the k-th diagonal of a square matrix of n + |k| (zeros elsewhere)."""
    size = n + abs(k)
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    on = (cols - rows) == k
    index = np.where(on, np.minimum(rows, cols), 0).astype(np.int64)
    picked = c.node("Gather", [x, c.ctx.constant("diagonal", index)], (size, size), {"axis": 0}, dtype=dtype)
    zero = c.ctx.constant("zero", np.zeros((), dtype))
    c.node("Where", [c.ctx.constant("mask", on), picked, zero], (size, size), dtype=dtype, final=True)


@op(("Diag", "Diagflat"), ())
def diag(c: Call) -> None:
    """diag: a vector onto the k-th diagonal of a matrix, or a matrix's k-th diagonal out;
    diagflat: the tensor flattened first."""
    x, shape, dtype = c.first()
    k = int(c.const(1, "k", default=0))
    if c.ctx.type.endswith("Diagflat"):
        n = int(np.prod(_known(c, shape, "diagflat")))
        x = c.node("Reshape", [x, _i64(c, "flat", [n])], (n,), dtype=dtype)
        shape = (n,)
    if len(shape) == 1:
        _diag_matrix(c, x, _known(c, shape, "diag")[0], dtype, k)
        return
    if len(shape) != 2:
        raise c.ctx.error(f"diag takes a vector or a matrix (the operand has rank {len(shape)})")
    n1, n2 = _known(c, shape, "diag")
    rows = range(max(0, -k), min(n1, n2 - k))
    positions = [i * n2 + i + k for i in rows]
    flat = c.node("Reshape", [x, _i64(c, "flat", [n1 * n2])], (n1 * n2,), dtype=dtype)
    c.node("Gather", [flat, _i64(c, "diagonal", positions)], (len(positions),), {"axis": 0},
           dtype=dtype, final=True)  # fmt: skip


@op(("Inner",), ())
def inner(c: Call) -> None:
    """Sum over both operands' last axes (a scalar operand multiplies)."""
    (a, ashape, dtype), (b, bshape, _) = c.operands(c.arg(0, "x1"), c.arg(1, "x2"))
    if not ashape or not bshape:
        c.node("Mul", [a, b], broadcast(ashape, bshape), dtype=dtype, final=True)
        return
    letters = iter(_LETTERS[:-1])
    aterm = [next(letters) for _ in ashape[:-1]]
    bterm = [next(letters) for _ in bshape[:-1]]
    equation = f"{''.join(aterm)}z,{''.join(bterm)}z->{''.join(aterm + bterm)}"
    out = (*ashape[:-1], *bshape[:-1])
    c.node("Einsum", [a, b], out, {"equation": equation}, dtype=dtype, final=True)


@op(("CDist",), ())
def cdist(c: Call) -> None:
    """Euclidean distances between the rows of x (…, m, d) and of y (…, n, d): (…, m, n)."""
    (x, xshape, dtype), (y, yshape, _) = c.operands(c.arg(0, "x", "x1"), c.arg(1, "y", "x2"))
    if len(xshape) < 2 or len(yshape) < 2:
        raise c.ctx.error("cdist takes operands of rank 2 or more")
    xs = (*xshape[:-1], 1, xshape[-1])
    ys = (*yshape[:-2], 1, *yshape[-2:])
    xe = c.node("Unsqueeze", [x, _i64(c, "axes", [len(xshape) - 1])], xs, dtype=dtype)
    ye = c.node("Unsqueeze", [y, _i64(c, "axes", [len(yshape) - 2])], ys, dtype=dtype)
    pairs = broadcast(xs, ys)
    diff = c.node("Sub", [xe, ye], pairs, dtype=dtype)
    squares = c.node("Mul", [diff, diff], pairs, dtype=dtype)
    total = c.node("ReduceSum", [squares, _i64(c, "axes", [-1])], pairs[:-1], {"keepdims": 0}, dtype=dtype)
    c.node("Sqrt", [total], pairs[:-1], dtype=dtype, final=True)


@op(("Meshgrid",), ())
def meshgrid(c: Call) -> None:
    """Each vector broadcast along the others' axes ('xy' swaps the first two, as NumPy)."""
    values = [v for v in c.args if v is not None]
    if len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    if not values or not all(isinstance(v, TensorArg) for v in values):
        raise c.ctx.error("meshgrid takes vectors computed by the model")
    vectors = [c.tensor(v) for v in values]
    if any(len(s) != 1 for _, s, _ in vectors):
        raise c.ctx.error("meshgrid takes vectors (rank 1)")
    indexing = str(c.const(99, "indexing", default="xy"))
    sizes = [s[0] for _, s, _ in vectors]
    if indexing == "xy" and len(sizes) > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    if not all(isinstance(s, int) for s in sizes):
        raise c.ctx.error("meshgrid needs the vectors' lengths known")
    out = tuple(sizes)
    outputs = list(c.ctx.outputs)
    for k, (v, _, dtype) in enumerate(vectors):
        axis = {0: 1, 1: 0}.get(k, k) if indexing == "xy" and len(sizes) > 1 else k
        view = [1] * len(sizes)
        view[axis] = sizes[axis]
        shaped = c.node("Reshape", [v, _i64(c, "shape", view)], tuple(view), dtype=dtype)
        if k < len(outputs) and outputs[k] is not None:
            c.ctx.node("Expand", [shaped, _i64(c, "shape", list(sizes))], out, output=outputs[k], dtype=dtype)
