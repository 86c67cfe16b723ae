"""`RNN` around cells: one `LSTMCell`/`GRUCell`/`SimpleRNNCell` is the LSTM/GRU/SimpleRNN layer it
computes (sequence.py converts it); `StackedRNNCells` (or a list of cells) runs each cell over the
previous one's output sequence, which is the same as a stack of those layers: every cell but the
last returns its whole sequence, `go_backwards` reverses the input once (the first cell), and the
last cell's `return_sequences` is the RNN's.

Where each cell's weights are: Keras 3 `.keras` files keep them under
`cell/cells/<snake_case(class)>[_k]/vars` (listed here in class-name order, so they are picked by
path); tf-keras `.h5` under `<rnn>/<stacked>/<cell name>/kernel:0` in cell order.
"""

from __future__ import annotations

from typing import Any

from netinspect.converters.keras.context import KerasContext
from netinspect.converters.keras.files import LazyArray
from netinspect.converters.keras.layers import layer, single_input
from netinspect.converters.keras.model import snake_case
from netinspect.converters.keras.sequence import CELLS, convert_rnn


@layer("RNN")
def convert_rnn_layer(ctx: KerasContext) -> None:
    cell = ctx.cfg("cell")
    if isinstance(cell, dict) and cell.get("class_name") == "StackedRNNCells":
        _stacked(ctx, list(cell.get("config", {}).get("cells") or []))
    elif isinstance(cell, list):
        _stacked(ctx, cell)
    else:
        convert_rnn(ctx)


def _stacked(ctx: KerasContext, cells: list[dict[str, Any]]) -> None:
    x, shape = single_input(ctx)
    if not cells:
        raise ctx.error("stacks no cells")
    unknown = [c.get("class_name") for c in cells if c.get("class_name") not in CELLS]
    if unknown:
        raise ctx.error(f"stacked cells {unknown} are not supported")
    if ctx.config.get("return_state"):
        raise ctx.error("return_state of stacked cells is not supported")
    groups = _cell_arrays(ctx, cells)
    saved = (ctx.inputs, ctx.input_shapes, ctx.outputs, ctx.config, ctx.arrays, ctx.type)
    flags = ctx.config
    ctx.step("param", f"{len(cells)} stacked cells run as {len(cells)} recurrent layers, each over the last")
    y, y_shape = x, shape
    try:
        for index, (cell, arrays) in enumerate(zip(cells, groups, strict=True)):
            last = index == len(cells) - 1
            cfg = {
                **cell.get("config", {}),
                "return_sequences": bool(flags.get("return_sequences")) if last else True,
                "go_backwards": bool(flags.get("go_backwards")) and index == 0,
                "stateful": flags.get("stateful", False),
            }
            out = saved[2][0] if last else ctx.builder.unique(f"{ctx.name}/cell{index}")
            ctx.builder.used.discard(out)
            ctx.inputs, ctx.input_shapes, ctx.outputs = [y], [y_shape], [out]
            ctx.config, ctx.arrays, ctx.type = cfg, arrays, CELLS[cell["class_name"]]
            convert_rnn(ctx)
            y, y_shape = out, ctx.builder.shape(out) or (None, None, None)
    finally:
        ctx.inputs, ctx.input_shapes, ctx.outputs, ctx.config, ctx.arrays, ctx.type = saved


def _cell_arrays(ctx: KerasContext, cells: list[dict[str, Any]]) -> list[list[LazyArray]]:
    """Each cell's arrays: by its Keras 3 path or its tf-keras name, else by position."""
    seen: dict[str, int] = {}
    groups: list[list[LazyArray]] = []
    for cell in cells:
        base = snake_case(str(cell.get("class_name")))
        k = seen.get(base, 0)
        seen[base] = k + 1
        path = f"/cells/{base}" + (f"_{k}" if k else "") + "/"
        name = f"/{cell.get('config', {}).get('name')}/"
        picked = [a for a in ctx.arrays if path in a.name]
        groups.append(picked or [a for a in ctx.arrays if name in f"/{a.name}"])
    if sum(len(g) for g in groups) == len(ctx.arrays) and all(groups):
        return groups
    groups, offset = [], 0  # names that say nothing: the cells' arrays in order
    for cell in cells:
        count = 3 if cell.get("config", {}).get("use_bias", True) else 2
        groups.append(ctx.arrays[offset : offset + count])
        offset += count
    return groups
