"""Open a Keras file without Keras: full-model and weights-only HDF5, and the Keras 3 `.keras` zip.

Only h5py, zipfile and json touch the file. What comes out is a `KerasFile`: the architecture as
plain JSON (never deserialized into objects, so a Lambda's marshalled bytecode stays an opaque
string), the version and backend the file states, and a `WeightStore` that finds each layer's
arrays and reads them only when the exporter asks.

Layouts (tf-keras tf_keras/saving/legacy/hdf5_format.py; Keras 3 keras/src/saving/saving_lib.py): a
full-model `.h5` has root attrs `model_config`, `keras_version`, `backend` and the group `model_weights`
(attr `layer_names`, one group per layer with attr `weight_names`); a weights-only `.h5` has
`layer_names` at its root (Keras 1 and 2 `save_weights`) and needs the architecture from `--config`; a
`.keras` zip holds `config.json`, `metadata.json` and `model.weights.h5`, whose groups follow Keras'
attribute walk (`layers/<snake_case class>[_k]/vars/<i>`), not layer names.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import numpy as np

from netinspect.converters.keras.detect import ZIP_MAGIC
from netinspect.converters.keras.h5paths import normalized
from netinspect.errors import ModelFormatError, UnsafePathError
from netinspect.io.files import mapped_array
from netinspect.ir import FileSpan

KERAS_MEMBERS = ("config.json", "model.weights.h5")


@dataclass
class LazyArray:
    """One stored weight: name, shape, dtype; its bytes are read by `load()`.

    `located` is (file, offset of the HDF5 data in it) when the HDF5 is a plain file or an
    uncompressed zip member: a contiguous, unfiltered dataset is then memory-mapped at its offset
    (`numpy.memmap`, read-only), about ten times faster than h5py's own path for big weights, and
    never held whole by this process.
    """

    name: str
    dataset: Any
    located: tuple[Path, int] | None = None

    @property
    def key(self) -> str:
        """The array's own path in its HDF5 file: unique, where `name` need not be (Keras 3.0–3.1
        `.h5` files name every layer's weights just `kernel`, `bias`)."""
        path = getattr(self.dataset, "name", None)
        return path if isinstance(path, str) else self.name

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.dataset.shape)

    @property
    def dtype(self) -> str:
        return np.dtype(self.dataset.dtype).name

    def load(self) -> np.ndarray:
        direct = self._direct()
        return direct if direct is not None else np.asarray(self.dataset[()])

    def span(self) -> FileSpan | None:
        """Where the array's bytes lie in the file, when they lie there as they are (contiguous,
        unfiltered, little-endian); None when h5py has to decode them."""
        if self.located is None or self.dataset.chunks is not None or self.dataset.compression is not None:
            return None
        dtype = np.dtype(self.dataset.dtype)
        if dtype.kind not in "fiub" or dtype.byteorder == ">" or not self.shape or 0 in self.shape:
            return None
        offset = self.dataset.id.get_offset()
        if offset is None:
            return None
        path, base = self.located
        length = int(np.prod(self.shape)) * dtype.itemsize
        if base + offset + length > path.stat().st_size:
            return None  # truncated: h5py reports it
        return FileSpan(path, base + offset, length)

    def _direct(self) -> np.ndarray | None:
        span = self.span()
        if span is None:
            return None
        # mapped, not read: pages come in as the writer (or a permutation) asks for them
        return mapped_array(span, self.dataset.dtype, self.shape)


@dataclass
class KerasFile:
    """What a Keras file says: architecture JSON, version, backend, and where its weights are."""

    path: Path
    kind: str  # "h5", "h5-weights" (weights-only with --config), "weights" (without), "keras" (zip)
    config: dict[str, Any] | None  # None: a weights-only file given no architecture
    keras_version: str | None
    backend: str | None
    weights: WeightStore
    handles: list[Any] = field(default_factory=list)

    @property
    def major(self) -> int:
        """1, 2 or 3; a file without `keras_version` is Keras 1 (as Keras' own loader assumes)."""
        if not self.keras_version:
            return 1
        head = self.keras_version.split(".")[0]
        return int(head) if head.isdigit() else 2


# -------------------------------------------------------------------------------------------------
# weights


class WeightStore:
    """Finds a layer's arrays, in Keras' own order (trainable, then non-trainable).

    `scope` is the chain of layer names from the top model down to the layer (nested models), and
    `group` for `.keras` files the h5 path the reader computed from Keras' attribute walk.
    """

    def arrays(self, scope: tuple[str, ...], group: str | None, class_name: str) -> list[LazyArray]:
        raise NotImplementedError

    def layers(self) -> list[tuple[str, list[LazyArray]]]:
        """Every layer that stores weights, with them: what a weights-only file shows by itself."""
        raise NotImplementedError


class LegacyH5Weights(WeightStore):
    """`model_weights` (or a weights-only file's root): one group per top-level layer, `weight_names`."""

    def __init__(self, root: Any, path: Path) -> None:
        self.root = root
        self.path = path
        self.located = (path, 0)

    def arrays(self, scope: tuple[str, ...], group: str | None, class_name: str) -> list[LazyArray]:
        top = scope[0]
        if top not in self.root:
            return []
        g = self.root[top]
        names = [_text(n) for n in _attr_list(g, "weight_names")]
        if len(scope) > 1:  # a layer of a nested model: its weights are named …/<layer>/<var>
            inner = scope[-1]
            names = [n for n in names if inner in n.split("/")[:-1]]
        out = []
        for n in names:
            if n not in g:
                raise ModelFormatError(f"layer {top!r} lists weight {n!r}, which the file lacks", self.path)
            out.append(LazyArray(n, inside(g, n, self.path), self.located))
        return out

    def layers(self) -> list[tuple[str, list[LazyArray]]]:
        found = [(name, self.arrays((name,), None, "")) for name in layer_names(self.root)]
        return [(name, arrays) for name, arrays in found if arrays]


class KerasZipWeights(WeightStore):
    """`model.weights.h5` of a `.keras` zip: `<group>/vars/<i>` (and sub-objects' `vars`)."""

    SUBOBJECT_ORDER: ClassVar[dict[str, tuple[str, ...]]] = {
        "Bidirectional": ("forward_layer", "backward_layer")
    }

    def __init__(self, root: Any, path: Path, member_offset: int | None) -> None:
        self.root = normalized(root)  # Keras 3.0's names (and Windows backslashes) as today's
        self.old_names = self.root is not root
        """The archive names layer lists `_layer_checkpoint_dependencies` (Keras 3.0, tf.keras 2.13–2.15)."""
        self.path = path
        self.located = None if member_offset is None else (path, member_offset)

    def arrays(self, scope: tuple[str, ...], group: str | None, class_name: str) -> list[LazyArray]:
        if group is None or group not in self.root:
            return []
        return self._collect(self.root[group], group, class_name)

    def _collect(self, g: Any, where: str, class_name: str) -> list[LazyArray]:
        import h5py

        out: list[LazyArray] = []
        if "vars" in g:
            v = g["vars"]
            keys = sorted((k for k in v if k.isdigit()), key=int)
            out.extend(LazyArray(f"{where}/vars/{k}", inside(v, k, self.path), self.located) for k in keys)
        children = [k for k in g if k not in ("vars", "layers") and not isinstance(g[k], h5py.Dataset)]
        order = self.SUBOBJECT_ORDER.get(class_name)
        if order:
            children = [c for c in order if c in children] + [c for c in children if c not in order]
        else:
            children.sort()
        for child in children:
            out.extend(self._collect(g[child], f"{where}/{child}", class_name))
        return out

    def layers(self) -> list[tuple[str, list[LazyArray]]]:
        if "layers" not in self.root:
            return []
        found = []
        for key in self.root["layers"]:
            group = f"layers/{key}"
            arrays = self._collect(self.root[group], group, "")
            if arrays:
                found.append((self.name_of(group) or key, arrays))
        return found

    def name_of(self, group: str) -> str | None:
        """The layer name newer Keras writes as the `name` attr of `<group>/vars`."""
        if group in self.root and "vars" in self.root[group]:
            name = self.root[group]["vars"].attrs.get("name")
            return _text(name) if name is not None else None
        return None


def inside(group: Any, name: str, path: Path) -> Any:
    """`group[name]` as a dataset stored in this file: an external link, external storage or a
    virtual dataset would make h5py read other files, which a model file may not do."""
    import h5py

    link = group.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        raise UnsafePathError(
            f"weight {name!r} is an external link to {link.filename!r}, outside the file", path
        )
    dataset = group[name]
    if not isinstance(dataset, h5py.Dataset):
        raise ModelFormatError(f"weight {name!r} is not a dataset", path)
    if dataset.is_virtual or dataset.external:
        raise UnsafePathError(f"weight {name!r} keeps its data outside the file", path)
    return dataset


# -------------------------------------------------------------------------------------------------
# opening


def open_keras_file(path: Path, tag: str, config_path: Path | None) -> KerasFile:
    if tag == "keras":
        return _open_zip(path)
    return _open_h5(path, config_path)


def _h5py_open(source: Any, path: Path, what: str) -> Any:
    import h5py

    try:
        return h5py.File(source, "r")
    except OSError as e:
        raise ModelFormatError(f"{what} is truncated or corrupted (HDF5: {e})", path) from e


def _open_h5(path: Path, config_path: Path | None) -> KerasFile:
    h5 = _h5py_open(path, path, "the HDF5 file")
    attrs = h5.attrs
    if "model_config" in attrs:
        config = _json(attrs["model_config"], path, "model_config")
        if config_path is not None:
            config = _read_config_file(config_path)
        if "model_weights" not in h5:
            raise ModelFormatError("has a model_config but no model_weights group", path)
        root = h5["model_weights"]
        version = _opt_text(attrs.get("keras_version")) or _opt_text(root.attrs.get("keras_version"))
        backend = _opt_text(attrs.get("backend")) or _opt_text(root.attrs.get("backend"))
        return KerasFile(path, "h5", config, version, backend, LegacyH5Weights(root, path), [h5])
    import h5py

    walk_layout = "layer_names" not in attrs and isinstance(h5.get("layers"), h5py.Group)
    root = h5 if "layer_names" in attrs or walk_layout else h5.get("model_weights")
    if root is None or ("layer_names" not in root.attrs and not walk_layout):
        raise ModelFormatError(
            "is HDF5 but not a Keras model: no model_config attribute and no layer_names of saved weights",
            path,
        )
    store: WeightStore = KerasZipWeights(h5, path, 0) if walk_layout else LegacyH5Weights(root, path)
    if config_path is None:  # shown as its weights; converting needs the architecture
        version = _opt_text(root.attrs.get("keras_version"))
        return KerasFile(path, "weights", None, version, _opt_text(root.attrs.get("backend")), store, [h5])
    config = _read_config_file(config_path)
    stated = config if isinstance(config, dict) else {}
    version = _opt_text(root.attrs.get("keras_version")) or _opt_text(stated.get("keras_version"))
    backend = _opt_text(root.attrs.get("backend")) or _opt_text(stated.get("backend"))
    return KerasFile(path, "h5-weights", config, version, backend, store, [h5])


def _read_config_file(config_path: Path) -> dict[str, Any]:
    try:
        text = Path(config_path).read_text(encoding="utf-8")
    except OSError as e:
        raise ModelFormatError(f"cannot read the architecture file: {e.strerror}", config_path) from e
    return _json(text, Path(config_path), "architecture JSON")


def _open_zip(path: Path) -> KerasFile:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ModelFormatError(f"is not a readable .keras zip archive ({e})", path) from e
    names = archive.namelist()
    for name in names:
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or (pure.parts and pure.parts[0].endswith(":")):
            raise ModelFormatError(f".keras archive member {name!r} escapes the archive", path)
    missing = [m for m in KERAS_MEMBERS if m not in names]
    if missing:
        extra = (
            " (its model.weights.npz holds pickled objects, which netinspect never unpickles)"
            if "model.weights.npz" in names
            else ""
        )
        raise ModelFormatError(f".keras archive lacks {', '.join(missing)}{extra}", path)
    config = _json(archive.read("config.json"), path, "config.json")
    version = None
    if "metadata.json" in names:
        meta = _json(archive.read("metadata.json"), path, "metadata.json")
        version = _opt_text(meta.get("keras_version")) if isinstance(meta, dict) else None
    info = archive.getinfo("model.weights.h5")
    source: Any
    if info.compress_type == zipfile.ZIP_STORED:
        source = _StoredMember(path, info)
    else:
        source = io.BytesIO(archive.read("model.weights.h5"))
    h5 = _h5py_open(source, path, "model.weights.h5 in the .keras archive")
    offset = source.start if isinstance(source, _StoredMember) else None
    weights = KerasZipWeights(h5, path, offset)
    return KerasFile(path, "keras", config, version or "3", None, weights, [h5, source])


class _StoredMember(io.RawIOBase):
    """An uncompressed zip member read in place (seekable), so h5py reads only what it needs."""

    def __init__(self, path: Path, info: zipfile.ZipInfo) -> None:
        self._file = path.open("rb")
        self._file.seek(info.header_offset)
        header = self._file.read(30)
        if len(header) < 30 or header[:4] != ZIP_MAGIC:
            raise ModelFormatError("model.weights.h5 has a corrupt local header in the archive", path)
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        self._start = info.header_offset + 30 + name_len + extra_len
        self.start = self._start
        """Where the member's bytes begin in the archive file."""
        self._size = info.file_size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self._size - self._pos))
        if n == 0:
            return 0
        self._file.seek(self._start + self._pos)
        data = self._file.read(n)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


# -------------------------------------------------------------------------------------------------
# helpers


def _json(raw: Any, path: Path, what: str) -> Any:
    text = raw.decode("utf-8") if isinstance(raw, bytes | np.bytes_) else str(raw)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFormatError(f"{what} is not valid JSON ({e})", path) from e


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | np.bytes_) else str(value)


def _opt_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _attr_list(group: Any, name: str) -> list[Any]:
    """An attribute list, joining the chunks (`name0`, `name1`, …) Keras splits big ones into."""
    if name in group.attrs:
        return list(np.atleast_1d(group.attrs[name]))
    out: list[Any] = []
    k = 0
    while f"{name}{k}" in group.attrs:
        out.extend(np.atleast_1d(group.attrs[f"{name}{k}"]))
        k += 1
    return out


def layer_names(root: Any) -> list[str]:
    return [_text(n) for n in _attr_list(root, "layer_names")]
