"""What a Caffe layer handler sees: the layer's `*_param` fields and its weight blobs.

Caffe is channels-first (NCHW activations, OIHW filters), as ONNX is, so handlers tag no layouts;
blobs become lazy tensors over the .caffemodel (their file span kept when packed float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netinspect.build import GraphBuilder, LayerContext
from netinspect.converters.caffe.message import Msg
from netinspect.converters.caffe.net import Blob, LayerSpec
from netinspect.errors import ModelFormatError
from netinspect.ir import Dim, SourceTensor, Tensor

CAFFE = "caffe"

Shape = tuple[Dim, ...]

NO_WEIGHTS = "the .caffemodel (pass it with --weights)"


class CaffeContext(LayerContext):
    """`build.LayerContext` plus the layer's parameters (`param`, `value`, `values`) and blobs
    (`blob`, `blob_tensor`)."""

    def __init__(
        self,
        builder: GraphBuilder,
        spec: LayerSpec,
        inputs: list[str],
        outputs: list[str],
        structure_only: bool = False,
    ) -> None:
        super().__init__(builder, spec.name, spec.type, inputs, outputs)
        self.spec = spec
        self.structure_only = structure_only
        """A prototxt read without its .caffemodel: weights are declared (shape only), not read."""

    # -- parameters ---------------------------------------------------------------------------
    def param(self, message: str) -> Msg:
        return self.spec.param(message)

    def value(self, message: str, name: str, default: Any) -> Any:
        return self.param(message).get(name, default)

    def values(self, message: str, name: str) -> list[Any]:
        return self.param(message).all(name)

    # -- blobs --------------------------------------------------------------------------------
    @property
    def blob_count(self) -> int:
        return len(self.spec.blobs)

    def blob(self, index: int, role: str) -> Blob:
        if index >= len(self.spec.blobs):
            found = len(self.spec.blobs)
            where = "the weights file has none for it" if not found else f"it has {found} blob(s)"
            raise self.error(f"missing weight: no {role} (blob {index}); {where}")
        return self.spec.blobs[index]

    def blob_size(self, index: int, role: str, expected: Dim) -> int:
        """How many values blob `index` holds; without weights, what the net implies (`expected`)."""
        if self.structure_only:
            if not isinstance(expected, int):
                raise self.error(f"the size of its {role} depends on the weights file (pass --weights)")
            return expected
        return self.blob(index, role).count

    def blob_tensor(self, index: int, role: str, shape: tuple[int, ...]) -> str:
        """Blob `index` as a lazy float32 constant of `shape` (its values in stored order)."""
        if self.structure_only:
            path = self.builder.path

            def no_weights() -> np.ndarray:
                raise ModelFormatError(
                    f"the prototxt was read without weights: they are in {NO_WEIGHTS}", path
                )

            name = self.constant(role, Tensor(role, "float32", shape, loader=no_weights))
            self.builder.tensors[name].missing = NO_WEIGHTS
            return name
        blob = self.blob(index, role)
        size = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if blob.count != size:
            raise self.error(f"{role} holds {blob.count} values, expected {size} for shape {list(shape)}")
        if blob.double:
            self.step("param", f"{role} cast from double_data (float64) to float32")
        name = self.constant(role, blob.tensor(role, tuple(shape)))
        self.link_weight(f"blobs[{index}]", name)
        return name

    def blob_array(self, index: int, role: str, default: np.ndarray) -> np.ndarray:
        """A small blob's values, read now (a BatchNorm factor); `default` without weights."""
        return default if self.structure_only else self.blob(index, role).load()

    def shape_of(self, index: int = 0) -> Shape:
        return self.input_shapes[index]

    def const(self, hint: str, values: Any, dtype: str = "float32") -> str:
        return self.constant(hint, np.asarray(values, dtype=dtype))

    # -- the layer as the file states it ------------------------------------------------------
    def source_config(self) -> dict[str, Any]:
        """The layer's `*_param` messages (and V1's), as the prototxt states them."""
        return {k: _message(v) for k, v in self.spec.msg.fields.items() if k not in LAYER_FIELDS}

    def stored_weights(self) -> list[tuple[SourceTensor, Tensor | None]]:
        found: list[tuple[SourceTensor, Tensor | None]] = []
        for index, blob in enumerate(self.spec.blobs):
            name = f"blobs[{index}]"
            tensor = None if self.structure_only else blob.tensor(name, tuple(blob.shape))
            stored = SourceTensor(name, tuple(blob.shape), "float64" if blob.double else "float32")
            found.append((stored, tensor))
        return found


LAYER_FIELDS = {"name", "type", "bottom", "top", "blobs", "param", "blobs_lr", "weight_decay", "include",
                "exclude", "phase", "loss_weight", "propagate_down", "layer"}  # fmt: skip
"""LayerParameter fields that are wiring or training, not the layer's configuration."""


def _message(values: list[Any]) -> Any:
    """A message field as JSON data: one value or a list, nested messages as objects."""
    plain = [{k: _message(v) for k, v in x.fields.items()} if isinstance(x, Msg) else x for x in values]
    return plain[0] if len(plain) == 1 else plain
