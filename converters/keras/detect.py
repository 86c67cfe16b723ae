"""Is this file Keras? An HDF5 signature or a zip header, told without importing a converter; and
the rest of the format's declaration (the `--config` companion file, the `--backend` option, the
reference runtime), found through the entry-point group `netinspect.readers`.

Whether it holds a model is the reader's question (converters/keras/files.py); see netinspect.registry."""

from __future__ import annotations

from netinspect.registry import Companion, FormatOption, Probe, Reader, Runtime

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
BACKENDS = ("theano", "tensorflow")


def match(probe: Probe) -> str | None:
    if probe.head.startswith(HDF5_MAGIC):
        return "h5"
    if probe.head.startswith(ZIP_MAGIC):
        return "keras"
    return None


READER = Reader(
    name="keras",
    description="Keras 1/2 HDF5 (.h5 full model or weights + --config) and Keras 3 .keras",
    supports="read, convert to ONNX, check against Keras 3 / tf-keras, or netinspect's NumPy Keras "
    "reference for Keras 1 and Theano-saved files",
    match=match,
    open="netinspect.converters.keras.reader:open_graph",
    runtime=Runtime(
        "keras",
        "netinspect.check.runtimes.keras",
        "keras_runner",
        "netinspect[keras]",
        ("tensorflow", "tf_keras", "keras"),
    ),
    priority=40,
    companions=(Companion("config", "architecture JSON for a weights-only .h5 file."),),
    options=(
        FormatOption(
            "backend", "convolution semantics of the saving backend (overrides the file).", BACKENDS
        ),
    ),
)
