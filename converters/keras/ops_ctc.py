"""CTC loss (Keras 3 `keras.ops.ctc_loss`) as tf.nn.ctc_loss computes it: minus the log of the
summed probability of every alignment of the target, by the forward recursion over the extended
label sequence (a blank between labels and at both ends) in log space, unrolled over the known
number of steps; steps past a sample's output length leave its state as it is."""

from __future__ import annotations

import numpy as np

from netinspect.converters.keras.ops import Call, op
from netinspect.dtypes import elem_type


def _i64(c: Call, hint: str, values: object) -> str:
    return c.ctx.constant(hint, np.asarray(values, np.int64))


@op(("CTCLoss",), ())
def ctc_loss(c: Call) -> None:
    target, tshape, ttype = c.tensor(c.arg(0, "target"), like="int64")
    output, oshape, dtype = c.tensor(c.arg(1, "output"))
    target_length, _, lttype = c.tensor(c.arg(2, "target_length"), like="int64")
    output_length, _, oltype = c.tensor(c.arg(3, "output_length"), like="int64")
    blank = int(c.const(99, "mask_index", default=0))
    if len(oshape) != 3 or not all(isinstance(d, int) for d in (oshape[1], oshape[2], tshape[-1])):
        raise c.ctx.error("ctc_loss needs (batch, steps, classes) outputs and targets with their sizes known")
    steps, classes, labels = int(oshape[1]), int(oshape[2]), int(tshape[-1])  # type: ignore[arg-type]
    if blank < 0:
        blank += classes
    batch = oshape[0]
    width = 2 * labels + 1
    state = (batch, width)

    def cast64(name: str, shape: tuple, kind: str) -> str:
        return (
            name
            if kind == "int64"
            else c.node("Cast", [name], shape, {"to": elem_type("int64")}, dtype="int64")
        )

    target = cast64(target, tshape, ttype)
    target_length = cast64(target_length, (batch,), lttype)
    output_length = cast64(output_length, (batch,), oltype)
    logp = c.node("LogSoftmax", [output], oshape, {"axis": 2}, dtype=dtype)
    # the extended sequence: blank, l1, blank, l2, …, blank
    spread = c.node("Gather", [target, _i64(c, "label", np.maximum((np.arange(width) - 1) // 2, 0))], state,
                    {"axis": 1}, dtype="int64")  # fmt: skip
    is_label = c.ctx.constant("is_label", (np.arange(width) % 2 == 1))
    z = c.node("Where", [is_label, spread, _i64(c, "blank", blank)], state, dtype="int64")
    shifted = c.node("Pad", [z, _i64(c, "pads", [0, 2, 0, -2])], state, dtype="int64")
    differs = c.node("Not", [c.node("Equal", [z, shifted], state, dtype="bool")], state, dtype="bool")
    can_skip = c.ctx.constant("can_skip", (np.arange(width) % 2 == 1) & (np.arange(width) >= 2))
    skip = c.node("And", [differs, can_skip], state, dtype="bool")
    ninf = c.ctx.constant("ninf", np.array(-np.inf, dtype))
    zero = c.ctx.constant("zero", np.array(0.0, dtype))
    step_axis = _i64(c, "axis", [1])

    def emissions(t: int) -> str:
        row = c.node("Gather", [logp, _i64(c, "t", t)], (batch, classes), {"axis": 1}, dtype=dtype)
        return c.node("GatherElements", [row, z], state, {"axis": 1}, dtype=dtype)

    def shift(alpha: str, by: int) -> str:
        pads = _i64(c, "pads", [0, by, 0, -by])
        return c.node("Pad", [alpha, pads, ninf], state, dtype=dtype)

    start = c.ctx.constant("start", np.where(np.arange(width) < 2, 0.0, -np.inf).astype(dtype))
    alpha = c.node("Add", [emissions(0), start], state, dtype=dtype)
    for t in range(1, steps):
        one = shift(alpha, 1)
        two = c.node("Where", [skip, shift(alpha, 2), ninf], state, dtype=dtype)
        top = c.node("Max", [alpha, one, two], state, dtype=dtype)
        safe = c.node("Where", [c.node("IsInf", [top], state, dtype="bool"), zero, top], state, dtype=dtype)
        exps = [c.node("Exp", [c.node("Sub", [v, safe], state, dtype=dtype)], state, dtype=dtype)
                for v in (alpha, one, two)]  # fmt: skip
        total = c.node("Sum", exps, state, dtype=dtype)
        merged = c.node("Add", [c.node("Log", [total], state, dtype=dtype), safe], state, dtype=dtype)
        updated = c.node("Add", [merged, emissions(t)], state, dtype=dtype)
        running = c.node("Less", [_i64(c, "t", t), output_length], (batch,), dtype="bool")
        running = c.node("Unsqueeze", [running, step_axis], (batch, 1), dtype="bool")
        alpha = c.node("Where", [running, updated, alpha], state, dtype=dtype)
    # the last label or the blank after it
    last = c.node("Mul", [target_length, _i64(c, "two", 2)], (batch,), dtype="int64")
    last = c.node("Unsqueeze", [last, step_axis], (batch, 1), dtype="int64")
    before = c.node("Sub", [last, _i64(c, "one", 1)], (batch, 1), dtype="int64")
    before = c.node("Max", [before, _i64(c, "none", 0)], (batch, 1), dtype="int64")
    ends = c.node("Concat", [last, before], (batch, 2), {"axis": 1}, dtype="int64")
    final = c.node("GatherElements", [alpha, ends], (batch, 2), {"axis": 1}, dtype=dtype)
    empty = c.node("Equal", [last, _i64(c, "none", 0)], (batch, 1), dtype="bool")
    second = c.ctx.constant("second", np.array([[False, True]]))
    mask = c.node("And", [empty, second], (batch, 2), dtype="bool")  # no blank before an empty target
    final = c.node("Where", [mask, ninf, final], (batch, 2), dtype=dtype)
    likelihood = c.node("ReduceLogSumExp", [final], (batch,), {"axes": [1], "keepdims": 0}, dtype=dtype)
    c.node("Neg", [likelihood], (batch,), dtype=dtype, final=True)
