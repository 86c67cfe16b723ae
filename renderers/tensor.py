"""`info MODEL --tensor NAME`: one weight's shape, dtype, exact statistics and (abbreviated) values."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from netinspect.analysis.tensors import Budget, tensor_stats
from netinspect.ir import Tensor
from netinspect.renderers.formatting import format_shape, human_bytes

VALUES_SHOWN = 6
"""Items shown at each end of every axis when the values are abbreviated."""


def print_tensor(tensor: Tensor, console: Console) -> None:
    """Statistics over every value (no sampling: the user asked for this one tensor), then values."""
    stats = tensor_stats(tensor, Budget(remaining=1 << 62))
    table = Table(title=f"Tensor {tensor.name}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("dtype", tensor.dtype)
    table.add_row("shape", f"{format_shape(tensor.shape)} ({list(tensor.shape)})")
    table.add_row("size", f"{tensor.size:,} values, {human_bytes(tensor.nbytes)}")
    if "min" in stats:
        table.add_row("min / max", f"{stats['min']:.6g} / {stats['max']:.6g}")
        table.add_row("mean / std", f"{stats['mean']:.6g} / {stats['std']:.6g}")
    for key, label in (("zeros", "zeros"), ("nan", "NaN"), ("inf", "Inf")):
        if key in stats:
            table.add_row(label, f"{stats[key]:,}")
    if "problem" in stats:
        table.add_row("problem", stats["problem"])
    console.print(table)
    if "problem" not in stats:
        text = np.array2string(
            np.asarray(tensor.numpy()), threshold=4 * VALUES_SHOWN, edgeitems=VALUES_SHOWN, precision=6
        )
        console.print(text, highlight=False, markup=False)
