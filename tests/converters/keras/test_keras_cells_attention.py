"""Recurrent cells in `RNN` and attention layers (issue 20, item 3), as Keras 3 and tf-keras save
them, converted and run in onnxruntime against Keras' `predict` (rtol = atol = 1e-4): RNN around
LSTMCell/GRUCell/SimpleRNNCell (with go_backwards, return_state, inside Bidirectional),
StackedRNNCells and a list of cells; Attention (dot, scaled, concat scores, causal mask),
AdditiveAttention, MultiHeadAttention (key given or not, value_dim, output_shape, no bias, causal;
rank-4 inputs with the default, one or two `attention_axes`; `return_attention_scores`)."""

from __future__ import annotations

import pytest

import netinspect
from tests.converters.keras.conftest import compare, make_graphs

CASES = [(name, flavour) for name in ("recurrent_cells", "attention_layers") for flavour in ("k3", "tfk")]


@pytest.mark.parametrize(("name", "flavour"), CASES, ids=[f"{n}-{f}" for n, f in CASES])
def test_cells_and_attention_match_keras(graphs_cache, name, flavour):
    stem, npz = make_graphs.case_files(name, flavour)
    worst = compare(graphs_cache / stem, graphs_cache / npz)
    print(f"{stem}: max abs error {worst:.3g}")


@pytest.mark.parametrize("flavour", ["k3", "tfk"])
def test_stacked_cells_take_their_own_weights(graphs_cache, flavour):
    """Keras 3 lists a stack's cell groups by class name (gru_cell before lstm_cell); each cell
    still gets its own kernel, so the stack is an LSTM then a GRU, in the config's order."""
    graph = netinspect.load(graphs_cache / make_graphs.case_files("recurrent_cells", flavour)[0])
    stack = [n.op_type for n in graph.nodes if n.provenance.layer == "rnn_4" and n.op_type in ("LSTM", "GRU")]
    assert stack == ["LSTM", "GRU"]
