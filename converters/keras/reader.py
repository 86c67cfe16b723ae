"""The Keras reader: Keras 1/2 HDF5 (full model, or weights-only with `--config`) and Keras 3 `.keras`.

Matched by content: the HDF5 signature at offset 0, or a zip local-file header. The file is read
with h5py, zipfile and json only: no Keras, no TensorFlow, and nothing in it is ever deserialized
as code — a Lambda layer (marshalled Python bytecode) or a custom class is refused, every such
layer named in one message (`netinspect.build.convert_layers`).

Value names: a layer's (first call's) output is named after the layer; a shared layer's later
calls get `<layer>_call<k>`; extra outputs (RNN states) `_out<t>`. Every IR node a Keras layer
becomes has that layer's name as `provenance.layer`.

Backend rule (whether kernels were trained as true convolution and must be flipped):
1. `--backend theano|tensorflow` wins;
2. else the file's `backend` attribute (root or `model_weights`; Keras ≥ 2 writes it);
3. else (Keras 1 files carry none) the weight names: Keras 1 names each saved array after its
   backend variable, and TensorFlow variable names end in `:0` (`convolution2d_1_W:0`) while
   Theano's are bare (`convolution2d_1_W`): all names ending in `:0` ⇒ TensorFlow, otherwise Theano;
4. a file with no weight names at all ⇒ TensorFlow (nothing would be flipped anyway).
Under Theano, Conv1D/2D/3D and Conv2DTranspose kernels are flipped along every spatial axis, and
'same' padding is Theano's half padding; each flip is recorded in the node's provenance.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from netinspect.build import GraphBuilder, LayerEntry, convert_layers
from netinspect.converters.keras import applications as _applications  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import attention as _attention  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import cells as _cells  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import convrnn as _convrnn  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import layers as _layers  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops as _ops  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_array as _ops_array  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_ctc as _ops_ctc  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_math as _ops_math  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_matrix as _ops_matrix  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_nn as _ops_nn  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_ranges as _ops_ranges  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_search as _ops_search  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_shape as _ops_shape  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_signal as _ops_signal  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_stats as _ops_stats  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_update as _ops_update  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import ops_windows as _ops_windows  # noqa: F401  (registers the handlers)
from netinspect.converters.keras import sequence as _sequence  # noqa: F401  (registers the handlers)
from netinspect.converters.keras.context import KERAS, Env, KerasContext
from netinspect.converters.keras.detect import BACKENDS
from netinspect.converters.keras.files import (
    KerasFile,
    KerasZipWeights,
    LegacyH5Weights,
    _attr_list,
    _text,
    open_keras_file,
)
from netinspect.converters.keras.model import ModelSpec, Ref, parse_model, snake_case
from netinspect.converters.keras.opcalls import is_op
from netinspect.converters.keras.opcalls import refusal as op_refusal
from netinspect.errors import ModelFormatError
from netinspect.ir import Dim, Graph, Metadata, Step
from netinspect.layout import channels_first, permute_shape
from netinspect.registry import LoadOptions, Probe

REFUSED = {
    "Lambda": "its function is Python bytecode, which netinspect never executes",
    "__lambda__": "its function is Python bytecode, which netinspect never executes",
    "TFOpLambda": "a TensorFlow op recorded by tf.keras without the function it calls",
    "SlicingOpLambda": "a TensorFlow op recorded by tf.keras without the function it calls",
}
OP_REFUSAL = "an operation netinspect has no ONNX mapping for"


def open_graph(probe: Probe, tag: str, options: LoadOptions) -> Graph:
    kf = open_keras_file(probe.path, tag, probe.companions.get("config"))
    if kf.config is None:
        return _weights_only(kf)
    model = parse_model(kf.config, probe.path)
    _map_tf_keras_groups(kf, model)
    _map_keras3_groups(kf, model)
    env = _environment(kf, options.format_options.get("backend"))
    graph = Converter(kf, env).convert(model)
    if not options.input_shapes:
        return graph
    return Converter(kf, env, _pinned(graph, options, probe.path)).convert(model)


WEIGHTS_ONLY = "Weights"
"""The type a layer of a weights-only file is shown with: the file names no layer classes."""


def _weights_only(kf: KerasFile) -> Graph:
    """A weights-only file given no architecture, shown as its weights: one node per layer that
    stores any (type `Weights`), each weight as stored. Converting it needs `--config`."""
    builder = GraphBuilder(KERAS, kf.path)
    env = Env(kf.major, "tensorflow", "weights only: no layer is computed")
    layers = kf.weights.layers()
    for name, _arrays in layers:
        builder.used.add(name)
    contexts = (
        KerasContext(builder, name, WEIGHTS_ONLY, {}, arrays, env, [], [name]) for name, arrays in layers
    )
    convert_layers(builder, contexts)
    graph = builder.finish(kf.path.stem, [])
    graph.refusal = ModelFormatError(
        "holds only weights (no model_config): give the architecture with --config arch.json", kf.path
    )
    graph.metadata = Metadata(
        source_format=KERAS,
        format_version=f"Keras {kf.keras_version or '1'} HDF5 weights only (no architecture)",
        producer=f"Keras {kf.keras_version or '1.x'}",
        notes=["the file holds only weights: `--config arch.json` gives the graph"],
    )
    return graph


def _pinned(graph: Graph, options: LoadOptions, path: Path) -> dict[str, tuple[Dim, ...]]:
    """`--input-shape` dims, given in the converted graph's layout (N,C,H,W unless --keep-nhwc), as
    the Keras layout the file declares (a first conversion told which inputs are channels-last)."""
    pinned: dict[str, tuple[Dim, ...]] = {}
    by_name = {v.name: v for v in graph.inputs}
    for name, dims in options.input_shapes.items():
        value = by_name.get(name)
        if value is None:
            known = ", ".join(by_name)
            raise ModelFormatError(
                f"--input-shape names {name!r}, which is not an input (inputs: {known})", path
            )
        if value.shape is not None and len(dims) != len(value.shape):
            raise ModelFormatError(
                f"--input-shape {name}: {len(dims)} dims for a rank-{len(value.shape)} input", path
            )
        layout = value.layout
        if layout and not options.keep_source_layout:
            dims = permute_shape(tuple(dims), channels_first(layout), layout)
        pinned[name] = tuple(dims)
    return pinned


# -------------------------------------------------------------------------------------------------
# file-level facts


def _environment(kf: KerasFile, override: str | None) -> Env:
    env = _backend(kf, override)
    numbers = re.findall(r"\d+", (kf.keras_version or "").split("-")[0])[:3]
    return replace(env, version=tuple(int(n) for n in numbers))


def _backend(kf: KerasFile, override: str | None) -> Env:
    if override is not None:
        if override not in BACKENDS:
            raise ModelFormatError(
                f"--backend must be one of {', '.join(BACKENDS)}, not {override!r}", kf.path
            )
        return Env(kf.major, override, f"--backend {override}")
    if kf.kind == "keras":
        return Env(kf.major, "tensorflow", "a Keras 3 .keras file: cross-correlation on every backend")
    if kf.backend:
        semantics = "theano" if kf.backend == "theano" else "tensorflow"
        return Env(kf.major, semantics, f"the file's backend attribute says {kf.backend}")
    names = _weight_names(kf)
    if not names:
        return Env(kf.major, "tensorflow", "no backend attribute and no weights: TensorFlow assumed")
    if all(n.endswith(":0") for n in names):
        return Env(kf.major, "tensorflow", "weight names end in ':0' (TensorFlow variables)")
    return Env(kf.major, "theano", "weight names lack the ':0' of TensorFlow variables (Theano)")


def _weight_names(kf: KerasFile) -> list[str]:
    if not isinstance(kf.weights, LegacyH5Weights):
        return []
    root = kf.weights.root
    names: list[str] = []
    for key in root:
        group = root[key]
        if hasattr(group, "attrs"):
            names.extend(_text(n) for n in _attr_list(group, "weight_names"))
    return names


def _map_keras3_groups(kf: KerasFile, model: ModelSpec) -> None:
    """Newer `.keras` files write each layer's name on its `vars` group: trust it over the computed
    group name (older ones rely on the walk order the computed names reproduce)."""
    if not isinstance(kf.weights, KerasZipWeights) or "layers" not in kf.weights.root:
        return
    by_name: dict[str, str] = {}
    for key in kf.weights.root["layers"]:
        name = kf.weights.name_of(f"layers/{key}")
        if name is not None:
            by_name[name] = f"layers/{key}"
    for spec in model.layers:
        if spec.name in by_name and spec.model is None:
            spec.group = by_name[spec.name]


def _map_tf_keras_groups(kf: KerasFile, model: ModelSpec, prefix: str = "") -> None:
    """tf.keras 2.13–2.15 wrote `.keras` archives too (metadata `keras_version` 2.x), walking a
    model's `_layer_checkpoint_dependencies`, which lists each layer with weights twice
    (`layer_with_weights-k`, then `layer-i`; keras/engine/functional.py): the second visit is
    skipped but still takes a number, so the groups of weighted layers go conv2d, conv2d_2…
    (keras/saving/saving_lib.py `_save_container_state`). A layer has weights when its group holds
    arrays; nested models are renamed inside their own group the same way."""
    weights = kf.weights
    tf_keras = (kf.keras_version or "").startswith("2.")  # tf_keras ≥ 2.16 writes `layers`, numbered once
    if not isinstance(weights, KerasZipWeights) or not (tf_keras and weights.old_names):
        return
    seen: dict[str, int] = {}
    for spec in model.layers:
        if is_op(spec.class_name):
            continue
        base = snake_case(spec.class_name)
        k = seen.get(base, 0)
        spec.group = f"{prefix}layers/{base}" + (f"_{k}" if k else "")
        weighted = spec.group in weights.root and bool(weights.arrays((), spec.group, spec.class_name))
        seen[base] = k + (2 if weighted else 1)
        if spec.model is not None:
            _map_tf_keras_groups(kf, spec.model, f"{spec.group}/")


def _survey(model: ModelSpec) -> Iterator[LayerEntry]:
    """Every layer of the model, nested models' included (InputLayers are no layers to convert)."""
    for spec in model.layers:
        if spec.model is not None:
            yield from _survey(spec.model)
        elif spec.class_name != "InputLayer":
            refusal = REFUSED.get(spec.class_name) or (
                op_refusal(spec.class_name, OP_REFUSAL) if is_op(spec.class_name) else None
            )
            yield LayerEntry(spec.name, spec.class_name, refusal)


# -------------------------------------------------------------------------------------------------
# conversion


class Converter:
    """Walks the call graph in dependency order, one handler call per (layer, call)."""

    def __init__(self, kf: KerasFile, env: Env, pinned: dict[str, tuple[Dim, ...]] | None = None) -> None:
        self.kf = kf
        self.env = env
        self.pinned = pinned or {}
        self.builder = GraphBuilder(KERAS, kf.path)
        self.masks: dict[str, str] = {}

    def convert(self, model: ModelSpec) -> Graph:
        outputs = self.model(model, (), None)
        self._elide_dropouts(set(outputs))
        self._tag_inputs()
        props = {
            "keras.version": self.kf.keras_version or "1 (no keras_version attribute)",
            "keras.backend": self.kf.backend or "(none stated)",
            "keras.conv_semantics": f"{self.env.backend} ({self.env.backend_reason})",
            "keras.container": self.kf.kind,
        }
        formats = sorted({str(f) for f in _data_formats(model)})
        if formats:
            props["keras.data_format"] = ", ".join(formats)
        kind = {
            "h5": "HDF5 full model",
            "h5-weights": "HDF5 weights + architecture JSON",
            "keras": ".keras zip",
        }
        metadata = Metadata(
            source_format=KERAS,
            format_version=f"Keras {self.kf.keras_version or '1'} {kind[self.kf.kind]}",
            producer=f"Keras {self.kf.keras_version or '1.x'}",
            properties=props,
        )
        return self.builder.finish(model.name, outputs, metadata)

    def _elide_dropouts(self, outputs: set[str]) -> None:
        """Inference-time identities (Dropout & co.) are removed, the step recorded on the node that
        feeds them, so Flatten → Dropout → Dense still lets the layout pass fold the transpose."""
        nodes = self.builder.nodes
        for node in list(nodes):
            steps = node.provenance.steps if node.provenance else []
            if node.op_type != "Identity" or not any(s.kind == "dropout" for s in steps):
                continue
            if node.outputs[0] in outputs:
                continue
            source, out = node.inputs[0], node.outputs[0]
            for other in nodes:
                other.inputs = [source if i == out else i for i in other.inputs]
            nodes.remove(node)
            self.builder.values.pop(out, None)
            producer = next((n for n in nodes if source in n.outputs), None)
            if producer is not None and producer.provenance is not None:
                dropped = node.provenance
                assert dropped is not None
                text = f"{dropped.layer} ({dropped.layer_type}) after it removed: identity at inference"
                producer.provenance.steps.append(Step("dropout", text))

    def _tag_inputs(self) -> None:
        """A graph input is channels-last when the model computes channels-last at its rank."""
        used = {n.layout for n in self.builder.nodes if n.layout}
        for value in self.builder.inputs:
            rank = len(value.shape or ())
            layout = {3: "NWC", 4: "NHWC", 5: "NDHWC"}.get(rank)
            if layout in used:
                value.layout = layout

    def model(self, model: ModelSpec, scope: tuple[str, ...], given: list[str] | None) -> list[str]:
        by_name = {spec.name: spec for spec in model.layers}
        values: dict[Ref, str] = {}
        for i, ref in enumerate(model.inputs):
            spec = by_name[ref[0]]
            if spec.class_name != "InputLayer":
                raise ModelFormatError(
                    f"model input {ref[0]!r} is a {spec.class_name}, not an InputLayer", self.kf.path
                )
            values[ref] = self._input(spec.name, spec.config) if given is None else given[i]
        wanted = self._output_counts(model)
        pending = [
            (spec, k)
            for spec in model.layers
            if spec.class_name != "InputLayer"
            for k in range(len(spec.calls))
        ]
        survey = None if scope else _survey(model)  # the whole model is surveyed once, at the top
        convert_layers(self.builder, self._contexts(pending, scope, values, wanted), survey, "Keras layers")
        missing = [r for r in model.outputs if r not in values]
        if missing:
            raise ModelFormatError(f"the model's outputs {missing} are never computed", self.kf.path)
        return [values[r] for r in model.outputs]

    @staticmethod
    def _output_counts(model: ModelSpec) -> dict[tuple[str, int], int]:
        counts: dict[tuple[str, int], int] = {}
        refs = [r for spec in model.layers for call in spec.calls for r in call] + list(model.outputs)
        for name, k, t in refs:
            counts[(name, k)] = max(counts.get((name, k), 1), t + 1)
        return counts

    def _input(self, name: str, config: dict[str, Any]) -> str:
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        if shape is None and config.get("input_shape") is not None:
            shape = [None, *config["input_shape"]]
        if shape is None:
            raise ModelFormatError(f"input layer {name!r} states no shape", self.kf.path)
        dims: list[Dim] = []
        for i, d in enumerate(shape):
            dims.append(int(d) if d is not None else ("N" if i == 0 else f"{name}_d{i}"))
        if name in self.pinned:
            for i, (stated, given) in enumerate(zip(dims, self.pinned[name], strict=True)):
                if isinstance(stated, int) and isinstance(given, int) and stated != given:
                    raise ModelFormatError(
                        f"--input-shape {name}: axis {i} is {stated} in the model, not {given}", self.kf.path
                    )
            dims = [s if isinstance(s, int) else g for s, g in zip(dims, self.pinned[name], strict=True)]
        dtype = config.get("dtype") or "float32"
        if isinstance(dtype, dict):
            dtype = dtype.get("config", {}).get("name", "float32")
        return self.builder.add_input(name, tuple(dims), str(dtype))

    def _contexts(
        self,
        pending: list[tuple[Any, int]],
        scope: tuple[str, ...],
        values: dict[Ref, str],
        wanted: dict[tuple[str, int], int],
    ) -> Iterator[KerasContext]:
        """Each layer call whose inputs exist, in dependency order, as the context its handler gets
        (resumed once the handler ran, so its outputs then exist); nested models are walked inline."""
        while pending:
            for index, (spec, k) in enumerate(pending):
                if all(ref in values for ref in spec.calls[k]):
                    pending.pop(index)
                    break
            else:
                stuck = ", ".join(repr(s.name) for s, _ in pending[:5])
                raise ModelFormatError(f"layers {stuck} read tensors no layer produces", self.kf.path)
            inputs = [values[ref] for ref in spec.calls[k]]
            if spec.model is not None:
                outs = self.model(spec.model, (*scope, spec.name), inputs)
                values.update({(spec.name, k, t): out for t, out in enumerate(outs)})
                continue
            base = spec.name if k == 0 else f"{spec.name}_call{k}"
            n_out = wanted.get((spec.name, k), 1)
            outputs = [self.builder.unique(base if t == 0 else f"{base}_out{t}") for t in range(n_out)]
            self.builder.used.difference_update(outputs)
            arrays = self.kf.weights.arrays(
                (*scope, spec.name) if scope else (spec.name,), spec.group, spec.class_name
            )
            ctx = KerasContext(
                self.builder, spec.name, spec.class_name, spec.config, arrays, self.env, inputs, outputs
            )
            ctx.call_kwargs = spec.call_kwargs[k] if k < len(spec.call_kwargs) else {}
            ctx.call_args = spec.call_args[k] if k < len(spec.call_args) else []
            ctx.masks = self.masks
            yield ctx
            values.update({(spec.name, k, t): out for t, out in enumerate(outputs)})


def _data_formats(model: ModelSpec) -> set[str]:
    found: set[str] = set()
    for spec in model.layers:
        if spec.model is not None:
            found |= _data_formats(spec.model)
        fmt = spec.config.get("data_format") or spec.config.get("dim_ordering")
        if fmt:
            found.add({"tf": "channels_last (tf)", "th": "channels_first (th)"}.get(fmt, fmt))
    return found
