"""Attention layers: `Attention` (Luong), `AdditiveAttention` (Bahdanau), `MultiHeadAttention`.

Semantics as Keras computes them at inference (keras/src/layers/attention/; tf-keras the same):
- Attention, inputs `[query, value(, key)]` (key defaults to value): scores `q·kᵀ` (times the
  `scale` weight if `use_scale`), or with `score_mode="concat"`
  `concat_score_weight · Σ tanh(scale·(q + k))` over the features; `softmax(scores)·v`.
- AdditiveAttention: scores `Σ scale · tanh(q + k)` (`scale` a weight per feature, or 1).
- MultiHeadAttention(query, value, key=value): EinsumDense projections `abc,cde->abde` (kernel
  (dim, heads, key_dim), bias (heads, key_dim)), the query scaled by 1/√key_dim, scores
  `aecd,abcd->acbe`, softmax over the keys, `acbe,aecd->abcd` with the values, and the output
  projection `abcd,cde->abe`; for other ranks and `attention_axes` the equations Keras builds
  (`_build_attention_equation`), the softmax taken over all attended key axes jointly; with
  `return_attention_scores` the softmax weights are the second output.
- `use_causal_mask`: position i attends to j ≤ i; Keras subtracts 1e9 from the other scores
  (the same here, as a constant added before the softmax). Dropout is the identity at inference.
Both projections and scores run as ONNX Einsum with Keras' own equations.
"""

from __future__ import annotations

import math

import numpy as np

from netinspect.converters.keras.context import KerasContext
from netinspect.converters.keras.files import LazyArray
from netinspect.converters.keras.layers import layer
from netinspect.converters.keras.opcalls import TensorArg
from netinspect.ir import Dim

Shape = tuple[Dim, ...]
_MASKED = 1.0e9


def _scalar_weight(ctx: KerasContext, index: int, role: str) -> str:
    """A scalar weight as a one-element tensor (it broadcasts the same)."""
    return ctx.weight(index, role, (), transform=lambda a: np.reshape(a, (1,)), out_shape=(1,))


def _causal(ctx: KerasContext, scores: str, shape: Shape) -> str:
    """scores − 1e9 where the key comes after the query (the last two axes of `shape`)."""
    tq, tk = shape[-2], shape[-1]
    if not isinstance(tq, int) or not isinstance(tk, int):
        raise ctx.error("a causal mask needs known sequence lengths")
    mask = np.where(np.arange(tq)[:, None] >= np.arange(tk)[None, :], 0.0, -_MASKED).astype(np.float32)
    ctx.step("param", "use_causal_mask: later keys' scores lowered by 1e9, as Keras does")
    return ctx.node("Add", [scores, ctx.constant("causal_mask", mask)], shape)


def _finish(ctx: KerasContext, scores: str, value: str, shape: Shape, out_shape: Shape) -> None:
    """softmax over the keys, weights·value; the weights as a second output when Keras returns them.
    Rank-2 inputs were lifted to a batch of one (`_qvk`): the results drop that axis again."""
    if ctx.call_kwargs.get("use_causal_mask"):
        scores = _causal(ctx, scores, shape)
    weights = ctx.node("Softmax", [scores], shape, {"axis": -1})
    if len(ctx.input_shapes[0]) == 3:
        ctx.node("MatMul", [weights, value], out_shape, output=ctx.outputs[0])
        if len(ctx.outputs) > 1:
            ctx.node("Identity", [weights], shape, output=ctx.outputs[1])
        return
    axis = ctx.constant("axes", np.array([0], np.int64))
    results = [(ctx.node("MatMul", [weights, value], out_shape), out_shape), (weights, shape)]
    for (result, result_shape), wanted in zip(results, ctx.outputs, strict=False):
        ctx.node("Squeeze", [result, axis], result_shape[1:], output=wanted)


def _qvk(ctx: KerasContext) -> tuple[tuple[str, Shape], tuple[str, Shape], tuple[str, Shape]]:
    """(query, value, key); rank-2 ones (batch, features) as a batch of one whose steps are the batch
    rows: Keras' matmul of 2-D tensors attends across the batch (dl4j's keras-attention.h5)."""
    if len(ctx.inputs) not in (2, 3):
        raise ctx.error(f"takes [query, value] or [query, value, key], not {len(ctx.inputs)} tensors")
    pairs = list(zip(ctx.inputs, ctx.input_shapes, strict=True))
    if all(len(s) == 2 for _, s in pairs):
        ctx.step("param", "rank-2 inputs: attention across the batch rows, as Keras' 2-D matmul computes")
        axis = ctx.constant("axes", np.array([0], np.int64))
        pairs = [(ctx.node("Unsqueeze", [v, axis], (1, *s)), (1, *s)) for v, s in pairs]
    if any(len(s) != 3 for _, s in pairs):
        raise ctx.error("only (batch, time, features) or (batch, features) inputs are supported")
    return pairs[0], pairs[1], pairs[2] if len(pairs) == 3 else pairs[1]


@layer("Attention")
def convert_attention(ctx: KerasContext) -> None:
    (q, qs), (v, vs), (k, ks) = _qvk(ctx)
    use_scale = bool(ctx.cfg("use_scale", default=False))
    mode = str(ctx.cfg("score_mode", default="dot"))
    shape = (qs[0], qs[1], ks[1])
    index = 0
    scale = None
    if use_scale:
        scale = _scalar_weight(ctx, 0, "scale")
        index = 1
    if mode == "dot":
        kt = ctx.node("Transpose", [k], (ks[0], ks[2], ks[1]), {"perm": [0, 2, 1]})
        scores = ctx.node("MatMul", [q, kt], shape)
        if scale is not None:
            scores = ctx.node("Mul", [scores, scale], shape)
    elif mode == "concat":
        total = _pairwise_tanh(ctx, q, qs, k, ks, scale)
        scores = ctx.node("Mul", [total, _scalar_weight(ctx, index, "concat_score_weight")], shape)
    else:
        raise ctx.error(f"score_mode {mode!r} is not supported")
    _finish(ctx, scores, v, shape, (qs[0], qs[1], vs[2]))


@layer("AdditiveAttention")
def convert_additive_attention(ctx: KerasContext) -> None:
    (q, qs), (v, vs), (k, ks) = _qvk(ctx)
    features = qs[2]
    scale = ctx.weight(0, "scale", (features,)) if ctx.cfg("use_scale", default=True) else None
    scores = _pairwise_tanh(ctx, q, qs, k, ks, None, weight=scale)
    _finish(ctx, scores, v, (qs[0], qs[1], ks[1]), (qs[0], qs[1], vs[2]))


def _pairwise_tanh(
    ctx: KerasContext, q: str, qs: Shape, k: str, ks: Shape, inner: str | None, weight: str | None = None
) -> str:
    """Σ_features weight · tanh(inner · (q[:, :, None] + k[:, None])): shape (batch, Tq, Tk)."""
    qe = ctx.node("Unsqueeze", [q, ctx.constant("q_axis", np.array([2], np.int64))], (qs[0], qs[1], 1, qs[2]))
    ke = ctx.node("Unsqueeze", [k, ctx.constant("k_axis", np.array([1], np.int64))], (ks[0], 1, ks[1], ks[2]))
    grid = (qs[0], qs[1], ks[1], qs[2])
    summed = ctx.node("Add", [qe, ke], grid)
    if inner is not None:
        summed = ctx.node("Mul", [summed, inner], grid)
    t = ctx.node("Tanh", [summed], grid)
    if weight is not None:
        t = ctx.node("Mul", [t, weight], grid)
    axes = ctx.constant("feature_axis", np.array([3], np.int64))
    return ctx.node("ReduceSum", [t, axes], (qs[0], qs[1], ks[1]), {"keepdims": 0})


# -------------------------------------------------------------------------------------------------
# multi-head


_PROJECTIONS = {
    "query": ("/query_dense/", "/query/"),
    "key": ("/key_dense/", "/key/"),
    "value": ("/value_dense/", "/value/"),
    "output": ("/output_dense/", "/attention_output/"),
}


def _projection(ctx: KerasContext, role: str) -> tuple[LazyArray, LazyArray | None]:
    """(kernel, bias) of one EinsumDense: Keras 3 keeps them under `<role>_dense/vars`, tf-keras
    names them `<role>/kernel:0` (`attention_output` for the output)."""
    marks = _PROJECTIONS[role]
    found = [a for a in ctx.arrays if any(m in f"/{a.name}" for m in marks)]
    kernels = [a for a in found if len(a.shape) == 3]
    biases = [a for a in found if len(a.shape) < 3]
    if len(kernels) != 1 or len(biases) > 1:
        raise ctx.error(f"cannot tell the {role} projection's weights from {[a.name for a in found]}")
    return kernels[0], biases[0] if biases else None


def _lazy(ctx: KerasContext, array: LazyArray, role: str) -> str:
    index = next(i for i, a in enumerate(ctx.arrays) if a is array)
    return ctx.weight(index, role, tuple(array.shape))


def _letters(count: int, offset: int = 0) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[offset : offset + count]


def _project(ctx: KerasContext, x: str, shape: Shape, role: str) -> tuple[str, Shape]:
    """EinsumDense (…, dim) × (dim, heads, size) → (…, heads, size), as Keras' `_build_proj_equation`."""
    kernel, bias = _projection(ctx, role)
    if kernel.shape[0] != shape[-1] and isinstance(shape[-1], int):
        raise ctx.error(f"the {role} kernel {kernel.shape} does not take {shape[-1]} features")
    free = _letters(len(shape) - 1)
    bound, heads, size = _letters(3, len(free))
    out = (*shape[:-1], kernel.shape[1], kernel.shape[2])
    equation = f"{free}{bound},{bound}{heads}{size}->{free}{heads}{size}"
    y = ctx.node("Einsum", [x, _lazy(ctx, kernel, f"{role}_kernel")], out, {"equation": equation})
    if bias is not None:
        y = ctx.node("Add", [y, _lazy(ctx, bias, f"{role}_bias")], out)
    return y, out


def _attention_equations(rank: int, axes: tuple[int, ...]) -> tuple[str, str, list[int], list[int]]:
    """Keras' `_build_attention_equation` for projected tensors of `rank` (batch dims, attention
    dims, heads, channels): the score and combine equations, the batch dims and the key's letters."""
    target = _letters(rank)
    batch = [i for i in range(rank) if i not in axes and i != rank - 1]
    source, offset = "", rank
    for i in range(rank):
        if i in batch or i == rank - 1:
            source += target[i]
        else:
            source += _letters(1, offset)
            offset += 1
    product = "".join([target[i] for i in batch] + [target[i] for i in axes] + [source[i] for i in axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}", batch, list(axes)


def _softmax_over(ctx: KerasContext, scores: str, shape: Shape, count: int) -> str:
    """Keras' Softmax over the last `count` axes jointly: exp(x − max) / Σ exp(x − max)."""
    if count == 1:
        return ctx.node("Softmax", [scores], shape, {"axis": -1})
    axes = list(range(len(shape) - count, len(shape)))
    kept = tuple(1 if i in axes else d for i, d in enumerate(shape))
    top = ctx.node("ReduceMax", [scores], kept, {"axes": axes, "keepdims": 1})
    e = ctx.node("Exp", [ctx.node("Sub", [scores, top], shape)], shape)
    total = ctx.node("ReduceSum", [e, ctx.constant("axes", np.array(axes, np.int64))], kept, {"keepdims": 1})
    return ctx.node("Div", [e, total], shape)


@layer("MultiHeadAttention")
def convert_multi_head_attention(ctx: KerasContext) -> None:
    """Keras' equations for any rank and `attention_axes`; the softmax weights as the second
    output when the call returns the attention scores."""
    if len(ctx.inputs) not in (2, 3):
        raise ctx.error(f"takes query, value and an optional key, not {len(ctx.inputs)} tensors")
    tensors = dict(enumerate(zip(ctx.inputs, ctx.input_shapes, strict=True)))

    def named(key: str, fallback: int | None) -> tuple[str, Shape] | None:
        given = ctx.call_kwargs.get(key)
        if isinstance(given, TensorArg):
            return tensors[given.index]
        return tensors.get(fallback) if fallback is not None else None

    query = tensors[0]
    value = named("value", 1)
    key = named("key", 2) or value
    assert value is not None and key is not None
    rank = len(query[1]) + 1  # projected: (batch, …, heads, channels)
    if len(query[1]) < 3 or any(len(s) != len(query[1]) for _, s in (value, key)):
        raise ctx.error("query, key and value need one rank of at least 3")
    given = ctx.cfg("attention_axes", default=None)
    if given is None:
        axes = tuple(range(1, rank - 2))
    else:  # Keras 3 counts a negative axis from the query's rank, tf-keras from the projected one
        values = given if isinstance(given, list) else [given]
        axes = tuple(
            int(a) if int(a) >= 0 else int(a) + (rank - 1 if ctx.env.major >= 3 else rank) for a in values
        )
    if any(not 0 < a < rank - 2 for a in axes):
        raise ctx.error(f"attention_axes {given} must name axes between the batch and the features")
    q, qs = _project(ctx, *query, "query")
    k, ks = _project(ctx, *key, "key")
    v, vs = _project(ctx, *value, "value")
    key_dim = int(qs[-1])  # type: ignore[arg-type]
    q = ctx.node("Mul", [q, ctx.scalar("query_scale", 1.0 / math.sqrt(key_dim))], qs)
    dot, combine, batch, attended = _attention_equations(rank, axes)
    scores_shape = tuple([qs[i] for i in batch] + [qs[i] for i in attended] + [ks[i] for i in attended])
    scores = ctx.node("Einsum", [k, q], scores_shape, {"equation": dot})
    if ctx.call_kwargs.get("use_causal_mask"):
        if len(attended) != 1:
            raise ctx.error("use_causal_mask with several attention axes is not supported")
        scores = _causal(ctx, scores, scores_shape)
    weights = _softmax_over(ctx, scores, scores_shape, len(attended))
    heads = (*qs[:-1], vs[-1])
    combined = ctx.node("Einsum", [weights, v], heads, {"equation": combine})
    kernel, bias = _projection(ctx, "output")
    free = _letters(rank - 2)
    h, c, o = _letters(3, len(free))
    out = (*qs[:-2], kernel.shape[2])
    final = ctx.outputs[0]
    equation = f"{free}{h}{c},{h}{c}{o}->{free}{o}"
    y = ctx.node(
        "Einsum", [combined, _lazy(ctx, kernel, "output_kernel")], out, {"equation": equation},
        output=final if bias is None else None,
    )  # fmt: skip
    if bias is not None:
        ctx.node("Add", [y, _lazy(ctx, bias, "output_bias")], out, output=final)
    if len(ctx.outputs) > 1:
        ctx.node("Identity", [weights], scores_shape, output=ctx.outputs[1])
