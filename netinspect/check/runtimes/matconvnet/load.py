"""Read a MATLAB `.mat` file into plain Python values, for the MatConvNet reference runner only.

This loader shares no code with the converter's (converters/mat_file.py) on purpose: the reference
and the converter are checked against each other, so a loader bug in either shows up as a parity
failure instead of being silently shared.

Two storage formats:
- v4/v5/v7 files are read with `scipy.io.loadmat` (no squeezing, so a 1-element cell stays a list
  and a struct array of one element is not confused with a scalar).
- v7.3 files are HDF5 behind a 512-byte MATLAB header (HDF5 finds its superblock there by itself).
  h5py shows every array with its dimensions reversed (a row-major view of column-major bytes), so
  arrays are transposed back; cells and struct arrays hold object references into `#refs#`; chars
  are uint16 code units marked `MATLAB_class='char'`; empty values store their dimensions instead of
  data and carry `MATLAB_empty`.

Both produce the same values, in MATLAB's own terms:
- numeric and logical arrays: `np.ndarray` with MATLAB's shape (`a[i, j] == A(i+1, j+1)`);
- char arrays: `str`;
- cells: `list`, elements in MATLAB's linear (column-major) order;
- structs: `MatStruct`, a struct array (a scalar struct is a struct array of one element);
- function handles, class objects, sparse matrices: `Refused`. Nothing in a model file is ever
  executed or decoded beyond plain data, and HDF5 links or storage pointing at other files are
  refused, so reading a model never touches a file outside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.io
import scipy.sparse
from scipy.io.matlab import MatlabFunction, MatlabObject, MatlabOpaque

from netinspect.errors import ModelFormatError, UnsafePathError

# Deeper nesting than any real network needs; a hostile v7.3 file can make references loop.
_MAX_DEPTH = 64

_NUMERIC_CLASSES = {
    "double": np.float64,
    "single": np.float32,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "uint64": np.uint64,
    "logical": np.bool_,
}


@dataclass
class MatStruct:
    """A MATLAB struct array: its field names and its elements in linear order."""

    fields: tuple[str, ...]
    elements: list[dict[str, Any]] = field(default_factory=list)

    def scalar(self) -> dict[str, Any] | None:
        """The only element of a 1-element struct array, else None."""
        return self.elements[0] if len(self.elements) == 1 else None


@dataclass(frozen=True)
class Refused:
    """A value we deliberately do not decode (function handle, object, sparse matrix)."""

    kind: str


def load_mat(path: Path) -> dict[str, Any]:
    """The variables stored in a `.mat` file, by name."""
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        raise ModelFormatError(f"cannot read: {e.strerror or e}", path) from e
    return _load_hdf5(path) if is_hdf5 else _load_v5(path)


# ----------------------------------------------------------------------------------------- v4-v7


def _load_v5(path: Path) -> dict[str, Any]:
    try:
        raw = scipy.io.loadmat(path, squeeze_me=False, struct_as_record=True, chars_as_strings=True)
    except MemoryError:
        raise ModelFormatError("too large to read into memory", path) from None
    except Exception as e:  # scipy raises many exception types on truncated or corrupt files
        raise ModelFormatError(f"not a readable MATLAB .mat file ({type(e).__name__}: {e})", path) from e
    return {name: _v5_value(value, path) for name, value in raw.items() if not name.startswith("__")}


def _v5_value(value: Any, path: Path) -> Any:
    if isinstance(value, MatlabFunction):
        return Refused("MATLAB function handle")
    if isinstance(value, MatlabOpaque):
        return Refused("MATLAB class object")
    if isinstance(value, MatlabObject):
        return Refused(f"MATLAB object of class {value.classname}")
    if scipy.sparse.issparse(value):
        return Refused("sparse matrix")
    if value is None:  # how scipy returns a struct with no fields
        return MatStruct((), [])
    if not isinstance(value, np.ndarray):
        raise ModelFormatError(f"unexpected value of type {type(value).__name__}", path)
    if value.dtype.names is not None:
        names = tuple(value.dtype.names)
        elements = [{n: _v5_value(e[n], path) for n in names} for e in value.ravel(order="F")]
        return MatStruct(names, elements)
    if value.dtype.kind == "U":
        return "".join(value.ravel(order="F").tolist())
    if value.dtype == object:
        return [_v5_value(e, path) for e in value.ravel(order="F")]
    return value


# ------------------------------------------------------------------------------------------ v7.3


def _load_hdf5(path: Path) -> dict[str, Any]:
    try:
        with h5py.File(path, "r") as f:
            return {
                name: _h5_value(f, _h5_member(f, name, path), path, 0)
                for name in f
                if name not in ("#refs#", "#subsystem#")
            }
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:
        raise ModelFormatError(
            f"not a readable MATLAB v7.3 (HDF5) file ({type(e).__name__}: {e})", path
        ) from e


def _h5_member(group: h5py.Group, name: str, path: Path) -> h5py.Group | h5py.Dataset:
    """`group[name]`, refusing links to other files."""
    link = group.get(name, getlink=True)
    if isinstance(link, h5py.ExternalLink):
        raise UnsafePathError(f"HDF5 entry {name!r} links to external file {link.filename!r}", path)
    return group[name]


def _h5_attr(obj: h5py.HLObject, key: str) -> str | None:
    value = obj.attrs.get(key)
    if value is None:
        return None
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _h5_deref(f: h5py.File, ref: Any, path: Path) -> h5py.Group | h5py.Dataset:
    if not ref:
        raise ModelFormatError("a cell or struct array holds a null HDF5 reference", path)
    target = f[ref]
    if isinstance(target, h5py.Dataset):
        _h5_check_storage(target, path)
    return target


def _h5_check_storage(dset: h5py.Dataset, path: Path) -> None:
    if dset.is_virtual or dset.external:
        raise UnsafePathError(f"HDF5 dataset {dset.name!r} stores its data in other files", path)


def _h5_value(f: h5py.File, obj: h5py.Group | h5py.Dataset, path: Path, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise ModelFormatError(f"values nested more than {_MAX_DEPTH} deep (reference loop?)", path)
    cls = _h5_attr(obj, "MATLAB_class")
    if isinstance(obj, h5py.Group):
        if obj.attrs.get("MATLAB_sparse") is not None:
            return Refused("sparse matrix")
        if cls in (None, "struct"):
            return _h5_struct(f, obj, path, depth)
        return Refused(
            "MATLAB function handle" if cls == "function_handle" else f"MATLAB object of class {cls}"
        )
    _h5_check_storage(obj, path)
    if obj.attrs.get("MATLAB_object_decode") is not None:
        return Refused(f"MATLAB object of class {cls}")
    if obj.attrs.get("MATLAB_empty"):
        return _h5_empty(cls)
    if cls == "cell":
        return [_h5_value(f, _h5_deref(f, ref, path), path, depth + 1) for ref in obj[()].ravel()]
    if cls == "char":
        rows = np.asarray(obj[()]).T
        return "".join("".join(map(chr, row)) for row in rows.astype(np.uint32).tolist())
    if cls == "struct":
        raise ModelFormatError(f"HDF5 dataset {obj.name!r} claims to be a non-empty struct", path)
    if cls is not None and cls not in _NUMERIC_CLASSES:
        return Refused(
            "MATLAB function handle" if cls == "function_handle" else f"MATLAB object of class {cls}"
        )
    data = obj[()]
    if isinstance(data, np.ndarray) and data.dtype.names is not None:
        if set(data.dtype.names) != {"real", "imag"}:
            raise ModelFormatError(f"HDF5 dataset {obj.name!r} has an unknown compound type", path)
        data = data["real"] + 1j * data["imag"]
    array = np.asarray(data).T
    return array.astype(bool) if cls == "logical" else array


def _h5_empty(cls: str | None) -> Any:
    if cls == "cell":
        return []
    if cls == "char":
        return ""
    if cls == "struct":
        return MatStruct((), [])
    return np.zeros((0, 0), dtype=_NUMERIC_CLASSES.get(cls or "double", np.float64))


def _h5_struct(f: h5py.File, group: h5py.Group, path: Path, depth: int) -> MatStruct:
    declared = group.attrs.get("MATLAB_fields")
    if declared is not None:
        names = tuple(b"".join(np.asarray(n).ravel().tolist()).decode("latin-1") for n in declared)
    else:
        names = tuple(group.keys())
    members = {name: _h5_member(group, name, path) for name in names if name in group}
    if set(members) != set(names):
        raise ModelFormatError(
            f"struct {group.name!r} lacks fields {sorted(set(names) - set(members))}", path
        )
    if names and all(_is_struct_array_field(m) for m in members.values()):
        # A struct array: each field is an array of references, one per element.
        refs = {name: member[()].ravel() for name, member in members.items()}
        counts = {len(r) for r in refs.values()}
        if len(counts) != 1:
            raise ModelFormatError(f"struct array {group.name!r} has fields of different lengths", path)
        elements = [
            {name: _h5_value(f, _h5_deref(f, refs[name][i], path), path, depth + 1) for name in names}
            for i in range(counts.pop())
        ]
        return MatStruct(names, elements)
    return MatStruct(names, [{name: _h5_value(f, m, path, depth + 1) for name, m in members.items()}])


def _is_struct_array_field(member: h5py.Group | h5py.Dataset) -> bool:
    """Fields of a struct array are bare reference arrays; a scalar struct's fields carry a class."""
    return (
        isinstance(member, h5py.Dataset)
        and "MATLAB_class" not in member.attrs
        and h5py.check_dtype(ref=member.dtype) is h5py.Reference
    )
