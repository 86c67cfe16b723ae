"""An independent NumPy runtime for MatConvNet `.mat` networks: the reference `check` compares
converted models against.

It reads the file itself (matconvnet_reference_load), shares no code with the converter, and runs
MatConvNet's documented forward formulas (matconvnet_reference_blocks) in MatConvNet's own
H×W×C×N float32 layout, in inference mode: what `vl_simplenn(net, x, [], [], 'mode', 'test')` and
a DagNN with `net.mode = 'test'` compute. So dropout is the identity (vl_nndropout is inverted
dropout: "at test time no alterations are required") and batch norm uses the stored moments.

Differences from MatConvNet itself, on purpose:
- LRN uses the exact power; MatConvNet's CPU code uses an approximate `fast_pow` (off by up to
  ~3.3e-3 relative), its GPU code powf. See matconvnet_reference_blocks.
- Loss layers are skipped: SimpleNN `softmaxloss`, `loss`, `pdist` and any type ending in "loss";
  DagNN `dagnn.Loss`, `dagnn.PDist` and any class ending in "Loss". A layer that consumes a loss's
  output is unsupported.

Networks read:
- SimpleNN, any vintage: `layers` a cell of structs; conv/bnorm weights as `weights` {F, b(, m)}
  (beta11+) or `filters`/`biases` (older); `normalization`/`classes` at top level (≤beta16) or
  in `meta` (beta17+); saved bare (`save -struct`) or wrapped in a `net` variable (training
  checkpoints).
- DagNN as saved by `saveobj`: `vars`, `params`, `layers` a struct array with `type` the block's
  class ('dagnn.Conv', …), `inputs`/`outputs`/`params` cells of names and `block` the block's
  properties. Layers run in DagNN's own execution order (rebuild.m: each layer's height = 1 + the
  largest height of the layers reading its outputs, sorted by decreasing height, stable).

Names:
- A SimpleNN layer without a name (field missing or empty) is called f"layer{i}", i 1-based:
  MatConvNet's own convention (vl_simplenn_tidy.m and DagNN.fromSimpleNN.m use
  `sprintf('layer%d', l)`). A name used twice gets f"_{i}" appended at its later uses.
- The SimpleNN input is named by `meta.inputs` if present, else "input". DagNN inputs are the
  variables no (non-loss) layer produces but some layer reads.
- A layer's output is its first output variable; outputs are the layers whose output no other
  (non-loss) layer reads.

Input shapes are (H, W, C, N) from `normalization.imageSize` or `meta.inputs`, with None where
unknown. N is always None: the batch size in `meta.inputs` is a training setting, not a property of
the network. An unknown C is taken from the depth of the first layer's filters when that layer is a
convolution (exact unless that convolution is grouped, which no published MatConvNet model does).

Nothing from the file is ever executed: function handles and class objects are refused. Layer
types the reference does not implement can be supplied with `custom_layers`, a map from the type
name (e.g. "SubP", or "dagnn.MyBlock") to a function `f(inputs, fields, params) -> output`, with
`inputs` the H×W×C×N input arrays, `fields` the layer's struct fields (SimpleNN) or the block's
properties (DagNN), and `params` the layer's parameter arrays (SimpleNN `weights`, DagNN params).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netinspect.check.runtimes.matconvnet import blocks
from netinspect.check.runtimes.matconvnet.load import MatStruct, Refused, load_mat
from netinspect.errors import ModelFormatError, UnsupportedError

CustomLayer = Callable[[list[np.ndarray], Mapping[str, Any], list[np.ndarray]], np.ndarray]
Forward = Callable[[list[np.ndarray]], np.ndarray]

_SIMPLENN_LOSSES = {"softmaxloss", "loss", "pdist"}
_DAGNN_LOSSES = {"dagnn.Loss", "dagnn.PDist"}
_SIMPLENN_TYPES = {
    "conv",
    "convt",
    "pool",
    "normalize",
    "lrn",
    "softmax",
    "relu",
    "sigmoid",
    "dropout",
    "bnorm",
    "noffset",
    "spnorm",
    "pdist",
}
_COMMUNITY_TYPES = {"SubP", "concat"}
"""FFDNet/FDnCNN's own vl_simplenn layer types (cszn/FFDNet); a caller's custom layer replaces them."""
NOISE_LEVEL = "noise_level"
"""The input FFDNet's global `sigmas` becomes: 1×1×K×N noise levels (or a full map), [0, 1] scale."""
DEMO_SIGMAS = 1
"""How many values `sigmas` holds per image in the FFDNet/FDnCNN demos (Demo_*.m: `sigmas = nSig/255`,
a scalar, for gray and colour models alike): the noise level map's channels, K in 1×1×K×N."""
_DAGNN_TYPES = {
    "dagnn.Conv",
    "dagnn.ConvTranspose",
    "dagnn.Pooling",
    "dagnn.LRN",
    "dagnn.BatchNorm",
    "dagnn.ReLU",
    "dagnn.Sigmoid",
    "dagnn.SoftMax",
    "dagnn.DropOut",
    "dagnn.Concat",
    "dagnn.Sum",
    "dagnn.Scale",
    "dagnn.Crop",
    "dagnn.NormOffset",
    "dagnn.SpatialNorm",
    "dagnn.PDist",
    "dagnn.AffineGridGenerator",
    "dagnn.UniformScalingGridGenerator",
    "dagnn.BilinearSampler",
    "dagnn.ROIPooling",
}
_LRN_DEFAULT = (5.0, 1.0, 0.0001 / 5, 0.75)


def _aggregates(fields: Mapping[str, Any]) -> bool:
    """pdist sums into one training objective unless `aggregate` is false (dagnn.PDist default true)."""
    value = fields.get("aggregate")
    return not isinstance(value, np.ndarray) or value.size == 0 or bool(value.ravel()[0])


def _is_simplenn_loss(kind: str, fields: Mapping[str, Any]) -> bool:
    if kind == "pdist":
        return _aggregates(fields)
    return kind in _SIMPLENN_LOSSES or kind.lower().endswith("loss")


def _is_dagnn_loss(kind: str, block: Mapping[str, Any]) -> bool:
    if kind == "dagnn.PDist":
        return _aggregates(block)
    return kind in _DAGNN_LOSSES or kind.lower().endswith("loss")


@dataclass
class _Step:
    """One layer to run: reads `inputs` (variable names), writes `output`."""

    name: str
    type: str
    inputs: list[str]
    output: str
    forward: Forward
    wants_channels: int | None = None  # the input depth this layer implies, for input_shapes
    frees: list[str] = field(default_factory=list)  # variables no later step reads


class _Fields:
    """A struct's fields, read with MatConvNet's defaults and checked, errors naming the layer."""

    def __init__(self, values: Mapping[str, Any], where: str, path: Path) -> None:
        self.values = values
        self.where = where
        self.path = path

    def error(self, message: str) -> ModelFormatError:
        return ModelFormatError(f"{self.where}: {message}", self.path)

    def present(self, key: str) -> bool:
        return not _empty(self.values.get(key))

    def raw(self, key: str) -> Any:
        value = self.values.get(key)
        if isinstance(value, Refused):
            raise self.error(f"field {key!r} is a {value.kind}, which is never decoded or executed")
        return value

    def text(self, key: str, default: str) -> str:
        if not self.present(key):
            return default
        value = self.raw(key)
        if not isinstance(value, str):
            raise self.error(f"field {key!r} is not text")
        return value

    def numbers(self, key: str, default: tuple[float, ...], counts: tuple[int, ...]) -> tuple[float, ...]:
        if not self.present(key):
            return default
        value = self.raw(key)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise self.error(f"field {key!r} is not a real number array")
        flat = tuple(float(v) for v in value.ravel(order="F"))
        if len(flat) not in counts or not all(np.isfinite(flat)):
            raise self.error(
                f"field {key!r} = {list(flat)} should have {' or '.join(map(str, counts))} finite values"
            )
        return flat

    def integers(self, key: str, default: int, counts: tuple[int, ...], minimum: int) -> tuple[int, ...]:
        values = self.numbers(key, (float(default),), counts)
        if any(v != int(v) or v < minimum for v in values):
            raise self.error(f"field {key!r} = {list(values)} should hold integers ≥ {minimum}")
        return tuple(int(v) for v in values)

    def flag(self, key: str, default: bool) -> bool:
        return bool(self.numbers(key, (float(default),), (1,))[0])

    def quad(self, key: str, default: int, allow_pair: bool) -> blocks.Quad:
        """[T B L R] from a scalar, 4 values, or (DagNN setters) [Y X] meaning [Y Y X X]."""
        v = self.integers(key, default, (1, 2, 4) if allow_pair else (1, 4), 0)
        if len(v) == 1:
            return (v[0], v[0], v[0], v[0])
        if len(v) == 2:
            return (v[0], v[0], v[1], v[1])
        return (v[0], v[1], v[2], v[3])

    def pair(self, key: str, default: int) -> blocks.Pair:
        v = self.integers(key, default, (1, 2), 1)
        return (v[0], v[-1])


def _empty(value: Any) -> bool:
    """Missing, or MATLAB's [] / {} / '' / empty struct."""
    if isinstance(value, np.ndarray):
        return value.size == 0
    if isinstance(value, MatStruct):
        return not value.elements
    return value is None or (isinstance(value, list | str) and not value)


def _tensor(value: Any, what: str, fields: _Fields) -> np.ndarray | None:
    """A parameter as float32 in MATLAB's shape padded to 4-D (MATLAB drops trailing singleton
    dims: a bank of one filter is stored H×W×D); None when empty."""
    if isinstance(value, Refused):
        raise fields.error(f"{what} is a {value.kind}, which is never decoded or executed")
    if _empty(value):
        return None
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise fields.error(f"{what} is not a real numeric array")
    if value.ndim > 4:
        raise fields.error(f"{what} has {value.ndim} dimensions, at most 4 expected")
    # No copy: MATLAB arrays arrive column-major and the blocks use them as they are.
    return np.asarray(value.reshape(value.shape + (1,) * (4 - value.ndim)), dtype=np.float32)


def _vector(value: Any, what: str, fields: _Fields) -> np.ndarray | None:
    array = _tensor(value, what, fields)
    return None if array is None else np.ascontiguousarray(array.ravel(order="F"))


# --------------------------------------------------------------------------------- block builders


def _conv_step(
    fields: _Fields,
    filters: np.ndarray | None,
    bias: np.ndarray | None,
    pad: blocks.Quad,
    stride: blocks.Pair,
    dilate: blocks.Pair,
    in_channels: int | None,
) -> tuple[Forward, int | None, int | None]:
    if filters is None:
        if dilate != (1, 1):
            raise fields.error("DILATE is not one and there are no filters")
        if bias is not None and in_channels is not None and bias.size != in_channels:
            raise fields.error(f"{bias.size} biases for {in_channels} channels")
        return (lambda xs: blocks.conv(xs[0], None, bias, pad, stride, dilate)), in_channels, None
    depth, count = filters.shape[2], filters.shape[3]
    if in_channels is not None:
        if in_channels % depth:
            raise fields.error(f"filter depth {depth} does not divide the input depth {in_channels}")
        if count % (in_channels // depth):
            raise fields.error(f"{in_channels // depth} filter groups do not divide the {count} filters")
    if bias is not None and bias.size != count:
        raise fields.error(f"{bias.size} biases for {count} filters")
    return (lambda xs: blocks.conv(xs[0], filters, bias, pad, stride, dilate)), count, depth


def _convt_step(
    fields: _Fields,
    filters: np.ndarray | None,
    bias: np.ndarray | None,
    upsample: blocks.Pair,
    crop: blocks.Quad,
    groups: int,
    in_channels: int | None,
) -> tuple[Forward, int | None, int | None]:
    if filters is None:
        raise fields.error("no filters")
    depth = filters.shape[3]
    if depth % groups:
        raise fields.error(f"{groups} groups do not divide the filter bank depth {depth}")
    if in_channels is not None and in_channels != depth:
        raise fields.error(f"filter bank depth {depth} is not the input depth {in_channels}")
    out = filters.shape[2] * groups
    if bias is not None and bias.size != out:
        raise fields.error(f"{bias.size} biases for {out} output channels")
    return (lambda xs: blocks.conv_transpose(xs[0], filters, bias, upsample, crop, groups)), out, depth


def _pool_step(
    fields: _Fields, size: blocks.Pair, pad: blocks.Quad, stride: blocks.Pair, method: str
) -> Forward:
    if method not in ("max", "avg"):
        raise fields.error(f"unknown pooling method {method!r}")
    if pad[0] >= size[0] or pad[1] >= size[0] or pad[2] >= size[1] or pad[3] >= size[1]:
        raise fields.error(f"padding {list(pad)} is not smaller than the pooling window {list(size)}")
    return lambda xs: blocks.pool(xs[0], size, pad, stride, method)


def _lrn_step(fields: _Fields, key: str) -> Forward:
    depth, kappa, alpha, beta = fields.numbers(key, _LRN_DEFAULT, (4,))
    if depth < 1:
        raise fields.error(f"LRN window size {depth} is less than one")
    window = int(depth)  # the MEX truncates it to an integer
    return lambda xs: blocks.lrn(xs[0], window, kappa, alpha, beta)


def _bnorm_step(
    fields: _Fields, params: list[Any], in_channels: int | None
) -> tuple[Forward, int | None, int | None]:
    if len(params) < 3:
        raise fields.error("batch norm without moments (test mode needs [mean, sigma])")
    gain, bias, moments = (
        _vector(params[i], what, fields) for i, what in enumerate(("gain", "bias", "moments"))
    )
    if gain is None or bias is None or moments is None:
        raise fields.error("empty batch-norm gain, bias or moments")
    channels = gain.size
    if bias.size != channels or moments.size != 2 * channels:
        raise fields.error(f"gain, bias and moments have {gain.size}, {bias.size}, {moments.size} values")
    if in_channels is not None and in_channels != channels:
        raise fields.error(f"{channels} batch-norm channels for an input of depth {in_channels}")
    mean, sigma = moments[:channels].copy(), moments[channels:].copy()  # column-major [mu, sigma]
    return (lambda xs: blocks.batch_norm(xs[0], gain, bias, mean, sigma)), channels, channels


def _identity(xs: list[np.ndarray]) -> np.ndarray:
    return xs[0]


def _custom_step(fn: CustomLayer, fields: Mapping[str, Any], params: list[np.ndarray]) -> Forward:
    return lambda xs: fn(xs, fields, params)


# ----------------------------------------------------------------------------------------- SimpleNN


def _simplenn_params(fields: _Fields) -> list[Any]:
    """The layer's parameters as vl_simplenn_tidy sees them: `weights`, or old `filters`/`biases`."""
    if "weights" in fields.values:
        weights = fields.raw("weights")
        if _empty(weights):
            return []
        if not isinstance(weights, list):
            raise fields.error("field 'weights' is not a cell array")
        return weights
    if "filters" in fields.values:
        return [fields.raw("filters"), fields.raw("biases") if "biases" in fields.values else []]
    return []


def _simplenn_step(
    kind: str, fields: _Fields, in_channels: int | None, custom: Mapping[str, CustomLayer]
) -> tuple[Forward, int | None, int | None]:
    params = _simplenn_params(fields)
    if kind == "conv":
        filters = _tensor(params[0], "filters", fields) if params else None
        bias = _vector(params[1], "biases", fields) if len(params) > 1 else None
        pad, stride = fields.quad("pad", 0, False), fields.pair("stride", 1)
        return _conv_step(fields, filters, bias, pad, stride, fields.pair("dilate", 1), in_channels)
    if kind == "convt":
        filters = _tensor(params[0], "filters", fields) if params else None
        bias = _vector(params[1], "biases", fields) if len(params) > 1 else None
        groups = fields.integers("numGroups", 1, (1,), 1)[0]
        crop = fields.quad("crop", 0, False)
        return _convt_step(fields, filters, bias, fields.pair("upsample", 1), crop, groups, in_channels)
    if kind == "pool":
        if not fields.present("pool"):
            raise fields.error("no pooling size ('pool')")
        size, pad, stride = fields.pair("pool", 1), fields.quad("pad", 0, False), fields.pair("stride", 1)
        return _pool_step(fields, size, pad, stride, fields.text("method", "max")), in_channels, None
    if kind in ("normalize", "lrn"):
        return _lrn_step(fields, "param"), in_channels, None
    if kind == "relu":
        leak = fields.numbers("leak", (0.0,), (1,))[0]
        leak = leak if leak > 0 else 0.0  # vl_simplenn passes the leak only when it is positive
        return (lambda xs: blocks.relu(xs[0], leak)), in_channels, None
    if kind == "sigmoid":
        return (lambda xs: blocks.sigmoid(xs[0])), in_channels, None
    if kind == "softmax":
        return (lambda xs: blocks.softmax(xs[0])), in_channels, None
    if kind == "dropout":
        return _identity, in_channels, None
    if kind == "bnorm":
        return _bnorm_step(fields, params, in_channels)
    if kind in custom:
        arrays = [p for p in (_tensor(p, "weights", fields) for p in params) if p is not None]
        return _custom_step(custom[kind], dict(fields.values), arrays), None, None
    if kind == "SubP":
        scale = fields.numbers("scale", (2.0,), (1,))[0]
        if scale <= 0:
            raise fields.error(f"scale {scale} is not positive")
        factor = round(1 / scale) ** 2 if scale < 1 else 1 / round(scale) ** 2
        out = None if in_channels is None else int(in_channels * factor)
        return (lambda xs: blocks.subp(xs[0], scale)), out, None
    if kind == "concat":
        return (lambda xs: blocks.noise_level_concat(xs[0], xs[1])), None, None
    return _common_step(kind.lower(), fields, in_channels)


def _common_step(
    kind: str, fields: _Fields, in_channels: int | None
) -> tuple[Forward, int | None, int | None]:
    """Blocks SimpleNN and DagNN share with the same fields: noffset, spnorm, pdist."""
    if kind in ("noffset", "normoffset"):
        weight, power = fields.numbers("param", (1.0, 0.5), (2,))
        return (lambda xs: blocks.norm_offset(xs[0], weight, power)), in_channels, None
    if kind in ("spnorm", "spatialnorm"):
        ph, pw, alpha, beta = fields.numbers("param", (0, 0, 0, 0), (4,))
        if ph < 1 or pw < 1 or ph != int(ph) or pw != int(pw):
            raise fields.error(f"spatial window {ph}×{pw} is not a positive integer size")
        return (lambda xs: blocks.spatial_norm(xs[0], int(ph), int(pw), alpha, beta)), in_channels, None
    p = fields.numbers("p", (2.0,), (1,))[0]
    no_root = fields.flag("noRoot", False)
    hinge = fields.numbers("hinge", (0.0,), (1,))[0]
    normed = fields.flag("normed", False)
    if p <= 0:
        raise fields.error(f"p = {p} is not positive")
    stored = _tensor(fields.raw("class"), "class", fields) if fields.present("class") else None

    def forward(xs: list[np.ndarray]) -> np.ndarray:
        target = xs[1] if len(xs) > 1 else stored
        assert target is not None
        return blocks.pdist(xs[0], target, p, no_root, hinge, normed)

    return forward, 1, None


def _simplenn_names(layers: list[dict[str, Any]], path: Path) -> list[str]:
    names: list[str] = []
    for i, layer in enumerate(layers, start=1):
        name = layer.get("name")
        if _empty(name):
            name = f"layer{i}"
        elif not isinstance(name, str):
            raise ModelFormatError(f"layer {i}: its name is not text", path)
        names.append(f"{name}_{i}" if name in names else name)
    return names


def _simplenn_layers(net: Mapping[str, Any], path: Path) -> list[dict[str, Any]]:
    layers = []
    for i, item in enumerate(net["layers"], start=1):
        if isinstance(item, Refused):
            raise ModelFormatError(f"layer {i} is a {item.kind}, which is never decoded or executed", path)
        layer = item.scalar() if isinstance(item, MatStruct) else None
        if layer is None:
            raise ModelFormatError(f"layer {i} is not a struct", path)
        layers.append(layer)
    return layers


# ------------------------------------------------------------------------------------------- DagNN


def _dagnn_step(
    kind: str,
    fields: _Fields,
    params: list[Any],
    n_inputs: int,
    in_channels: list[int | None],
    custom: Mapping[str, CustomLayer],
) -> tuple[Forward, int | None, int | None]:
    first = in_channels[0] if in_channels else None
    if kind in ("dagnn.Conv", "dagnn.ConvTranspose"):
        filters = _tensor(params[0], "filter", fields) if params else None
        has_bias = fields.flag("hasBias", True)
        bias = _vector(params[1], "bias", fields) if has_bias and len(params) > 1 else None
        if kind == "dagnn.Conv":
            pad, stride, dilate = (
                fields.quad("pad", 0, True),
                fields.pair("stride", 1),
                fields.pair("dilate", 1),
            )
            return _conv_step(fields, filters, bias, pad, stride, dilate, first)
        groups = fields.integers("numGroups", 1, (1,), 1)[0]
        upsample, crop = fields.pair("upsample", 1), fields.quad("crop", 0, True)
        return _convt_step(fields, filters, bias, upsample, crop, groups, first)
    if kind == "dagnn.Pooling":
        size, pad, stride = fields.pair("poolSize", 1), fields.quad("pad", 0, True), fields.pair("stride", 1)
        return _pool_step(fields, size, pad, stride, fields.text("method", "max")), first, None
    if kind == "dagnn.LRN":
        return _lrn_step(fields, "param"), first, None
    if kind == "dagnn.BatchNorm":
        return _bnorm_step(fields, params, first)
    if kind == "dagnn.ReLU":
        leak = fields.numbers("leak", (0.0,), (1,))[0]
        return (lambda xs: blocks.relu(xs[0], leak)), first, None
    if kind == "dagnn.Sigmoid":
        return (lambda xs: blocks.sigmoid(xs[0])), first, None
    if kind == "dagnn.SoftMax":
        return (lambda xs: blocks.softmax(xs[0])), first, None
    if kind == "dagnn.DropOut":
        return _identity, first, None
    if kind == "dagnn.Concat":
        dim = fields.integers("dim", 3, (1,), 1)[0]
        known = [c for c in in_channels if c is not None]
        channels = None if len(known) < len(in_channels) else sum(known) if dim == 3 else first
        return (lambda xs: blocks.concat(xs, dim)), channels, None
    if kind == "dagnn.Sum":
        return (lambda xs: blocks.elementwise_sum(xs)), first, None
    if kind == "dagnn.Scale":
        return _scale_step(fields, params, n_inputs), first, None
    if kind == "dagnn.Crop":
        if n_inputs != 2:
            raise fields.error(f"Crop takes 2 inputs, not {n_inputs}")
        offsets = fields.integers("crop", 0, (1, 2), 0)
        return (lambda xs: blocks.crop(xs[0], _adapted_crop(xs, offsets))), first, None
    if kind in ("dagnn.AffineGridGenerator", "dagnn.UniformScalingGridGenerator"):
        ho, wo = fields.integers("Ho", 0, (1,), 1)[0], fields.integers("Wo", 0, (1,), 1)[0]
        make = blocks.affine_grid if kind == "dagnn.AffineGridGenerator" else blocks.uniform_scaling_grid
        return (lambda xs: make(xs[0], ho, wo)), wo, None
    if kind == "dagnn.BilinearSampler":
        if n_inputs != 2:
            raise fields.error(f"BilinearSampler takes 2 inputs, not {n_inputs}")
        return (lambda xs: blocks.bilinear_sampler(xs[0], xs[1])), first, None
    if kind == "dagnn.ROIPooling":
        if n_inputs != 2:
            raise fields.error(f"ROIPooling takes 2 inputs (data, rois), not {n_inputs}")
        method = fields.text("method", "max")
        if method not in ("max", "avg"):
            raise fields.error(f"unknown ROI pooling method {method!r}")
        subdivisions = fields.pair("subdivisions", 6)
        given = fields.numbers("transform", (1.0,), (1, 6))
        transform = (given[0], 0.0, 0.0, given[0], 0.0, 0.0) if len(given) == 1 else given
        flatten = fields.flag("flatten", False)

        def roi_forward(xs: list[np.ndarray]) -> np.ndarray:
            pooled = blocks.roi_pool(xs[0], xs[1], subdivisions, transform, method)
            return pooled.reshape((1, 1, -1, pooled.shape[3]), order="F") if flatten else pooled

        channels = first * subdivisions[0] * subdivisions[1] if flatten and first else first
        return roi_forward, channels, None
    if kind in ("dagnn.NormOffset", "dagnn.SpatialNorm", "dagnn.PDist"):
        return _common_step(kind[len("dagnn.") :].lower(), fields, first)
    arrays = [p for p in (_tensor(p, "param", fields) for p in params) if p is not None]
    return _custom_step(custom[kind], dict(fields.values), arrays), None, None


def _scale_step(fields: _Fields, params: list[Any], n_inputs: int) -> Forward:
    """dagnn.Scale: the factor and shift are the arguments after the data, inputs before params."""
    has_bias = fields.flag("hasBias", True)
    arrays = [_tensor(p, "param", fields) for p in params]
    needed = 3 if has_bias else 2
    if n_inputs + len(arrays) < needed:
        raise fields.error(f"Scale needs {needed} arguments (data, factor{', shift' if has_bias else ''})")

    def forward(xs: list[np.ndarray]) -> np.ndarray:
        args = [*xs, *arrays]
        return blocks.scale(args[0], args[1], args[2] if has_bias else None)

    return forward


def _adapted_crop(xs: list[np.ndarray], offsets: tuple[int, ...]) -> blocks.Quad:
    """dagnn.Crop.getAdaptedCrops: crop input 1 to input 2's size, `offsets` rows/columns first."""
    top_offset, left_offset = offsets[0], offsets[-1]
    rows = xs[0].shape[0] - xs[1].shape[0]
    columns = xs[0].shape[1] - xs[1].shape[1]
    bottom, right = max(0, rows - top_offset), max(0, columns - left_offset)
    return (rows - bottom, bottom, columns - right, right)


def _execution_order(layers: list[dict[str, Any]], path: Path) -> list[int]:
    """DagNN.rebuild's order: height = 1 + max height of readers of the outputs; sort by -height, stable."""
    readers: dict[str, list[int]] = {}
    for index, layer in enumerate(layers):
        for var in layer["inputs"]:
            readers.setdefault(var, []).append(index)
    children = [sorted({c for var in layer["outputs"] for c in readers.get(var, [])}) for layer in layers]
    height = [0] * len(layers)
    state = [0] * len(layers)  # 0 new, 1 open, 2 done
    for root in range(len(layers)):
        stack = [root]
        while stack:
            node = stack[-1]
            if state[node] == 0:
                state[node] = 1
                for child in children[node]:
                    if state[child] == 1:
                        raise ModelFormatError(
                            f"the layer graph has a cycle through {layers[child]['name']!r}", path
                        )
                    if state[child] == 0:
                        stack.append(child)
            else:
                stack.pop()
                if state[node] == 1:
                    state[node] = 2
                    height[node] = 1 + max((height[c] for c in children[node]), default=0)
    return sorted(range(len(layers)), key=lambda i: -height[i])


def _names(value: Any, what: str, where: str, path: Path) -> list[str]:
    if isinstance(value, str):
        return [value]
    if _empty(value):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ModelFormatError(f"{where}: {what} is not a cell array of names", path)
    return list(value)


def _dagnn_layers(net: Mapping[str, Any], path: Path) -> list[dict[str, Any]]:
    layers = []
    for i, raw in enumerate(net["layers"].elements, start=1):
        name = raw.get("name")
        if not isinstance(name, str) or not name:
            raise ModelFormatError(f"DagNN layer {i} has no name", path)
        where = f"layer {name!r}"
        kind = raw.get("type")
        if not isinstance(kind, str):
            raise ModelFormatError(f"{where}: its type is not text", path)
        block = raw.get("block")
        if isinstance(block, list) and len(block) == 1:
            block = block[0]  # scipy.io.savemat writes an empty dict as a 1×1 cell
        if isinstance(block, Refused):
            raise ModelFormatError(f"{where}: its block is a {block.kind}, which is never decoded", path)
        if _empty(block):
            block_fields = {}
        elif isinstance(block, MatStruct) and block.scalar() is not None:
            block_fields = block.scalar()
        else:
            raise ModelFormatError(f"{where}: its block is not a struct", path)
        layers.append(
            {
                "name": name,
                "type": kind,
                "inputs": _names(raw.get("inputs", []), "inputs", where, path),
                "outputs": _names(raw.get("outputs", []), "outputs", where, path),
                "params": _names(raw.get("params", []), "params", where, path),
                "block": block_fields,
            }
        )
        if not layers[-1]["outputs"]:
            raise ModelFormatError(f"{where} has no outputs", path)
    names = [layer["name"] for layer in layers]
    if len(set(names)) != len(names):
        raise ModelFormatError("two DagNN layers have the same name", path)
    return layers


def _dagnn_params(net: Mapping[str, Any], path: Path) -> dict[str, Any]:
    params = net.get("params")
    if _empty(params):
        return {}
    if not isinstance(params, MatStruct):
        raise ModelFormatError("DagNN 'params' is not a struct array", path)
    values = {}
    for element in params.elements:
        if not isinstance(element.get("name"), str):
            raise ModelFormatError("a DagNN parameter has no name", path)
        values[element["name"]] = element.get("value")
    return values


# -------------------------------------------------------------------------------------- metadata


def _struct_fields(value: Any) -> dict[str, Any]:
    return (value.scalar() or {}) if isinstance(value, MatStruct) else {}


def _declared_inputs(meta: Mapping[str, Any]) -> list[tuple[str, tuple[float, ...]]]:
    """`meta.inputs` as (name, size) pairs: a struct array of name/size, or a cell {name, size, ...}."""
    declared = meta.get("inputs")
    pairs: list[tuple[str, Any]] = []
    if isinstance(declared, MatStruct):
        pairs = [(e.get("name"), e.get("size")) for e in declared.elements]
    elif isinstance(declared, list):
        pairs = list(zip(declared[0::2], declared[1::2], strict=False))
    result = []
    for name, size in pairs:
        if isinstance(name, str) and name:
            dims = size.ravel(order="F") if isinstance(size, np.ndarray) and size.dtype.kind in "biuf" else []
            result.append((name, tuple(float(d) for d in dims)))
    return result


def _image_size(normalization: Mapping[str, Any]) -> tuple[float, ...]:
    size = normalization.get("imageSize")
    if isinstance(size, np.ndarray) and size.dtype.kind in "biuf":
        return tuple(float(d) for d in size.ravel(order="F"))
    return ()


def _hwcn(dims: tuple[float, ...]) -> tuple[int | None, ...]:
    known: list[int | None] = [int(d) if d >= 1 and d == int(d) else None for d in dims[:3]]
    return (*known, *([None] * (4 - len(known))))


# ----------------------------------------------------------------------------------------- runner


class MatConvNetReference:
    """A MatConvNet network read from a `.mat` file, run layer by layer in NumPy."""

    def __init__(self, path: str | Path, custom_layers: Mapping[str, CustomLayer] | None = None) -> None:
        self.path = Path(path)
        self._custom = dict(custom_layers or {})
        builtin = (_SIMPLENN_TYPES | _DAGNN_TYPES) & set(self._custom)  # community types may be replaced
        if builtin:
            raise ValueError(f"custom_layers cannot replace built-in MatConvNet blocks: {sorted(builtin)}")
        net = self._find_net(load_mat(self.path))
        meta = _struct_fields(net.get("meta"))
        normalization = _struct_fields(meta.get("normalization")) or _struct_fields(net.get("normalization"))
        declared = _declared_inputs(meta)
        if isinstance(net["layers"], list):
            self._build_simplenn(net, declared)
        else:
            self._build_dagnn(net)
        shapes = dict(declared)
        if not shapes and len(self.input_names) == 1 and _image_size(normalization):
            shapes[self.input_names[0]] = _image_size(normalization)
        self.input_shapes: dict[str, tuple[int | None, ...]] = {
            name: _hwcn(shapes.get(name, ())) for name in self.input_names
        }
        self._infer_input_depths()
        for name, shape in getattr(self, "_extra_shapes", {}).items():
            self.input_shapes[name] = (1, 1, DEMO_SIGMAS, None) if name == NOISE_LEVEL else shape
        self._plan_frees()

    # ------------------------------------------------------------------------------- loading

    def _find_net(self, variables: dict[str, Any]) -> dict[str, Any]:
        if "layers" in variables:
            net: dict[str, Any] | None = variables  # saved with save(file, '-struct', 'net')
        else:
            wrapped = variables.get("net")
            if isinstance(wrapped, Refused):
                raise ModelFormatError(
                    f"variable 'net' is a {wrapped.kind}; save the network as a struct "
                    "(DagNN: net.saveobj(); SimpleNN: a plain struct)",
                    self.path,
                )
            net = _struct_fields(wrapped) if isinstance(wrapped, MatStruct) else None
        if not net or "layers" not in net:
            raise ModelFormatError(
                "no MatConvNet network: neither a 'layers' variable nor a 'net' struct", self.path
            )
        if isinstance(net["layers"], Refused):
            raise ModelFormatError(f"'layers' is a {net['layers'].kind}, which is never decoded", self.path)
        if not isinstance(net["layers"], list | MatStruct):
            raise ModelFormatError(
                "'layers' is neither a cell array (SimpleNN) nor a struct array (DagNN)", self.path
            )
        return net

    def _build_simplenn(self, net: Mapping[str, Any], declared: list[tuple[str, tuple[float, ...]]]) -> None:
        layers = _simplenn_layers(net, self.path)
        names = _simplenn_names(layers, self.path)
        input_name = declared[0][0] if declared else "input"
        steps: list[_Step] = []
        unsupported: list[str] = []
        var, channels = input_name, None
        after_loss: str | None = None
        extra_inputs: dict[str, tuple[int | None, ...]] = {}
        for index, (layer, name) in enumerate(zip(layers, names, strict=True)):
            kind = layer.get("type")
            if not isinstance(kind, str):
                raise ModelFormatError(f"layer {name!r}: no type", self.path)
            if _is_simplenn_loss(kind, layer):
                after_loss = after_loss or name
                continue
            if after_loss:
                unsupported.append(f"{name} ({kind}): follows loss layer {after_loss}")
                continue
            if kind not in _SIMPLENN_TYPES | _COMMUNITY_TYPES and kind not in self._custom:
                why = (
                    "holds MATLAB function handles, which are never executed"
                    if kind == "custom"
                    else "unknown type"
                )
                unsupported.append(f"{name} ({kind}): {why}")
                continue
            fields = _Fields(layer, f"layer {name!r} ({kind})", self.path)
            forward, out_channels, wants = _simplenn_step(kind, fields, channels, self._custom)
            output = f"#{index}"
            reads = [var]
            if kind == "concat" and kind not in self._custom:
                reads.append(NOISE_LEVEL)
                extra_inputs[NOISE_LEVEL] = (1, 1, None, None)
            elif kind == "pdist" and not fields.present("class"):
                reads.append(f"{name}_target")
                extra_inputs[reads[-1]] = (None, None, channels, None)
            steps.append(_Step(name, kind, reads, output, forward, wants))
            for key in ("weights", "filters", "biases"):  # free the raw copy as we go
                layer.pop(key, None)
            var, channels = output, out_channels
        if unsupported:
            raise UnsupportedError(unsupported, self.path)
        if not steps:
            raise ModelFormatError("the network has no layers to run", self.path)
        kinds = [s.type for s in steps]
        leading = 1 if kinds[:1] == ["SubP"] else 0
        conv = steps[leading + 1] if kinds[leading : leading + 2] == ["concat", "conv"] else None
        if conv is not None and NOISE_LEVEL in extra_inputs and conv.wants_channels:
            # FFDNet (SubP, concat, conv) and FDnCNN (concat, conv): the conv's depth D is the image's
            # C channels, times s² once SubP split it, plus the DEMO_SIGMAS channels of the noise map.
            split = 1
            if leading:
                scale = _Fields(layers[names.index(steps[0].name)], "SubP", self.path).numbers(
                    "scale", (2.0,), (1,)
                )[0]
                split = round(1 / scale) ** 2 if scale < 1 else 0
            image = conv.wants_channels - DEMO_SIGMAS
            if split and image > 0 and image % split == 0:
                self._ffdnet_channels = image // split
        self._steps = steps
        self.input_names = [input_name, *extra_inputs]
        self._extra_shapes = extra_inputs
        self.layer_names = [s.name for s in steps]
        self.output_names = [steps[-1].name]
        self._output_vars = {steps[-1].name: steps[-1].output}

    def _build_dagnn(self, net: Mapping[str, Any]) -> None:
        layers = _dagnn_layers(net, self.path)
        params = _dagnn_params(net, self.path)
        order = _execution_order(layers, self.path)
        losses = {i for i, layer in enumerate(layers) if _is_dagnn_loss(layer["type"], layer["block"])}
        producer: dict[str, int] = {}
        for i, layer in enumerate(layers):
            for var in layer["outputs"]:
                if var in producer:
                    raise ModelFormatError(f"variable {var!r} is written by two layers", self.path)
                producer[var] = i
        unsupported: list[str] = []
        for i, layer in enumerate(layers):
            if i in losses:
                continue
            fed_by_loss = [v for v in layer["inputs"] if producer.get(v) in losses]
            later_outputs = [
                v for v in layer["inputs"] if v in producer and layers[producer[v]]["outputs"][0] != v
            ]
            if fed_by_loss:
                unsupported.append(f"{layer['name']} ({layer['type']}): reads loss output {fed_by_loss[0]}")
            elif later_outputs:
                unsupported.append(
                    f"{layer['name']} ({layer['type']}): reads {later_outputs[0]}, not a first output"
                )
            elif layer["type"] not in _DAGNN_TYPES and layer["type"] not in self._custom:
                unsupported.append(f"{layer['name']} ({layer['type']}): unknown type")
            missing = [p for p in layer["params"] if p not in params]
            if missing:
                raise ModelFormatError(
                    f"layer {layer['name']!r}: parameter {missing[0]!r} is not stored", self.path
                )
        if unsupported:
            raise UnsupportedError(unsupported, self.path)
        running = [i for i in order if i not in losses]
        if not running:
            raise ModelFormatError("the network has no layers to run", self.path)
        var_order = (
            [e.get("name") for e in net["vars"].elements] if isinstance(net.get("vars"), MatStruct) else []
        )
        read = [v for i in running for v in layers[i]["inputs"]]
        inputs = [v for v in dict.fromkeys([*var_order, *read]) if v in read and producer.get(v) is None]
        channels: dict[str, int | None] = dict.fromkeys(inputs)
        steps = []
        for i in running:
            layer = layers[i]
            fields = _Fields(layer["block"], f"layer {layer['name']!r} ({layer['type']})", self.path)
            values = [params[p] for p in layer["params"]]
            in_channels = [channels.get(v) for v in layer["inputs"]]
            forward, out_channels, wants = _dagnn_step(
                layer["type"], fields, values, len(layer["inputs"]), in_channels, self._custom
            )
            output = layer["outputs"][0]
            channels[output] = out_channels
            steps.append(_Step(layer["name"], layer["type"], layer["inputs"], output, forward, wants))
        read_later = {v for s in steps for v in s.inputs}
        self._steps = steps
        self.input_names = inputs
        self.layer_names = [s.name for s in steps]
        self.output_names = [s.name for s in steps if s.output not in read_later]
        self._output_vars = {s.name: s.output for s in steps if s.output not in read_later}

    def _infer_input_depths(self) -> None:
        for name in self.input_names:
            h, w, c, n = self.input_shapes[name]
            if c is None:
                first = next((s for s in self._steps if name in s.inputs), None)
                if first is not None and first.wants_channels is not None:
                    self.input_shapes[name] = (h, w, first.wants_channels, n)
                elif name == self.input_names[0] and getattr(self, "_ffdnet_channels", None):
                    self.input_shapes[name] = (h, w, self._ffdnet_channels, n)

    def _plan_frees(self) -> None:
        last_read: dict[str, int] = {}
        for index, step in enumerate(self._steps):
            for var in step.inputs:
                last_read[var] = index
        for var, index in last_read.items():
            self._steps[index].frees.append(var)

    # ------------------------------------------------------------------------------- running

    def _prepare_inputs(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        unknown = sorted(set(inputs) - set(self.input_names))
        missing = [name for name in self.input_names if name not in inputs]
        if unknown or missing:
            raise ValueError(
                f"{self.path}: inputs are {self.input_names}; missing {missing}, unknown {unknown}"
            )
        prepared = {}
        for name in self.input_names:
            array = np.asarray(inputs[name], dtype=np.float32)
            if not 2 <= array.ndim <= 4:
                raise ValueError(f"{self.path}: input {name!r} has shape {array.shape}; expected H×W×C(×N)")
            prepared[name] = array.reshape(array.shape + (1,) * (4 - array.ndim))
        return prepared

    def iter_layers(self, inputs: Mapping[str, np.ndarray]) -> Iterator[tuple[str, str, np.ndarray]]:
        """Run the network, yielding (layer name, layer type, output H×W×C×N) in execution order.

        Only the activations later layers still read are kept. The yielded arrays are read-only
        views, valid for as long as the caller holds them.
        """
        values = self._prepare_inputs(inputs)
        for step in self._steps:
            try:
                output = step.forward([values[v] for v in step.inputs])
            except blocks.BlockError as e:
                raise ModelFormatError(f"layer {step.name!r} ({step.type}): {e}", self.path) from e
            output = self._checked(step, output)
            for var in step.frees:
                del values[var]
            values[step.output] = output
            view = output.view()
            view.flags.writeable = False
            yield step.name, step.type, view
            if step.name in self._output_vars:
                del values[step.output]

    def _checked(self, step: _Step, output: Any) -> np.ndarray:
        """Custom layers may return anything; hold them to MatConvNet's H×W×C×N float32."""
        if not isinstance(output, np.ndarray) or output.ndim > 4 or output.dtype.kind not in "biuf":
            raise ModelFormatError(
                f"layer {step.name!r} ({step.type}) did not produce a real array of ≤4 dims", self.path
            )
        output = output.astype(np.float32, copy=False)
        return output.reshape(output.shape + (1,) * (4 - output.ndim))

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The network's outputs, by output layer name."""
        outputs = {}
        for name, _, value in self.iter_layers(inputs):
            if name in self._output_vars:
                outputs[name] = value
        return outputs
