"""The first source layer whose output the converted model does not reproduce.

Activations are never all held at once: layers are compared in chunks sized so that one chunk
of both runtimes' activations fits `memory_budget` bytes (sizes from the graph's value shapes,
else measured), and each chunk's arrays are dropped, layer by layer as they are compared, before
the next chunk is computed. When there are many layers, a bisection over single-layer
probes (Polygraphy's `debug reduce` idea) finds the first failing layer in log2(n) runs instead
of n / chunk runs; it assumes that once a layer diverges every later paired layer does too,
which holds for the feed-forward bugs converters make (a wrong kernel, scale, pad or layout
poisons everything downstream).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netinspect.check.compare import Comparison, Tolerance, compare_values
from netinspect.check.layers import LayerPair
from netinspect.check.runtimes.base import Runner
from netinspect.ir import Graph

DEFAULT_MEMORY_BUDGET = 128 * 2**20
"""Bytes of activations (both runtimes together) held at once while comparing layers."""

MAX_CHUNK_LAYERS = 64
"""Layers per chunk at most, however small they are (the cost of one ORT session per chunk)."""

LINEAR_LIMIT = 32
"""Up to this many paired layers a linear scan is cheap enough; beyond it, bisect first."""


@dataclass
class LayerCheck:
    """One layer's comparison: `pair` says which values, `comparison` the figures."""

    pair: LayerPair
    comparison: Comparison


@dataclass
class LayerSearch:
    """What the layer comparison found, and what it cost."""

    checks: list[LayerCheck] = field(default_factory=list)
    divergence: LayerCheck | None = None
    strategy: str = "linear"
    exhaustive: bool = False
    """Every paired layer was compared (not only up to the first divergence)."""
    source_runs: int = 0
    target_runs: int = 0
    peak_chunk_bytes: int = 0
    """The most activation bytes (both runtimes) held at once."""

    @property
    def last_passing(self) -> LayerCheck | None:
        passing = [c for c in self.checks if c.comparison.passed]
        return passing[-1] if passing else None


ToleranceFor = Callable[[str], Tolerance]
SizeOf = Callable[[LayerPair], int | None]


def activation_sizes(graph: Graph, feeds: Mapping[str, np.ndarray]) -> SizeOf:
    """Bytes of a paired layer's output in both runtimes, from the graph's known value shapes.

    Symbolic dims are resolved from the feeds (the "N" of an input is the N of every value);
    None when a shape is not fully known, and the scan then relies on the sizes it has measured.
    """
    symbols: dict[str, int] = {}
    for value in graph.inputs:
        if value.name in feeds and value.shape is not None and len(value.shape) == feeds[value.name].ndim:
            for dim, size in zip(value.shape, feeds[value.name].shape, strict=True):
                if isinstance(dim, str):
                    symbols[dim] = int(size)

    def size_of(pair: LayerPair) -> int | None:
        value = graph.value(pair.target_value)
        if value is None or value.shape is None or value.dtype is None:
            return None
        dims = [
            d if isinstance(d, int) else symbols.get(d) if isinstance(d, str) else None for d in value.shape
        ]
        if any(d is None for d in dims):
            return None
        try:
            itemsize = np.dtype(value.dtype).itemsize
        except TypeError:
            return None
        return 2 * itemsize * int(np.prod(dims, dtype=np.int64))

    return size_of


def _nbytes(value: Any) -> int:
    """Bytes held by an intermediate: a tensor, or a sequence or map of them (onnxruntime lists/dicts)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_nbytes(v) for v in value)
    return np.asarray(value).nbytes


class _Prober:
    """Runs both runtimes for a handful of layers and compares them, counting the runs."""

    def __init__(
        self,
        source: Runner,
        target: Runner,
        source_feeds: Mapping[str, np.ndarray],
        target_feeds: Mapping[str, np.ndarray],
        tolerance_for: ToleranceFor,
        search: LayerSearch,
    ) -> None:
        self.source, self.target = source, target
        self.source_feeds, self.target_feeds = source_feeds, target_feeds
        self.tolerance_for = tolerance_for
        self.search = search
        self.bytes_per_layer = 0.0

    def probe(self, pairs: list[LayerPair]) -> list[LayerCheck]:
        """Compare `pairs`, one source run and one target run for all of them."""
        source_values = self.source.run_values(self.source_feeds, [p.source_value for p in pairs])
        self.search.source_runs += 1
        target_values = self.target.run_values(self.target_feeds, [p.target_value for p in pairs])
        self.search.target_runs += 1
        measured = sum(_nbytes(v) for v in (*source_values.values(), *target_values.values()))
        self.search.peak_chunk_bytes = max(self.search.peak_chunk_bytes, measured)
        self.bytes_per_layer = max(self.bytes_per_layer, measured / max(1, len(pairs)))
        checks = []
        for pair in pairs:
            source_array = source_values.pop(pair.source_value, None)
            target_array = target_values.pop(pair.target_value, None)
            if source_array is None or target_array is None:
                continue
            if pair.source_move is not None and isinstance(source_array, np.ndarray):
                source_array = pair.source_move.apply(source_array)
            checks.append(
                LayerCheck(pair, compare_values(pair.layer, source_array, target_array, self.tolerance_for))
            )
            del source_array, target_array
        return checks

    def next_chunk(self, pairs: list[LayerPair], start: int, budget: int, size_of: SizeOf) -> list[LayerPair]:
        """As many layers from `start` as fit the budget: known sizes from the graph, else the
        largest measured so far; a single layer until something has been measured."""
        chunk: list[LayerPair] = []
        used = 0
        for pair in pairs[start : start + MAX_CHUNK_LAYERS]:
            size = size_of(pair)
            if size is None:
                if self.bytes_per_layer <= 0 and chunk:
                    break
                size = int(self.bytes_per_layer)
            if chunk and used + size > budget:
                break
            chunk.append(pair)
            used += size
        return chunk


def compare_layers(
    source: Runner,
    target: Runner,
    pairs: list[LayerPair],
    source_feeds: Mapping[str, np.ndarray],
    target_feeds: Mapping[str, np.ndarray],
    tolerance_for: ToleranceFor,
    stop_at_first: bool = True,
    strategy: str = "auto",
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    size_of: SizeOf | None = None,
) -> LayerSearch:
    """Compare paired layers in topological order; with `stop_at_first`, up to the first failure.

    strategy: "linear" (chunked scan, exact), "bisect" (single-layer probes, log2 runs, assumes
    divergence persists downstream), or "auto" (bisect only when there are many layers and only
    the first divergence is wanted).
    """
    if strategy not in ("auto", "linear", "bisect"):
        raise ValueError(f"unknown layer search strategy {strategy!r}")
    use_bisect = stop_at_first and (
        strategy == "bisect" or (strategy == "auto" and len(pairs) > LINEAR_LIMIT)
    )
    search = LayerSearch(strategy="bisect" if use_bisect else "linear", exhaustive=not stop_at_first)
    prober = _Prober(source, target, source_feeds, target_feeds, tolerance_for, search)
    if use_bisect:
        _bisect(prober, pairs, search)
    else:
        _linear(prober, pairs, search, stop_at_first, memory_budget, size_of or (lambda pair: None))
    return search


def _linear(
    prober: _Prober,
    pairs: list[LayerPair],
    search: LayerSearch,
    stop_at_first: bool,
    budget: int,
    size_of: SizeOf,
) -> None:
    start = 0
    while start < len(pairs):
        chunk = prober.next_chunk(pairs, start, budget, size_of)
        for check in prober.probe(chunk):
            search.checks.append(check)
            if not check.comparison.passed and search.divergence is None:
                search.divergence = check
                if stop_at_first:
                    return
        start += len(chunk)


def _bisect(prober: _Prober, pairs: list[LayerPair], search: LayerSearch) -> None:
    """Smallest index whose layer fails, by binary search; each probe reads a single layer."""
    results: dict[int, LayerCheck] = {}

    def fails(index: int) -> bool:
        if index not in results:
            checks = prober.probe([pairs[index]])
            if not checks:  # a runtime could not produce this value; treat it as not diverged
                return False
            results[index] = checks[0]
        return not results[index].comparison.passed

    low, high = 0, len(pairs) - 1
    if not pairs or not fails(high):
        search.checks = [results[i] for i in sorted(results)]
        return
    # invariant: pairs[high] fails; everything before `low` passes
    while low < high:
        middle = (low + high) // 2
        if fails(middle):
            high = middle
        else:
            low = middle + 1
    search.checks = [results[i] for i in sorted(results)]
    search.divergence = results[high]
