"""Sparse constants (DENSIFY): TFLite's block-sparse format decoded, and a converter-made sparse model
against LiteRT."""

from __future__ import annotations

import numpy as np

from netinspect.converters.tflite.sparse import DENSE, SPARSE_CSR, Level, Sparsity, densify
from netinspect.registry import load
from tests.converters.tflite.conftest import tflite_fixture
from tests.converters.tflite.parity import run_both
from tests.converters.tflite.test_tflite_parity import assert_close


def block_csr(dense: np.ndarray, block: tuple[int, int]) -> tuple[np.ndarray, Sparsity]:
    """Encode a matrix as TFLite does with 2-D blocks: rows of blocks dense, block columns CSR, each
    stored block dense (traversal 0, 1, 2, 3; block_map [0, 1])."""
    bh, bw = block
    rows, cols = dense.shape[0] // bh, dense.shape[1] // bw
    segments, indices, values = [0], [], []
    for r in range(rows):
        for c in range(cols):
            tile = dense[r * bh : (r + 1) * bh, c * bw : (c + 1) * bw]
            if tile.any():
                indices.append(c)
                values.append(tile.reshape(-1))
        segments.append(len(indices))
    levels = [
        Level(DENSE, rows, np.zeros(0, np.int64), np.zeros(0, np.int64)),
        Level(SPARSE_CSR, 0, np.array(segments), np.array(indices)),
        Level(DENSE, bh, np.zeros(0, np.int64), np.zeros(0, np.int64)),
        Level(DENSE, bw, np.zeros(0, np.int64), np.zeros(0, np.int64)),
    ]
    return np.concatenate(values), Sparsity([0, 1, 2, 3], [0, 1], levels)


def test_block_sparse_matrix_is_restored() -> None:
    rng = np.random.default_rng(0)
    dense = rng.uniform(-1, 1, (8, 12)).astype(np.float32)
    mask = rng.uniform(size=(4, 3)) < 0.5
    dense *= np.kron(mask, np.ones((2, 4), np.float32))
    values, sparsity = block_csr(dense, (2, 4))
    assert values.size < dense.size
    np.testing.assert_array_equal(densify(values, dense.shape, sparsity), dense)


def test_densify_folded_and_matches_litert() -> None:
    path = tflite_fixture("sparse", "float32")
    graph = load(path)
    assert "DENSIFY" not in {n.provenance.layer_type for n in graph.nodes if n.provenance}
    steps = [s.text for n in graph.nodes if n.provenance for s in n.provenance.steps]
    assert any("made dense (DENSIFY folded)" in s for s in steps)
    assert_close(run_both(path), rtol=1e-4, atol=1e-5)
