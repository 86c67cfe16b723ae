"""A Caffe net as Caffe itself would build it for inference, from a prototxt and/or a .caffemodel.

What `Net::Init` and `UpgradeNetAsNeeded` do, restated (BVLC src/caffe/net.cpp,
src/caffe/util/upgrade_proto.cpp): V1 `layers` become V2 layers (type enum → type string; the
`*_param` messages are the same); legacy `input:` + `input_dim:`/`input_shape` become inputs;
layers whose include/exclude rules do not match the net's state (phase TEST unless the file says
otherwise) are left out; training-only layers (data, loss, accuracy, silence) are dropped; weights
are bound to deploy layers by layer name, so a .caffemodel holding the whole training net serves
a deploy prototxt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netinspect.converters.caffe.binary import CaffeModelFile
from netinspect.converters.caffe.message import BlobData, Msg
from netinspect.converters.caffe.schema import DATA_TYPES, V1_TYPE_NAMES, is_training_only
from netinspect.errors import ModelFormatError
from netinspect.ir import Dim, FileSpan, Tensor


@dataclass
class Blob:
    """A weight blob: its Caffe shape and where its values are (lazily read)."""

    shape: tuple[int, ...]
    legacy: bool
    data: BlobData
    double: bool
    file: CaffeModelFile

    @property
    def count(self) -> int:
        return self.data.count

    def load(self) -> np.ndarray:
        """The values as float32, flat (a `double_data` blob is cast)."""
        parts = []
        dtype = np.dtype("<f8" if self.double else "<f4")
        for s in self.data.segments:
            if s.stride == s.itemsize:
                parts.append(np.frombuffer(self.file.buf, dtype, s.count, s.offset))
            else:
                view = np.ndarray((s.count,), dtype, self.file.buf, s.offset, (s.stride,))
                parts.append(view.copy())
        flat = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return flat.astype(np.float32, copy=False)

    @property
    def span(self) -> FileSpan | None:
        """The file bytes of a packed float32 blob, exactly as ONNX stores the tensor."""
        segments = self.data.segments
        if self.double or len(segments) != 1 or segments[0].stride != 4:
            return None
        return FileSpan(self.file.path, segments[0].offset, segments[0].count * 4)

    def tensor(self, name: str, shape: tuple[int, ...]) -> Tensor:
        """A lazy float32 tensor of `shape` (the same number of values, any Caffe shape)."""
        return Tensor(name, "float32", shape, loader=lambda: self.load().reshape(shape), span=self.span)


@dataclass
class LayerSpec:
    """One layer to build: V1 and V2 layers alike (type as the V2 string)."""

    name: str
    type: str
    bottoms: list[str]
    tops: list[str]
    msg: Msg
    version: str
    blobs: list[Blob] = field(default_factory=list)

    def param(self, name: str) -> Msg:
        return self.msg.sub(name)


@dataclass
class InputSpec:
    name: str
    shape: tuple[Dim, ...]
    origin: str


@dataclass
class CaffeNet:
    name: str
    inputs: list[InputSpec]
    layers: list[LayerSpec]
    dropped: list[tuple[LayerSpec, str]]
    notes: list[str]
    versions: set[str]


def layer_specs(net: Msg, path: Path) -> list[LayerSpec]:
    """The net's layers, V1 upgraded, in file order (a net holds V1 or V2 layers, never both)."""
    v1, v2 = net.all("layers"), net.all("layer")
    if v1 and v2:
        raise ModelFormatError("the net mixes V1 `layers` and V2 `layer` entries (Caffe refuses this)", path)
    specs = []
    for msg in v1:
        type_name = msg.get("type", "NONE")
        if isinstance(type_name, int):
            type_name = f"V1 type {type_name}"
        if msg.has("layer"):
            raise ModelFormatError("V0 layers (`layers { layer { ... } }`) are not supported", path)
        specs.append(_spec(msg, V1_TYPE_NAMES.get(type_name, type_name), "V1"))
    for msg in v2:
        specs.append(_spec(msg, str(msg.get("type", "")), "V2"))
    for spec in specs:
        if not spec.name:
            raise ModelFormatError(f"a {spec.type or 'typeless'} layer has no name", path)
        if not spec.type:
            raise ModelFormatError(f"layer {spec.name!r} has no type", path)
    return specs


def _spec(msg: Msg, type_name: str, version: str) -> LayerSpec:
    return LayerSpec(
        str(msg.get("name", "")), type_name, list(msg.all("bottom")), list(msg.all("top")), msg, version
    )


def _meets_rule(rule: Msg, phase: str, level: int, stages: set[str]) -> bool:
    """StateMeetsRule (net.cpp)."""
    if rule.has("phase") and rule.get("phase") != phase:
        return False
    if rule.has("min_level") and level < rule.get("min_level"):
        return False
    if rule.has("max_level") and level > rule.get("max_level"):
        return False
    if any(s not in stages for s in rule.all("stage")):
        return False
    return not any(s in stages for s in rule.all("not_stage"))


def in_state(spec: LayerSpec, state: Msg, path: Path) -> bool:
    """FilterNet: is the layer part of the net in this state (phase TEST by default)?"""
    phase, level, stages = state.get("phase", "TEST"), state.get("level", 0), set(state.all("stage"))
    include, exclude = spec.msg.all("include"), spec.msg.all("exclude")
    if include and exclude:
        raise ModelFormatError(f"layer {spec.name!r} has both include and exclude rules", path)
    if include:
        return any(_meets_rule(r, phase, level, stages) for r in include)
    return not any(_meets_rule(r, phase, level, stages) for r in exclude)


def blob_of(msg: Msg, file: CaffeModelFile, where: str) -> Blob:
    """A BlobProto as Caffe's Blob::FromProto reads it: legacy num/channels/height/width if any
    is set, else `shape.dim`; `double_data` if present, else `data`."""
    legacy = any(msg.has(k) for k in ("num", "channels", "height", "width"))
    if legacy:
        shape = tuple(int(msg.get(k, 0)) for k in ("num", "channels", "height", "width"))
    else:
        shape = tuple(int(d) for d in msg.sub("shape").all("dim"))
    if any(d < 0 for d in shape):
        raise ModelFormatError(f"{where} has a negative dimension {shape}", file.path)
    double = msg.get("double_data")
    data = double if double is not None and double.count else msg.get("data") or BlobData()
    blob = Blob(shape, legacy, data, data is double, file)
    expected = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if blob.count != expected:
        raise ModelFormatError(
            f"{where} has shape {list(shape)} ({expected} values) but holds {blob.count}", file.path
        )
    end = max((s.offset + (s.count - 1) * s.stride + s.itemsize for s in data.segments), default=0)
    if end > len(file.buf):
        raise ModelFormatError(f"{where} runs past the end of the file", file.path)
    return blob


def bind_weights(specs: list[LayerSpec], weights: CaffeModelFile | None, own: bool) -> None:
    """Give each layer the blobs of the .caffemodel layer with its name (the first that has any,
    as OpenCV does; Caffe's CopyTrainedLayersFrom matches by name too)."""
    if weights is None:
        return
    by_name: dict[str, Msg] = {}
    for msg in [*weights.net.all("layers"), *weights.net.all("layer")]:
        name = str(msg.get("name", ""))
        if msg.has("blobs") and name not in by_name:
            by_name[name] = msg
    for spec in specs:
        source = spec.msg if own else by_name.get(spec.name)
        if source is None or not source.has("blobs"):
            continue
        spec.blobs = [
            blob_of(b, weights, f"blob {i} of layer {spec.name!r}") for i, b in enumerate(source.all("blobs"))
        ]


def declared_inputs(net: Msg, specs: list[LayerSpec], path: Path) -> list[InputSpec]:
    """Inputs from legacy `input:` fields (shapes by `input_shape` or 4 `input_dim` each) and from
    Input layers' tops (one shape for all, or one per top)."""
    inputs: list[InputSpec] = []
    names = net.all("input")
    shapes = net.all("input_shape")
    dims = net.all("input_dim")
    if names:
        if shapes and len(shapes) not in (1, len(names)):
            raise ModelFormatError(f"{len(names)} inputs but {len(shapes)} input_shape entries", path)
        if dims and len(dims) != 4 * len(names):
            raise ModelFormatError(
                f"{len(names)} inputs need {4 * len(names)} input_dim values, the net gives {len(dims)}", path
            )
        for i, name in enumerate(names):
            if shapes:
                shape: tuple[Dim, ...] = tuple(shapes[min(i, len(shapes) - 1)].all("dim"))
            elif dims:
                shape = tuple(dims[4 * i : 4 * i + 4])
            else:
                continue  # UpgradeNetInput drops a shapeless input; so does Caffe
            inputs.append(InputSpec(name, _checked_shape(shape, name, path), "legacy input"))
    for spec in specs:
        if spec.type != "Input":
            continue
        shapes = spec.param("input_param").all("shape")
        if not shapes or len(shapes) not in (1, len(spec.tops)):
            raise ModelFormatError(
                f"Input layer {spec.name!r} has {len(spec.tops)} tops and {len(shapes)} shapes", path
            )
        for i, top in enumerate(spec.tops):
            shape = tuple(shapes[min(i, len(shapes) - 1)].all("dim"))
            inputs.append(InputSpec(top, _checked_shape(shape, top, path), f"Input layer {spec.name!r}"))
    return inputs


def _checked_shape(shape: tuple[Any, ...], name: str, path: Path) -> tuple[Dim, ...]:
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise ModelFormatError(f"input {name!r} has an invalid shape {list(shape)}", path)
    return tuple(shape)


def build(structure: Msg, weights: CaffeModelFile | None, path: Path, own_weights: bool = False) -> CaffeNet:
    """The inference net: layers in this state, inputs, training-only layers dropped, weights bound."""
    specs = layer_specs(structure, path)
    state = structure.sub("state")
    notes: list[str] = []
    # a .caffemodel stores the net as it was built, already filtered for its (training) phase
    active = specs if own_weights else [s for s in specs if in_state(s, state, path)]
    left_out = len(specs) - len(active)
    if left_out:
        notes.append(
            f"{left_out} layer(s) left out by include/exclude rules (phase {state.get('phase', 'TEST')})"
        )
    inputs = declared_inputs(structure, active, path)
    dropped: list[tuple[LayerSpec, str]] = []
    kept: list[LayerSpec] = []
    for spec in active:
        if spec.type == "Input":
            continue
        if spec.type in DATA_TYPES and not inputs:
            dropped.append((spec, "data layer: its tops are the net's inputs"))
        elif is_training_only(spec.type):
            dropped.append((spec, "training only, not part of inference"))
        else:
            kept.append(spec)
    kept = _prune_training_feeds(kept, dropped)
    if not inputs:
        inputs = _data_inputs(dropped, kept)
    bind_weights(kept, weights, own_weights)
    if weights is not None and not own_weights:
        known = {s.name for s in [*layer_specs(weights.net, weights.path)]}
        unmatched = [s.name for s in kept if s.name not in known and s.type in WEIGHTED]
        if unmatched:
            notes.append(f"no layer of that name in the weights file: {', '.join(unmatched[:8])}")
    versions = {s.version for s in specs}
    name = str(structure.get("name", "")) or path.stem
    return CaffeNet(name, inputs, kept, dropped, notes, versions)


WEIGHTED = {
    "Convolution",
    "Deconvolution",
    "InnerProduct",
    "BatchNorm",
    "Scale",
    "Bias",
    "PReLU",
    "Normalize",
}


def _prune_training_feeds(kept: list[LayerSpec], dropped: list[tuple[LayerSpec, str]]) -> list[LayerSpec]:
    """Drop the Splits that only feed dropped layers (Caffe inserts one for a label read by both
    the loss and the accuracy layer)."""
    while True:
        read_by_kept = {b for s in kept for b in s.bottoms}
        read_by_dropped = {b for s, _ in dropped for b in s.bottoms}
        feeding = [
            s
            for s in kept
            if s.type == "Split"
            and all(t not in read_by_kept for t in s.tops)
            and any(t in read_by_dropped for t in s.tops)
        ]
        if not feeding:
            return kept
        for spec in feeding:
            dropped.append((spec, "feeds only training layers"))
        kept = [s for s in kept if s not in feeding]


def _data_inputs(dropped: list[tuple[LayerSpec, str]], kept: list[LayerSpec]) -> list[InputSpec]:
    """A training net's inputs: the data layers' tops that inference layers read (shapes unknown,
    except channels, which a reader may learn from the first filter)."""
    read = {b for s in kept for b in s.bottoms}
    inputs = []
    for spec, _ in dropped:
        if spec.type in DATA_TYPES:
            for top in spec.tops:
                if top in read and top not in {i.name for i in inputs}:
                    inputs.append(InputSpec(top, ("N", None, "H", "W"), f"{spec.type} layer {spec.name!r}"))
    return inputs
