"""The Caffe reference: OpenCV's Caffe importer (`cv2.dnn.readNetFromCaffe`, opencv-python-headless
below 5, which dropped it) running the prototxt and .caffemodel itself.

It shares nothing with netinspect's Caffe reader: OpenCV parses both files with its own protobuf
code. The net's inputs (legacy `input:` fields or Input layers) and each layer's tops are taken
from the prototxt by a small scan of its own here, since OpenCV does not report them. OpenCV names
a Convolution layer after its top blob and makes repeated names unique with `_1`, `_2`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from netinspect.check.data import InputSpec
from netinspect.check.layers import Layer
from netinspect.check.runtimes.base import BaseRunner, RuntimeFailure, import_runtime
from netinspect.registry import LoadOptions, Probe

EXTRA = "netinspect[caffe]"

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[{}<>\[\]:,]|[^\s{}<>\[\]:,"\']+')


def _tokens(text: str) -> list[str]:
    text = re.sub(r"#[^\n]*", "", text)
    return _TOKEN.findall(text)


def _block(tokens: list[str], i: int) -> tuple[dict[str, list[Any]], int]:
    """Fields of the message starting after its opening brace at i; returns (fields, index after)."""
    fields: dict[str, list[Any]] = {}
    while i < len(tokens):
        key = tokens[i]
        if key in ("}", ">"):
            return fields, i + 1
        i += 1
        if i < len(tokens) and tokens[i] == ":":
            i += 1
        if i < len(tokens) and tokens[i] in ("{", "<"):
            sub, i = _block(tokens, i + 1)
            fields.setdefault(key, []).append(sub)
        elif i < len(tokens) and tokens[i] == "[":
            i += 1
            while i < len(tokens) and tokens[i] != "]":
                if tokens[i] != ",":
                    fields.setdefault(key, []).append(tokens[i].strip("\"'"))
                i += 1
            i += 1
        elif i < len(tokens):
            fields.setdefault(key, []).append(tokens[i].strip("\"'"))
            i += 1
    return fields, i


def scan_prototxt(path: Path) -> tuple[list[tuple[str, tuple[int, ...]]], list[dict[str, list[Any]]]]:
    """(inputs with shapes, layers) of a deploy prototxt, as plain dicts."""
    net, _ = _block(_tokens(path.read_text(encoding="utf-8")), 0)
    layers = [*net.get("layer", []), *net.get("layers", [])]
    inputs: list[tuple[str, tuple[int, ...]]] = []
    names = net.get("input", [])
    dims = [int(d) for d in net.get("input_dim", [])]
    shapes = [tuple(int(d) for d in s.get("dim", [])) for s in net.get("input_shape", [])]
    for i, name in enumerate(names):
        shape = shapes[min(i, len(shapes) - 1)] if shapes else tuple(dims[4 * i : 4 * i + 4])
        inputs.append((name, shape))
    for layer in layers:
        if layer.get("type", [""])[0] == "Input":
            given = layer.get("input_param", [{}])[0].get("shape", [])
            for i, top in enumerate(layer.get("top", [])):
                shape = given[min(i, len(given) - 1)] if given else {}
                inputs.append((top, tuple(int(d) for d in shape.get("dim", []))))
    return inputs, layers


class OpenCVCaffeRunner(BaseRunner):
    """A Caffe net in OpenCV's DNN module (CPU, OpenCV's own backend)."""

    def __init__(self, prototxt: Path, weights: Path | None) -> None:
        cv2 = import_runtime("cv2", EXTRA, prototxt)
        if not hasattr(cv2, "dnn") or not hasattr(cv2.dnn, "readNetFromCaffe"):
            raise RuntimeFailure(f"OpenCV {cv2.__version__} has no Caffe importer (OpenCV 5 dropped it): "
                                 f"pip install '{EXTRA}'", prototxt)  # fmt: skip
        if weights is None:
            raise RuntimeFailure(
                "checking a Caffe net needs its deploy prototxt and weights: "
                "netinspect check deploy.prototxt --weights model.caffemodel",
                prototxt,
            )
        self.path = prototxt
        self.label = f"OpenCV {cv2.__version__} (readNetFromCaffe)"
        self.inference_seconds = 0.0
        try:
            self._net = cv2.dnn.readNetFromCaffe(str(prototxt), str(weights))
        except cv2.error as e:
            raise RuntimeFailure(f"OpenCV cannot load this Caffe net: {_first_line(e)}", prototxt) from e
        self._cv2 = cv2
        self._files = (str(prototxt), str(weights))
        self._debug: Any = None
        self._inputs, self._layers = scan_prototxt(prototxt)
        tops = {layer.get("name", [""])[0]: layer.get("top", []) for layer in self._layers}
        self._outputs = list(self._net.getUnconnectedOutLayersNames())
        self._output_blob = {name: (tops.get(name) or [name])[-1] for name in self._outputs}

    @classmethod
    def from_probe(cls, probe: Probe, options: LoadOptions) -> OpenCVCaffeRunner:
        """The reference for a probed prototxt, with its `--weights` companion."""
        return cls(probe.path, probe.companions.get("weights"))

    def input_specs(self) -> list[InputSpec]:
        return [InputSpec(name, "float32", shape) for name, shape in self._inputs]

    def output_names(self) -> list[str]:
        return [self._output_blob[name] for name in self._outputs]

    def layers(self) -> list[Layer]:
        """OpenCV's layers under their Caffe names (it names a Convolution after its top blob),
        each read back by OpenCV's own name."""
        caffe_name = self._caffe_names()
        return [
            Layer(caffe_name.get(name, name), str(self._net.getLayer(name).type), name)
            for name in self._net.getLayerNames()
        ]

    def _caffe_names(self) -> dict[str, str]:
        """OpenCV layer name → the prototxt's layer name, where they differ."""
        names: dict[str, str] = {}
        for layer in self._layers:
            name = str(layer.get("name", [""])[0])
            tops = layer.get("top", [])
            kind = str(layer.get("type", [""])[0])
            if kind in ("Convolution", "CONVOLUTION", "4") and tops and tops[0] != name:
                names[str(tops[0])] = name
        return names

    def _forward(
        self, feeds: Mapping[str, np.ndarray], names: Sequence[str], net: Any = None
    ) -> list[np.ndarray]:
        net = net if net is not None else self._net
        for name, _ in self._inputs:
            if name not in feeds:
                raise RuntimeFailure(f"no feed for Caffe input {name!r}", self.path)
            net.setInput(np.ascontiguousarray(feeds[name], dtype=np.float32), name)
        start = time.perf_counter()
        try:
            return list(net.forward(list(names)))
        except self._cv2.error as e:
            raise RuntimeFailure(
                f"OpenCV failed running {self.path.name}: {_first_line(e)}", self.path
            ) from e
        finally:
            self.inference_seconds += time.perf_counter() - start

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = self._forward(feeds, self._outputs)
        return {self._output_blob[n]: np.array(v) for n, v in zip(self._outputs, values, strict=True)}

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        if not names:
            return {}
        known = set(self._net.getLayerNames())
        missing = [n for n in names if n not in known]
        if missing:
            raise RuntimeFailure(f"OpenCV has no layer named {missing[0]!r}", self.path)
        if self._debug is None:  # OpenCV fuses BatchNorm, Scale and ReLU into a convolution's output
            self._debug = self._cv2.dnn.readNetFromCaffe(*self._files)
            self._debug.enableFusion(False)
        values = self._forward(feeds, names, self._debug)
        return {n: np.array(v) for n, v in zip(names, values, strict=True)}


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(error).__name__
