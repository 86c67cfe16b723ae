"""The inputs a parity check feeds to both runtimes.

Both runtimes must see identical bytes, so feeds are made once per run and handed to each runner
(Polygraphy's DataLoaderCache idea). Random feeds are seeded with (seed, run index) so a failure
seen in CI reproduces on a laptop with the same `--seed`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netinspect.errors import MissingDependencyError, NetinspectError
from netinspect.ir import Dim, Graph, Preprocessing
from netinspect.layout import ACTIVATION, permute


class InputError(NetinspectError):
    """Inputs given on the command line do not fit the model (bad file, name, shape or dim)."""


@dataclass(frozen=True)
class InputSpec:
    """One model input as the IR sees it: NCHW for images, dims possibly symbolic."""

    name: str
    dtype: str
    shape: tuple[Dim, ...]
    index_bound: int | None = None
    """Token ids for an Embedding of this many rows: random values stay below it (an id past the
    table stops Keras and onnxruntime alike), integers even where the input is float."""


def parse_dims(assignments: Sequence[str]) -> dict[str, int]:
    """`["N=1", "seq=128", "data:2=64"]` → {"N": 1, "seq": 128, "data:2": 64}.

    NAME=SIZE sizes every axis named NAME; INPUT:AXIS=SIZE one axis of one input, for exporters
    that give several axes the same name (`None`, `?`, `unk__0`).
    """
    dims: dict[str, int] = {}
    for item in assignments:
        name, sep, size = item.rpartition("=")
        if not sep or not name.strip() or not size.strip().isdigit() or int(size) < 1:
            raise InputError(
                f"--dim {item!r}: expected NAME=SIZE or INPUT:AXIS=SIZE with a positive integer size"
            )
        dims[name.strip()] = int(size)
    return dims


def axis_key(input_name: str, axis: int) -> str:
    """The --dim key that sizes one axis of one input."""
    return f"{input_name}:{axis}"


def given_size(spec: InputSpec, axis: int, dims: Mapping[str, int]) -> int | None:
    """The size the model or the user fixes for an axis: fixed in the model, INPUT:AXIS, else NAME."""
    dim = spec.shape[axis]
    if isinstance(dim, int) and dim > 0:
        return dim
    if axis_key(spec.name, axis) in dims:
        return dims[axis_key(spec.name, axis)]
    if isinstance(dim, str) and dim in dims:
        return dims[dim]
    return None


def concrete_shape(spec: InputSpec, dims: Mapping[str, int]) -> tuple[int, ...]:
    """The shape to generate: symbolic dims from `dims`; an unnamed or unknown batch axis is 1.

    Only the first axis gets a default here; the other defaults are chosen by check.shapes, which
    can ask the network which sizes it accepts.
    """
    shape: list[int] = []
    for axis, dim in enumerate(spec.shape):
        size = given_size(spec, axis, dims)
        if size is not None:
            shape.append(size)
        elif axis == 0:
            shape.append(1)
        else:
            named = isinstance(dim, str) and dim and sum(d == dim for d in spec.shape) == 1
            label = dim if isinstance(dim, str) and dim else f"axis {axis}"
            raise InputError(
                f"input {spec.name!r} has a free dimension {label!r} (shape {format_shape(spec.shape)}); "
                f"give its size with --dim {dim if named else axis_key(spec.name, axis)}=SIZE"
            )
    return tuple(shape)


def format_shape(shape: Sequence[Dim]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _channel_axis_matches(spec_shape: tuple[int, ...], channels: int) -> bool:
    return len(spec_shape) == 4 and spec_shape[1] == channels


def default_range(dtype: str, preprocessing: Preprocessing | None) -> tuple[float, float]:
    """Range of the raw (pre-preprocessing) input: the model's recorded range, else by dtype.

    Floats default to [0, 1). Integer inputs are often indices or token ids, so they get a small
    non-negative range that is valid for any embedding; bool is {0, 1}.
    """
    if preprocessing is not None and preprocessing.value_range is not None:
        low, high = preprocessing.value_range
        return float(low), float(high)
    kind = np.dtype(dtype).kind if dtype not in ("bfloat16",) else "f"
    if kind == "b":
        return 0.0, 2.0
    if kind == "u" and np.dtype(dtype).itemsize == 1:
        return 0.0, 256.0
    if dtype == "int8":
        return -128.0, 128.0
    if kind in "iu":
        return 0.0, 10.0
    return 0.0, 1.0


def apply_preprocessing(
    raw: np.ndarray, preprocessing: Preprocessing | None, inverse: bool = False
) -> np.ndarray:
    """Raw NCHW values → what the graph input expects: minus the mean, divided by std
    (`inverse`: preprocessed values back to raw ones, times std plus the mean).

    Applied only when the channel axis has as many entries as the recorded mean/std, so a model
    whose metadata describes a different input is fed raw values rather than broadcast nonsense.
    """
    if preprocessing is None:
        return raw
    channels = raw.shape[1] if raw.ndim == 4 else None
    mean: np.ndarray | None = None
    if preprocessing.mean_image is not None and raw.ndim == 4:
        mean_image = np.asarray(preprocessing.mean_image.numpy(), dtype=np.float64)
        if mean_image.ndim == 3 and mean_image.shape == raw.shape[1:]:
            mean = mean_image[None]
        elif mean_image.ndim == 3 and mean_image.shape[0] == channels:
            mean = mean_image.mean(axis=(1, 2)).reshape(1, -1, 1, 1)
    elif preprocessing.mean is not None and channels == len(preprocessing.mean):
        mean = np.asarray(preprocessing.mean, dtype=np.float64).reshape(1, -1, 1, 1)
    std = None
    if preprocessing.std is not None and channels == len(preprocessing.std):
        std = np.asarray(preprocessing.std, dtype=np.float64).reshape(1, -1, 1, 1)
    out = raw.astype(np.float64) if inverse else raw
    if inverse:
        out = out * std if std is not None else out
        return out + mean if mean is not None else out
    out = out - mean if mean is not None else out
    return out / std if std is not None else out


PREPROCESSING_LAYER = "preprocessing"
"""The provenance layer of the nodes `convert --with-preprocessing` puts in front of the first input
(converters/onnx/writer.py); the ONNX reader reads it back from the netinspect.provenance metadata."""


@dataclass(frozen=True)
class EmbeddedPreprocessing:
    """The (x - mean) / std a model computes itself: its input takes raw images.

    When such a model is the reference, its own constants make the preprocessed input another
    model takes (`apply`). When it is the model under test, its constants are what is checked, so
    its raw feed comes from the source's recorded preprocessing instead (apply_preprocessing's
    inverse), and a wrong mean in the graph shows as a mismatch.
    """

    input: str
    steps: tuple[tuple[str, np.ndarray], ...]

    def apply(self, raw: np.ndarray) -> np.ndarray:
        out = raw.astype(np.float64)
        for op, constant in self.steps:
            out = out - constant if op == "Sub" else out / constant
        return out.astype(raw.dtype)


def embedded_preprocessing(graph: Graph) -> EmbeddedPreprocessing | None:
    """What `convert --with-preprocessing` put in the graph, found by its nodes' provenance."""
    inputs = {v.name for v in graph.inputs}
    steps: list[tuple[str, np.ndarray]] = []
    first_input: str | None = None
    current: str | None = None
    for node in graph.nodes:
        if node.provenance is None or node.provenance.layer != PREPROCESSING_LAYER:
            continue
        if node.op_type not in ("Sub", "Div") or len(node.inputs) != 2 or node.inputs[1] not in graph.tensors:
            return None
        if current is None:
            if node.inputs[0] not in inputs:
                return None
            first_input = node.inputs[0]
        elif node.inputs[0] != current:
            return None
        steps.append((node.op_type, np.asarray(graph.tensors[node.inputs[1]].numpy(), dtype=np.float64)))
        current = node.outputs[0]
    if first_input is None:
        return None
    return EmbeddedPreprocessing(first_input, tuple(steps))


def random_feeds(
    specs: Sequence[InputSpec],
    seed: int,
    run_index: int,
    dims: Mapping[str, int] | None = None,
    preprocessing: Preprocessing | None = None,
    preprocessed: bool = True,
) -> dict[str, np.ndarray]:
    """Seeded inputs: uniform over each input's raw range, float images then preprocessed
    (unless the model does that itself: `preprocessed=False`)."""
    rng = np.random.default_rng([seed, run_index])
    feeds: dict[str, np.ndarray] = {}
    for spec in specs:
        shape = concrete_shape(spec, dims or {})
        dtype = np.dtype("float32" if spec.dtype == "bfloat16" else spec.dtype)
        low, high = default_range(spec.dtype, preprocessing)
        if spec.index_bound is not None:
            feeds[spec.name] = rng.integers(0, spec.index_bound, size=shape).astype(dtype)
        elif dtype.kind == "f":
            raw = rng.uniform(low, high, size=shape)
            if preprocessed and preprocessing is not None and _is_image(shape, preprocessing):
                raw = apply_preprocessing(raw, preprocessing)
            feeds[spec.name] = raw.astype(dtype)
        elif dtype.kind == "b":
            feeds[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            feeds[spec.name] = rng.integers(int(low), int(high), size=shape).astype(dtype)
    return feeds


def _is_image(shape: tuple[int, ...], preprocessing: Preprocessing) -> bool:
    channels = len(preprocessing.mean or preprocessing.std or [])
    if preprocessing.mean_image is not None:
        channels = preprocessing.mean_image.shape[0]
    return channels > 0 and _channel_axis_matches(shape, channels)


def parse_input_files(assignments: Sequence[str]) -> dict[str, Path]:
    """`["data=x.npy"]` → {"data": Path("x.npy")}."""
    files: dict[str, Path] = {}
    for item in assignments:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"--input {item!r}: expected NAME=FILE.npy")
        files[name] = Path(path)
    return files


def load_npy(path: Path) -> np.ndarray:
    """An array from .npy, refusing pickled objects (loading a file must never run code)."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError as e:
        raise InputError("no such file", path) from e
    except (OSError, ValueError) as e:
        raise InputError(f"not a readable .npy array ({e})", path) from e
    if not isinstance(array, np.ndarray):
        raise InputError("holds several arrays; use --inputs for .npz files", path)
    return array


def load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise InputError("is a single array; use --input NAME=FILE.npy", path)
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError as e:
        raise InputError("no such file", path) from e
    except (OSError, ValueError) as e:
        raise InputError(f"not a readable .npz archive ({e})", path) from e


def fit_given_input(spec: InputSpec, array: np.ndarray, origin: str, dims: Mapping[str, int]) -> np.ndarray:
    """A user's array checked against the input it feeds, cast to the input's dtype."""
    if len(array.shape) != len(spec.shape):
        raise InputError(
            f"input {spec.name!r} needs {len(spec.shape)} dimensions {format_shape(spec.shape)}, "
            f"{origin} has shape {tuple(array.shape)}"
        )
    for axis, have in enumerate(array.shape):
        fixed = given_size(spec, axis, dims)
        if fixed is not None and fixed != have:
            raise InputError(
                f"input {spec.name!r} needs size {fixed} on axis {axis} {format_shape(spec.shape)}, "
                f"{origin} has shape {tuple(array.shape)}"
            )
    dtype = np.dtype("float32" if spec.dtype == "bfloat16" else spec.dtype)
    if array.dtype.kind == "f" and dtype.kind in "iub":
        raise InputError(f"input {spec.name!r} is {spec.dtype}, {origin} holds {array.dtype} values")
    return np.ascontiguousarray(array.astype(dtype, copy=False))


def given_feeds(
    specs: Sequence[InputSpec],
    arrays: Mapping[str, np.ndarray],
    origin: Mapping[str, str],
    dims: Mapping[str, int],
) -> dict[str, np.ndarray]:
    """Feeds from user arrays; every model input must be given, no unknown name accepted."""
    by_name = {spec.name: spec for spec in specs}
    unknown = sorted(set(arrays) - set(by_name))
    if unknown:
        raise InputError(f"unknown input name(s) {', '.join(unknown)}; the model takes {', '.join(by_name)}")
    missing = [name for name in by_name if name not in arrays]
    if missing:
        raise InputError(f"no data given for input(s) {', '.join(missing)}")
    return {name: fit_given_input(by_name[name], arrays[name], origin[name], dims) for name in by_name}


def load_image(
    path: Path, spec: InputSpec, preprocessing: Preprocessing | None, preprocessed: bool = True
) -> np.ndarray:
    """An image file → a (1, C, H, W) feed through the model's recorded preprocessing (mean and
    std left out with `preprocessed=False`, for a model that applies them itself).

    Size: the recorded image size, else the input's spatial dims. Pixels are scaled to the
    recorded value range (0..255 when none is recorded), channels reordered to the recorded
    order (RGB unless "BGR"), then mean and std applied as in `apply_preprocessing`.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as e:
        raise MissingDependencyError("--image needs Pillow: pip install 'netinspect[image]'", path) from e
    if len(spec.shape) != 4:
        raise InputError(
            f"--image needs a 4-D image input; {spec.name!r} has shape {format_shape(spec.shape)}"
        )
    pre = preprocessing or Preprocessing()
    height, width = pre.image_size or (spec.shape[2], spec.shape[3])
    if not (isinstance(height, int) and isinstance(width, int)):
        raise InputError(
            f"input {spec.name!r} has free spatial dims {format_shape(spec.shape)} and the model records no "
            "image size; pass the array with --input instead"
        )
    channels = spec.shape[1] if isinstance(spec.shape[1], int) else 3
    if channels not in (1, 3):
        raise InputError(f"--image feeds 1 or 3 channels; input {spec.name!r} takes {channels}", path)
    try:
        with Image.open(path) as image:
            image = image.convert("L" if channels == 1 else "RGB")
            image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float64)
    except FileNotFoundError as e:
        raise InputError("no such file", path) from e
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"not a readable image ({e})", path) from e
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if (pre.channel_order or "RGB").upper() == "BGR":
        pixels = pixels[:, :, ::-1]
    low, high = pre.value_range or (0.0, 255.0)
    pixels = low + pixels / 255.0 * (high - low)
    nchw = permute(pixels, "HWC", ACTIVATION[1:])[None]
    dtype = np.dtype("float32" if spec.dtype in ("bfloat16",) else spec.dtype)
    if preprocessed:
        nchw = apply_preprocessing(nchw, pre)
    return np.ascontiguousarray(nchw.astype(dtype))


@dataclass
class FeedPlan:
    """Which data both runtimes get, run by run; recorded in reports so a failure can be replayed.

    Feeds are made when a run needs them, so only one run's inputs are alive at a time.
    """

    kind: str
    """"random" (seeded), "files" (--input/--inputs) or "image" (--image)."""
    seed: int | None
    runs: int
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]
    make: Callable[[int], dict[str, np.ndarray]] | None = field(repr=False, compare=False)
    files: dict[str, str] = field(default_factory=dict)
    chosen: list[str] = field(default_factory=list)
    """Sizes check chose for free dimensions, each with its reason ("data:2=33 (recorded image size)")."""

    def feeds(self, run: int) -> dict[str, np.ndarray]:
        if self.make is None:
            raise RuntimeError("this feed plan was sent from another process without its data")
        return self.make(run)

    def __getstate__(self) -> dict[str, object]:
        """A plan sent to another process (check --jobs) keeps what it describes, not its data."""
        return {**self.__dict__, "make": None}


def plan_feeds(
    specs: Sequence[InputSpec],
    dims: Mapping[str, int],
    preprocessing: Preprocessing | None,
    seed: int,
    runs: int,
    input_files: Mapping[str, str | Path] | None = None,
    inputs_npz: str | Path | None = None,
    image: str | Path | None = None,
    preprocessed: bool = True,
) -> FeedPlan:
    """Given data (--inputs, then --input, then --image for the one input left) make one run;
    without any, `runs` seeded random runs. `preprocessed=False`: the model takes raw images."""
    arrays: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    if inputs_npz is not None:
        for key, array in load_npz(Path(inputs_npz)).items():
            arrays[key], origin[key] = array, f"{inputs_npz}[{key}]"
    for key, file in (input_files or {}).items():
        arrays[key], origin[key] = load_npy(Path(file)), str(file)
    if image is not None:
        free = [s for s in specs if s.name not in arrays]
        if len(free) != 1:
            raise InputError(
                f"--image feeds one input, but {len(free)} input(s) are not given otherwise: "
                f"{', '.join(s.name for s in free)}"
            )
        arrays[free[0].name] = load_image(Path(image), free[0], preprocessing, preprocessed)
        origin[free[0].name] = str(image)
    if arrays:
        given = given_feeds(specs, arrays, origin, dims)
        return FeedPlan(
            "image" if image is not None else "files",
            None,
            1,
            {k: tuple(v.shape) for k, v in given.items()},
            {k: v.dtype.name for k, v in given.items()},
            make=lambda run: given,
            files=dict(origin),
        )
    return FeedPlan(
        "random",
        seed,
        runs,
        {s.name: concrete_shape(s, dims) for s in specs},
        {s.name: s.dtype for s in specs},
        make=lambda run: random_feeds(specs, seed, run, dims, preprocessing, preprocessed),
    )
