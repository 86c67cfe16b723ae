"""The TFLite reference: the LiteRT interpreter (ai-edge-litert) running the .tflite file itself.

It shares nothing with netinspect's TFLite reader: names, shapes and operators come from the
interpreter's own details. Inputs and outputs are in TFLite's layout (NHWC); `source_layouts`
tells `check` which interface values to transpose. Layers are the interpreter's operators, each
read back by its (last) output tensor, which the interpreter keeps when built with
`experimental_preserve_all_tensors` (only the interpreter made for `run_values` is).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from netinspect.check.data import InputSpec
from netinspect.check.layers import Layer
from netinspect.check.runtimes.base import RuntimeFailure, import_runtime

if TYPE_CHECKING:
    from netinspect.registry import LoadOptions, Probe

EXTRA = "netinspect[tflite]"

KERNEL_SETS = {"default kernels (XNNPACK)": "AUTO", "reference kernels": "BUILTIN_REF"}
"""LiteRT's other kernel sets, run besides the builtin optimized kernels on quantized and hybrid
models, whose outputs they round differently: their spread is the reference's own noise."""
PRIMARY_KERNELS = "builtin kernels"


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else type(error).__name__


class LiteRTRunner:
    """A .tflite model in the LiteRT interpreter (CPU, XNNPACK off: the builtin optimized kernels).
    On quantized models `kernel_variants` also runs the default (XNNPACK) and reference kernels."""

    def __init__(self, path: Path, exact_int8: bool = False) -> None:
        module = import_runtime("ai_edge_litert.interpreter", EXTRA, path)
        self.exact_int8 = exact_int8
        """--exact-int8 on: the reference kernels alone, and 0 steps demanded (`demanded_steps`)."""
        self._kernels = "BUILTIN_REF" if exact_int8 else "BUILTIN_WITHOUT_DEFAULT_DELEGATES"
        self._module = module
        self.path = path
        self.content = path.read_bytes()
        try:
            version = __import__("ai_edge_litert").__version__
        except AttributeError:
            version = "?"
        self.label = f"LiteRT {version}" + (" (reference kernels)" if exact_int8 else "")
        self.inference_seconds = 0.0
        self._interpreter = self._primary()
        self._details = {d["name"]: d for d in self._interpreter.get_tensor_details()}
        self._debug: Any = None
        self._variants: dict[str, Any] | None = None
        self.unavailable_kernels: dict[str, str] = {}
        """Kernel sets that cannot run this model → why (LiteRT's first line)."""

    @classmethod
    def from_probe(cls, probe: Probe, options: LoadOptions) -> LiteRTRunner:
        """The runner for a probed .tflite file; `--exact-int8 on` runs the reference kernels."""
        return cls(probe.path, exact_int8=options.format_options.get("exact-int8") == "on")

    @property
    def demanded_steps(self) -> float | None:
        """Quantization steps `check` allows when the user gives none: 0 in exact mode."""
        return 0.0 if self.exact_int8 else None

    def _primary(self) -> Any:
        """The builtin kernels; a model using a custom operator only the XNNPACK delegate implements
        (MediaPipe's Convolution2DTransposeBias, MaxPoolingWithArgmax2D, MaxUnpooling2D) runs on the
        default kernels instead, and the label says so."""
        try:
            return self._build(preserve=False)
        except RuntimeFailure as e:
            if self.exact_int8 or "unresolved custom op" not in str(e):
                raise
            try:
                interpreter = self._build(preserve=False, kernels="AUTO")
            except RuntimeFailure:
                raise e from None
            self._kernels = "AUTO"
            self.label += " (default kernels: XNNPACK implements its custom operators)"
            return interpreter

    def _build(self, preserve: bool, kernels: str | None = None) -> Any:
        resolver = getattr(self._module.OpResolverType, kernels or self._kernels)
        try:
            interpreter = self._module.Interpreter(
                model_content=self.content,
                experimental_op_resolver_type=resolver,
                experimental_preserve_all_tensors=preserve,
                num_threads=1,
            )
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise RuntimeFailure(
                f"the reference runtime (LiteRT interpreter) cannot run this model: {_first_line(e)}",
                self.path,
            ) from e
        return interpreter

    def quantized(self) -> bool:
        """Whether any tensor is stored as integers with a scale (full-integer, mixed or hybrid models)."""
        return any(
            np.dtype(d["dtype"]).kind in "iu" and len(d["quantization_parameters"]["scales"]) > 0
            for d in self._interpreter.get_tensor_details()
        )

    def kernel_variants(self, feeds: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
        """The outputs under each of LiteRT's kernel sets (the builtin ones first) for a quantized or
        hybrid model; {} for a float one, whose kernel sets agree to float rounding."""
        if not self.quantized() or self.exact_int8:
            return {}
        if self._variants is None or self.stateful:
            self._variants = {}
            for label, kernels in KERNEL_SETS.items():
                try:
                    self._variants[label] = self._build(False, kernels)
                except RuntimeFailure as e:  # the reference kernels lack some ops (ELU, …)
                    self.unavailable_kernels[label] = str(e).split(": ")[-1]
        found = {PRIMARY_KERNELS: self.run(feeds)}
        for label, interpreter in self._variants.items():
            self._invoke(interpreter, feeds)
            found[label] = {
                d["name"]: np.array(interpreter.get_tensor(d["index"]))
                for d in interpreter.get_output_details()
            }
        return found

    # -- the Runner protocol ----------------------------------------------------------------------------
    def prepare(self) -> None:
        """The interpreter is built in the constructor."""

    def input_specs(self) -> list[InputSpec]:
        return [
            InputSpec(d["name"], np.dtype(d["dtype"]).name, tuple(int(s) for s in d["shape"]))
            for d in self._interpreter.get_input_details()
        ]

    def output_names(self) -> list[str]:
        return [d["name"] for d in self._interpreter.get_output_details()]

    def source_layouts(self, recorded: Mapping[str, str]) -> dict[str, str]:
        """LiteRT takes and returns every recorded interface value in the file's own layout."""
        return dict(recorded)

    def layers(self) -> list[Layer]:
        """Every operator, named by its last output tensor (a TFLite operator has no name)."""
        names = {d["index"]: d["name"] for d in self._interpreter.get_tensor_details()}
        found = []
        for op in self._interpreter._get_ops_details():
            outputs = [int(i) for i in op["outputs"] if int(i) >= 0]
            if outputs:
                name = names[outputs[-1]]
                found.append(Layer(name, str(op["op_name"]), name))
        return found

    @property
    def stateful(self) -> bool:
        """Whether the model assigns resource variables, which keep their values from one invocation
        to the next (reset_all_variables leaves them): each run then gets a fresh interpreter."""
        return any(op["op_name"] == "ASSIGN_VARIABLE" for op in self._interpreter._get_ops_details())

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.stateful:
            self._interpreter = self._build(preserve=False)
        interpreter = self._interpreter
        self._invoke(interpreter, feeds)
        return {
            d["name"]: np.array(interpreter.get_tensor(d["index"])) for d in interpreter.get_output_details()
        }

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        if not names:
            return {}
        if self._debug is None or self.stateful:
            self._debug = self._build(preserve=True)
        self._invoke(self._debug, feeds)
        values = {}
        for name in names:
            detail = self._details.get(name)
            if detail is None:
                raise RuntimeFailure(f"LiteRT has no tensor named {name!r}", self.path)
            values[name] = np.array(self._debug.get_tensor(detail["index"]))
        return values

    def _invoke(self, interpreter: Any, feeds: Mapping[str, np.ndarray]) -> None:
        """One inference from fresh state: variable tensors (LSTM states) reset, as each run is a call."""
        interpreter.reset_all_variables()
        for detail in interpreter.get_input_details():
            if detail["name"] not in feeds:
                raise RuntimeFailure(f"no feed for LiteRT input {detail['name']!r}", self.path)
            array = np.ascontiguousarray(feeds[detail["name"]], dtype=detail["dtype"])
            if tuple(array.shape) != tuple(detail["shape"]):
                interpreter.resize_tensor_input(detail["index"], array.shape)
                interpreter.allocate_tensors()
            interpreter.set_tensor(detail["index"], array)
        start = time.perf_counter()
        try:
            interpreter.invoke()
        except (ValueError, RuntimeError) as e:
            raise RuntimeFailure(
                f"LiteRT failed running {self.path.name}: {_first_line(e)}", self.path
            ) from e
        finally:
            self.inference_seconds += time.perf_counter() - start
