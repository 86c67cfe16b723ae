"""Sparse TFLite constants (TACO-style SparsityParameters) made dense, as DENSIFY does at run time.

A sparse tensor's buffer holds only its stored values, in traversal order. `traversal_order` permutes
the expanded dimensions (the tensor's own, then one per entry of `block_map`, the inner block of that
dimension); each expanded dimension in traversal order is DENSE (`dense_size` positions) or
SPARSE_CSR (`array_segments` delimit each parent's children, `array_indices` give their positions).
Walking the levels with NumPy gives every stored value's expanded coordinates at once; block
coordinates then fold back into the original ones (TFLite's FormatConverter::SparseToDense).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

DENSE, SPARSE_CSR = 0, 1


@dataclass
class Level:
    format: int
    dense_size: int
    segments: np.ndarray
    indices: np.ndarray


@dataclass
class Sparsity:
    traversal_order: list[int]
    block_map: list[int]
    levels: list[Level]


def read_sparsity(params: Any) -> Sparsity:
    """The `tflite.SparsityParameters` table as plain values."""
    from netinspect.converters.tflite.schema import generated

    vector_types = {1: generated("Int32Vector"), 2: generated("Uint16Vector"), 3: generated("Uint8Vector")}

    def index_vector(kind: int, table: Any) -> np.ndarray:
        if kind == 0 or table is None:
            return np.zeros(0, dtype=np.int64)
        vector = vector_types[kind]()
        vector.Init(table.Bytes, table.Pos)
        values = vector.ValuesAsNumpy()
        return np.zeros(0, np.int64) if isinstance(values, int) else np.asarray(values, dtype=np.int64)

    levels = []
    for j in range(params.DimMetadataLength()):
        meta = params.DimMetadata(j)
        levels.append(
            Level(
                int(meta.Format()),
                int(meta.DenseSize()),
                index_vector(int(meta.ArraySegmentsType()), meta.ArraySegments()),
                index_vector(int(meta.ArrayIndicesType()), meta.ArrayIndices()),
            )
        )

    def ints(values: Any) -> list[int]:
        return [] if isinstance(values, int) else [int(v) for v in values]

    return Sparsity(ints(params.TraversalOrderAsNumpy()), ints(params.BlockMapAsNumpy()), levels)


def densify(values: np.ndarray, shape: tuple[int, ...], sparsity: Sparsity) -> np.ndarray:
    """The dense array of `shape` whose stored (nonzero-block) `values` the sparsity describes."""
    rank = len(shape)
    expanded = rank + len(sparsity.block_map)
    order = sparsity.traversal_order or list(range(expanded))
    if len(order) != expanded or len(sparsity.levels) != expanded or sorted(order) != list(range(expanded)):
        raise ValueError("sparsity parameters do not match the tensor's rank")
    nodes = np.zeros(1, dtype=np.int64)
    coords: list[np.ndarray] = []
    for level in sparsity.levels:
        if level.format == DENSE:
            size = level.dense_size
            nodes = (nodes[:, None] * size + np.arange(size)).reshape(-1)
            coords = [np.repeat(c, size) for c in coords]
            coords.append(np.tile(np.arange(size), len(nodes) // size if size else 0))
        else:
            starts, ends = level.segments[nodes], level.segments[nodes + 1]
            counts = ends - starts
            children = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            coords = [np.repeat(c, counts) for c in coords]
            coords.append(level.indices[children])
            nodes = children
    if len(nodes) != values.size:
        raise ValueError(f"sparsity describes {len(nodes)} values, the buffer holds {values.size}")
    by_dim = [np.zeros(0, np.int64)] * expanded
    for position, dim in enumerate(order):
        by_dim[dim] = coords[position]
    original = by_dim[:rank]
    for k, dim in enumerate(sparsity.block_map):
        block = sparsity.levels[order.index(rank + k)].dense_size
        original[dim] = original[dim] * block + by_dim[rank + k]
    dense = np.zeros(shape, dtype=values.dtype)
    dense[tuple(original)] = values.reshape(-1)
    return dense
