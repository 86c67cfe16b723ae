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
    try:
        values, sampled = _flat_sample(tensor, size, nbytes, budget)
    except (TypeError, ValueError) as e:
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
        span = high - low if high > low else 1.0
        bins = np.minimum(((wide - low) * (HISTOGRAM_BINS / span)).astype(np.intp), HISTOGRAM_BINS - 1)
        counts = np.bincount(bins, minlength=HISTOGRAM_BINS)
        out["histogram"] = {"counts": counts.tolist(), "low": low, "high": low + span}
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
