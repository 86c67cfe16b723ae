"""Real .tflite files made by others, committed under their licence (fixtures/tflite/real), each
checked against LiteRT on the file itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.converters.tflite.parity import run_both

REAL = Path(__file__).resolve().parents[3] / "fixtures" / "tflite" / "real"


@pytest.mark.parametrize("seed", range(3))
def test_tflite_micro_full_integer_lstm_is_exact(seed: int) -> None:
    """tflite-micro's mnist_lstm_int8: its LSTM's int32 biases were read as raw integers (255 steps
    off); dequantized, the digit probabilities equal LiteRT's on every element."""
    for pair in run_both(REAL / "mnist_lstm_int8.tflite", seed=seed):
        assert pair.steps().max() == 0, pair.describe()
