"""Writes into tensors (Keras 3 `keras.ops.scatter`, `scatter_update`, `slice_update`) as ONNX
ScatterND or a padded mask, each as Keras' TensorFlow backend computes it (tf.scatter_nd sums
repeated positions; tf.tensor_scatter_nd_update writes them)."""

from __future__ import annotations

import numpy as np

from netinspect.converters.keras.ops import Call, op

_REDUCTIONS = {None: "none", "add": "add"}


def _indices(c: Call, value: object) -> tuple[str, tuple[int, ...]]:
    """Scatter positions as int64 (constant or computed by the model)."""
    name, shape, dtype = c.tensor(value, like="int64")
    if dtype != "int64":
        name = c.node("Cast", [name], shape, {"to": 7}, dtype="int64")
    return name, shape  # type: ignore[return-value]


@op(("ScatterUpdate",), ("tensor_scatter_nd_update", "tensor_scatter_nd_add"))
def scatter_update(c: Call) -> None:
    """`inputs` with the entries (or slices) at `indices` replaced by `updates` (or added to, with
    reduction 'add'; tf.tensor_scatter_nd_update and _add alike). ONNX has max and min reductions
    only from opset 18; Keras' TensorFlow backend cannot run 'mul' in a model (measured: its loop
    slices with a tensor)."""
    x, shape, dtype = c.tensor(c.arg(0, "inputs", "tensor"))
    indices, _ = _indices(c, c.arg(1, "indices"))
    updates, _, _ = c.tensor(c.arg(2, "updates"), like=dtype)
    reduction = "add" if c.ctx.type.endswith("_add") else c.const(3, "reduction", default=None)
    if reduction == "mul":
        raise c.ctx.error("scatter_update with reduction 'mul' cannot run in Keras' TensorFlow backend")
    if reduction not in _REDUCTIONS:
        raise c.ctx.error(f"scatter_update with reduction {reduction!r} needs ONNX opset 18 (netinspect: 17)")
    c.node("ScatterND", [x, indices, updates], shape, {"reduction": _REDUCTIONS[reduction]}, dtype=dtype,
           final=True)  # fmt: skip


@op(("Scatter",), ())
def scatter(c: Call) -> None:
    """A tensor of zeros of `shape` with `values` summed in at `indices` (tf.scatter_nd)."""
    indices, _ = _indices(c, c.arg(0, "indices"))
    values, _, dtype = c.tensor(c.arg(1, "values"))
    shape = tuple(int(d) for d in c.const(2, "shape"))
    zeros = c.ctx.constant("zeros", np.zeros(shape, dtype))
    c.node("ScatterND", [zeros, indices, values], shape, {"reduction": "add"}, dtype=dtype, final=True)


@op(("SliceUpdate",), ())
def slice_update(c: Call) -> None:
    """`inputs` with the block at `start_indices` replaced by `updates`: the update and a mask of
    ones padded to the input's shape, the mask choosing between them. An axis of unknown size
    must be covered whole (start 0, the same unknown size)."""
    x, shape, dtype = c.tensor(c.arg(0, "inputs"))
    update, ushape, _ = c.tensor(c.arg(2, "updates"), like=dtype)
    starts = [int(s) for s in c.const(1, "start_indices")]
    if len(starts) != len(shape) or len(ushape) != len(shape):
        raise c.ctx.error("slice_update needs one start per axis and an update of the input's rank")
    before, after = [], []
    for axis, (start, size, part) in enumerate(zip(starts, shape, ushape, strict=True)):
        if isinstance(size, int) and isinstance(part, int):
            start = min(max(start, 0), size - part)  # TensorFlow clamps the block inside the input
            before.append(start)
            after.append(size - part - start)
        elif start == 0 and (part == size or part is None or size is None):
            before.append(0)
            after.append(0)
        else:
            raise c.ctx.error(f"slice_update along axis {axis} needs its sizes known")
    pads = c.ctx.constant("pads", np.array(before + after, np.int64))
    padded = c.node("Pad", [update, pads], shape, dtype=dtype)
    dims = c.node("Shape", [update], (len(shape),), dtype="int64")
    ones = c.node("Expand", [c.ctx.constant("one", np.array(True)), dims], ushape, dtype="bool")
    mask = c.node("Pad", [ones, pads, c.ctx.constant("off", np.array(False))], shape, dtype="bool")
    c.node("Where", [mask, padded, x], shape, dtype=dtype, final=True)
