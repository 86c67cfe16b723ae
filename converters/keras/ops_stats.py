"""Statistics of functional graphs (Keras 3 `keras.ops`): NaN-ignoring reductions, quantiles
(median, percentile), the trapezoid rule, `allclose`, the exponent and saturating casts, and
`digitize` against constant bins.

Quantiles follow Keras' TensorFlow backend (`_quantile`, after tfp.stats.percentile): the axis
sorted ascending (a full TopK), the positions `(n − 1)·q` taken by `method` — known numbers here,
since `q` and the axis length are — and `linear` interpolating between the two neighbours.
"""

from __future__ import annotations

import numpy as np

from netinspect.converters.keras.ops import Call, TensorArg, _axes, broadcast, op
from netinspect.converters.keras.ops_math import LN10, Expr, _pair, _reduce, _reduction
from netinspect.dtypes import elem_type


def _clean(e: Expr, x: str, fill: float) -> str:
    """x with its NaNs replaced by `fill`."""
    return e("Where", e("IsNaN", x, dtype="bool"), e.k(fill), x)


@op(("Nansum", "Nanprod"), ())
def nansum(c: Call) -> None:
    x, shape, dtype, axes, keep, out, _ = _reduction(c)
    e = Expr(c, shape, dtype)
    product = c.ctx.type.endswith("Nanprod")
    op_type = "ReduceProd" if product else "ReduceSum"
    _reduce(e, op_type, _clean(e, x, 1.0 if product else 0.0), axes, keep, out, final=True)


@op(("Nanmean",), ())
def nanmean(c: Call) -> None:
    """Σ of the numbers / how many there are (NaN where there are none)."""
    x, shape, dtype, axes, keep, out, _ = _reduction(c)
    e = Expr(c, shape, dtype)
    total = _reduce(e, "ReduceSum", _clean(e, x, 0.0), axes, keep, out)
    present = e("Cast", e("Not", e("IsNaN", x, dtype="bool"), dtype="bool"), attrs={"to": elem_type(dtype)})
    count = _reduce(e, "ReduceSum", present, axes, keep, out)
    e("Div", total, count, shape=out, final=True)


@op(("Nanmax", "Nanmin"), ())
def nanmax(c: Call) -> None:
    """The extreme of the numbers (NaNs as ∓inf), NaN where all are NaN."""
    x, shape, dtype, axes, keep, out, _ = _reduction(c)
    e = Expr(c, shape, dtype)
    maximum = c.ctx.type.endswith("Nanmax")
    cleaned = _clean(e, x, -np.inf if maximum else np.inf)
    extreme = _reduce(e, "ReduceMax" if maximum else "ReduceMin", cleaned, axes, keep, out)
    nan = e("Cast", e("IsNaN", x, dtype="bool"), attrs={"to": elem_type("int32")}, dtype="int32")
    all_nan = e("Cast", _reduce(e, "ReduceMin", nan, axes, keep, out, dtype="int32"),
                attrs={"to": elem_type("bool")}, dtype="bool", shape=out)  # fmt: skip
    e("Where", all_nan, e.k(np.nan), extreme, shape=out, final=True)


@op(("Nancumsum",), ())
def nancumsum(c: Call) -> None:
    x, shape, dtype = c.first()
    axis = c.const(1, "axis", default=None)
    if axis is None:
        raise c.ctx.error("nancumsum over the flattened tensor is not supported")
    e = Expr(c, shape, dtype)
    axis_c = c.ctx.constant("axis", np.array(int(axis) % len(shape), np.int64))
    e("CumSum", _clean(e, x, 0.0), axis_c, final=True)


@op(("Median", "Quantile", "Percentile"), ())
def quantile(c: Call) -> None:
    x, shape, dtype = c.first()
    kind = c.ctx.type.rsplit(".", 1)[-1]
    q = 0.5 if kind == "Median" else c.const(1, "q")
    if isinstance(q, list | tuple | np.ndarray) and np.ndim(q):
        raise c.ctx.error("quantiles at several q at once are not supported")
    q = float(np.asarray(q)) / (100.0 if kind == "Percentile" else 1.0)
    method = (
        "linear"
        if kind == "Median"
        else str(c.const(3 if kind != "Median" else 99, "method", default="linear"))
    )
    axis = c.const(2 if kind != "Median" else 1, "axis", default=None)
    keep = bool(c.const(4 if kind != "Median" else 2, "keepdims", default=False))
    if axis is None or (isinstance(axis, list | tuple) and len(axis) != 1):
        raise c.ctx.error("a quantile needs one axis (not the flattened tensor)")
    a = _axes(axis, len(shape))[0]
    n = shape[a]
    if not isinstance(n, int):
        raise c.ctx.error(f"a quantile along axis {a} needs its size known")
    position = (n - 1) * q
    lower = int(np.clip(np.floor(position), 0, n - 1))
    upper = int(np.clip(np.ceil(position), 0, n - 1))
    picks: list[tuple[int, float]]
    if method == "lower":
        picks = [(lower, 1.0)]
    elif method == "higher":
        picks = [(upper, 1.0)]
    elif method == "nearest":
        picks = [(int(np.clip(np.round(position), 0, n - 1)), 1.0)]
    elif method == "midpoint":
        picks = [(lower, 0.5), (upper, 0.5)]
    elif method == "linear":
        below = max(upper - 1, 0)
        above = min(below + 1, n - 1)
        fraction = above - position
        picks = [(below, fraction), (above, 1.0 - fraction)]
    else:
        raise c.ctx.error(f"quantile method {method!r} is not supported")
    e = Expr(c, shape, dtype)
    k = c.ctx.constant("k", np.array([n], np.int64))
    ordered, _ = c.ctx.node_multi("TopK", [x, k], [(shape, dtype), (shape, "int64")],
                                  {"axis": a, "largest": 0, "sorted": 1})  # fmt: skip
    kept = tuple(1 if i == a else d for i, d in enumerate(shape))
    out = kept if keep else tuple(d for i, d in enumerate(shape) if i != a)
    terms = []
    for index, weight in picks:
        if weight == 0.0:
            continue
        taken = e("Gather", ordered, c.ctx.constant("at", np.array([index], np.int64)), attrs={"axis": a},
                  shape=kept)  # fmt: skip
        terms.append(taken if weight == 1.0 else e("Mul", taken, e.k(weight), shape=kept))
    value = terms[0] if len(terms) == 1 else e("Add", *terms, shape=kept)
    if keep:
        e("Identity", value, shape=out, final=True)
    else:
        e("Squeeze", value, c.ctx.constant("axes", np.array([a], np.int64)), shape=out, final=True)


@op(("Trapezoid",), ())
def trapezoid(c: Call) -> None:
    """Σ (y[1:] + y[:−1])/2 · dx along `axis` (sample points `x` are not supported)."""
    y, shape, dtype = c.first()
    if c.arg(1, "x", default=None) is not None:
        raise c.ctx.error("trapezoid with sample points x is not supported")
    dx = float(c.const(2, "dx", default=1.0))
    a = int(c.const(3, "axis", default=-1)) % len(shape)
    n = shape[a]
    if not isinstance(n, int) or n < 2:
        raise c.ctx.error(f"trapezoid along axis {a} needs its size known (at least 2)")
    e = Expr(c, shape, dtype)
    part = tuple(n - 1 if i == a else d for i, d in enumerate(shape))

    def cut(start: int, stop: int) -> str:
        bounds = [
            c.ctx.constant(h, np.array([v], np.int64))
            for h, v in (("starts", start), ("ends", stop), ("axes", a))
        ]
        return e("Slice", y, *bounds, shape=part)

    heights = e("Mul", e("Add", cut(1, n), cut(0, n - 1), shape=part), e.k(0.5 * dx), shape=part)
    out = tuple(d for i, d in enumerate(shape) if i != a)
    _reduce(e, "ReduceSum", heights, [a], False, out, final=True)


@op(("AllClose",), ())
def allclose(c: Call) -> None:
    """Every |x − y| ≤ atol + rtol·|y| (NaNs equal with `equal_nan`): one boolean."""
    e, x, y, _ = _pair(c)
    rtol = float(c.const(2, "rtol", default=1e-5))
    atol = float(c.const(3, "atol", default=1e-8))
    bound = e("Add", e.k(atol), e("Mul", e.k(rtol), e("Abs", y)))
    close = e("LessOrEqual", e("Abs", e("Sub", x, y)), bound, dtype="bool")
    if c.const(4, "equal_nan", default=False):
        nans = e("And", e("IsNaN", x, dtype="bool"), e("IsNaN", y, dtype="bool"), dtype="bool")
        close = e("Or", close, nans, dtype="bool")
    ints = e("Cast", close, attrs={"to": elem_type("int32")}, dtype="int32")
    every = _reduce(e, "ReduceMin", ints, list(range(len(e.shape))), False, (), dtype="int32")
    e("Cast", every, attrs={"to": elem_type("bool")}, dtype="bool", shape=(), final=True)


@op(("Ldexp",), ())
def ldexp(c: Call) -> None:
    """x·2^e (x itself where it is 0 or infinite, as Keras)."""
    (x, xs, dtype), (exponent, es, etype) = c.operands(c.arg(0, "x1"), c.arg(1, "x2"))
    e = Expr(c, broadcast(xs, es), dtype)
    if etype != dtype:
        exponent = e("Cast", exponent, attrs={"to": elem_type(dtype)}, shape=es)
    scaled = e("Mul", x, e("Pow", e.k(2.0), exponent, shape=es))
    keep = e("Or", e("IsInf", x, dtype="bool", shape=xs), e("Equal", x, e.k(0.0), dtype="bool", shape=xs),
             dtype="bool", shape=xs)  # fmt: skip
    e("Where", keep, x, scaled, final=True)


@op(("SaturateCast",), ("dtypes.saturate_cast", "saturate_cast"))
def saturate_cast(c: Call) -> None:
    """Clipped to the target type's range, then cast."""
    x, shape, dtype = c.first()
    target = c.const(1, "dtype")
    target = str(target.get("config", {}).get("name") if isinstance(target, dict) else target)
    info = np.iinfo(target) if np.dtype(target).kind in "iu" else np.finfo(target)
    source = np.finfo(dtype) if np.dtype(dtype).kind == "f" else np.iinfo(dtype)
    lo, hi = max(float(info.min), float(source.min)), min(float(info.max), float(source.max))
    e = Expr(c, shape, dtype)
    clipped = e("Clip", x, e.k(lo), e.k(hi))
    e("Cast", clipped, attrs={"to": elem_type(target)}, dtype=target, final=True)


@op(("Nanvar", "Nanstd"), ())
def nanvar(c: Call) -> None:
    """The variance (standard deviation) of the numbers, NaNs left out of both means."""
    x, shape, dtype, axes, keep, out, kept = _reduction(c)
    e = Expr(c, shape, dtype)
    present = e("Cast", e("Not", e("IsNaN", x, dtype="bool"), dtype="bool"), attrs={"to": elem_type(dtype)})
    count = _reduce(e, "ReduceSum", present, axes, True, kept)
    mean = e("Div", _reduce(e, "ReduceSum", _clean(e, x, 0.0), axes, True, kept), count, shape=kept)
    d = _clean(e, e("Sub", x, mean), 0.0)
    total = _reduce(e, "ReduceSum", e("Mul", d, d), axes, keep, out)
    count_out = count if keep else _reduce(e, "ReduceSum", present, axes, False, out)
    std = c.ctx.type.endswith("Nanstd")
    var = e("Div", total, count_out, shape=out, final=not std)
    if std:
        e("Sqrt", var, shape=out, final=True)


def _flat_constant(c: Call, value: object, dtype: str, what: str) -> np.ndarray:
    if isinstance(value, TensorArg):
        raise c.ctx.error(f"{what} computed by the model is not supported (only constants)")
    return np.asarray(value, dtype=dtype).ravel()


def _count_below(c: Call, x: str, shape: tuple, dtype: str, edges: np.ndarray, inclusive: bool,
                 result: str) -> None:  # fmt: skip
    """How many `edges` lie below each element (≤ with `inclusive`), as `result`."""
    e = Expr(c, shape, dtype)
    grown = (*shape, 1)
    column = e("Unsqueeze", x, c.ctx.constant("axes", np.array([len(shape)], np.int64)), shape=grown)
    full = (*shape, len(edges))
    below = e(
        "LessOrEqual" if inclusive else "Less",
        c.ctx.constant("edges", edges),
        column,
        dtype="bool",
        shape=full,
    )
    ones = e("Cast", below, attrs={"to": elem_type(result)}, dtype=result, shape=full)
    _reduce(e, "ReduceSum", ones, [len(shape)], False, shape, dtype=result, final=True)


@op(("Digitize",), ())
def digitize(c: Call) -> None:
    """The bin of each element among increasing constant `bins`: how many bins are ≤ it."""
    x, shape, dtype = c.first()
    bins = _flat_constant(c, c.arg(1, "bins"), dtype, "bins")
    if np.any(np.diff(bins) < 0):
        raise c.ctx.error("digitize with decreasing bins is not supported")
    _count_below(c, x, shape, dtype, bins, inclusive=True, result="int32")


@op(("SegmentSum", "SegmentMax", "SegmentMin", "SegmentProd"), ("math.unsorted_segment_sum",
    "math.unsorted_segment_max", "math.unsorted_segment_min", "math.unsorted_segment_prod"))  # fmt: skip
def segment(c: Call) -> None:
    """Per segment s, the rows whose id is s reduced: a (segments, rows) membership mask from the
    ids, then a weighted sum, or a masked max/min/product over the rows. An empty segment holds
    TensorFlow's value: 0, the type's lowest (max) or highest (min), 1. Ids outside the segments
    count nowhere. Needs `num_segments` (otherwise the shape depends on the ids' values)."""
    data, shape, dtype = c.tensor(c.arg(0, "data"))
    ids, ishape, itype = c.tensor(c.arg(1, "segment_ids"))
    count = c.const(2, "num_segments", default=None)
    if count is None:
        raise c.ctx.error("segments without num_segments: the output's size depends on the ids' values")
    if c.keras3 and c.const(3, "sorted", default=False):
        raise c.ctx.error("sorted segments are computed without num_segments by TensorFlow; not supported")
    if len(ishape) != 1:
        raise c.ctx.error("only one id per row (1-D segment ids) is supported")
    n = int(count)
    rest = shape[1:]
    e = Expr(c, (n, *shape), dtype)
    row_ids = e(
        "Unsqueeze", ids, c.ctx.constant("axes", np.array([0], np.int64)), dtype=itype, shape=(1, *ishape)
    )
    segments = c.ctx.constant("segments", np.arange(n).astype(itype).reshape(n, 1))
    member = e("Equal", row_ids, segments, dtype="bool", shape=(n, *ishape))
    kind = c.ctx.type.rsplit(".", 1)[-1].lower().replace("unsorted_segment_", "segment")
    out = (n, *rest)
    if kind == "segmentsum":
        letters = "abcdefghijklmnopqrstuvwxyz"[: len(rest)]
        weights = e("Cast", member, attrs={"to": elem_type(dtype)}, shape=(n, *ishape))
        e("Einsum", weights, data, attrs={"equation": f"sn,n{letters}->s{letters}"}, shape=out, final=True)
        return
    info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else np.iinfo(dtype)
    fill = {"segmentmax": info.min, "segmentmin": info.max, "segmentprod": 1}[kind]
    mask = e("Reshape", member, c.ctx.constant("shape", np.array([n, -1, *[1] * len(rest)], np.int64)),
             dtype="bool", shape=(n, *ishape, *[1] * len(rest)))  # fmt: skip
    rows = e("Unsqueeze", data, c.ctx.constant("axes", np.array([0], np.int64)), shape=(1, *shape))
    picked = e("Where", mask, rows, e.k(fill), shape=(n, *shape))
    op_type = {"segmentmax": "ReduceMax", "segmentmin": "ReduceMin", "segmentprod": "ReduceProd"}[kind]
    _reduce(e, op_type, picked, [1], False, out, final=True)


@op(("Nanargmax", "Nanargmin"), ())
def nanargmax(c: Call) -> None:
    """The arg-max (min) of the numbers (NaN as ∓inf), −1 where all are NaN."""
    x, shape, dtype = c.first()
    axis = c.const(1, "axis", default=None)
    if axis is None:
        raise c.ctx.error("an arg-max over the flattened tensor is not supported")
    keep = bool(c.const(2, "keepdims", default=False))
    a = _axes(axis, len(shape))[0]
    kept = tuple(1 if i == a else d for i, d in enumerate(shape))
    out = kept if keep else tuple(d for i, d in enumerate(shape) if i != a)
    maximum = c.ctx.type.endswith("Nanargmax")
    e = Expr(c, shape, dtype)
    cleaned = _clean(e, x, -np.inf if maximum else np.inf)
    attrs = {"axis": a, "keepdims": int(keep)}
    index = e("ArgMax" if maximum else "ArgMin", cleaned, attrs=attrs, dtype="int64", shape=out)
    index = e("Cast", index, attrs={"to": elem_type("int32")}, dtype="int32", shape=out)
    nan = e("Cast", e("IsNaN", x, dtype="bool"), attrs={"to": elem_type("int32")}, dtype="int32")
    all_nan = e("Cast", _reduce(e, "ReduceMin", nan, [a], keep, out, dtype="int32"),
                attrs={"to": elem_type("bool")}, dtype="bool", shape=out)  # fmt: skip
    e("Where", all_nan, c.ctx.constant("none", np.asarray(-1, np.int32)), index, dtype="int32", shape=out,
      final=True)  # fmt: skip


@op(("CategoricalCrossentropy", "BinaryCrossentropy", "SparseCategoricalCrossentropy"), ())
def crossentropy(c: Call) -> None:
    """Keras' losses per sample as its TensorFlow backend computes them: from logits by the
    log-softmax (log-sigmoid) form; from probabilities clipped to [ε, 1 − ε] (ε = 1e-7), the
    categorical ones renormalized first. Probabilities a sigmoid or softmax made count as their
    logits, as in Keras."""
    kind = c.ctx.type.rsplit(".", 1)[-1]
    target, tshape, ttype = c.tensor(c.arg(0, "target"))
    output, oshape, dtype = c.tensor(c.arg(1, "output"))
    logits = bool(c.const(2, "from_logits", default=False))
    axis = int(c.const(3, "axis", default=-1)) % len(oshape)
    producer = next((n for n in reversed(c.ctx.builder.nodes) if output in n.outputs), None)
    if producer is not None and producer.op_type in ("Sigmoid", "Softmax"):
        # Keras' sigmoid and softmax keep their input on the result (`_keras_logits`), and every
        # loss takes that as its logits instead: the loss of the logits, whatever from_logits says
        output, logits = producer.inputs[0], True
    e = Expr(c, oshape, dtype)
    eps = 1e-7
    if kind == "BinaryCrossentropy":
        if logits:  # max(o, 0) − o·t + log(1 + exp(−|o|))
            loss = e("Add", e("Sub", e("Relu", output), e("Mul", output, target)),
                     e("Log", e("Add", e.k(1.0), e("Exp", e("Neg", e("Abs", output))))))  # fmt: skip
            e("Identity", loss, final=True)
            return
        p = e("Clip", output, e.k(eps), e.k(1.0 - eps))
        positive = e("Mul", target, e("Log", p))
        negative = e("Mul", e("Sub", e.k(1.0), target), e("Log", e("Sub", e.k(1.0), p)))
        e("Neg", e("Add", positive, negative), final=True)
        return
    out = tuple(d for i, d in enumerate(oshape) if i != axis)
    if logits:
        log_p = e("LogSoftmax", output, attrs={"axis": axis})
    elif kind == "CategoricalCrossentropy":
        total = _reduce(
            e, "ReduceSum", output, [axis], True, tuple(1 if i == axis else d for i, d in enumerate(oshape))
        )
        log_p = e("Log", e("Clip", e("Div", output, total), e.k(eps), e.k(1.0 - eps)))
    else:  # sparse: TensorFlow's sparse softmax cross-entropy of log(clip(p)) as logits
        log_p = e("LogSoftmax", e("Log", e("Clip", output, e.k(eps), e.k(1.0 - eps))), attrs={"axis": axis})
    if kind == "CategoricalCrossentropy":
        _reduce(e, "ReduceSum", e("Neg", e("Mul", target, log_p)), [axis], False, out, final=True)
        return
    if axis != len(oshape) - 1:
        raise c.ctx.error("sparse categorical cross-entropy on another axis than the last")
    if len(tshape) == len(oshape):
        target = e(
            "Squeeze", target, c.ctx.constant("axes", np.array([axis], np.int64)), dtype=ttype, shape=out
        )
    index = e("Cast", target, attrs={"to": elem_type("int64")}, dtype="int64", shape=out)
    column = e("Unsqueeze", index, c.ctx.constant("axes", np.array([axis], np.int64)), dtype="int64",
               shape=(*out, 1))  # fmt: skip
    picked = e("GatherElements", log_p, column, attrs={"axis": axis}, shape=(*out, 1))
    e("Neg", e("Squeeze", picked, c.ctx.constant("axes", np.array([axis], np.int64)), shape=out), shape=out,
      final=True)  # fmt: skip


@op(("Vdot",), ())
def vdot(c: Call) -> None:
    """Σ x·y over both tensors flattened: one number."""
    (x, xs, dtype), (y, ys, _) = c.operands(c.arg(0, "x1"), c.arg(1, "x2"))
    e = Expr(c, broadcast(xs, ys), dtype)
    product = e("Mul", x, y)
    _reduce(e, "ReduceSum", product, list(range(len(e.shape))), False, (), final=True)


@op(("PSNR",), ())
def psnr(c: Call) -> None:
    """20·log10(max_val) − 10·log10(mean((x − y)²)) over the whole tensors."""
    (x, xs, dtype), (y, ys, _) = c.operands(c.arg(0, "x1"), c.arg(1, "x2"))
    peak = float(c.const(2, "max_val"))
    e = Expr(c, broadcast(xs, ys), dtype)
    d = e("Sub", x, y)
    mse = _reduce(e, "ReduceMean", e("Mul", d, d), list(range(len(e.shape))), False, ())
    db = e("Mul", e("Div", e("Log", mse, shape=()), e.k(LN10), shape=()), e.k(10.0), shape=())
    e("Sub", e.k(20.0 * np.log10(peak)), db, shape=(), final=True)


@op(("Nanmedian",), ())
def nanmedian(c: Call) -> None:
    """The median of every value that is not NaN (NaN when there is none), as Keras' TensorFlow
    backend computes it over the flattened tensor: NaNs sorted last as +inf, the count of the
    others n known at run time, Keras' linear positions from (n − 1) / 2. Along an axis Keras'
    TensorFlow backend cannot run it in a model (it reads a shape as Python ints; measured)."""
    x, shape, dtype = c.first()
    if c.const(99, "axis", default=None) is not None:
        raise c.ctx.error("nanmedian along an axis: Keras' TensorFlow backend cannot run it in a model")
    if not dtype.startswith("float"):
        raise c.ctx.error("nanmedian takes floating-point values")
    e = Expr(c, (None,), dtype)
    flat = e("Reshape", x, c.ctx.constant("flat", np.array([-1], np.int64)))
    nan = e("IsNaN", flat, dtype="bool")
    filled = e("Where", nan, e.k(np.inf), flat)
    size = e("Shape", flat, dtype="int64", shape=(1,))
    ordered, _ = c.ctx.node_multi("TopK", [filled, size], [((None,), dtype), ((None,), "int64")],
                                  {"largest": 0, "sorted": 1})  # fmt: skip
    valid = e("Cast", e("Not", nan, dtype="bool"), attrs={"to": elem_type(dtype)})
    count = e("ReduceSum", valid, attrs={"keepdims": 0}, shape=())
    s = Expr(c, (), dtype)
    last = s("Sub", count, s.k(1.0))
    exact = s("Mul", last, s.k(0.5))
    higher = s("Min", s("Max", s("Ceil", exact), s.k(0.0)), last)
    smaller = s("Max", s("Sub", higher, s.k(1.0)), s.k(0.0))
    larger = s("Min", s("Add", smaller, s.k(1.0)), last)
    fraction = s("Sub", larger, exact)

    def at(position: str) -> str:
        index = s("Cast", position, attrs={"to": elem_type("int64")}, dtype="int64")
        return s("Gather", ordered, index, attrs={"axis": 0})

    value = s("Add", s("Mul", at(larger), s("Sub", s.k(1.0), fraction)), s("Mul", at(smaller), fraction))
    empty = s("Equal", count, s.k(0.0), dtype="bool")
    keep = bool(c.const(99, "keepdims", default=False))
    result = s("Where", empty, s.k(np.nan), value, final=not keep)
    if keep:
        ones = c.ctx.constant("shape", np.ones(len(shape), np.int64))
        c.node("Reshape", [result, ones], (1,) * len(shape), dtype=dtype, final=True)
