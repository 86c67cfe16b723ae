"""MATLAB `string` objects in MAT files: their text, read from the file's subsystem data.

MATLAB saves class objects (MCOS: `string`, `datetime`, user classes) as mxOPAQUE_CLASS elements
whose data is only a reference, a uint32 column [0xDD000000, ndims, dims..., object ids...,
class id]; the objects' properties live in the "subsystem", an unnamed uint8 variable that is a
small MAT file of its own (2-byte version, 2-byte endian mark, 4 bytes of padding, then
elements). Its first element is a struct whose field `MCOS` is a FileWrapper__ object holding a
cell: object metadata, an empty cell, then one cell per property value, then class templates.

In MAT v7.3 the same cell is the dataset `#subsystem#/MCOS` (MATLAB_class FileWrapper__), its
cells object references, and an object is a dataset of class `string` holding the same uint32
reference.

A `string` array is one object with one property (`any`), a uint64 array laid out as
[version, ndims, dims..., length of each string..., UTF-16LE code units packed 4 to a uint64].
Sources: MatFileHandler's Objects.md and StringAdapter (mahalex/MatFileHandler), and the
subsystem notes of JuliaIO/MAT.jl PR 205 and scipy's mio5 (`__function_workspace__`).

netinspect does not interpret the object metadata: it pairs the `string` objects, in ascending
object id, with the property values that have exactly that layout, in cell order, and only when
the two counts agree (one string array per file, the usual case for class names, is always
unambiguous). Anything else stays an undecoded MatOpaque, shown as such.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from netinspect.converters.matconvnet.matfile import (
    MatArray,
    MatCell,
    MatOpaque,
    MatStruct,
    MatValue,
    _Buffer,
    _parse_matrix,
)

REFERENCE_MAGIC = 0xDD000000
_MAX_WALK = 64


def _objects(value: MatValue, depth: int = 0) -> Iterator[MatOpaque]:
    """Every MCOS object in a variable (cells and structs walked, to a bounded depth)."""
    if depth > _MAX_WALK:
        return
    if isinstance(value, MatOpaque):
        yield value
    elif isinstance(value, MatCell):
        for item in value.items:
            yield from _objects(item, depth + 1)
    elif isinstance(value, MatStruct):
        for element in value.elements:
            for item in element.values():
                yield from _objects(item, depth + 1)


def _object_ids(obj: MatOpaque) -> list[int] | None:
    """The object ids in an MCOS reference, or None when it is not one."""
    if not isinstance(obj.contents, MatArray) or obj.contents.dtype != np.uint32:
        return None
    ref = [int(v) for v in obj.contents.load().reshape(-1, order="F")]
    if len(ref) < 4 or ref[0] != REFERENCE_MAGIC or not 1 <= ref[1] <= 16 or len(ref) < 2 + ref[1]:
        return None
    count = int(np.prod(ref[2 : 2 + ref[1]]))
    ids = ref[2 + ref[1] : 2 + ref[1] + count]
    return ids if len(ids) == count and len(ref) == 3 + ref[1] + count else None


def string_array(blob: np.ndarray) -> MatValue:
    """A `string` object's `any` property → str (one string) or a MatCell of str; None if the
    array does not have that layout."""
    if len(blob) < 3 or not 1 <= int(blob[1]) <= 16:
        return None
    ndims = int(blob[1])
    dims = tuple(int(d) for d in blob[2 : 2 + ndims])
    if len(dims) != ndims:
        return None
    count = int(np.prod(dims))
    lengths = [int(v) for v in blob[2 + ndims : 2 + ndims + count]]
    text = blob[2 + ndims + count :].astype("<u8").tobytes()
    if len(lengths) != count or sum(lengths) * 2 > len(text) or len(text) - sum(lengths) * 2 >= 8:
        return None
    strings, at = [], 0
    for length in lengths:
        strings.append(text[at : at + 2 * length].decode("utf-16-le", "backslashreplace"))
        at += 2 * length
    return strings[0] if dims == (1, 1) else MatCell(dims, list(strings))


def v5_property_values(subsystem: MatArray, path: Path) -> list[MatValue]:
    """A MAT v5 subsystem's FileWrapper__ property values (cells 3 to end), or [] when the layout
    differs."""
    raw = subsystem.load().reshape(-1, order="F").tobytes()
    if len(raw) < 16 or raw[2:4] not in (b"IM", b"MI"):
        return []
    buf = _Buffer(raw, "<" if raw[2:4] == b"IM" else ">", path)
    mtype, start, length, _ = buf.tag(8)
    _, first = _parse_matrix(buf, mtype, start, length, 1)
    wrapper = first.get("MCOS") if isinstance(first, MatStruct) else None
    if not isinstance(wrapper, MatOpaque) or wrapper.class_name != "FileWrapper__":
        return []
    cell = wrapper.contents
    return list(cell.items[2:]) if isinstance(cell, MatCell) else []


def decode_strings(variables: dict[str, MatValue], property_values: list[MatValue]) -> None:
    """Set `decoded` on every `string` object of `variables` whose text the property values hold."""
    strings = [o for v in variables.values() for o in _objects(v) if o.class_name == "string"]
    if not strings:
        return
    by_id: dict[int, list[MatOpaque]] = {}
    for obj in strings:
        ids = _object_ids(obj)
        if ids is None or len(ids) != 1:  # a string array is one object; anything else is unknown
            return
        by_id.setdefault(ids[0], []).append(obj)
    blobs = [
        decoded
        for value in property_values
        if isinstance(value, MatArray) and value.dtype == np.uint64
        for decoded in [string_array(value.load().reshape(-1, order="F"))]
        if decoded is not None
    ]
    if len(blobs) != len(by_id):
        return
    for object_id, decoded in zip(sorted(by_id), blobs, strict=True):
        for obj in by_id[object_id]:
            obj.decoded = decoded
