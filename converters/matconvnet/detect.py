"""Is this file a MATLAB .mat file? Decided from its header, importing no converter (netinspect.registry).

Whether it holds a network is the reader's question (converters/matconvnet/network.py)."""

from __future__ import annotations

from netinspect.registry import Probe, Reader, Runtime


def mat_version(head: bytes) -> str | None:
    """ "5" for MAT v5/v7 files, "7.3" for HDF5-based ones, None for anything else."""
    if len(head) >= 128 and head.startswith(b"MATLAB 5.0 MAT-file") and head[126:128] in (b"IM", b"MI"):
        return "5"
    if head.startswith(b"MATLAB 7.3 MAT-file") and head[512:520] == b"\x89HDF\r\n\x1a\n":
        return "7.3"
    return None


def match(probe: Probe) -> str | None:
    version = mat_version(probe.head)
    return {"5": "mat5", "7.3": "mat73"}.get(version or "")


READER = Reader(
    name="matconvnet",
    description="MatConvNet .mat networks (SimpleNN and DagNN; MAT v5/v7 and v7.3)",
    supports="read, convert to ONNX, check against the NumPy MatConvNet reference",
    match=match,
    open="netinspect.converters.matconvnet.reader:open_graph",
    runtime=Runtime(
        "matconvnet-reference", "netinspect.check.runtimes.matconvnet", "MatConvNetRunner.from_probe"
    ),
    priority=30,
)
