"""The MatConvNet reference as a runner: NumPy MatConvNet (H×W×C×N), fed and read in NCHW."""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from netinspect.check.data import InputSpec
from netinspect.check.layers import Layer
from netinspect.check.runtimes.base import BaseRunner, RuntimeFailure
from netinspect.errors import MissingDependencyError
from netinspect.layout import ACTIVATION, MATLAB_ACTIVATION, permute

if TYPE_CHECKING:
    from netinspect.registry import LoadOptions, Probe


MATCONVNET_ACTIVATION = MATLAB_ACTIVATION


def to_matconvnet(array: np.ndarray) -> np.ndarray:
    return permute(array, ACTIVATION, MATCONVNET_ACTIVATION)


def from_matconvnet(array: np.ndarray) -> np.ndarray:
    """HWCN → NCHW. MATLAB drops trailing singleton dims, so shorter arrays are padded first."""
    array = np.asarray(array)
    if array.ndim > 4:
        raise RuntimeFailure(f"MatConvNet reference gave a {array.ndim}-D activation")
    while array.ndim < 4:
        array = array[..., None]
    return permute(array, MATCONVNET_ACTIVATION, ACTIVATION)


class MatConvNetRunner(BaseRunner):
    """The MatConvNet reference implementation; layer outputs are its intermediates."""

    def __init__(self, reference: Any, name: str) -> None:
        self.reference = reference
        self.name = name
        self.label = "MatConvNet reference (netinspect, NumPy)"
        self.inference_seconds = 0.0

    @classmethod
    def from_probe(cls, probe: Probe, options: LoadOptions) -> MatConvNetRunner:
        """The reference for a probed .mat file (MatConvNet has no companion files or options)."""
        path = probe.path
        try:
            module = importlib.import_module("netinspect.check.runtimes.matconvnet.reference")
        except ImportError as e:
            raise MissingDependencyError(f"the MatConvNet reference is not available ({e})", path) from e
        return cls(module.MatConvNetReference(path), path.name)

    def input_specs(self) -> list[InputSpec]:
        """(H, W, C, N) with None where the file does not say → NCHW, unknown dims named by their letter."""
        specs = []
        for name in self.reference.input_names:
            known = [*self.reference.input_shapes.get(name, ()), None, None, None, None][:4]
            hwcn = dict(zip(MATCONVNET_ACTIVATION, known, strict=True))
            nchw = tuple(int(hwcn[a]) if hwcn[a] else a for a in ACTIVATION)
            specs.append(InputSpec(name, "float32", nchw))
        return specs

    def output_names(self) -> list[str]:
        return list(self.reference.output_names)

    def layers(self) -> list[Layer]:
        """Every layer, read back by its own name (`run_values` takes layer names)."""
        return [Layer(name, "", name) for name in self.reference.layer_names]

    def _inputs(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {name: to_matconvnet(np.asarray(array, dtype=np.float32)) for name, array in feeds.items()}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        outputs = self.reference.run(self._inputs(feeds))
        self.inference_seconds += time.perf_counter() - start
        return {name: from_matconvnet(outputs[name]) for name in self.output_names()}

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        wanted = set(names)
        found: dict[str, np.ndarray] = {}
        start = time.perf_counter()
        try:
            for layer_name, _layer_type, output in self.reference.iter_layers(self._inputs(feeds)):
                if layer_name in wanted:
                    found[layer_name] = from_matconvnet(output)
                    if len(found) == len(wanted):
                        break
        finally:
            self.inference_seconds += time.perf_counter() - start
        return found
