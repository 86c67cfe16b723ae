"""The Keras layer handlers' context: a layer's JSON config, its stored arrays, and the file facts
(Keras major version, backend) that change what a layer means.

Keras 1 spelled many arguments differently (`nb_filter`, `border_mode`, `subsample`,
`dim_ordering`…); `cfg` takes every spelling of an argument so each handler serves Keras 1, 2 and 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from netinspect.build import GraphBuilder, LayerContext
from netinspect.converters.keras.files import LazyArray
from netinspect.ir import SourceTensor, Tensor

KERAS = "keras"
_MISSING = object()


@dataclass(frozen=True)
class Env:
    """Facts about the whole file a layer's meaning depends on."""

    major: int
    backend: str  # "tensorflow" or "theano" (the convolution semantics the kernels were trained with)
    backend_reason: str
    version: tuple[int, ...] = ()
    """The numeric part of `keras_version`; empty when the file states none."""

    def older_than(self, *version: int) -> bool:
        """Whether the file states a Keras version before `version` (unknown: assumed not)."""
        return bool(self.version) and self.version < version


class KerasContext(LayerContext):
    """`netinspect.build.LayerContext` plus the Keras layer's config (`cfg`) and arrays (`weight`)."""

    def __init__(
        self,
        builder: GraphBuilder,
        name: str,
        class_name: str,
        config: dict[str, Any],
        arrays: list[LazyArray],
        env: Env,
        inputs: list[str],
        outputs: list[str],
    ) -> None:
        super().__init__(builder, name, class_name, inputs, outputs)
        self.config = config
        self.arrays = arrays
        self.env = env
        self.call_kwargs: dict[str, Any] = {}
        """Keyword arguments of this call in the model config (e.g. `training`, `mask`)."""
        self.call_args: list[Any] = []
        """An operation node's positional arguments (tensors as `opcalls.TensorArg`)."""
        self.masks: dict[str, str] = {}
        """Keras masks, shared by the whole conversion: a value's name → its (batch, time) bool mask,
        made by Masking and by Embedding's `mask_zero`, applied by the recurrent layer reading it."""

    # -- the layer as the file states it ----------------------------------------------------------
    def source_config(self) -> dict[str, Any]:
        return self.config

    def stored_weights(self) -> list[tuple[SourceTensor, Tensor | None]]:
        return [
            (
                SourceTensor(a.name, a.shape, a.dtype),
                Tensor(a.name, a.dtype, a.shape, loader=a.load),
            )
            for a in self.arrays
        ]

    def opaque_results(self) -> list[tuple[tuple | None, str]]:
        """A Lambda's `output_shape`, when its config states one (without the batch axis)."""
        stated = self.config.get("output_shape")
        batch = self.input_shapes[0][0] if self.inputs else None
        if isinstance(stated, list) and all(d is None or isinstance(d, int) for d in stated):
            return [((batch, *stated), "float32")] + [(None, "float32")] * (len(self.outputs) - 1)
        return super().opaque_results()

    # -- config -----------------------------------------------------------------------------------
    def cfg(self, *keys: str, default: Any = _MISSING) -> Any:
        """The first of `keys` present (and not null) in the layer config."""
        for key in keys:
            if self.config.get(key) is not None:
                return self.config[key]
        if default is _MISSING:
            raise self.error(f"its config has no {keys[0]!r}")
        return default

    def ints(self, rank: int, *keys: str, default: Any = _MISSING) -> tuple[int, ...]:
        """An int-or-tuple argument (kernel_size, strides…) as `rank` ints."""
        value = self.cfg(*keys, default=default)
        if isinstance(value, int | float):
            return (int(value),) * rank
        values = tuple(int(v) for v in value)
        if len(values) != rank:
            raise self.error(f"{keys[0]} {list(values)} should have {rank} values")
        return values

    def channels_last(self) -> bool:
        """Keras 2/3 `data_format`, Keras 1 `dim_ordering` (tf = channels_last, th = channels_first)."""
        fmt = self.config.get("data_format") or self.config.get("dim_ordering")
        if fmt in (None, "channels_last", "tf", "default"):
            return True
        if fmt in ("channels_first", "th"):
            return False
        raise self.error(f"unknown data format {fmt!r}")

    # -- weights ----------------------------------------------------------------------------------
    def weight_count(self) -> int:
        return len(self.arrays)

    def array(self, index: int, role: str) -> LazyArray:
        if index >= len(self.arrays):
            raise self.error(f"missing weight: no {role} (the file stores {len(self.arrays)} arrays)")
        return self.arrays[index]

    def weight(
        self,
        index: int,
        role: str,
        shape: tuple[int | None, ...] | None = None,
        layout: str | None = None,
        transform: Any = None,
        out_shape: tuple[int, ...] | None = None,
    ) -> str:
        """Stored array `index` as a lazy float32 constant, checked against the `shape` the layer needs
        (None entries: any size). `transform` (array → array, giving `out_shape`) is applied lazily."""
        array = self.array(index, role)
        stored = array.shape
        if shape is not None and (
            len(stored) != len(shape)
            or any(w is not None and w != s for w, s in zip(shape, stored, strict=False))
        ):
            wanted = "×".join("?" if d is None else str(d) for d in shape)
            raise self.error(f"weight {array.name!r} ({role}) has shape {stored}, the layer needs {wanted}")
        if array.dtype != "float32":
            self.step("param", f"{role} cast from {array.dtype} to float32")
        final = tuple(out_shape) if out_shape is not None else stored

        def load() -> np.ndarray:
            data = array.load()
            if transform is not None:
                data = transform(data)
            return np.ascontiguousarray(data, dtype=np.float32)

        as_stored = transform is None and array.dtype == "float32"
        tensor = Tensor(
            role, "float32", final, loader=load, layout=layout, span=array.span() if as_stored else None
        )
        name = self.builder.shared_tensor(
            (array.key, repr((role, layout, final))), lambda: tensor, f"{self.name}_{role}"
        )
        self.link_weight(array.name, name, layout)
        return name

    def scalar(self, hint: str, value: float | list[float], dtype: Any = np.float32) -> str:
        return self.constant(hint, np.asarray(value, dtype=dtype))
