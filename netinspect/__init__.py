"""netinspect: open neural-network model files, show them, convert them to ONNX, prove it right.

The Python API mirrors the CLI: `load` → Graph (reading options: `LoadOptions`), `to_onnx`/`save_onnx`
export, `summarize` is what `info` prints, `render` is `view`, `check(source, target=None,
options=..., rtol=...)` returns what `check --json` writes, and `netinspect.testing.assert_parity`
fails a pytest test with the first diverging layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netinspect import check  # the package is callable: netinspect.check(source, target, ...)
from netinspect._version import __version__
from netinspect.errors import NetinspectError
from netinspect.ir import (
    Graph,
    Metadata,
    Node,
    Preprocessing,
    Provenance,
    SourceLayer,
    SourceTensor,
    Step,
    Tensor,
    Value,
)
from netinspect.registry import LoadOptions, load

if TYPE_CHECKING:
    import onnx

__all__ = [
    "Graph",
    "LoadOptions",
    "Metadata",
    "NetinspectError",
    "Node",
    "Preprocessing",
    "Provenance",
    "SourceLayer",
    "SourceTensor",
    "Step",
    "Tensor",
    "Value",
    "__version__",
    "check",
    "load",
    "render",
    "save_onnx",
    "summarize",
    "to_onnx",
]


def to_onnx(
    graph: Graph, opset: int | None = None, with_preprocessing: bool = False, keep_unsupported: bool = False
) -> onnx.ModelProto:
    """The graph as an in-memory ONNX model (use `save_onnx` for large models: it streams).
    Layers without a translation are refused (`graph.refusal`) unless `keep_unsupported`."""
    from netinspect.converters.onnx.writer import to_model_proto

    return to_model_proto(
        graph, opset=opset, with_preprocessing=with_preprocessing, keep_unsupported=keep_unsupported
    )


def save_onnx(
    graph: Graph,
    path: Any,
    opset: int | None = None,
    with_preprocessing: bool = False,
    keep_unsupported: bool = False,
) -> None:
    """Write the graph as an ONNX file atomically, with external data when it exceeds 2 GB."""
    from netinspect.converters.onnx.writer import save

    save(graph, path, opset=opset, with_preprocessing=with_preprocessing, keep_unsupported=keep_unsupported)


def summarize(graph: Graph, nodes: bool = False) -> dict[str, Any]:
    """What `netinspect info --json` prints (schema: netinspect/schemas/info.schema.json)."""
    from netinspect.analysis.summary import summarize as _summarize

    return _summarize(graph, nodes=nodes)


def render(graph: Graph, path: Any) -> None:
    """Draw the graph with Graphviz; the suffix of `path` (.svg .png .pdf .dot) picks the format."""
    from netinspect.renderers.dot import render as _render

    _render(graph, path)
