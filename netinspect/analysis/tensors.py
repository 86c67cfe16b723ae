"""Statistics of weight tensors: what a person wants on clicking a weight, at a bounded cost.

`info --tensor` and the HTML viewer both use these. Reading is bounded by a byte budget: a tensor
that fits the remaining budget is read whole (exact figures); a larger one is read in a few
evenly spaced contiguous slices (memory-mapped weights then touch only those pages) and its
figures say they are sampled. So the viewer of a 1 GB model reads a few hundred MB at most.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from netinspect.errors import NetinspectError
from netinspect.ir import Graph, Tensor, dtype_itemsize
from netinspect.walk import all_graphs

FIRST_VALUES = 16
SMALL = 64
"""A tensor with at most this many elements shows all its values (Reshape shapes, Slice starts)."""
HISTOGRAM_BINS = 24
SAMPLE_SLICES = 16
SAMPLE_ELEMENTS = 1 << 20


@dataclass
class Budget:
    """Bytes that may still be read whole; shared by every tensor of one report."""

    remaining: int = 256 << 20

    def take(self, nbytes: int) -> bool:
        if nbytes > self.remaining:
            return False
        self.remaining -= nbytes
        return True


def find_tensor(graph: Graph, name: str) -> Tensor | None:
    """A constant by name: an initializer of any (sub)graph, or the value of a Constant node."""
    for tensor in constant_tensors(graph):
        if tensor.name == name:
            return tensor
    return None


def constant_tensors(graph: Graph) -> Iterator[Tensor]:
    """Every initializer of the model and its subgraphs, then every Constant node's value."""
    for g in all_graphs(graph):
        yield from g.tensors.values()
        for node in g.nodes:
            value = node.attributes.get("value")
            if node.op_type == "Constant" and isinstance(value, Tensor):
                yield Tensor(node.outputs[0], value.dtype, value.shape, loader=value.numpy)


def _flat_sample(tensor: Tensor, size: int, nbytes: int, budget: Budget) -> tuple[np.ndarray, bool]:
    """The values to measure (flattened) and whether they are a sample rather than the whole."""
    array = tensor.numpy()
    if budget.take(nbytes) or size <= SAMPLE_ELEMENTS:
        return np.asarray(array).reshape(-1), False
    flat = array.reshape(-1)
    piece = SAMPLE_ELEMENTS // SAMPLE_SLICES
    starts = np.linspace(0, flat.size - piece, SAMPLE_SLICES).astype(np.int64)
    return np.concatenate([np.asarray(flat[s : s + piece]) for s in starts]), True


def tensor_stats(tensor: Tensor, budget: Budget | None = None) -> dict[str, Any]:
    """Shape, dtype, first (or all) values, min/max/mean/std, zero/NaN/Inf counts and a histogram.

    Written for many small tensors as much as for a few big ones (a 10,000-node graph has 15,000
    weights): a handful of NumPy calls per tensor, NaN/Inf searched only when min or max says so.
    """
    budget = budget or Budget()
    size = math.prod(tensor.shape)
    nbytes = size * dtype_itemsize(tensor.dtype)
    out: dict[str, Any] = {
        "name": tensor.name,
        "dtype": tensor.dtype,
        "shape": list(tensor.shape),
        "size": size,
        "bytes": nbytes,
    }
    if size == 0:
        return {**out, "values": [], "all_values": True, "sampled": False}
    if tensor.missing:
        return {**out, "problem": f"its external data file {tensor.missing!r} is missing"}
    try:
        values, sampled = _flat_sample(tensor, size, nbytes, budget)
    except (TypeError, ValueError, OSError, NetinspectError) as e:
        return {**out, "problem": f"cannot read: {e}"}
    out["sampled"] = sampled
    out["counted"] = int(values.size)
    out["all_values"] = size <= SMALL
    shown = values if size <= SMALL else values[:FIRST_VALUES]
    if values.dtype.kind not in "biuf":
        out["values"] = [_plain(v) for v in shown.tolist()]
        return out
    out["values"] = (
        [float(f"{v:.7g}") for v in shown.tolist()] if values.dtype.kind == "f" else shown.tolist()
    )
    numbers = values if values.dtype.kind == "f" else values.astype(np.float64)
    low, high = numbers.min(), numbers.max()
    nan = inf = 0
    if not (np.isfinite(low) and np.isfinite(high)):
        nan = int(np.count_nonzero(np.isnan(numbers)))
        inf = int(np.count_nonzero(np.isinf(numbers)))
        numbers = numbers[np.isfinite(numbers)]
    out["zeros"] = int(values.size - np.count_nonzero(values))
    out["nan"], out["inf"] = nan, inf
    if numbers.size:
        wide = numbers.astype(np.float64)
        low, high = float(wide.min()), float(wide.max())
        mean = float(wide.mean())
        std = float(np.sqrt(max(0.0, float(np.dot(wide, wide)) / wide.size - mean * mean)))
        out.update(min=low, max=high, mean=mean, std=std)
        width = high - low if high > low else 1.0
        bins = np.minimum(((wide - low) * (HISTOGRAM_BINS / width)).astype(np.intp), HISTOGRAM_BINS - 1)
        counts = np.bincount(bins, minlength=HISTOGRAM_BINS)
        out["histogram"] = {"counts": counts.tolist(), "low": low, "high": low + width}
    return out


BATCHED = 1 << 16
"""Tensors up to this many values are measured together (one NumPy pass over all of them)."""


def many_stats(tensors: list[Tensor], budget: Budget | None = None) -> list[dict[str, Any]]:
    """`tensor_stats` of each tensor, the same figures, but small numeric tensors measured in one
    vectorised pass (segment reductions), so 75,000 weights cost a few NumPy calls, not 75,000 × 15."""
    budget = budget or Budget()
    out: list[dict[str, Any] | None] = [None] * len(tensors)
    batch: list[tuple[int, np.ndarray]] = []
    for i, tensor in enumerate(tensors):
        size = math.prod(tensor.shape)
        if 0 < size <= BATCHED and _numeric(tensor.dtype) and not tensor.missing:
            try:
                array = np.asarray(tensor.numpy()).reshape(-1)
            except (TypeError, ValueError, OSError, NetinspectError):
                array = None
            if array is not None and array.dtype.kind in "biuf":
                budget.take(size * dtype_itemsize(tensor.dtype))
                batch.append((i, array))
                continue
        out[i] = tensor_stats(tensor, budget)
    if batch:
        for (i, _), stats in zip(batch, _batch_stats([a for _, a in batch]), strict=True):
            tensor = tensors[i]
            out[i] = stats if stats is not None else tensor_stats(tensor, Budget())
            out[i] = {"name": tensor.name, "dtype": tensor.dtype, "shape": list(tensor.shape), **out[i]}
    return out  # type: ignore[return-value]


def _numeric(dtype: str) -> bool:
    return dtype not in ("string", "bfloat16", "int4", "uint4") and not dtype.startswith("float8")


def _batch_stats(arrays: list[np.ndarray]) -> list[dict[str, Any] | None]:
    """Figures of many flat arrays at once; None for an array holding NaN or Inf (measured alone)."""
    sizes = np.fromiter((a.size for a in arrays), np.int64, len(arrays))
    starts = np.zeros(len(arrays), np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    values = np.concatenate([a.astype(np.float64, copy=False) for a in arrays])
    low = np.minimum.reduceat(values, starts)
    high = np.maximum.reduceat(values, starts)
    finite = np.isfinite(low) & np.isfinite(high)
    total = np.add.reduceat(values, starts)
    squares = np.add.reduceat(values * values, starts)
    zeros = sizes - np.add.reduceat((values != 0).astype(np.int64), starts)
    mean = total / sizes
    std = np.sqrt(np.maximum(squares / sizes - mean * mean, 0.0))
    width = np.where(high > low, high - low, 1.0)
    segment = np.repeat(np.arange(len(arrays)), sizes)
    scaled = (values - low[segment]) * (HISTOGRAM_BINS / width[segment])
    bins = np.minimum(
        np.nan_to_num(scaled, nan=0.0, posinf=0.0, neginf=0.0).astype(np.intp), HISTOGRAM_BINS - 1
    )
    counts = np.bincount(segment * HISTOGRAM_BINS + bins, minlength=len(arrays) * HISTOGRAM_BINS)
    counts = counts.reshape(len(arrays), HISTOGRAM_BINS).tolist()
    shown = [a if a.size <= SMALL else a[:FIRST_VALUES] for a in arrays]
    firsts = _round(np.concatenate([a.astype(np.float64) for a in shown])).tolist()
    rows = zip(
        arrays,
        sizes.tolist(),
        finite.tolist(),
        low.tolist(),
        high.tolist(),
        mean.tolist(),
        std.tolist(),
        zeros.tolist(),
        counts,
        width.tolist(),
        strict=True,
    )
    out: list[dict[str, Any] | None] = []
    at = 0
    for array, size, ok, lo, hi, mu, sd, nz, hist, width in rows:
        count = min(size, SMALL if size <= SMALL else FIRST_VALUES)
        first = firsts[at : at + count]
        at += count
        if not ok:
            out.append(None)
            continue
        out.append(
            {
                "size": size,
                "bytes": int(array.nbytes),
                "sampled": False,
                "counted": size,
                "all_values": size <= SMALL,
                "values": first if array.dtype.kind == "f" else array[:count].tolist(),
                "zeros": nz,
                "nan": 0,
                "inf": 0,
                "min": lo,
                "max": hi,
                "mean": mu,
                "std": sd,
                "histogram": {"counts": hist, "low": lo, "high": lo + width},
            }
        )
    return out


def _round(values: np.ndarray, digits: int = 7) -> np.ndarray:
    """Values to `digits` significant digits, so they print short (0.1234567, not 0.12345670163631439)."""
    with np.errstate(all="ignore"):
        magnitude = np.floor(np.log10(np.abs(np.where(values == 0, 1.0, values))))
        scale = 10.0 ** (digits - 1 - magnitude)
        return np.where(np.isfinite(values), np.round(values * scale) / scale, values)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
