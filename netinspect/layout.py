"""The one place that knows how source layouts map onto the IR's canonical NCHW / OIHW.

Layouts are strings of axis letters; the permutation between two is derived, not written by
hand, so MatConvNet's HWCN→NCHW and Keras' HWIO→OIHW are the same rule (perm 3,2,0,1).
Letters: N batch, C channels, H height, W width, D depth, O output channels, I input channels
(per group). Every reader that permutes records it with `describe` in the node's provenance.
"""

from __future__ import annotations

import numpy as np

ACTIVATION = "NCHW"


def perm(src: str, dst: str) -> tuple[int, ...]:
    """Axes to pass to numpy.transpose to turn an array laid out as `src` into `dst`."""
    if sorted(src) != sorted(dst) or len(set(src)) != len(src):
        raise ValueError(f"layouts {src!r} and {dst!r} do not hold the same axes")
    return tuple(src.index(axis) for axis in dst)


def permute(array: np.ndarray, src: str, dst: str) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(array, perm(src, dst)))


def permute_shape(shape: tuple, src: str, dst: str) -> tuple:
    return tuple(shape[i] for i in perm(src, dst))


def describe(what: str, src: str, dst: str) -> str:
    """The provenance sentence for a permute, e.g. "kernel HWIO → OIHW (perm 3,2,0,1)"."""
    return f"{what} {src} → {dst} (perm {','.join(map(str, perm(src, dst)))})"
