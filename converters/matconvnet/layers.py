"""One function per MatConvNet layer type, turning it into ONNX-vocabulary IR nodes (NCHW).

Each function receives a `MatconvnetContext`: the layer's fields (a SimpleNN layer struct or a DagNN
`block`), its parameters (SimpleNN `weights{i}`, DagNN `params` by name), the IR names and shapes
of its inputs, and the names its outputs must get. It emits nodes through the context, stating
the shape of every value it makes, and records each transform in provenance. The same context is
what plugins receive (see `netinspect.converters.matconvnet.plugins`).

Semantics follow MatConvNet's own code (vlfeat/matconvnet: matlab/vl_nnconv.m, doc/blocks.tex,
matlab/src/bits/impl/im2row_cpu.cpp, matlab/+dagnn/*.m):
filters are H×W×Cin×Cout, cross-correlation like ONNX Conv; pads are [T B L R]; output sizes use
floor; max pooling ignores padding and average pooling leaves it out of the divisor; LRN's alpha
is not divided by the window size; batch-norm moments hold the mean and sigma (eps included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from netinspect import registry
from netinspect.build import GraphBuilder, LayerContext
from netinspect.converters.matconvnet.matfile import MatArray, MatCell, MatOpaque, MatStruct, MatValue
from netinspect.io.blocks import BLOCK_BYTES
from netinspect.ir import Dim, Permuted, SourceTensor, Step, Stored, Tensor, TensorSource
from netinspect.layout import ACTIVATION, MATLAB_ACTIVATION, permute, permute_shape
from netinspect.layout import axis as layout_axis

MATCONVNET = "matconvnet"

Shape = tuple[Dim, ...]
LayerFn = Callable[["MatconvnetContext"], None]

LOSS_TYPES = {"softmaxloss", "loss", "pdist", "dagnn.loss", "dagnn.pdist"}
"""Training-only layer types (compared lower-case); any type ending in "loss" is one too."""

_MISSING = object()


def is_loss_type(layer_type: str) -> bool:
    lowered = layer_type.lower()
    return lowered in LOSS_TYPES or lowered.endswith("loss")


@dataclass
class Param:
    """A layer parameter: its DagNN name (None in SimpleNN) and its value in the file."""

    name: str | None
    value: MatValue


@dataclass
class LayerSpec:
    """A MatConvNet layer, whatever the file layout: what the converter functions need."""

    name: str
    type: str
    inputs: list[str]
    outputs: list[str]
    fields: MatStruct | None
    params: list[Param]
    steps: list[Step]


class MatconvnetContext(LayerContext):
    """The MatConvNet layer handlers' (and plugins') context: `netinspect.build.LayerContext` plus
    readers of the layer's MATLAB fields (`number`, `numbers`, `text`, `field`) and parameters
    (`param`, `kernel`, `vector`, `param_tensor`).
    """

    def __init__(
        self,
        builder: GraphBuilder,
        spec: LayerSpec,
        inputs: list[str],
        outputs: list[str],
        noise_levels: int | None = None,
    ) -> None:
        super().__init__(builder, spec.name, spec.type, inputs, outputs, spec.steps)
        self.spec = spec
        self.noise_levels = noise_levels
        """FFDNet's noise level map's channel count (the reader works it out from the first conv)."""

    # -- the layer as the file states it ------------------------------------------------------------
    def source_config(self) -> dict[str, Any]:
        """The layer's fields (SimpleNN struct or DagNN block), its parameters left to `weights`."""
        fields = self.spec.fields
        if fields is None or not fields.elements:
            return {}
        skipped = ("name", "type", "weights", "filters", "biases", "precious")
        return {k: _plain(v) for k, v in fields.elements[0].items() if k not in skipped}

    def _param_name(self, index: int) -> str:
        return self.spec.params[index].name or f"weights{{{index + 1}}}"

    def stored_weights(self) -> list[tuple[SourceTensor, Tensor | None]]:
        found: list[tuple[SourceTensor, Tensor | None]] = []
        for index, param in enumerate(self.spec.params):
            value, name = param.value, self._param_name(index)
            if isinstance(value, MatArray):
                described = SourceTensor(name, value.shape, np.dtype(value.dtype).name)
                tensor = Tensor(name, np.dtype(value.dtype).name, value.shape, loader=value.load)
                found.append((described, tensor if value.size else None))
            else:
                found.append((SourceTensor(name), None))
        return found

    # -- fields ---------------------------------------------------------------------------------
    def has(self, field: str) -> bool:
        return (
            self.spec.fields is not None
            and field in self.spec.fields
            and not _is_empty(self.spec.fields[field])
        )

    def field(self, field: str, default: Any = _MISSING) -> MatValue:
        if self.has(field):
            return self.spec.fields[field]  # type: ignore[index]
        if default is _MISSING:
            raise self.error(f"has no {field!r} field")
        return default

    def numbers(self, field: str, default: list[float] | None = None) -> list[float]:
        value = self.field(field, None)
        if value is None:
            if default is None:
                raise self.error(f"has no {field!r} field")
            return list(default)
        if isinstance(value, bool | int | float):
            return [float(value)]
        if not isinstance(value, MatArray):
            raise self.error(f"field {field!r} is not numeric")
        return value.values()

    def number(self, field: str, default: float | None = None) -> float:
        values = self.numbers(field, None if default is None else [default])
        if len(values) != 1:
            raise self.error(f"field {field!r} should hold one number, holds {len(values)}")
        return values[0]

    def text(self, field: str, default: str | None = None) -> str:
        value = self.field(field, default)
        if not isinstance(value, str):
            raise self.error(f"field {field!r} is not text")
        return value

    # -- parameters -----------------------------------------------------------------------------
    @property
    def param_count(self) -> int:
        return len(self.spec.params)

    def param(self, index: int, role: str) -> MatArray:
        """Parameter `index` (0-based: weights{index+1} / params{index+1}) as a lazy array."""
        if index >= len(self.spec.params):
            raise self.error(f"missing weight: no {role} (parameter {index + 1})")
        param = self.spec.params[index]
        value = param.value
        if isinstance(value, MatOpaque):
            raise self.error(f"{role} is a {value.describe()}, which netinspect never decodes")
        if not isinstance(value, MatArray) or value.size == 0:
            raise self.error(f"missing weight: {role} is empty")
        return value

    def param_tensor(
        self,
        index: int,
        role: str,
        shape: tuple[int, ...],
        transform: Callable[[MatArray], np.ndarray],
        key: str,
        layout: str | None = None,
        as_stored: bool = False,
    ) -> str:
        """A lazy float32 constant made from parameter `index`; shared DagNN params are made once.

        `key` names the transform, so one DagNN param used by several layers the same way becomes
        one initializer, and used in different ways, one initializer per way. `as_stored`: the
        transform keeps the stored order (a vector), so the writer may copy the file's bytes.
        """
        array = self.param(index, role)
        param_name = self.spec.params[index].name
        if array.dtype != np.float32:
            self.step("param", f"{role} cast from {array.matlab_class or array.dtype} to float32")

        def make() -> Tensor:
            span = array.span if as_stored else None
            load = lambda: _as_float32(transform(array))  # noqa: E731
            return Tensor(role, "float32", shape, loader=load, layout=layout, span=span)

        if param_name is None:
            name = self.builder.add_tensor(f"{self.name}_{role}", make())
            self.link_weight(self._param_name(index), name, layout)
            return name
        name = self.builder.shared_tensor((param_name, key), make, param_name)
        self.link_weight(param_name, name, layout)
        if self.builder.tensors[name].shape != tuple(shape):
            raise self.error(
                f"shared parameter {param_name!r} has shape {self.builder.tensors[name].shape} here"
            )
        return name

    def kernel(
        self, index: int, role: str = "filter", layout: str = "HWIO"
    ) -> tuple[str, tuple[int, int, int, int]]:
        """Parameter `index` as a 4-D filter bank: (tensor name, MATLAB 4-D dims).

        The tensor keeps MATLAB's order, tagged `layout` (vl_nnconv's H×W×Cin×Cout is HWIO); the
        layout pass permutes it to what the consuming op reads.
        """
        array = self.param(index, role)
        dims = restore_dims(array.shape, 4)
        if dims is None:
            raise self.error(f"{role} has {len(array.shape)} dimensions {array.shape}, expected at most 4")
        if dims != array.shape:
            self.step(
                "layout",
                f"{role} restored to 4-D {dims} (MATLAB drops trailing singleton dims: {array.shape})",
            )
        name = self.param_tensor(
            index, role, dims, lambda a: a.load().reshape(dims, order="F"), layout, layout=layout
        )
        tensor = self.builder.tensors[name]
        if not isinstance(tensor.source, _KernelSource):
            tensor.source = _KernelSource(tensor.source.numpy, array, dims)
        return name, dims  # type: ignore[return-value]

    def vector(self, index: int, role: str, length: int) -> str:
        """Parameter `index` as a 1-D float32 vector of `length` values (any MATLAB shape)."""
        array = self.param(index, role)
        if array.size != length:
            raise self.error(f"{role} has {array.size} values, expected {length}")
        flat = lambda a: a.load().reshape(-1, order="F")  # noqa: E731
        return self.param_tensor(index, role, (length,), flat, "vector", as_stored=True)


# -------------------------------------------------------------------------------------------------
# helpers


def _plain(value: MatValue) -> Any:
    """A MATLAB field value as JSON data: numbers (a list when several; the shape past 64 values),
    text, cells as lists, structs as objects, MATLAB objects by their description."""
    if isinstance(value, MatArray):
        if value.size > 64:
            return {"shape": list(value.shape), "class": value.matlab_class or np.dtype(value.dtype).name}
        numbers: list[Any] = [int(v) if float(v).is_integer() else v for v in value.values()]
        return numbers[0] if len(numbers) == 1 else numbers
    if isinstance(value, MatCell):
        return [_plain(v) for v in value.items]
    if isinstance(value, MatStruct):
        items = [{k: _plain(v) for k, v in element.items()} for element in value.elements]
        return items[0] if len(items) == 1 else items
    if isinstance(value, MatOpaque):
        return value.describe()
    return value


def _is_empty(value: MatValue) -> bool:
    if isinstance(value, MatArray | MatCell):
        return value.size == 0 if isinstance(value, MatArray) else len(value) == 0
    if isinstance(value, MatStruct):
        return False
    return value is None


def restore_dims(shape: tuple[int, ...], rank: int) -> tuple[int, ...] | None:
    """MATLAB's shape padded with the trailing singleton dims it drops, or None if too many."""
    if len(shape) > rank:
        if all(d == 1 for d in shape[rank:]):
            return tuple(shape[:rank])
        return None
    return tuple(shape) + (1,) * (rank - len(shape))


def _as_float32(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=np.float32)


class _KernelSource(Stored):
    """A MATLAB filter bank: column-major, as its file holds it (a MAT v5 array's bytes lie as they
    are; v7 compresses them and v7.3 keeps them in HDF5, in the same order), read transposed slab by
    slab along its last (slowest) axis (`_KernelSlabs`)."""

    def __init__(self, loader: Callable[[], np.ndarray], array: MatArray, dims: tuple[int, ...]) -> None:
        super().__init__(loader, stored_span=array.span, storage_order=tuple(reversed(range(len(dims)))))
        self.array = array
        self.dims = dims

    def permuted(self, base: Tensor, axes: tuple[int, ...]) -> TensorSource:
        return _KernelSlabs(base, axes, self.array, self.dims)


class _KernelSlabs(Permuted):
    """A MATLAB filter bank transposed by `axes`, slab by slab along its last (slowest) axis.

    Each slab along the last MATLAB axis is contiguous in the file. When that axis is also the
    result's first (a conv bank's Cout → OIHW's O), each slab's permuted bytes are a contiguous
    piece of the result: `chunks` yields them one at a time and drops the slab's mapped pages, so a
    writer streams the weight holding two slabs, never the whole. `numpy` builds the full permuted
    array the same way (still releasing the source).
    """

    def __init__(self, base: Tensor, axes: tuple[int, ...], array: MatArray, dims: tuple[int, ...]) -> None:
        super().__init__(base, axes)
        self.array = array
        self.dims = dims

    def _plan(self) -> tuple[np.ndarray, list[tuple[int, int]], int]:
        """The source viewed in MATLAB's shape, slab bounds along its last axis, bytes per index."""
        source = self.array.load().reshape(self.dims, order="F")
        count = self.dims[-1]
        slab_bytes = max(1, source.nbytes // max(1, count))
        step = max(1, BLOCK_BYTES // slab_bytes)
        return source, [(a, min(count, a + step)) for a in range(0, count, step)], slab_bytes

    def _release(self, bounds: tuple[int, int], slab_bytes: int) -> None:
        self.array.release_range(bounds[0] * slab_bytes, (bounds[1] - bounds[0]) * slab_bytes)

    def _load(self) -> np.ndarray:
        source, slabs, slab_bytes = self._plan()
        out_axis = self.axes.index(len(self.dims) - 1)
        result = np.empty(tuple(self.dims[i] for i in self.axes), dtype=np.float32)
        for bounds in slabs:
            index: list[Any] = [slice(None)] * len(self.dims)
            index[out_axis] = slice(*bounds)
            result[tuple(index)] = np.transpose(source[..., bounds[0] : bounds[1]], self.axes)
            self._release(bounds, slab_bytes)
        return result

    def chunks(self) -> Iterator[np.ndarray] | None:
        """The permuted bank in C order, one slab at a time, two buffers taken in turn; None when
        slabs are not contiguous pieces of the result."""
        if self.axes[0] != len(self.dims) - 1:
            return None
        return self._slabs()

    def _slabs(self) -> Iterator[np.ndarray]:
        source, slabs, slab_bytes = self._plan()
        buffers: list[np.ndarray | None] = [None, None]
        for k, bounds in enumerate(slabs):
            if k >= 2:  # the writer is done with slab k - 2 once it asks for k
                self._release(slabs[k - 2], slab_bytes)
            view = np.transpose(source[..., bounds[0] : bounds[1]], self.axes)
            if view.dtype == np.float32 and view.flags.c_contiguous:
                yield view  # nothing to move (the order the file holds): written straight from it
                continue
            buffer = buffers[k % 2]
            if buffer is None or buffer.size < view.size:
                buffer = buffers[k % 2] = np.empty(view.size, np.float32)
            part = buffer[: view.size].reshape(view.shape)
            np.copyto(part, view, casting="unsafe")
            yield part
        for bounds in slabs[-2:]:
            self._release(bounds, slab_bytes)


def _pair(values: list[float], what: str, ctx: MatconvnetContext) -> tuple[int, int]:
    """A MatConvNet scalar-or-[Y X] option as (y, x) integers."""
    ints = [_int(v, what, ctx) for v in values]
    if len(ints) == 1:
        return ints[0], ints[0]
    if len(ints) == 2:
        return ints[0], ints[1]
    raise ctx.error(f"{what} should have 1 or 2 values, has {len(ints)}")


def _int(value: float, what: str, ctx: MatconvnetContext) -> int:
    if value != int(value) or value < 0:
        raise ctx.error(f"{what} must be a non-negative integer, is {value}")
    return int(value)


def _pads(ctx: MatconvnetContext, field: str, allow_pair: bool) -> list[int]:
    """MatConvNet [T B L R] (or a scalar; DagNN also [PY PX]) as ONNX pads [T L B R]."""
    values = [_int(v, field, ctx) for v in ctx.numbers(field, [0])]
    if len(values) == 1:
        values = values * 4
    elif len(values) == 2 and allow_pair:
        values = [values[0], values[0], values[1], values[1]]
    elif len(values) != 4:
        raise ctx.error(f"{field} should have 1 or 4 values [T B L R], has {len(values)}")
    top, bottom, left, right = values
    if len(set(values)) > 1:
        ctx.step("pad", f"{field} [T B L R] = {values} → ONNX pads [T L B R] = {[top, left, bottom, right]}")
    return [top, left, bottom, right]


def _out_size(size: Dim, kernel: int, before: int, after: int, stride: int, ctx: MatconvnetContext) -> Dim:
    """MatConvNet's output size floor((X + before + after - kernel) / stride) + 1."""
    if isinstance(size, int):
        out = (size + before + after - kernel) // stride + 1
        if out < 1:
            raise ctx.error(
                f"kernel extent {kernel} does not fit an input of size {size} padded by {before}+{after}"
            )
        return out
    if size is not None and stride == 1 and before + after == kernel - 1:
        return size
    return None


def _is_dagnn(ctx: MatconvnetContext) -> bool:
    return ctx.type.startswith("dagnn.")


def _one_input(ctx: MatconvnetContext) -> tuple[str, Shape]:
    if not ctx.inputs:
        raise ctx.error("has no input")
    return ctx.inputs[0], ctx.input_shapes[0]


def _channels(shape: Shape) -> Dim:
    return shape[1] if len(shape) > 1 else None


def _matlab_to_nchw(array: np.ndarray) -> np.ndarray:
    """A MATLAB array broadcast against H×W×C×N data, as an NCHW-broadcastable array."""
    dims = restore_dims(array.shape, 4)
    if dims is None:
        raise ValueError(f"array of shape {array.shape} has more than 4 dimensions")
    return permute(array.reshape(dims, order="F"), MATLAB_ACTIVATION, ACTIVATION)


# -------------------------------------------------------------------------------------------------
# layer converters


def layer(*types: str) -> Callable[[LayerFn], LayerFn]:
    """Register a handler for the given MatConvNet type names (SimpleNN and DagNN spellings)."""
    return registry.layer(MATCONVNET, *types)


@layer("conv", "dagnn.Conv")
def convert_conv(ctx: MatconvnetContext) -> None:
    x, shape = _one_input(ctx)
    weight, (fh, fw, fc, k) = ctx.kernel(0)
    has_bias = ctx.param_count > 1 and not _is_empty(ctx.spec.params[1].value)
    if _is_dagnn(ctx) and ctx.has("hasBias") and not ctx.number("hasBias"):
        has_bias = False
    inputs = [x, weight]
    if has_bias:
        inputs.append(ctx.vector(1, "bias", k))
    channels = _channels(shape)
    group = 1
    if isinstance(channels, int) and channels != fc:
        if fc == 0 or channels % fc or k % (channels // fc):
            raise ctx.error(
                f"filter depth {fc} matches no input depth: the input has {channels} channels "
                f"(groups need the filter depth to divide it and the group count to divide {k} filters)"
            )
        group = channels // fc
        ctx.step("split", f"input depth {channels} / filter depth {fc} = {group} groups")
    elif channels is None:
        ctx.refine(x, (shape[0], fc, *shape[2:]))
    stride = _pair(ctx.numbers("stride", [1]), "stride", ctx)
    dilate = _pair(ctx.numbers("dilate", [1]), "dilate", ctx)
    pads = _pads(ctx, "pad", allow_pair=_is_dagnn(ctx))
    if any(s == 0 for s in (*stride, *dilate)):
        raise ctx.error("stride and dilate must be positive")
    ext_h, ext_w = (fh - 1) * dilate[0] + 1, (fw - 1) * dilate[1] + 1
    out_h = _out_size(shape[2], ext_h, pads[0], pads[2], stride[0], ctx)
    out_w = _out_size(shape[3], ext_w, pads[1], pads[3], stride[1], ctx)
    if (
        isinstance(shape[2], int)
        and isinstance(shape[3], int)
        and (fh, fw) == (shape[2], shape[3])
        and not any(pads)
    ):
        ctx.step("param", "filter support equals the input: a fully connected layer, kept as Conv")
    attributes: dict[str, Any] = {
        "kernel_shape": [fh, fw],
        "strides": list(stride),
        "pads": pads,
        "dilations": list(dilate),
    }
    if group != 1:
        attributes["group"] = group
    ctx.node("Conv", inputs, (shape[0], k, out_h, out_w), attributes, output=ctx.outputs[0])


@layer("convt", "dagnn.ConvTranspose")
def convert_convt(ctx: MatconvnetContext) -> None:
    """vl_nnconvt: F is FH×FW×K×FD, filter k = F(:,:,k,:); output K·numGroups channels.

    It is the adjoint of vl_nnconv with the same array: F's third axis is the transposed
    convolution's outputs (O = K) and its fourth its inputs (I = FD), so F is HWOI, and ONNX
    ConvTranspose reads W as IOHW, shape (FD, K, FH, FW).
    """
    x, shape = _one_input(ctx)
    weight, (fh, fw, k, fd) = ctx.kernel(0, layout="HWOI")
    groups = _int(ctx.number("numGroups", 1), "numGroups", ctx)
    channels = _channels(shape)
    if isinstance(channels, int) and channels != fd:
        raise ctx.error(f"filter depth {fd} matches no input depth: the input has {channels} channels")
    if groups < 1 or fd % groups:
        raise ctx.error(f"numGroups {groups} does not divide the filter depth {fd}")
    outputs = k * groups
    inputs = [x, weight]
    bias_off = _is_dagnn(ctx) and ctx.has("hasBias") and not ctx.number("hasBias")
    if ctx.param_count > 1 and not _is_empty(ctx.spec.params[1].value) and not bias_off:
        inputs.append(ctx.vector(1, "bias", outputs))
    up = _pair(ctx.numbers("upsample", [1]), "upsample", ctx)
    crop = _pads(ctx, "crop", allow_pair=_is_dagnn(ctx))
    if any(u == 0 for u in up):
        raise ctx.error("upsample must be positive")
    ctx.step("param", f"upsample {list(up)} → strides, crop [T B L R] → pads {crop}")

    def size(x_size: Dim, u: int, f: int, a: int, b: int) -> Dim:
        if isinstance(x_size, int):
            out = u * (x_size - 1) + f - a - b
            if out < 1:
                raise ctx.error("crop leaves no output")
            return out
        return x_size if u == 1 and f - a - b == 1 else None

    out_h = size(shape[2], up[0], fh, crop[0], crop[2])
    out_w = size(shape[3], up[1], fw, crop[1], crop[3])
    attributes: dict[str, Any] = {"kernel_shape": [fh, fw], "strides": list(up), "pads": crop}
    if groups != 1:
        attributes["group"] = groups
    ctx.node("ConvTranspose", inputs, (shape[0], outputs, out_h, out_w), attributes, output=ctx.outputs[0])


@layer("relu", "dagnn.ReLU")
def convert_relu(ctx: MatconvnetContext) -> None:
    x, shape = _one_input(ctx)
    leak = ctx.number("leak", 0.0)
    if leak:
        ctx.node("LeakyRelu", [x], shape, {"alpha": leak}, output=ctx.outputs[0])
    else:
        ctx.node("Relu", [x], shape, output=ctx.outputs[0])


@layer("sigmoid", "dagnn.Sigmoid")
def convert_sigmoid(ctx: MatconvnetContext) -> None:
    x, shape = _one_input(ctx)
    ctx.node("Sigmoid", [x], shape, output=ctx.outputs[0])


@layer("pool", "dagnn.Pooling")
def convert_pool(ctx: MatconvnetContext) -> None:
    x, shape = _one_input(ctx)
    size = _pair(ctx.numbers("pool" if not _is_dagnn(ctx) else "poolSize"), "pool size", ctx)
    stride = _pair(ctx.numbers("stride", [1]), "stride", ctx)
    pads = _pads(ctx, "pad", allow_pair=_is_dagnn(ctx))
    method = ctx.text("method", "max") if ctx.has("method") else "max"
    if max(pads[0], pads[2]) >= size[0] or max(pads[1], pads[3]) >= size[1]:
        raise ctx.error(f"padding {pads} is not smaller than the pool size {list(size)}")
    if 0 in size or 0 in stride:
        raise ctx.error("pool size and stride must be positive")
    out = (
        shape[0],
        _channels(shape),
        _out_size(shape[2], size[0], pads[0], pads[2], stride[0], ctx),
        _out_size(shape[3], size[1], pads[1], pads[3], stride[1], ctx),
    )
    attributes: dict[str, Any] = {
        "kernel_shape": list(size),
        "strides": list(stride),
        "pads": pads,
        "ceil_mode": 0,
    }
    if method == "max":
        ctx.node("MaxPool", [x], out, attributes, output=ctx.outputs[0])
    elif method == "avg":
        if any(pads):
            ctx.step(
                "pad", "average excludes padding from the divisor, as MatConvNet does (count_include_pad=0)"
            )
        ctx.node("AveragePool", [x], out, {**attributes, "count_include_pad": 0}, output=ctx.outputs[0])
    else:
        raise ctx.error(f"unknown pooling method {method!r}")


@layer("normalize", "lrn", "dagnn.LRN")
def convert_lrn(ctx: MatconvnetContext) -> None:
    """y = x / (kappa + alpha * sum over a window of N channels of x^2)^beta, alpha not divided by N.

    ONNX LRN divides its alpha by size, so alpha_onnx = N * alpha. ONNX Runtime only implements an
    odd size; an even N is written out as x^2, a 1x1 Conv with a 0/1 band matrix (the window
    [c - floor((N-1)/2), c + ceil((N-1)/2)]), and the power.
    """
    x, shape = _one_input(ctx)
    params = ctx.numbers("param", [5, 1, 0.0001 / 5, 0.75])
    if len(params) != 4:
        raise ctx.error(f"param should be [N kappa alpha beta], has {len(params)} values")
    size, kappa, alpha, beta = params
    n = _int(size, "LRN window size", ctx)
    if n < 1:
        raise ctx.error("LRN window size must be positive")
    ctx.step(
        "param",
        f"param [N kappa alpha beta] = {params} → ONNX size={n}, bias={kappa}, alpha=N*alpha={n * alpha}",
    )
    if n % 2:
        attributes = {"size": n, "bias": kappa, "alpha": n * alpha, "beta": beta}
        ctx.node("LRN", [x], shape, attributes, output=ctx.outputs[0])
        return
    channels = _channels(shape)
    if not isinstance(channels, int):
        raise ctx.error("an even LRN window needs a known channel count")
    low = (n - 1) // 2
    band = np.zeros((channels, channels, 1, 1), np.float32)
    for c in range(channels):
        band[c, max(0, c - low) : min(channels, c + n - low), 0, 0] = 1
    ctx.step(
        "split", f"even window N={n} (ONNX Runtime's LRN needs an odd size): written as x², window sum, power"
    )
    square = ctx.node("Mul", [x, x], shape)
    window = ctx.node("Conv", [square, ctx.constant("window", band)], shape, {"kernel_shape": [1, 1]})
    scaled = ctx.node("Mul", [window, ctx.constant("alpha", np.float32(alpha))], shape)
    base = ctx.node("Add", [scaled, ctx.constant("kappa", np.float32(kappa))], shape)
    denominator = ctx.node("Pow", [base, ctx.constant("beta", np.float32(beta))], shape)
    ctx.node("Div", [x, denominator], shape, output=ctx.outputs[0])


@layer("bnorm", "dagnn.BatchNorm")
def convert_bnorm(ctx: MatconvnetContext) -> None:
    """y = G (x - mu) / sigma + B with moments [mu sigma], sigma = sqrt(var + eps) already.

    Written as Mul(G/sigma) + Add(B - G mu/sigma), computed in float64: exactly MatConvNet's test
    formula. BatchNormalization would need var = sigma² - eps, which is ≤ 0 for dead channels.
    """
    x, shape = _one_input(ctx)
    channels = _channels(shape)
    gain = ctx.param(0, "multiplier")
    count = gain.size if not isinstance(channels, int) else channels
    if ctx.param_count < 3 or _is_empty(ctx.spec.params[2].value):
        raise ctx.error("missing weight: no moments (batch statistics at test time cannot be exported)")
    bias, moments = ctx.param(1, "bias"), ctx.param(2, "moments")
    if gain.size != count or bias.size != count or moments.size != 2 * count:
        raise ctx.error(
            f"batch norm sizes disagree: {count} channels, multiplier {gain.size}, bias {bias.size}, "
            f"moments {moments.shape}"
        )

    def parts() -> tuple[np.ndarray, np.ndarray]:
        g = gain.load().reshape(-1, order="F").astype(np.float64)
        b = bias.load().reshape(-1, order="F").astype(np.float64)
        mom = moments.load().reshape((count, 2), order="F").astype(np.float64)
        scale = g / mom[:, 1]
        return scale, b - scale * mom[:, 0]

    eps = ctx.number("epsilon", 1e-5) if ctx.has("epsilon") else None
    ctx.step(
        "fold",
        "moments [mu sigma] (sigma includes eps"
        + (f"={eps:g}" if eps is not None else "")
        + ") folded to Mul(G/sigma), Add(B - G·mu/sigma)",
    )
    broadcast = (1, count, 1, 1)
    scale = Tensor(
        "scale", "float32", broadcast, loader=lambda: parts()[0].reshape(broadcast).astype(np.float32)
    )
    shift = Tensor(
        "shift", "float32", broadcast, loader=lambda: parts()[1].reshape(broadcast).astype(np.float32)
    )
    scaled = ctx.node("Mul", [x, ctx.constant("scale", scale)], shape)
    ctx.node("Add", [scaled, ctx.constant("shift", shift)], shape, output=ctx.outputs[0])


@layer("dropout", "dagnn.DropOut")
def convert_dropout(ctx: MatconvnetContext) -> None:
    x, shape = _one_input(ctx)
    rate = ctx.number("rate", 0.5) if ctx.has("rate") else 0.5
    ctx.step(
        "dropout",
        f"vl_nndropout is inverted dropout (rate {rate:g}: kept units scaled by 1/(1-rate) in training), "
        "so inference is the identity",
    )
    ctx.node("Identity", [x], shape, output=ctx.outputs[0])


@layer("softmax", "dagnn.SoftMax")
def convert_softmax(ctx: MatconvnetContext) -> None:
    x, shape = _one_input(ctx)
    channel_axis = layout_axis(MATLAB_ACTIVATION, MATLAB_ACTIVATION.index("C"), ACTIVATION)
    ctx.step("layout", f"softmax over channels at every pixel → Softmax axis={channel_axis} (NCHW)")
    ctx.node("Softmax", [x], shape, {"axis": channel_axis}, output=ctx.outputs[0])


@layer("dagnn.Concat")
def convert_concat(ctx: MatconvnetContext) -> None:
    dim = _int(ctx.number("dim", 3) if ctx.has("dim") else 3, "dim", ctx)
    if not 1 <= dim <= len(MATLAB_ACTIVATION):
        raise ctx.error(f"concatenation dim {dim} is not one of 1..4 (H, W, C, N)")
    concat_axis = layout_axis(MATLAB_ACTIVATION, dim - 1, ACTIVATION)
    ctx.step("layout", f"MATLAB dim {dim} of H×W×C×N → NCHW axis {concat_axis}")
    shapes = ctx.input_shapes
    out = list(shapes[0])
    parts = [s[concat_axis] for s in shapes]
    out[concat_axis] = sum(parts) if all(isinstance(p, int) for p in parts) else None  # type: ignore[arg-type]
    ctx.node("Concat", list(ctx.inputs), tuple(out), {"axis": concat_axis}, output=ctx.outputs[0])


@layer("dagnn.Sum")
def convert_sum(ctx: MatconvnetContext) -> None:
    if not ctx.inputs:
        raise ctx.error("has no input")
    shape = next((s for s in ctx.input_shapes if all(isinstance(d, int) for d in s[1:])), ctx.input_shapes[0])
    ctx.node("Sum", list(ctx.inputs), shape, output=ctx.outputs[0])


@layer("dagnn.Scale")
def convert_scale(ctx: MatconvnetContext) -> None:
    """dagnn.Scale: operands are inputs then params; y = x .* operand2 (+ operand3 if hasBias)."""
    x, shape = _one_input(ctx)
    operands = list(ctx.inputs[1:])
    for index in range(ctx.param_count):
        array = ctx.param(index, "scale" if index == 0 and not operands else "bias")
        dims = restore_dims(array.shape, 4)
        if dims is None:
            raise ctx.error(f"parameter {index + 1} has more than 4 dimensions")
        shape_nchw = permute_shape(dims, MATLAB_ACTIVATION, ACTIVATION)
        operands.append(
            ctx.param_tensor(
                index, f"operand{index + 1}", shape_nchw, lambda a: _matlab_to_nchw(a.load()), "NCHW"
            )
        )
    ctx.step("layout", "scale/bias arrays H×W×C(×N) → NCHW broadcast shapes")
    has_bias = ctx.number("hasBias", 1.0) if ctx.has("hasBias") else len(operands) > 1
    if not operands:
        raise ctx.error("missing weight: no scale")
    if has_bias and len(operands) > 1:
        scaled = ctx.node("Mul", [x, operands[0]], shape)
        ctx.node("Add", [scaled, operands[1]], shape, output=ctx.outputs[0])
    else:
        ctx.node("Mul", [x, operands[0]], shape, output=ctx.outputs[0])


@layer("dagnn.Crop")
def convert_crop(ctx: MatconvnetContext) -> None:
    """dagnn.Crop crops input 1 to the spatial size of input 2, starting from `crop` [Y X].

    getAdaptedCrops: with D the size difference, the crop before is min(offset, D) and the crop
    after D - that, so the output takes input 2's size. Known sizes give constant Slice bounds;
    free (symbolic) sizes compute them in the graph from both inputs' shapes.
    """
    if len(ctx.inputs) != 2:
        raise ctx.error(f"crop needs 2 inputs, has {len(ctx.inputs)}")
    (x, xs), (ref_name, ref) = zip(ctx.inputs, ctx.input_shapes, strict=True)
    base = [_int(v, "crop", ctx) for v in ctx.numbers("crop", [0, 0])]
    if len(base) == 1:
        base = base * 2
    if len(base) != 2:
        raise ctx.error("crop should be [Y X]")
    out = (xs[0], xs[1], ref[2], ref[3])
    axes = ctx.constant("axes", np.array([2, 3], np.int64))
    if all(isinstance(d, int) for d in (*xs[2:], *ref[2:])):
        crops = []
        for spatial_axis, offset in zip((2, 3), base, strict=True):
            total = xs[spatial_axis] - ref[spatial_axis]  # type: ignore[operator]
            if total < 0:
                raise ctx.error("input 1 is smaller than input 2")
            after = max(0, total - offset)
            crops.append((total - after, after))
        (top, bottom), (left, right) = crops
        ctx.step("pad", f"crop [T B L R] = {[top, bottom, left, right]} → Slice on H, W")
        starts = ctx.constant("starts", np.array([top, left], np.int64))
        ends = ctx.constant("ends", np.array([xs[2] - bottom, xs[3] - right], np.int64))  # type: ignore[operator]
        ctx.node("Slice", [x, starts, ends, axes], out, output=ctx.outputs[0])
        return
    ctx.step("pad", f"crop offsets [Y X] = {base}, clipped to the size difference, computed in the graph")
    two = (2,)
    spatial = [
        ctx.constant("spatial_start", np.array([2], np.int64)),
        ctx.constant("spatial_end", np.array([4], np.int64)),
    ]
    x_size = ctx.node("Slice", [ctx.node("Shape", [x], (4,), dtype="int64"), *spatial], two, dtype="int64")
    ref_size = ctx.node(
        "Slice", [ctx.node("Shape", [ref_name], (4,), dtype="int64"), *spatial], two, dtype="int64"
    )
    difference = ctx.node("Sub", [x_size, ref_size], two, dtype="int64")
    offsets = ctx.constant("offsets", np.array(base, np.int64))
    starts = ctx.node("Min", [offsets, difference], two, dtype="int64")
    ends = ctx.node("Add", [starts, ref_size], two, dtype="int64")
    ctx.node("Slice", [x, starts, ends, axes], out, output=ctx.outputs[0])


def unsupported_reason(layer_type: str, spec: LayerSpec) -> str | None:
    """Why a layer of an unknown type cannot be converted (shown in the one-line error)."""
    if layer_type == "custom":
        return "a 'custom' layer holds MATLAB function handles, which netinspect never runs"
    opaque = [f for f, v in (spec.fields.elements[0].items() if spec.fields and spec.fields.elements else [])
              if isinstance(v, MatOpaque)]  # fmt: skip
    if opaque:
        return f"holds MATLAB objects or function handles ({', '.join(opaque)}), never executed"
    return None
