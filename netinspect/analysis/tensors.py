"""Statistics of weight tensors: what a person wants on clicking a weight, at a bounded cost.

`info --tensor` and the HTML viewer both use these. Reading is bounded by a byte budget: a tensor
that fits the remaining budget is read whole (exact figures); a larger one is read in a few
evenly spaced contiguous slices (memory-mapped weights then touch only those pages) and its
figures say they are sampled. So the viewer of a 1 GB model reads a few hundred MB at most.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from netinspect.ir import Graph, Tensor
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


def _flat_sample(tensor: Tensor, budget: Budget) -> tuple[np.ndarray, bool]:
    """The values to measure (flattened) and whether they are a sample rather than the whole."""
    array = tensor.numpy()
    if budget.take(tensor.nbytes) or tensor.size <= SAMPLE_ELEMENTS:
        return np.asarray(array).reshape(-1), False
    flat = array.reshape(-1)
    piece = SAMPLE_ELEMENTS // SAMPLE_SLICES
    starts = np.linspace(0, flat.size - piece, SAMPLE_SLICES).astype(np.int64)
    return np.concatenate([np.asarray(flat[s : s + piece]) for s in starts]), True


def tensor_stats(tensor: Tensor, budget: Budget | None = None) -> dict[str, Any]:
    """Shape, dtype, first (or all) values, min/max/mean/std, zero/NaN/Inf counts and a histogram."""
    budget = budget or Budget()
    out: dict[str, Any] = {
        "name": tensor.name,
        "dtype": tensor.dtype,
        "shape": list(tensor.shape),
        "size": tensor.size,
        "bytes": tensor.nbytes,
    }
    if tensor.size == 0:
        return {**out, "values": [], "all_values": True, "sampled": False}
    try:
        values, sampled = _flat_sample(tensor, budget)
    except (TypeError, ValueError) as e:
        return {**out, "problem": f"cannot read: {e}"}
    out["sampled"] = sampled
    out["counted"] = int(values.size)
    shown = values if tensor.size <= SMALL else values[:FIRST_VALUES]
    out["values"] = [_plain(v) for v in shown.tolist()]
    out["all_values"] = tensor.size <= SMALL
    if values.dtype.kind not in "biuf":
        return out
    numbers = values.astype(np.float64, copy=False)
    finite = np.isfinite(numbers)
    out["zeros"] = int(np.count_nonzero(numbers == 0))
    out["nan"] = int(np.count_nonzero(np.isnan(numbers)))
    out["inf"] = int(np.count_nonzero(np.isinf(numbers)))
    good = numbers[finite] if not finite.all() else numbers
    if good.size:
        low, high = float(good.min()), float(good.max())
        out.update(min=low, max=high, mean=float(good.mean()), std=float(good.std()))
        edges_high = high if high > low else low + 1.0
        counts, edges = np.histogram(good, bins=HISTOGRAM_BINS, range=(low, edges_high))
        out["histogram"] = {"counts": counts.tolist(), "low": low, "high": float(edges[-1])}
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
