"""Array operations of functional graphs (Keras 3 `keras.ops`, tf-keras `TFOpLambda`): flips,
rolls, axis moves, triangles, repeats, `where`, gathers, one-hot, sorting and top-k, splits and
stacks, broadcasts and `*_like` fills, tensordot/outer/dot products, diagonals.

Axes are Keras' own (channels last); the layout pass moves the transposes around them. Everything
here is static: sizes an operation needs (a roll's axis length, a sort's k) must be known.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from netinspect.converters.keras.ops import _INT64_MAX, _INT64_MIN, Call, Shape, TensorArg, broadcast, op
from netinspect.dtypes import elem_type
from netinspect.ir import Dim


def _i64(c: Call, hint: str, values: Any) -> str:
    return c.ctx.constant(hint, np.array(values, np.int64))


def _slice(c: Call, x: str, shape: Shape, dtype: str, axis: int, start: int, stop: int, step: int = 1) -> str:
    size = shape[axis]
    out = tuple(len(range(*slice(start, stop, step).indices(size))) if i == axis and isinstance(size, int)
                else (None if i == axis else d) for i, d in enumerate(shape))  # fmt: skip
    ins = [
        x,
        _i64(c, "starts", [start]),
        _i64(c, "ends", [stop]),
        _i64(c, "axes", [axis]),
        _i64(c, "steps", [step]),
    ]
    return c.node("Slice", ins, out, dtype=dtype)


def _flipped(c: Call, x: str, shape: Shape, dtype: str, axes: list[int], final: bool) -> str:
    n = len(axes)
    ins = [x, _i64(c, "starts", [-1] * n), _i64(c, "ends", [_INT64_MIN] * n), _i64(c, "axes", axes),
           _i64(c, "steps", [-1] * n)]  # fmt: skip
    return c.node("Slice", ins, shape, dtype=dtype, final=final)


def _axis_list(value: Any, rank: int) -> list[int]:
    values = value if isinstance(value, list | tuple) else [value]
    return [int(a) % rank for a in values]


@op(("Flip",), ("reverse", "reverse_v2"))
def flip(c: Call) -> None:
    x, shape, dtype = c.first()
    axis = c.const(1, "axis", default=None)
    axes = list(range(len(shape))) if axis is None else sorted(set(_axis_list(axis, len(shape))))
    _flipped(c, x, shape, dtype, axes, final=True)


@op(("Roll",), ("roll",))
def roll(c: Call) -> None:
    """x[n−s:] then x[:n−s] along each axis (s the shift modulo the axis' length)."""
    x, shape, dtype = c.first()
    shift, axis = c.const(1, "shift"), c.const(2, "axis", default=None)
    if axis is None:
        raise c.ctx.error("a roll over the flattened tensor is not supported")
    shifts = shift if isinstance(shift, list | tuple) else [shift] * len(_axis_list(axis, len(shape)))
    moves: dict[int, int] = {}
    for a, s in zip(_axis_list(axis, len(shape)), shifts, strict=True):
        moves[a] = moves.get(a, 0) + int(s)
    pending = [(a, s) for a, s in moves.items()]
    if not pending:
        c.node("Identity", [x], shape, dtype=dtype, final=True)
        return
    for k, (a, s) in enumerate(pending):
        size = shape[a]
        if not isinstance(size, int):
            raise c.ctx.error(f"rolling axis {a} needs its size known")
        s %= size
        last = k == len(pending) - 1
        if s == 0:
            x = c.node("Identity", [x], shape, dtype=dtype, final=last)
            continue
        tail = _slice(c, x, shape, dtype, a, size - s, size)
        head = _slice(c, x, shape, dtype, a, 0, size - s)
        x = c.node("Concat", [tail, head], shape, {"axis": a}, dtype=dtype, final=last)


def _transpose(c: Call, x: str, shape: Shape, dtype: str, perm: list[int]) -> None:
    c.node("Transpose", [x], tuple(shape[i] for i in perm), {"perm": perm}, dtype=dtype, final=True)


@op(("Moveaxis",), ("experimental.numpy.moveaxis",))
def moveaxis(c: Call) -> None:
    x, shape, dtype = c.first()
    rank = len(shape)
    source = _axis_list(c.const(1, "source"), rank)
    destination = _axis_list(c.const(2, "destination"), rank)
    rest = [a for a in range(rank) if a not in source]
    perm: list[int] = [0] * rank
    placed = dict(zip(destination, source, strict=True))
    fill = iter(rest)
    for i in range(rank):
        perm[i] = placed[i] if i in placed else next(fill)
    _transpose(c, x, shape, dtype, perm)


@op(("Swapaxes",), ("experimental.numpy.swapaxes",))
def swapaxes(c: Call) -> None:
    x, shape, dtype = c.first()
    a, b = (int(c.const(i, name)) % len(shape) for i, name in ((1, "axis1"), (2, "axis2")))
    perm = list(range(len(shape)))
    perm[a], perm[b] = perm[b], perm[a]
    _transpose(c, x, shape, dtype, perm)


@op(("Tril", "Triu"), ("linalg.band_part",))
def triangle(c: Call) -> None:
    """ONNX Trilu on the last two axes; band_part(l, u) keeps −l ≤ j − i ≤ u (−1: unbounded)."""
    x, shape, dtype = c.first()
    if c.keras3:
        k = int(c.const(1, "k", default=0))
        upper = int(c.ctx.type.endswith("Triu"))
        c.node("Trilu", [x, _i64(c, "k", k)], shape, {"upper": upper}, dtype=dtype, final=True)
        return
    lower, upper_ = int(c.const(1, "num_lower")), int(c.const(2, "num_upper"))
    bands = [(1, -lower)] if lower >= 0 else []
    bands = ([(0, upper_)] if upper_ >= 0 else []) + bands
    if not bands:
        c.node("Identity", [x], shape, dtype=dtype, final=True)
    for k, (side, diagonal) in enumerate(bands):
        x = c.node("Trilu", [x, _i64(c, "k", diagonal)], shape, {"upper": side}, dtype=dtype,
                   final=k == len(bands) - 1)  # fmt: skip


@op(("Repeat",), ("repeat",))
def repeat(c: Call) -> None:
    """Each element `repeats` times along `axis`: a new axis after it tiled, then merged."""
    x, shape, dtype = c.first()
    repeats = c.const(1, "repeats")
    axis = c.const(2, "axis", default=None)
    if isinstance(repeats, list | tuple | np.ndarray):
        values = {int(r) for r in np.asarray(repeats).ravel()}
        if len(values) != 1:
            raise c.ctx.error("repeat with a different count per element is not supported")
        repeats = values.pop()
    repeats = int(repeats)
    if axis is None:
        raise c.ctx.error("repeat over the flattened tensor is not supported")
    a = int(axis) % len(shape)
    after = shape[a + 1 :]
    if not all(isinstance(d, int) for d in after):
        raise c.ctx.error(f"repeat on axis {a} needs the sizes after it known")
    grown = (*shape[: a + 1], 1, *after)
    y = c.node("Unsqueeze", [x, _i64(c, "axes", [a + 1])], grown, dtype=dtype)
    tiled = (*shape[: a + 1], repeats, *after)
    y = c.node("Tile", [y, _i64(c, "repeats", [repeats if i == a + 1 else 1 for i in range(len(grown))])],
               tiled, dtype=dtype)  # fmt: skip
    size = shape[a] * repeats if isinstance(shape[a], int) else None
    target = [0] * a + [-1] + [int(d) for d in after]  # type: ignore[arg-type]
    out = (*shape[:a], size, *after)
    c.node("Reshape", [y, _i64(c, "shape", target)], out, dtype=dtype, final=True)


@op(("Where",), ("where", "where_v2", "compat.v1.where"))
def where(c: Call) -> None:
    condition = c.arg(0, "condition")
    x1, x2 = c.arg(1, "x1", "x", default=None), c.arg(2, "x2", "y", default=None)
    if x1 is None and x2 is None:
        raise c.ctx.error("where with only a condition returns the indices of its true elements, "
                          "a data-dependent shape; it is not supported")  # fmt: skip
    cond, cshape, ctype = c.tensor(condition, "bool")
    if ctype != "bool":
        cond = c.node("Cast", [cond], cshape, {"to": elem_type("bool")}, dtype="bool")
    (a, ashape, atype), (b, bshape, _) = c.operands(x1, x2)
    c.node("Where", [cond, a, b], broadcast(cshape, ashape, bshape), dtype=atype, final=True)


def _indices(c: Call, value: Any) -> tuple[str, Shape]:
    if isinstance(value, TensorArg):
        name, shape, _ = c.tensor(value)
        return name, shape
    array = np.asarray(value).astype(np.int64)
    return c.ctx.constant("indices", array), tuple(int(d) for d in array.shape)


@op(("Take",), ("gather", "compat.v1.gather"))
def take(c: Call) -> None:
    x, shape, dtype = c.first()
    index, ishape = _indices(c, c.arg(1, "indices"))
    axis = c.const(2, "axis", default=None if c.keras3 else 0)
    if int(c.const(4, "batch_dims", default=0) or 0):
        raise c.ctx.error("gather with batch_dims is not supported")
    if axis is None:  # Keras 3: from the flattened tensor
        flat = (int(np.prod(shape)) if all(isinstance(d, int) for d in shape) else None,)
        x = c.node("Reshape", [x, _i64(c, "flat", [-1])], flat, dtype=dtype)
        shape, axis = flat, 0
    a = int(axis) % len(shape)
    out = (*shape[:a], *ishape, *shape[a + 1 :])
    c.node("Gather", [x, index], out, {"axis": a}, dtype=dtype, final=True)


@op(("TakeAlongAxis",), ("experimental.numpy.take_along_axis",))
def take_along_axis(c: Call) -> None:
    x, shape, dtype = c.first()
    index, ishape = _indices(c, c.arg(1, "indices"))
    axis = c.const(2, "axis", default=None)
    if axis is None or len(ishape) != len(shape):
        raise c.ctx.error("take_along_axis needs an axis and indices of the tensor's rank")
    a = int(axis) % len(shape)
    if any(i != a and s != d for i, (s, d) in enumerate(zip(ishape, shape, strict=True))):
        raise c.ctx.error("take_along_axis with broadcast indices is not supported")
    if c.ctx.builder.dtype(index) not in (None, "int64", "int32"):
        index = c.node("Cast", [index], ishape, {"to": elem_type("int64")}, dtype="int64")
    c.node("GatherElements", [x, index], ishape, {"axis": a}, dtype=dtype, final=True)


@op(("OneHot",), ("one_hot",))
def one_hot(c: Call) -> None:
    """indices == arange(depth) on the new `axis`; an index outside [0, depth) gives zeros, as in
    Keras and TensorFlow (ONNX OneHot would count a negative one from the end)."""
    x, shape, itype = c.first()
    depth = int(c.const(1, "num_classes", "depth"))
    axis = int(c.const(2, "axis", default=-1)) % (len(shape) + 1)
    dtype = c.const(3, "dtype", default=None) or "float32"
    dtype = str(dtype.get("config", {}).get("name", "float32") if isinstance(dtype, dict) else dtype)
    out: list[Dim] = list(shape)
    out.insert(axis, depth)
    grown = list(shape)
    grown.insert(axis, 1)
    x = c.node("Unsqueeze", [x, _i64(c, "axes", [axis])], tuple(grown), dtype=itype)
    classes = np.arange(depth).astype(itype).reshape([depth if i == axis else 1 for i in range(len(out))])
    hit = c.node("Equal", [x, c.ctx.constant("classes", classes)], tuple(out), dtype="bool")
    on, off = c.const(4, "on_value", default=None), c.const(5, "off_value", default=None)
    if on is None and off is None:
        c.node("Cast", [hit], tuple(out), {"to": elem_type(dtype)}, dtype=dtype, final=True)
        return
    if c.const(3, "dtype", default=None) is None and isinstance(on if on is not None else off, float):
        dtype = "float32"
    values = [
        c.ctx.constant(h, np.asarray(1 if v is None else v, dtype)) for h, v in (("on", on), ("off", off))
    ]
    if off is None:
        values[1] = c.ctx.constant("off", np.asarray(0, dtype))
    c.node("Where", [hit, *values], tuple(out), dtype=dtype, final=True)


def _topk(c: Call, x: str, shape: Shape, dtype: str, axis: int, k: int, largest: bool,
          outputs: list[str | None], index_type: str) -> None:  # fmt: skip
    """ONNX TopK on `axis`; the indices cast to `index_type` (TensorFlow's int32)."""
    out = tuple(k if i == axis else d for i, d in enumerate(shape))
    values_out, indices_out = outputs
    values, indices = c.ctx.node_multi(
        "TopK", [x, _i64(c, "k", [k])], [(out, dtype), (out, "int64")],
        {"axis": axis, "largest": int(largest), "sorted": 1},
        [values_out if indices_out is not None else None, None],
    )  # fmt: skip
    if indices_out is not None:
        c.ctx.node(
            "Cast", [indices], out, {"to": elem_type(index_type)}, output=indices_out, dtype=index_type
        )
    elif values_out is not None:  # the layer's last node makes its last output
        c.ctx.node("Identity", [values], out, output=values_out, dtype=dtype)


def _axis_size(c: Call, shape: Shape, axis: int) -> int:
    size = shape[axis]
    if not isinstance(size, int):
        raise c.ctx.error(f"sorting axis {axis} needs its size known")
    return size


@op(("TopK",), ("math.top_k", "nn.top_k"))
def top_k(c: Call) -> None:
    x, shape, dtype = c.first()
    k = int(c.const(1, "k", default=1))
    outputs: list[str | None] = list(c.ctx.outputs) + [None] * (2 - len(c.ctx.outputs))
    _topk(c, x, shape, dtype, len(shape) - 1, k, True, outputs, "int32")


@op(("Sort", "Argsort"), ("sort", "argsort"))
def sort(c: Call) -> None:
    """A full TopK: ascending unless TensorFlow's `direction="DESCENDING"`."""
    x, shape, dtype = c.first()
    axis = int(c.const(1, "axis", default=-1)) % len(shape)
    descending = str(c.const(2, "direction", default="ASCENDING")).upper() == "DESCENDING"
    size = _axis_size(c, shape, axis)
    if c.ctx.type.lower().endswith("argsort"):
        _topk(c, x, shape, dtype, axis, size, descending, [None, c.out], "int32")
    else:
        _topk(c, x, shape, dtype, axis, size, descending, [c.out, None], "int32")


@op(("Split",), ("split",))
def split(c: Call) -> None:
    """Keras 3: a count of equal parts or NumPy split points; TensorFlow: a count or the sizes."""
    x, shape, dtype = c.first()
    spec = c.const(1, "indices_or_sections", "num_or_size_splits")
    axis = int(c.const(2, "axis", default=0)) % len(shape)
    size = shape[axis]
    if isinstance(spec, list | tuple) and c.keras3:
        if not isinstance(size, int):
            raise c.ctx.error(f"split points on axis {axis} need its size known")
        bounds = [0, *(int(s) for s in spec), size]
        sizes = [max(0, b - a) for a, b in itertools.pairwise(bounds)]
    elif isinstance(spec, list | tuple):
        sizes = [int(s) for s in spec]
    else:
        if not isinstance(size, int) or size % int(spec):
            raise c.ctx.error(f"splitting axis {axis} of size {size} into {spec} equal parts")
        sizes = [size // int(spec)] * int(spec)
    _emit_split(c, x, shape, dtype, axis, sizes, squeeze=False)


@op(("Unstack",), ("unstack",))
def unstack(c: Call) -> None:
    x, shape, dtype = c.first()
    axis = int(c.const(2, "axis", default=0)) % len(shape)
    _emit_split(c, x, shape, dtype, axis, [1] * _axis_size(c, shape, axis), squeeze=True)


def _emit_split(
    c: Call, x: str, shape: Shape, dtype: str, axis: int, sizes: list[int], squeeze: bool
) -> None:
    """ONNX Split; the call's outputs (the first of the parts that the model uses) named, the
    others left unnamed; `squeeze` drops the split axis (unstack)."""
    used = list(c.ctx.outputs)
    if len(used) > len(sizes):
        raise c.ctx.error(f"the model uses {len(used)} parts of a {len(sizes)}-way split")
    parts = [tuple(s if i == axis else d for i, d in enumerate(shape)) for s in sizes]
    direct = not squeeze and len(used) == len(sizes)
    results = [(p, dtype) for p in parts]
    split_input = [x, _i64(c, "split", sizes)]
    names = c.ctx.node_multi("Split", split_input, results, {"axis": axis}, used if direct else None)
    if direct:
        return
    for name, part, out in zip(names, parts, used, strict=False):
        if squeeze:
            dropped = tuple(d for i, d in enumerate(part) if i != axis)
            c.ctx.node("Squeeze", [name, _i64(c, "axes", [axis])], dropped, output=out, dtype=dtype)
        else:
            c.ctx.node("Identity", [name], part, output=out, dtype=dtype)


@op(("BroadcastTo",), ("broadcast_to",))
def broadcast_to(c: Call) -> None:
    x, _shape, dtype = c.first()
    target = [int(d) for d in c.const(1, "shape")]
    c.node("Expand", [x, _i64(c, "shape", target)], tuple(target), dtype=dtype, final=True)


@op(("OnesLike", "ZerosLike", "EmptyLike", "FullLike"), ("ones_like", "zeros_like", "fill"))
def full_like(c: Call) -> None:
    """A constant broadcast to the operand's shape (read at run time: the batch may vary)."""
    x, shape, dtype = c.first()
    kind = c.ctx.type.rsplit(".", 1)[-1]
    given = c.const(2 if kind == "FullLike" else 1, "dtype", default=None)
    if isinstance(given, dict):
        given = given.get("config", {}).get("name")
    out_type = str(given or dtype)
    fill = {"OnesLike": 1, "ones_like": 1, "ZerosLike": 0, "zeros_like": 0, "EmptyLike": 0}.get(kind)
    if fill is None:
        fill = c.const(1, "fill_value")
    dims = c.node("Shape", [x], (len(shape),), dtype="int64")
    c.node(
        "Expand",
        [c.ctx.constant("fill", np.asarray(fill, out_type)), dims],
        shape,
        dtype=out_type,
        final=True,
    )


@op(("Ravel",), ())
def ravel(c: Call) -> None:
    x, shape, dtype = c.first()
    flat = (int(np.prod(shape)) if all(isinstance(d, int) for d in shape) else None,)
    c.node("Reshape", [x, _i64(c, "flat", [-1])], flat, dtype=dtype, final=True)


@op(("Outer",), ())
def outer(c: Call) -> None:
    (a, ashape, dtype), (b, bshape, _) = c.operands(c.arg(0, "x1"), c.arg(1, "x2"))
    sizes = [int(np.prod(s)) if all(isinstance(d, int) for d in s) else None for s in (ashape, bshape)]
    col = c.node("Reshape", [a, _i64(c, "column", [-1, 1])], (sizes[0], 1), dtype=dtype)
    row = c.node("Reshape", [b, _i64(c, "row", [1, -1])], (1, sizes[1]), dtype=dtype)
    c.node("Mul", [col, row], (sizes[0], sizes[1]), dtype=dtype, final=True)


@op(("Tensordot",), ("tensordot", "linalg.tensordot"))
def tensordot(c: Call) -> None:
    """Einsum with the contracted axes (a count: the last of a with the first of b)."""
    (a, ashape, dtype), (b, bshape, _) = c.operands(c.arg(0, "x1", "a"), c.arg(1, "x2", "b"))
    axes = c.const(2, "axes", default=2)
    if isinstance(axes, int):
        pairs = list(zip(range(len(ashape) - axes, len(ashape)), range(axes), strict=True))
    else:
        left, right = (v if isinstance(v, list | tuple) else [v] for v in axes)
        pairs = [(int(i) % len(ashape), int(j) % len(bshape)) for i, j in zip(left, right, strict=True)]
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    aterm = [next(letters) for _ in ashape]
    bterm = [next(letters) for _ in bshape]
    for i, j in pairs:
        bterm[j] = aterm[i]
    contracted = {aterm[i] for i, _ in pairs}
    kept_a = [(t, d) for t, d in zip(aterm, ashape, strict=True) if t not in contracted]
    kept_b = [
        (t, d) for j, (t, d) in enumerate(zip(bterm, bshape, strict=True)) if j not in {q for _, q in pairs}
    ]
    equation = f"{''.join(aterm)},{''.join(bterm)}->{''.join(t for t, _ in kept_a + kept_b)}"
    out = tuple(d for _, d in kept_a + kept_b)
    c.node("Einsum", [a, b], out, {"equation": equation}, dtype=dtype, final=True)


@op(("Append",), ())
def append(c: Call) -> None:
    (a, ashape, dtype), (b, bshape, _) = c.operands(c.arg(0, "x1"), c.arg(1, "x2"))
    axis = c.const(2, "axis", default=None)
    if axis is None:
        raise c.ctx.error("append without an axis (over the flattened tensors) is not supported")
    a_ = int(axis) % len(ashape)
    size = ashape[a_] + bshape[a_] if isinstance(ashape[a_], int) and isinstance(bshape[a_], int) else None
    out = tuple(size if i == a_ else d for i, d in enumerate(broadcast(ashape, bshape)))
    c.node("Concat", [a, b], out, {"axis": a_}, dtype=dtype, final=True)


@op((), ("einsum",))
def tf_einsum(c: Call) -> None:
    raise c.ctx.error("tf-keras saved tf.einsum without its tensor operands (it records only the "
                      "equation), so the call cannot be rebuilt")  # fmt: skip


@op(("Diagonal", "Trace"), ("linalg.diag_part", "linalg.trace"))
def diagonal(c: Call) -> None:
    """The two axes moved last and merged, the diagonal's flat positions gathered (on the last
    axis, as Keras puts it); a trace sums them."""
    x, shape, dtype = c.first()
    rank = len(shape)
    tf_last = not c.keras3  # tf.linalg.diag_part/trace: the last two axes, offset 0
    offset = 0 if tf_last else int(c.const(1, "offset", default=0))
    a1 = rank - 2 if tf_last else int(c.const(2, "axis1", default=0)) % rank
    a2 = rank - 1 if tf_last else int(c.const(3, "axis2", default=1)) % rank
    n1, n2 = shape[a1], shape[a2]
    if not (isinstance(n1, int) and isinstance(n2, int)):
        raise c.ctx.error(f"the diagonal of axes {a1} and {a2} needs their sizes known")
    rest = [i for i in range(rank) if i not in (a1, a2)]
    moved = (*tuple(shape[i] for i in rest), n1, n2)
    y = c.node("Transpose", [x], moved, {"perm": [*rest, a1, a2]}, dtype=dtype)
    flat = (*moved[:-2], n1 * n2)
    y = c.node("Reshape", [y, _i64(c, "shape", [0] * len(rest) + [n1 * n2])], flat, dtype=dtype)
    rows = range(max(0, -offset), min(n1, n2 - offset))
    positions = [i * n2 + i + offset for i in rows]
    out = (*moved[:-2], len(positions))
    trace = c.ctx.type.lower().endswith("trace")
    y = c.node("Gather", [y, _i64(c, "diagonal", positions)], out, {"axis": len(rest)}, dtype=dtype,
               final=not trace)  # fmt: skip
    if trace:
        axes = _i64(c, "axes", [len(rest)])
        c.node("ReduceSum", [y, axes], out[:-1], {"keepdims": 0}, dtype=dtype, final=True)


@op(("Hstack", "Vstack", "Dstack"), ("experimental.numpy.hstack", "experimental.numpy.vstack"))
def stack_numpy(c: Call) -> None:
    """NumPy's stacks of tensors of rank ≥ 3: concatenated on axis 1 (h), 0 (v) or 2 (d)."""
    values = c.arg(0, "xs", "tup")
    parts = c.operands(*(values if isinstance(values, list) else [values]))
    rank = len(parts[0][1])
    axis = {"h": 1, "v": 0, "d": 2}[c.ctx.type.rsplit(".", 1)[-1][0].lower()]
    if rank < 3 or (axis == 1 and rank < 2):
        raise c.ctx.error(f"stacking rank-{rank} tensors is not supported (only rank 3 or more)")
    sizes = [s[axis] for _, s, _ in parts]
    out = list(broadcast(*(s for _, s, _ in parts)))
    out[axis] = sum(sizes) if all(isinstance(d, int) for d in sizes) else None  # type: ignore[arg-type]
    c.node("Concat", [n for n, _, _ in parts], tuple(out), {"axis": axis}, dtype=parts[0][2], final=True)


@op(("ArraySplit", "Hsplit", "Vsplit", "Dsplit"), ())
def array_split(c: Call) -> None:
    """NumPy's array_split (n parts, the first `size % n` one longer) and h/v/dsplit (axis 1, 0, 2;
    equal parts or split points)."""
    x, shape, dtype = c.first()
    kind = c.ctx.type.rsplit(".", 1)[-1]
    axis = int(c.const(2, "axis", default=0)) if kind == "ArraySplit" else {"H": 1, "V": 0, "D": 2}[kind[0]]
    axis %= len(shape)
    size = _axis_size(c, shape, axis)
    spec = c.const(1, "indices_or_sections")
    if isinstance(spec, list | tuple):
        bounds = [0, *(min(int(s), size) for s in spec), size]
        sizes = [max(0, b - a) for a, b in itertools.pairwise(bounds)]
    else:
        n = int(spec)
        if kind != "ArraySplit" and size % n:
            raise c.ctx.error(f"{kind} of axis {axis} (size {size}) into {n} equal parts")
        sizes = [size // n + (1 if i < size % n else 0) for i in range(n)]
    _emit_split(c, x, shape, dtype, axis, sizes, squeeze=False)


@op(("Fliplr", "Flipud"), ())
def flip_lr_ud(c: Call) -> None:
    x, shape, dtype = c.first()
    _flipped(c, x, shape, dtype, [1 if c.ctx.type.endswith("Fliplr") else 0], final=True)


@op(("Rot90",), ("image.rot90",))
def rot90(c: Call) -> None:
    """k quarter turns in the plane of `axes`: each a flip of the second axis, then the two swapped."""
    x, shape, dtype = c.first()
    k = int(c.const(1, "k", default=1)) % 4
    a, b = (int(v) % len(shape) for v in c.const(2, "axes", default=(0, 1)))
    if k == 0:
        c.node("Identity", [x], shape, dtype=dtype, final=True)
        return
    perm = list(range(len(shape)))
    perm[a], perm[b] = perm[b], perm[a]
    for turn in range(k):
        x = _flipped(c, x, shape, dtype, [b], final=False)
        shape = tuple(shape[i] for i in perm)
        x = c.node("Transpose", [x], shape, {"perm": perm}, dtype=dtype, final=turn == k - 1)


@op(("Diff",), ("experimental.numpy.diff",))
def diff(c: Call) -> None:
    """x[1:] − x[:−1] along `axis`, `n` times."""
    x, shape, dtype = c.first()
    n = int(c.const(1, "n", default=1))
    axis = int(c.const(2, "axis", default=-1)) % len(shape)
    size = _axis_size(c, shape, axis)
    if n < 1 or n >= size:
        raise c.ctx.error(f"diff of order {n} along an axis of size {size} is not supported")
    for step in range(n):
        later = _slice(c, x, shape, dtype, axis, 1, size)
        earlier = _slice(c, x, shape, dtype, axis, 0, size - 1)
        size -= 1
        shape = tuple(size if i == axis else d for i, d in enumerate(shape))
        x = c.node("Sub", [later, earlier], shape, dtype=dtype, final=step == n - 1)


@op(("Select",), ())
def select(c: Call) -> None:
    """The first true condition's choice, else `default` (NumPy's select): Wheres from the last."""
    conditions, choices = c.arg(0, "condlist"), c.arg(1, "choicelist")
    if not isinstance(conditions, list) or not isinstance(choices, list) or len(conditions) != len(choices):
        raise c.ctx.error("select needs lists of conditions and choices of one length")
    values = c.operands(*choices, c.arg(2, "default", default=0))
    result, shape, _ = values[-1]
    for k in range(len(choices) - 1, -1, -1):
        cond, cshape, ctype = c.tensor(conditions[k], "bool", "condition")
        if ctype != "bool":
            cond = c.node("Cast", [cond], cshape, {"to": elem_type("bool")}, dtype="bool")
        shape = broadcast(cshape, values[k][1], shape)
        result = c.node("Where", [cond, values[k][0], result], shape, dtype=values[k][2], final=k == 0)


@op(("Slice",), ("slice",))
def slice_(c: Call) -> None:
    """x[start : start + size] on every axis (a size of −1: to the end)."""
    x, shape, dtype = c.first()
    starts = [int(v) for v in c.const(1, "start_indices", "begin")]
    sizes = [int(v) for v in c.const(2, "shape", "size")]
    ends = [_INT64_MAX if n == -1 else s + n for s, n in zip(starts, sizes, strict=True)]
    out = tuple(d if n == -1 and not isinstance(d, int) else (d - s if n == -1 else n)  # type: ignore[operator]
                for d, s, n in zip(shape, starts, sizes, strict=True))  # fmt: skip
    axes = list(range(len(starts)))
    ins = [x, _i64(c, "starts", starts), _i64(c, "ends", ends), _i64(c, "axes", axes)]
    c.node("Slice", ins, out, dtype=dtype, final=True)


@op(("Cross",), ("linalg.cross",))
def cross(c: Call) -> None:
    """The cross product of 3-vectors on the last axis: a₁b₂ − a₂b₁, a₂b₀ − a₀b₂, a₀b₁ − a₁b₀."""
    (a, ashape, dtype), (b, bshape, _) = c.operands(c.arg(0, "x1", "a"), c.arg(1, "x2", "b"))
    for name in ("axisa", "axisb", "axisc"):
        if int(c.const(99, name, default=-1)) != -1 or c.const(99, "axis", default=None) is not None:
            raise c.ctx.error("a cross product on another axis than the last is not supported")
    if ashape[-1] != 3 or bshape[-1] != 3:
        raise c.ctx.error("only 3-vectors are supported")
    shape = broadcast(ashape, bshape)
    one = tuple(1 if i == len(shape) - 1 else d for i, d in enumerate(shape))
    last = len(ashape) - 1

    def part(x: str, xshape: Shape, i: int) -> str:
        return _slice(c, x, xshape, dtype, last, i, i + 1)

    terms = []
    for i, j in ((1, 2), (2, 0), (0, 1)):
        left = c.node("Mul", [part(a, ashape, i), part(b, bshape, j)], one, dtype=dtype)
        right = c.node("Mul", [part(a, ashape, j), part(b, bshape, i)], one, dtype=dtype)
        terms.append(c.node("Sub", [left, right], one, dtype=dtype))
    c.node("Concat", terms, shape, {"axis": len(shape) - 1}, dtype=dtype, final=True)


@op(("Dot",), ())
def dot(c: Call) -> None:
    """NumPy's dot: Σ over a's last axis and b's second-to-last (b's only axis if a vector)."""
    (a, ashape, dtype), (b, bshape, _) = c.operands(c.arg(0, "x1"), c.arg(1, "x2"))
    if not ashape or not bshape:
        c.node("Mul", [a, b], broadcast(ashape, bshape), dtype=dtype, final=True)
        return
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    aterm = [next(letters) for _ in ashape]
    bterm = [next(letters) for _ in bshape]
    j = len(bshape) - 2 if len(bshape) >= 2 else 0
    bterm[j] = aterm[-1]
    kept = aterm[:-1] + [t for i, t in enumerate(bterm) if i != j]
    out = tuple(ashape[:-1]) + tuple(d for i, d in enumerate(bshape) if i != j)
    equation = f"{''.join(aterm)},{''.join(bterm)}->{''.join(kept)}"
    c.node("Einsum", [a, b], out, {"equation": equation}, dtype=dtype, final=True)


@op(("MultiHot",), ())
def multi_hot(c: Call) -> None:
    """one_hot on `axis`, then the maximum over the indices' axis 1 (0 for a vector), as Keras."""
    x, shape, itype = c.first()
    depth = int(c.const(1, "num_classes"))
    axis = int(c.const(2, "axis", default=-1)) % (len(shape) + 1)
    dtype = c.const(3, "dtype", default=None) or "float32"
    dtype = str(dtype.get("config", {}).get("name", "float32") if isinstance(dtype, dict) else dtype)
    grown = list(shape)
    grown.insert(axis, 1)
    hot: list[Dim] = list(shape)
    hot.insert(axis, depth)
    x = c.node("Unsqueeze", [x, _i64(c, "axes", [axis])], tuple(grown), dtype=itype)
    classes = np.arange(depth).astype(itype).reshape([depth if i == axis else 1 for i in range(len(hot))])
    hit = c.node("Equal", [x, c.ctx.constant("classes", classes)], tuple(hot), dtype="bool")
    ones = c.node("Cast", [hit], tuple(hot), {"to": elem_type(dtype)}, dtype=dtype)
    reduce_axis = 1 if len(shape) > 1 else 0
    out = tuple(d for i, d in enumerate(hot) if i != reduce_axis)
    c.node("ReduceMax", [ones], out, {"axes": [reduce_axis], "keepdims": 0}, dtype=dtype, final=True)


@op(("Copy",), ())
def copy(c: Call) -> None:
    x, shape, dtype = c.first()
    c.node("Identity", [x], shape, dtype=dtype, final=True)
