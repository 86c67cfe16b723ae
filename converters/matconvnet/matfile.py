"""Read MATLAB .mat files (v5/v7 and v7.3) into a small tree whose numeric leaves load lazily.

Why not `scipy.io.loadmat`: it materialises every array, and a converter then permutes each one,
so a VGG-19 file peaks at well over twice its weights. Here the MAT v5 element tags are parsed
directly and an uncompressed numeric array is a window on a read-only memory map of the file; a
compressed (miCOMPRESSED, MAT v7) variable is inflated once and its arrays are windows on that
buffer. v7.3 files are HDF5 and read through h5py, numeric datasets staying on disk until loaded.

The tree: `str` for char arrays, `MatArray` for numeric and logical arrays (in MATLAB's index
order, i.e. column-major, shape as MATLAB reports it), `MatCell`, `MatStruct`, and `MatOpaque`
for what is never executed or decoded: MATLAB objects (MCOS), function handles, sparse arrays.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netinspect.errors import ModelFormatError, UnsafePathError
from netinspect.io.files import map_file, release_range
from netinspect.ir import FileSpan

MatValue = Any
"""One of: str, MatArray, MatCell, MatStruct, MatOpaque."""

MAX_DEPTH = 64
"""Nesting limit: deeper trees come from corrupted or hostile files, not from MatConvNet."""

MAX_VALUES = 2_000_000
"""Values a v7.3 file may expand to: references can share targets, so a small hostile file could
otherwise describe an exponentially large tree."""


@dataclass
class MatArray:
    """A numeric array whose bytes are read on `load()`.

    `shape` is MATLAB's (at least 2-D, trailing singletons dropped past the second);
    `load()` returns an array indexed like MATLAB (a[i, j, ...] is x(i+1, j+1, ...)).
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    _loader: Callable[[], np.ndarray]
    _release: Callable[[int, int], None] | None = None
    matlab_class: str = ""
    span: FileSpan | None = None
    """Where the values lie in the file, as little-endian float32 in MATLAB's (column-major)
    order; None when they are another type or were inflated from a compressed variable."""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def load(self) -> np.ndarray:
        return self._loader()

    def release_range(self, start: int, length: int) -> None:
        """Tell the OS bytes [start, start+length) of the array are no longer needed.

        For a memory-mapped array this drops the pages from this process (they stay in the page
        cache); elsewhere it does nothing.
        """
        if self._release is not None:
            self._release(start, length)

    def scalar(self) -> float:
        values = self.load().reshape(-1, order="F")
        if values.size != 1:
            raise ValueError(f"expected one value, found {values.size}")
        return float(values[0])

    def values(self) -> list[float]:
        return [float(v) for v in self.load().reshape(-1, order="F")]


@dataclass
class MatCell:
    """A cell array: `items` in MATLAB's linear (column-major) order."""

    shape: tuple[int, ...]
    items: list[MatValue]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[MatValue]:
        return iter(self.items)


@dataclass
class MatStruct:
    """A struct array: `fields` in file order, `elements` in column-major order.

    Indexing a struct by field name reads its first element, which is what a 1x1 struct means.
    """

    shape: tuple[int, ...]
    fields: list[str]
    elements: list[dict[str, MatValue]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.elements)

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __getitem__(self, name: str) -> MatValue:
        if not self.elements:
            raise KeyError(name)
        return self.elements[0][name]

    def get(self, name: str, default: MatValue = None) -> MatValue:
        if not self.elements or name not in self.elements[0]:
            return default
        return self.elements[0][name]


@dataclass
class MatOpaque:
    """Something a .mat can hold that netinspect never decodes or runs (objects, handles, sparse).

    `contents` is an MCOS object's plain data element as stored (for an object, its uint32
    reference [0xDD000000, ndims, dims..., object ids..., class id]; for the subsystem's
    FileWrapper__, a cell), parsed as data only. `decoded` is set for MATLAB `string` objects whose
    text netinspect reads from the file's subsystem (see mcos.py).
    """

    kind: str
    class_name: str = ""
    contents: MatValue = None
    decoded: MatValue = None

    def describe(self) -> str:
        return f"{self.kind} ({self.class_name})" if self.class_name else self.kind


class MatFile:
    """An open .mat file: its top-level variables, and what keeps their bytes reachable."""

    def __init__(self, path: Path, version: str, variables: dict[str, MatValue], keep: list[Any]) -> None:
        self.path = path
        self.version = version
        self.variables = variables
        self._keep = keep  # the mmap / h5py.File the lazy arrays read from

    def close(self) -> None:
        for handle in self._keep:
            handle.close()
        self._keep = []


def open_mat(path: Path, head: bytes) -> MatFile:
    """Open a MAT v5/v7 or v7.3 file (decided from its header bytes)."""
    if head.startswith(b"MATLAB 7.3 MAT-file"):
        return _open_v73(path)
    return _open_v5(path)


# ---------------------------------------------------------------------------------------------
# MAT v5 / v7: element tags parsed here (MATLAB "MAT-File Format", chapter 1)

_MI_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_MI_INT32, _MI_MATRIX, _MI_COMPRESSED, _MI_UTF8, _MI_UTF16, _MI_UTF32 = 5, 14, 15, 16, 17, 18
_MX_NUMERIC = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
_MX_NAMES = {6: "double", 7: "single", 8: "int8", 9: "uint8", 10: "int16", 11: "uint16", 12: "int32",
             13: "uint32", 14: "int64", 15: "uint64"}  # fmt: skip
_MX_CELL, _MX_STRUCT, _MX_OBJECT, _MX_CHAR, _MX_SPARSE, _MX_FUNCTION, _MX_OPAQUE = 1, 2, 3, 4, 5, 16, 17


class _Buffer:
    """Bounds-checked reads over the file's memory map or an inflated variable."""

    def __init__(self, data: Any, order: str, path: Path, base: int = 0, releasable: bool = False) -> None:
        self.data = data
        self.order = order
        self.path = path
        self.base = base  # where this buffer starts in the file, for messages
        self.releasable = releasable
        self.size = len(data)
        self._word = struct.Struct(order + "I")
        self._words = struct.Struct(order + "II")

    def need(self, offset: int, length: int, what: str) -> None:
        if length < 0 or offset + length > self.size:
            raise ModelFormatError(
                f"truncated or corrupted MAT file: {what} at byte {self.base + offset} needs {length} bytes, "
                f"only {max(0, self.size - offset)} remain",
                self.path,
            )

    def u32(self, offset: int) -> int:
        self.need(offset, 4, "element tag")
        return self._word.unpack_from(self.data, offset)[0]

    def tag(self, offset: int) -> tuple[int, int, int, int]:
        """(type, payload offset, payload length, offset of the next element)."""
        if offset + 8 <= self.size:  # both words at once: VGG-19's 2,273 arrays have 11,000 tags
            first, length = self._words.unpack_from(self.data, offset)
        else:
            first, length = self.u32(offset), -1
        if first >> 16:  # small data element: length and type share 4 bytes, payload in the next 4
            length, mtype = first >> 16, first & 0xFFFF
            if length > 4:
                raise ModelFormatError(f"corrupted MAT element at byte {self.base + offset}", self.path)
            return mtype, offset + 4, length, offset + 8
        if length < 0:
            length = self.u32(offset + 4)
        self.need(offset + 8, length, "element data")
        end = offset + 8 + length
        if first != _MI_COMPRESSED:
            end += -length % 8
        return first, offset + 8, length, end

    def array(self, mtype: int, offset: int, length: int) -> np.ndarray:
        """The payload as a 1-D array (a view, no copy)."""
        code = _MI_TYPES.get(mtype)
        if code is None:
            raise ModelFormatError(
                f"unexpected MAT data type {mtype} at byte {self.base + offset}", self.path
            )
        dtype = np.dtype(code).newbyteorder(self.order)
        if length % dtype.itemsize:
            raise ModelFormatError(f"corrupted MAT data at byte {self.base + offset}", self.path)
        return np.frombuffer(self.data, dtype=dtype, count=length // dtype.itemsize, offset=offset)

    def span(self, offset: int, length: int) -> FileSpan | None:
        """[offset, offset+length) as a run of the file, when this buffer is the file's own map."""
        return FileSpan(self.path, self.base + offset, length) if self.releasable else None

    def release(self, offset: int, length: int) -> None:
        """Drop the whole pages inside [offset, offset+length) from this process's mapping."""
        if self.releasable:
            release_range(self.data, offset, length)


def _open_v5(path: Path) -> MatFile:
    try:
        if path.stat().st_size < 128:
            raise ModelFormatError("truncated MAT file (shorter than its 128-byte header)", path)
        data = map_file(path)
    except OSError as e:
        raise ModelFormatError(f"cannot read: {e.strerror}", path) from e
    order = "<" if data[126:128] == b"IM" else ">"
    buf = _Buffer(data, order, path, releasable=True)
    variables: dict[str, MatValue] = {}
    subsystem: MatArray | None = None
    offset = 128
    compressed = False
    while offset < len(data):
        if len(data) - offset < 8:
            raise ModelFormatError(f"truncated MAT file: {len(data) - offset} stray bytes at the end", path)
        mtype, start, length, offset = buf.tag(offset)
        if mtype == _MI_COMPRESSED:
            compressed = True
            inner = _inflate(buf, start, length)
            mtype, start, length, _ = inner.tag(0)
            name, value = _parse_matrix(inner, mtype, start, length, 0)
        else:
            name, value = _parse_matrix(buf, mtype, start, length, 0)
        if name and not name.startswith("__"):
            variables[name] = value
        elif not name and isinstance(value, MatArray) and value.dtype == np.uint8:
            subsystem = value  # MATLAB's class-object data, written as an unnamed uint8 variable
    if subsystem is not None:
        from netinspect.converters.matconvnet.mcos import decode_strings, v5_property_values

        decode_strings(variables, v5_property_values(subsystem, path))
    return MatFile(path, "MAT v7, compressed" if compressed else "MAT v5", variables, [data])


def _inflate(buf: _Buffer, start: int, length: int) -> _Buffer:
    try:
        raw = zlib.decompress(buf.data[start : start + length])
    except zlib.error as e:
        raise ModelFormatError(f"corrupted compressed MAT element at byte {start}: {e}", buf.path) from e
    return _Buffer(raw, buf.order, buf.path, base=start)


def _parse_matrix(buf: _Buffer, mtype: int, start: int, length: int, depth: int) -> tuple[str, MatValue]:
    """Parse one miMATRIX element: (its name, its value)."""
    if depth > MAX_DEPTH:
        raise ModelFormatError(f"MAT data nested deeper than {MAX_DEPTH} levels", buf.path)
    if mtype != _MI_MATRIX:
        raise ModelFormatError(
            f"unexpected MAT element type {mtype} at byte {buf.base + start} (expected an array)", buf.path
        )
    if length == 0:  # MATLAB writes an empty cell entry as an empty miMATRIX
        return "", MatArray((0, 0), np.dtype("f8"), lambda: np.zeros((0, 0)), matlab_class="double")
    end = start + length
    _, p, n, offset = buf.tag(start)  # array flags
    buf.need(p, 8, "array flags")
    flags = buf.u32(p)
    mclass, complex_, logical = flags & 0xFF, bool(flags & 0x0800), bool(flags & 0x0200)
    if mclass == _MX_OPAQUE:  # MCOS objects, function handles: no dims; name, type system, class name
        strings = []
        for _ in range(3):
            _, p, n, offset = buf.tag(offset)
            strings.append(bytes(buf.data[p : p + n]).decode("ascii", "backslashreplace"))
        name, _, class_name = strings
        kind = "function handle" if class_name == "function_handle" else "MATLAB object"
        contents: MatValue = None
        if offset + 8 <= end:  # the object's data element: plain data, read as such, never run
            etype, p, n, offset = buf.tag(offset)
            contents = _parse_matrix(buf, etype, p, n, depth + 1)[1]
        return name, MatOpaque(kind, class_name, contents)
    dtype_, p, n, offset = buf.tag(offset)
    if dtype_ == _MI_INT32 and n % 4 == 0:  # as MATLAB writes them: unpacked without numpy's overhead
        dims = struct.unpack_from(f"{buf.order}{n // 4}i", buf.data, p)
    else:
        dims = tuple(int(d) for d in buf.array(dtype_, p, n))
    if any(d < 0 for d in dims):
        raise ModelFormatError(f"corrupted MAT array dimensions {dims}", buf.path)
    _, p, n, offset = buf.tag(offset)
    name = bytes(buf.data[p : p + n]).decode("ascii", "backslashreplace")
    numel = math.prod(dims)

    if mclass in _MX_NUMERIC:
        if complex_:
            return name, MatOpaque("complex array")
        rtype, p, n, offset = buf.tag(offset)
        return name, _v5_numeric(buf, mclass, rtype, p, n, dims, numel, logical)
    if mclass == _MX_CHAR:
        ctype, p, n, offset = buf.tag(offset)
        return name, _v5_char(buf, ctype, p, n, dims)
    if mclass == _MX_CELL:
        if numel * 8 > end - offset:  # every element is at least an 8-byte tag
            raise ModelFormatError(
                f"corrupted MAT cell array: {numel} elements in {end - offset} bytes", buf.path
            )
        items = []
        for _ in range(numel):
            etype, p, n, offset = buf.tag(offset)
            items.append(_parse_matrix(buf, etype, p, n, depth + 1)[1])
            if offset > end:
                raise ModelFormatError("corrupted MAT cell array", buf.path)
        return name, MatCell(dims, items)
    if mclass == _MX_STRUCT:
        ftype, p, n, offset = buf.tag(offset)
        width = int(buf.array(ftype, p, n)[0]) if n else 0
        ftype, p, n, offset = buf.tag(offset)
        raw = bytes(buf.data[p : p + n])
        fields = (
            [raw[i : i + width].split(b"\0", 1)[0].decode("latin-1") for i in range(0, n, width)]
            if width
            else []
        )
        if numel * max(1, len(fields)) * 8 > max(end - offset, 8 * 65536):  # each field value needs a tag
            raise ModelFormatError(
                f"corrupted MAT struct array: {numel} elements in {end - offset} bytes", buf.path
            )
        elements = []
        for _ in range(numel):
            element = {}
            for fname in fields:
                etype, p, n, offset = buf.tag(offset)
                element[fname] = _parse_matrix(buf, etype, p, n, depth + 1)[1]
                if offset > end:
                    raise ModelFormatError("corrupted MAT struct array", buf.path)
            elements.append(element)
        return name, MatStruct(dims, fields, elements)
    if mclass == _MX_OBJECT:
        ctype, p, n, offset = buf.tag(offset)
        return name, MatOpaque(
            "MATLAB object", bytes(buf.data[p : p + n]).decode("ascii", "backslashreplace")
        )
    if mclass == _MX_FUNCTION:
        return name, MatOpaque("function handle")
    if mclass == _MX_SPARSE:
        return name, MatOpaque("sparse array")
    raise ModelFormatError(f"unknown MATLAB array class {mclass} at byte {buf.base + start}", buf.path)


def _v5_numeric(
    buf: _Buffer, mclass: int, rtype: int, p: int, n: int, dims: tuple[int, ...], numel: int, logical: bool
) -> MatArray:
    stored = buf.array(rtype, p, n)  # validates bounds; a view
    if stored.size != numel:
        raise ModelFormatError(
            f"corrupted MAT array: dimensions {dims} need {numel} values, the data holds {stored.size}",
            buf.path,
        )
    target = np.dtype(_MX_NUMERIC[mclass])
    matlab_class = "logical" if logical else _MX_NAMES[mclass]

    def load() -> np.ndarray:
        view = buf.array(rtype, p, n).reshape(dims, order="F")
        if view.dtype != target:  # MATLAB stores e.g. small doubles as uint8
            return view.astype(target, order="F")
        return view

    def release(start: int, length: int) -> None:
        if rtype_matches:
            buf.release(p + start, min(length, n - start))

    rtype_matches = np.dtype(_MI_TYPES[rtype]) == target
    little_float32 = np.dtype(_MI_TYPES[rtype]).newbyteorder(buf.order) == np.dtype("<f4")
    span = buf.span(p, n) if little_float32 else None
    return MatArray(dims, target, load, release, matlab_class, span)


def _v5_char(buf: _Buffer, ctype: int, p: int, n: int, dims: tuple[int, ...]) -> str:
    raw = bytes(buf.data[p : p + n])
    if ctype in (_MI_UTF8, 1, 2):
        text = raw.decode("utf-8", errors="replace")
        return _char_rows(list(text), dims)
    if ctype in (_MI_UTF16, 4, 3):
        codes = np.frombuffer(raw, dtype=np.dtype("u2").newbyteorder(buf.order))
        return _char_rows([chr(c) for c in codes], dims)
    if ctype in (_MI_UTF32, 5, 6):
        codes = np.frombuffer(raw, dtype=np.dtype("u4").newbyteorder(buf.order))
        return _char_rows([chr(c) for c in codes], dims)
    raise ModelFormatError(f"unexpected MAT character data type {ctype}", buf.path)


def _char_rows(chars: list[str], dims: tuple[int, ...]) -> str:
    """A char array as text; a multi-row char matrix becomes its rows joined by newlines."""
    rows = dims[0] if dims else 1
    if rows <= 1 or len(chars) != int(np.prod(dims)):
        return "".join(chars)
    columns = len(chars) // rows
    return "\n".join("".join(chars[r + rows * c] for c in range(columns)) for r in range(rows))


# ---------------------------------------------------------------------------------------------
# MAT v7.3: HDF5 with a 512-byte MATLAB header; dims reversed, cells and struct arrays hold
# object references into /#refs#, chars are uint16 code units.

_H5_NUMERIC = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
               "logical"}  # fmt: skip


def _open_v73(path: Path) -> MatFile:
    import h5py

    try:
        h5 = h5py.File(path, "r")
    except OSError as e:
        raise ModelFormatError(f"truncated or corrupted MAT v7.3 (HDF5) file: {e}", path) from e
    reader = _H5Reader(h5, path)
    try:
        variables = {
            name: reader.value(reader.member(h5, name), 0) for name in h5 if not name.startswith("#")
        }
        if "#subsystem#" in h5:
            from netinspect.converters.matconvnet.mcos import decode_strings

            decode_strings(variables, reader.subsystem_values(reader.member(h5, "#subsystem#")))
    except (ModelFormatError, UnsafePathError):
        h5.close()
        raise
    except (KeyError, ValueError, OSError, RuntimeError, TypeError) as e:
        h5.close()
        raise ModelFormatError(f"corrupted MAT v7.3 file: {e}", path) from e
    return MatFile(path, "MAT v7.3", variables, [h5])


class _H5Reader:
    def __init__(self, h5: Any, path: Path) -> None:
        self.h5 = h5
        self.path = path
        self.count = 0

    def deref(self, ref: Any, where: str) -> Any:
        try:
            if not ref:
                raise ValueError("null reference")
            target = self.h5[ref]
        except (KeyError, ValueError, OSError, RuntimeError, TypeError) as e:
            raise ModelFormatError(
                f"broken object reference in MAT v7.3 file at {where}: {e}", self.path
            ) from e
        return self.checked(target)

    def subsystem_values(self, group: Any) -> list[MatValue]:
        """`#subsystem#/MCOS` (FileWrapper__): its cells 3 to end, read as plain values."""
        import h5py

        wrapper = group.get("MCOS") if isinstance(group, h5py.Group) else None
        if not isinstance(wrapper, h5py.Dataset) or wrapper.dtype != h5py.ref_dtype:
            return []
        refs = np.asarray(wrapper[()]).T.reshape(-1, order="F")
        return [self.value(self.deref(r, wrapper.name), 1) for r in refs[2:]]

    def member(self, group: Any, name: str) -> Any:
        """`group[name]`, refusing links into other files (reading never leaves the model file)."""
        import h5py

        link = group.get(name, getlink=True)
        if isinstance(link, h5py.ExternalLink):
            raise UnsafePathError(
                f"HDF5 entry {name!r} links to the external file {link.filename!r}", self.path
            )
        return self.checked(group[name])

    def checked(self, obj: Any) -> Any:
        import h5py

        if isinstance(obj, h5py.Dataset) and (obj.is_virtual or obj.external):
            raise UnsafePathError(f"HDF5 dataset {obj.name!r} keeps its data in other files", self.path)
        return obj

    def value(self, obj: Any, depth: int) -> MatValue:
        import h5py

        if depth > MAX_DEPTH:
            raise ModelFormatError(f"MAT data nested deeper than {MAX_DEPTH} levels", self.path)
        self.count += 1
        if self.count > MAX_VALUES:
            raise ModelFormatError(f"MAT v7.3 file expands to more than {MAX_VALUES} values", self.path)
        cls = _attr_str(obj.attrs.get("MATLAB_class", b""))
        if "MATLAB_object_decode" in obj.attrs or (
            cls and cls not in _H5_NUMERIC | {"char", "cell", "struct"}
        ):
            kind = "function handle" if cls == "function_handle" else "MATLAB object"
            is_reference = isinstance(obj, h5py.Dataset) and obj.dtype == np.uint32
            contents = self.numeric(obj, tuple(reversed(obj.shape)), "uint32") if is_reference else None
            return MatOpaque(kind, cls, contents)  # an MCOS object's uint32 reference, as data
        if "MATLAB_sparse" in obj.attrs:
            return MatOpaque("sparse array")
        if isinstance(obj, h5py.Group):
            return self.group(obj, depth)
        empty = bool(obj.attrs.get("MATLAB_empty", 0))
        if empty:
            dims = tuple(int(d) for d in np.asarray(obj[()]).reshape(-1)[::-1]) if obj.shape else (0, 0)
            if cls == "char":
                return ""
            if cls == "cell":
                return MatCell(dims, [])
            if cls == "struct":  # MATLAB stores a struct without fields this way too, e.g. struct()
                return MatStruct(dims, [], [{} for _ in range(int(np.prod(dims)))])
            dtype = np.dtype("f8") if cls in ("", "double") else np.dtype(_h5_dtype(cls))
            return MatArray(dims, dtype, lambda: np.zeros(dims, dtype), matlab_class=cls or "double")
        dims = tuple(reversed(obj.shape))
        if cls == "char":
            codes = np.asarray(obj[()]).T
            return _char_rows([chr(int(c)) for c in codes.reshape(-1, order="F")], dims)
        if cls == "cell" or obj.dtype == h5py.ref_dtype:
            refs = np.asarray(obj[()]).T.reshape(-1, order="F")
            items = [self.value(self.deref(r, obj.name), depth + 1) for r in refs]
            return MatCell(dims, items)
        return self.numeric(obj, dims, cls)

    def numeric(self, dataset: Any, dims: tuple[int, ...], cls: str) -> MatArray:
        if dataset.dtype.kind not in "biuf":
            return MatOpaque("unsupported HDF5 data", str(dataset.dtype))
        if len(dims) == 1:
            dims = (*dims, 1)

        def load() -> np.ndarray:
            try:
                data = dataset[()]
            except (OSError, RuntimeError) as e:
                raise ModelFormatError(f"cannot read {dataset.name}: {e}", self.path) from e
            return np.asarray(data).T.reshape(dims, order="A")

        return MatArray(dims, np.dtype(dataset.dtype), load, matlab_class=cls or dataset.dtype.name)

    def group(self, group: Any, depth: int) -> MatStruct:
        import h5py

        fields = _field_names(group)
        members = {name: self.member(group, name) for name in group}
        fields += [name for name in members if name not in fields]
        array_like = [
            m for m in members.values()
            if isinstance(m, h5py.Dataset) and m.dtype == h5py.ref_dtype and "MATLAB_class" not in m.attrs
        ]  # fmt: skip
        if members and len(array_like) == len(members):  # a struct array: one reference per element
            shape = tuple(reversed(array_like[0].shape))
            count = int(np.prod(shape))
            refs = {name: np.asarray(m[()]).T.reshape(-1, order="F") for name, m in members.items()}
            if any(r.size != count for r in refs.values()):
                raise ModelFormatError(f"corrupted struct array {group.name} in MAT v7.3 file", self.path)
            elements = [
                {
                    name: self.value(self.deref(refs[name][i], f"{group.name}/{name}"), depth + 1)
                    for name in fields
                }
                for i in range(count)
            ]
            return MatStruct(shape, fields, elements)
        element = {name: self.value(members[name], depth + 1) for name in fields if name in members}
        return MatStruct((1, 1), fields, [element])


def _attr_str(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _field_names(group: Any) -> list[str]:
    raw = group.attrs.get("MATLAB_fields")
    if raw is None:
        return []
    return [b"".join(np.asarray(chars).tolist()).decode("latin-1") for chars in raw]


def _h5_dtype(cls: str) -> str:
    return {"single": "f4", "double": "f8", "logical": "u1"}.get(cls, cls)
