"""Sizes for the free dimensions of a model's inputs, so `check` runs without --dim.

Most MatConvNet networks and many ONNX files leave the batch and the image height and width
symbolic. Each free axis gets, in this order:
1. the user's size (--dim INPUT:AXIS=SIZE, then --dim NAME=SIZE);
2. the size the other model fixes for the same input (a converted model pinned with --input-shape);
3. the batch axis (axis 0): 1;
4. the height and width of an image input (4-D, axes 2 and 3): the image size the model records
   (MatConvNet meta.inputSize / normalization.imageSize, ONNX netinspect.preprocessing);
5. any other axis: the first of DEFAULT_SIZES that the whole network accepts, asked of the ONNX
   model (shape inference, then one run on zeros): a network ending in a fully connected layer
   takes a single size, a stride-32 network at least 32. Every choice is reported with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from netinspect.check.data import InputSpec, axis_key, given_size
from netinspect.ir import Preprocessing

DEFAULT_BATCH = 1
BATCH_REASON = "default batch"
DEFAULT_SIZES = (64, 128, 224, 32, 256, 16, 8)
"""Tried in this order for a free axis the model records no size for: small first, since check
runs both runtimes on it, then the common image sizes."""

Accepts = Callable[[Mapping[str, tuple[int, ...]]], bool | None]
"""Whether the network takes inputs of these shapes (input name → shape); None: cannot tell."""


@dataclass(frozen=True)
class Choice:
    """A size check picked for a free axis, and why."""

    input: str
    axis: int
    size: int
    reason: str

    @property
    def is_default_batch(self) -> bool:
        """The batch of 1 every check uses unless told otherwise: not worth a line of output."""
        return self.reason == BATCH_REASON

    def describe(self) -> str:
        return f"{axis_key(self.input, self.axis)}={self.size} ({self.reason})"


def choose_sizes(
    specs: Sequence[InputSpec],
    others: Mapping[str, InputSpec],
    dims: Mapping[str, int],
    preprocessing: Preprocessing | None,
    accepts: Accepts,
) -> tuple[list[InputSpec], list[Choice]]:
    """`specs` with every free axis the user left open given a size (see the module doc).

    `others` maps a source input name to the other model's spec of the same input. Axes no
    default fits stay symbolic, and generating data for them asks for --dim.
    """
    choices: list[Choice] = []
    open_axes: list[tuple[int, int]] = []
    for index, spec in enumerate(specs):
        other = others.get(spec.name)
        for axis in range(len(spec.shape)):
            if given_size(spec, axis, dims) is not None:
                continue
            fixed = other.shape[axis] if other is not None and axis < len(other.shape) else None
            if isinstance(fixed, int) and fixed > 0:
                choices.append(Choice(spec.name, axis, fixed, "the other model's fixed size"))
            elif axis == 0:
                choices.append(Choice(spec.name, axis, DEFAULT_BATCH, BATCH_REASON))
            elif _recorded_size(spec, axis, preprocessing) is not None:
                size = _recorded_size(spec, axis, preprocessing)
                assert size is not None
                choices.append(Choice(spec.name, axis, size, "the model's recorded image size"))
            else:
                open_axes.append((index, axis))
    if open_axes:
        choices += _search(specs, dims, choices, open_axes, accepts)
    sized = {(c.input, c.axis): c.size for c in choices}
    resolved = [
        replace(spec, shape=tuple(sized.get((spec.name, axis), dim) for axis, dim in enumerate(spec.shape)))
        for spec in specs
    ]
    return resolved, choices


def _recorded_size(spec: InputSpec, axis: int, preprocessing: Preprocessing | None) -> int | None:
    if preprocessing is None or preprocessing.image_size is None or len(spec.shape) != 4 or axis < 2:
        return None
    size = preprocessing.image_size[axis - 2]
    return int(size) if isinstance(size, int) and size > 0 else None


def _search(
    specs: Sequence[InputSpec],
    dims: Mapping[str, int],
    known: list[Choice],
    open_axes: list[tuple[int, int]],
    accepts: Accepts,
) -> list[Choice]:
    """The first default size that the network accepts on every open axis at once."""
    sized = {(c.input, c.axis): c.size for c in known}
    for size in DEFAULT_SIZES:
        trial = dict(sized)
        trial.update({(specs[i].name, axis): size for i, axis in open_axes})
        shapes = {
            spec.name: tuple(
                given_size(spec, axis, dims) or trial[(spec.name, axis)] for axis in range(len(spec.shape))
            )
            for spec in specs
        }
        verdict = accepts(shapes)
        if verdict is None or verdict:
            reason = "default size the network accepts" if verdict else "default size"
            return [Choice(specs[i].name, axis, size, reason) for i, axis in open_axes]
    return []
