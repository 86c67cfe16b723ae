"""FFDNet's own MatConvNet layer types, transcribed in NumPy (H×W×C×N) from its MATLAB code, for
the reference runtime's custom-layer hook. Shared by the reference and the plugin tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def subp(inputs: list[np.ndarray], fields: Any, params: list[np.ndarray]) -> np.ndarray:
    """vl_nnSubP: scale < 1 splits each channel into s² sub-images (sub-image i, 1-based, takes rows
    a::s and columns b::s with a = mod(i-1, s), b = floor((i-1)/s)); scale > 1 undoes it."""
    x = inputs[0]
    scale = float(np.asarray(fields["scale"]).ravel()[0])
    h, w, c, n = x.shape
    if scale < 1:
        s = round(1 / scale)
        y = np.empty((h // s, w // s, c * s * s, n), np.float32)
        for channel in range(c):
            for i in range(s * s):
                y[:, :, channel * s * s + i] = x[i % s :: s, i // s :: s, channel]
        return y
    s = round(scale)
    y = np.empty((h * s, w * s, c // (s * s), n), np.float32)
    for channel in range(c // (s * s)):
        for i in range(s * s):
            y[i % s :: s, i // s :: s, channel] = x[:, :, channel * s * s + i]
    return y


def noise_level_map(sigma: float) -> Callable[[list[np.ndarray], Any, list[np.ndarray]], np.ndarray]:
    """FFDNet's vl_simplenn 'concat' case: append a channel filled with the noise level σ."""

    def concat(inputs: list[np.ndarray], fields: Any, params: list[np.ndarray]) -> np.ndarray:
        x = inputs[0]
        return np.concatenate([x, np.full((*x.shape[:2], 1, x.shape[3]), sigma, np.float32)], axis=2)

    return concat


def reference_layers(sigma: float) -> dict[str, Callable[..., np.ndarray]]:
    return {"SubP": subp, "concat": noise_level_map(sigma)}
