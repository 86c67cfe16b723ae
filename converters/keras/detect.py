"""Is this file Keras? An HDF5 signature or a zip header, told without importing a converter.

Whether it holds a model is the reader's question (converters/keras/files.py); see netinspect.registry."""

from __future__ import annotations

from netinspect.registry import Probe, Reader, opener

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"


def match(probe: Probe) -> str | None:
    if probe.head.startswith(HDF5_MAGIC):
        return "h5"
    if probe.head.startswith(ZIP_MAGIC):
        return "keras"
    return None


READER = Reader(
    name="keras",
    description="Keras 1/2 HDF5 (.h5 full model or weights + --config) and Keras 3 .keras",
    supports="read, convert to ONNX, check against Keras 3 / tf-keras or a NumPy Keras 1 reference",
    runtime="keras",
    match=match,
    open=opener("netinspect.converters.keras.reader"),
)
