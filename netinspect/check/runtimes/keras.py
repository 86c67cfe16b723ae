"""The Keras references: the file run by Keras itself, or by netinspect's NumPy Keras 1 reference.

Which one runs a file is decided by the version it states: `.keras` zips and HDF5 files written by
Keras 3 load in Keras 3 (on TensorFlow); Keras 2 HDF5 files in tf-keras (the Keras 2 API, which
still reads legacy `.h5`); Keras 1 files (no `keras_version`, or 1.x) in `keras1_reference`,
because no maintained Keras converts Keras 1 Theano kernels faithfully. None of this shares code
with netinspect's Keras reader. Inputs and outputs are in Keras' layout (channels-last);
`source_layouts` tells `check` which interface values to transpose.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from netinspect.check.data import InputSpec
from netinspect.check.layers import Layer
from netinspect.check.runtimes.base import RuntimeFailure, import_runtime
from netinspect.check.runtimes.keras1_reference import Keras1Runner
from netinspect.registry import LoadOptions, Probe

EXTRA = "netinspect[keras]"


def stated_version(path: Path, config: dict[str, Any] | None = None) -> str:
    """The Keras version a file states: a zip's metadata.json (tf_keras writes `.keras` archives
    too, as 2.x; "3" if it says none), the `keras_version` of the architecture JSON given with a
    weights-only file, else the `keras_version` attr of HDF5 ("1" if none)."""
    with path.open("rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":
        return _archive_version(path)
    if config is not None and config.get("keras_version"):
        return str(config["keras_version"])
    version = _hdf5_attr(path, "keras_version")
    return version if version is not None else "1"


def _archive_version(path: Path) -> str:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("metadata.json"))
    except (KeyError, ValueError, OSError, zipfile.BadZipFile):
        return "3"
    version = meta.get("keras_version") if isinstance(meta, dict) else None
    return str(version) if isinstance(version, str) and version else "3"


def saved_backend(path: Path) -> str | None:
    """The `backend` attr Keras ≥ 2 writes into HDF5 files (root or `model_weights`), if any."""
    with path.open("rb") as f:
        if f.read(4) == b"PK\x03\x04":
            return None
    return _hdf5_attr(path, "backend")


def _hdf5_attr(path: Path, name: str) -> str | None:
    import h5py

    with h5py.File(path, "r") as h5:
        value = h5.attrs.get(name)
        if value is None and "model_weights" in h5:
            value = h5["model_weights"].attrs.get(name)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def keras_runner(probe: Probe, options: LoadOptions) -> Any:
    """The reference for a Keras file (`Reader.runtime` of the Keras reader).

    Keras 1 files, and files saved on Theano whatever their version (`--backend theano` or the
    file's `backend` attr), run in netinspect's NumPy reference: Keras 2 and 3 ignore the saving
    backend and would compute Theano's true convolutions as cross-correlations. Others run in
    tf-keras (Keras 2 files) or Keras 3. A weights-only file is built from its `--config` JSON."""
    path = probe.path
    config_path = probe.companions.get("config")
    config = json.loads(config_path.read_text()) if config_path is not None else None
    version = stated_version(path, config)
    override = options.format_options.get("backend")
    backend = override or saved_backend(path)
    if version.startswith("1") or backend == "theano":
        if backend == "theano":
            given = "--backend theano" if override else "its backend attribute says theano"
            reason = (
                f"saved with the Theano backend ({given}): Theano convolves (kernels applied back to "
                "front), which Keras 2/3 would compute as cross-correlation"
            )
        else:
            reason = f"a Keras {version} file: no maintained Keras reads Keras 1 files faithfully"
        theano = None if backend is None else backend == "theano"  # Keras 1: from the weight names
        return Keras1Runner(path, reason, config=config, theano=theano)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if version.startswith("2"):
        module = import_runtime("tf_keras", EXTRA, path)
        try:
            if config is None and _checkpoint_archive(path):
                model = _load_checkpoint_archive(module, path)
            else:
                model = _load(module, path, config, compile=False)
        except Exception as e:
            raise RuntimeFailure(f"tf-keras cannot load this model: {_line(e)}", path) from e
        return KerasRunner(path, model, f"tf-keras {module.__version__} (Keras {version} file)")
    module = import_runtime("keras", EXTRA, path)
    try:
        model = _load(module, path, config, compile=False, safe_mode=True)
    except Exception as e:
        raise RuntimeFailure(f"Keras cannot load this model: {_line(e)}", path) from e
    return KerasRunner(path, model, f"Keras {module.__version__} ({module.backend.backend()})")


_CHECKPOINT_LIST = "_layer_checkpoint_dependencies"


def _checkpoint_archive(path: Path) -> bool:
    """A `.keras` archive of tf.keras 2.13–2.15, whose weight groups today's tf-keras cannot find."""
    import zipfile

    with path.open("rb") as f:
        if f.read(4) != b"PK\x03\x04":
            return False
    import h5py

    with zipfile.ZipFile(path) as archive:
        weights = io.BytesIO(archive.read("model.weights.h5"))
    with h5py.File(weights, "r") as h5:
        return _CHECKPOINT_LIST in h5


def _load_checkpoint_archive(module: Any, path: Path) -> Any:
    """tf-keras builds the model from config.json; each layer with weights takes, in layer order, the
    next group of its class (`<snake_case class>[_<n>]`, by n) under `_layer_checkpoint_dependencies`:
    tf.keras 2.13 numbered them in its own walk, which today's tf-keras does not repeat."""
    import zipfile

    import h5py

    to_snake_case = module.src.utils.generic_utils.to_snake_case
    with zipfile.ZipFile(path) as archive:
        model = module.models.model_from_json(archive.read("config.json").decode())
        weights = io.BytesIO(archive.read("model.weights.h5"))
    groups: dict[str, list[tuple[int, list[np.ndarray]]]] = {}
    with h5py.File(weights, "r") as h5:
        for name, group in h5[_CHECKPOINT_LIST].items():
            arrays = group.get("vars")
            if arrays is None or not len(arrays):
                continue
            base, _, number = name.rpartition("_")
            base, number = (base, int(number)) if number.isdigit() else (name, 0)
            values = [arrays[str(i)][()] for i in range(len(arrays))]
            groups.setdefault(base, []).append((number, values))
    taken: dict[str, int] = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        base = to_snake_case(type(layer).__name__)
        found = sorted(groups.get(base, []), key=lambda item: item[0])
        k = taken.get(base, 0)
        if k >= len(found):
            raise ValueError(f"no weights for layer {layer.name!r} ({base}) in the archive")
        layer.set_weights(found[k][1])
        taken[base] = k + 1
    return model


def _load(module: Any, path: Path, config: dict[str, Any] | None, **flags: Any) -> Any:
    """A full model file as Keras (tf_keras or keras) loads it, or a weights-only one into the model
    its architecture JSON describes."""
    if config is None:
        return module.models.load_model(str(path), **flags)
    model = module.models.model_from_json(json.dumps(config))
    model.load_weights(str(path))
    return model


class KerasRunner:
    """A Keras model loaded by Keras 3 or tf-keras (compile=False, safe mode: no Lambda bytecode)."""

    def __init__(self, path: Path, model: Any, label: str) -> None:
        self.path = path
        self.model = model
        self.label = label
        self.inference_seconds = 0.0
        self._probes: dict[tuple[str, ...], Any] = {}

    # -- the Runner protocol ----------------------------------------------------------------------
    def prepare(self) -> None:
        """The model is loaded by the constructor."""

    def input_specs(self) -> list[InputSpec]:
        specs = []
        for tensor, name in zip(self.model.inputs, self._input_names(), strict=True):
            dims = tuple(
                int(d) if d is not None else ("N" if i == 0 else f"{name}_d{i}")
                for i, d in enumerate(tensor.shape)
            )
            dtype = getattr(tensor.dtype, "name", None) or str(tensor.dtype)
            specs.append(InputSpec(name, np.dtype(dtype).name, dims, self._embedding_rows(tensor)))
        return specs

    def _embedding_rows(self, tensor: Any) -> int | None:
        """The fewest rows of the Embeddings an input feeds directly: its token ids stay below."""
        rows = []
        for layer in self.model.layers:
            if type(layer).__name__ != "Embedding":
                continue
            try:
                source = layer.input
            except (AttributeError, ValueError):  # a layer called several times has no one input
                continue
            if source is tensor:
                rows.append(int(layer.input_dim))
        return min(rows) if rows else None

    def _input_names(self) -> list[str]:
        return [_history(t)[0] for t in self.model.inputs]

    def output_names(self) -> list[str]:
        """Output tensors named as netinspect names values: `<layer>`, `<layer>_call<k>` for a
        shared layer's k-th call, `_out<t>` for a layer's t-th output (RNN states)."""
        names = []
        for tensor in self.model.outputs:
            layer, call, index = _history(tensor)
            names.append(layer + (f"_call{call}" if call else "") + (f"_out{index}" if index else ""))
        return names

    def source_layouts(self, recorded: Mapping[str, str]) -> dict[str, str]:
        """Keras takes and returns the interface values in the file's own (channels-last) layout."""
        return dict(recorded)

    def layers(self) -> list[Layer]:
        """Layers with one output to read: not inputs, not shared (called more than once), not
        nested models."""
        found = []
        for layer in self.model.layers:
            if type(layer).__name__ == "InputLayer" or hasattr(layer, "layers"):
                continue
            if _calls_in(self.model, layer) > 1:
                continue
            found.append(Layer(layer.name, type(layer).__name__, layer.name))
        return found

    def _feed(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        missing = [n for n in self._input_names() if n not in feeds]
        if missing:
            raise RuntimeFailure(f"no feed for Keras input(s) {missing}", self.path)
        return [np.asarray(feeds[n]) for n in self._input_names()]

    def _predict(self, model: Any, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        start = time.perf_counter()
        try:
            arrays = self._feed(feeds)
            out = model(arrays[0] if len(arrays) == 1 else arrays, training=False)
        except Exception as e:
            raise RuntimeFailure(f"Keras failed running {self.path.name}: {_line(e)}", self.path) from e
        finally:
            self.inference_seconds += time.perf_counter() - start
        outs = out if isinstance(out, list | tuple) else [out]
        return [np.asarray(o) for o in outs]

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self._predict(self.model, feeds)
        return dict(zip(self.output_names(), outs, strict=True))

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        readable = []
        tensors = []
        for name in names:
            try:
                output = self.model.get_layer(name).output
            except (ValueError, AttributeError, RuntimeError):
                continue  # a shared or nested layer has no single output to read
            # a layer with several outputs (RNN states) is read by its last, as the IR's layers are
            tensors.append(output[-1] if isinstance(output, list | tuple) else output)
            readable.append(name)
        if not readable:
            return {}
        key = tuple(readable)
        if key not in self._probes:
            self._probes[key] = _functional(self.model, tensors)
        outs = self._predict(self._probes[key], feeds)
        return dict(zip(readable, outs, strict=True))


def _functional(model: Any, outputs: list[Any]) -> Any:
    """A model of the same Keras flavour reading the given intermediate tensors."""
    module = type(model).__module__
    if module.startswith("tf_keras"):
        import tf_keras

        return tf_keras.Model(model.inputs, outputs)
    import keras

    return keras.Model(model.inputs, outputs)


def _history(tensor: Any) -> tuple[str, int, int]:
    """(layer name, node index, tensor index) of a Keras symbolic tensor."""
    history = tensor._keras_history
    layer, node, index = (history[0], history[1], history[2])
    return str(layer.name), int(node), int(index)


def _line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[0].strip()[:300] if lines else type(error).__name__


def _calls_in(model: Any, layer: Any) -> int:
    """How often `model`'s own graph calls `layer` (a Keras 3 Sequential rebuilds its graph, leaving
    stale inbound nodes on every layer, so those are no measure of sharing)."""
    graph = getattr(model, "_functional", None) or model
    keys = getattr(graph, "_nodes", None) or getattr(graph, "_network_nodes", None)
    if not keys:
        return len(getattr(layer, "_inbound_nodes", []))
    prefixes = (f"{id(layer)}_ib-", f"{layer.name}_ib-")
    return sum(1 for key in keys if isinstance(key, str) and key.startswith(prefixes))
