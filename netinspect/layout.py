"""The one place that decides layouts: source layouts in, canonical NCHW activations and OIHW
filters out.

Layouts are strings of axis letters; the permutation between two is derived, never written by
hand, so MatConvNet's HWCN→NCHW and Keras' HWIO→OIHW are the same rule (perm 3,2,0,1).
Letters: N batch, C channels, D depth, H height, W width, O output channels, I input channels
(per group; TFLite's depthwise 1HWO is "IHWO" with I = 1).

Readers never permute. They tag what is not canonical and `canonicalize` rewrites the graph:
- a weight `Tensor.layout` ("HWIO", "OHWI", …) is permuted, lazily, to what its op reads
  (Conv: O I spatial; ConvTranspose: I O spatial), and the permutation recorded on the node;
- a node whose `layout` is channels-last ("NHWC") is wrapped in Transposes, and graph inputs and
  outputs tagged channels-last become NCHW (unless the user keeps the source layout);
- then Transposes are pushed through layout-agnostic ops until inverse pairs meet and vanish, and a
  Transpose that only feeds a Flatten into a MatMul/Gemm becomes a permutation of that weight's rows.
"""

from __future__ import annotations

import numpy as np

from netinspect.ir import Graph, Node, Step, Tensor

ACTIVATION = "NCHW"
MATLAB_ACTIVATION = "HWCN"
"""MatConvNet arrays: height × width × channels × batch, MATLAB's own order."""

SPATIAL = "DHW"


def perm(src: str, dst: str) -> tuple[int, ...]:
    """Axes to pass to numpy.transpose to turn an array laid out as `src` into `dst`."""
    if sorted(src) != sorted(dst) or len(set(src)) != len(src):
        raise ValueError(f"layouts {src!r} and {dst!r} do not hold the same axes")
    return tuple(src.index(axis) for axis in dst)


def permute(array: np.ndarray, src: str, dst: str) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(array, perm(src, dst)))


def permute_shape(shape: tuple, src: str, dst: str) -> tuple:
    return tuple(shape[i] for i in perm(src, dst))


def axis(src: str, index: int, dst: str) -> int:
    """Where axis `index` of layout `src` lands in layout `dst` (e.g. MATLAB dim 3 → NCHW axis 1)."""
    return dst.index(src[index])


def describe(what: str, src: str, dst: str) -> str:
    """The provenance sentence for a permute, e.g. "kernel HWIO → OIHW (perm 3,2,0,1)"."""
    return f"{what} {src} → {dst} (perm {','.join(map(str, perm(src, dst)))})"


def channels_first(layout: str) -> str:
    """The canonical order of the same axes: "NHWC" → "NCHW", "NWC" → "NCW", "NDHWC" → "NCDHW"."""
    spatial = "".join(a for a in SPATIAL if a in layout)
    return "NC" + spatial


def weight_target(op_type: str, src: str) -> str | None:
    """The layout an op reads its weight in, for a weight tagged `src`; None if the op has none."""
    spatial = "".join(a for a in SPATIAL if a in src)
    if op_type == "Conv":
        return "OI" + spatial
    if op_type == "ConvTranspose":
        return "IO" + spatial
    return None


# -------------------------------------------------------------------------------------------------
# the pass


def canonicalize(graph: Graph, keep_source_layout: bool = False) -> None:
    """Make every tagged weight and channels-last node canonical, in place (see the module doc)."""
    _permute_weights(graph)
    for node in graph.walk():
        if node.layout is not None and node.layout != channels_first(node.layout):
            from netinspect.layout_pass import rewrite_channels_last

            rewrite_channels_last(graph, keep_source_layout)
            break


def _permute_weights(graph: Graph) -> None:
    done: dict[str, str] = {}
    for node in graph.nodes:
        for index, name in enumerate(node.inputs):
            tensor = graph.tensors.get(name)
            if tensor is None or (tensor.layout is None and name not in done):
                continue
            if name in done:
                _record(node, Step("transpose", done[name]))
                continue
            src = tensor.layout
            assert src is not None
            dst = weight_target(node.op_type, src) if index == 1 else None
            if dst is None:
                raise ValueError(
                    f"weight {name!r} is tagged {src}, but {node.op_type} input {index} "
                    "takes no laid-out weight"
                )
            graph.tensors[name] = permuted(tensor, src, dst)
            done[name] = describe("filter", src, dst)
            _record(node, Step("transpose", done[name]))


def permuted(tensor: Tensor, src: str, dst: str) -> Tensor:
    """A lazy `tensor` in layout `dst`; a reader's own permuter (chunked, say) is used when given."""
    axes = perm(src, dst)
    shape = tuple(tensor.shape[i] for i in axes)
    if tensor.permuter is not None:
        permuter = tensor.permuter
        return Tensor(tensor.name, tensor.dtype, shape, loader=lambda: permuter(axes))
    return tensor.map(lambda a: np.ascontiguousarray(np.transpose(a, axes)), shape)


def _record(node: Node, step: Step) -> None:
    if node.provenance is not None and step not in node.provenance.steps:
        node.provenance.steps.append(step)
