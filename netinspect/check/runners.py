"""Runners: one model in one runtime, fed and read in the IR's layout (NCHW).

Every runner answers three questions: what inputs it takes (`input_specs`), what the model
outputs for a feed (`run`), and what chosen intermediate values are for that feed
(`run_values`, names in the runner's own vocabulary: an ONNX value name, a MatConvNet layer).
Runtimes are imported when a runner is built, never at module import, so `netinspect info`
works without any of them and a missing one is a clear MissingDependencyError.

Which runner runs a source is decided by its Reader's `runtime` field (formats.py): see
`RUNTIMES`, where the Keras and LiteRT runners plug in.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from netinspect.check.data import InputSpec
from netinspect.check.layers import Layer
from netinspect.errors import MissingDependencyError, ModelFormatError, NetinspectError
from netinspect.fileio import resolve_inside
from netinspect.layout import ACTIVATION, permute

if TYPE_CHECKING:
    import onnx

    from netinspect.ir import Graph, Tensor


class RuntimeFailure(NetinspectError):
    """The runtime refused the model or failed while running it."""


class Runner(Protocol):
    """A model in a runtime. Arrays in and out are in IR layout (NCHW activations)."""

    label: str
    """Which runtime this is, for reports ("onnxruntime 1.18.0")."""

    def input_specs(self) -> list[InputSpec]: ...

    def output_names(self) -> list[str]: ...

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        """Only the named intermediate values, computing no more of the model than needed."""
        ...


@dataclass(frozen=True)
class RuntimeEntry:
    """How to build the runner for a Reader's `runtime`, and what to install when it is missing."""

    module: str
    factory: str
    extra: str


RUNTIMES: dict[str, RuntimeEntry] = {
    "onnxruntime": RuntimeEntry("netinspect.check.runners", "OnnxRuntimeRunner.from_path", "netinspect"),
    "matconvnet-reference": RuntimeEntry(
        "netinspect.check.runners", "MatConvNetRunner.from_path", "netinspect"
    ),
}
"""Reader.runtime → runner factory `(path, graph) -> Runner`. Keras (TensorFlow) and TFLite (LiteRT)
runners join here with their readers, each naming the optional extra that installs its runtime."""


def runtime_entry(runtime: str, path: Path) -> RuntimeEntry:
    if runtime not in RUNTIMES:
        raise NetinspectError(f"no reference runtime for this format (runtime {runtime!r})", path)
    return RUNTIMES[runtime]


def runner_for(runtime: str, path: Path, graph: Graph | None) -> Runner:
    """The runner a Reader's `runtime` names, built for the file at `path`."""
    entry = runtime_entry(runtime, path)
    try:
        module = importlib.import_module(entry.module)
    except ImportError as e:
        raise MissingDependencyError(
            f"checking this format needs the {runtime} runtime ({e.name or e}): pip install '{entry.extra}'",
            path,
        ) from e
    factory: Any = module
    for part in entry.factory.split("."):
        factory = getattr(factory, part)
    return factory(path, graph)


def import_runtime(module: str, extra: str, path: Path | None = None) -> Any:
    """Import a runtime package, turning its absence into an install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingDependencyError(f"needs {module}: pip install '{extra}'", path) from e


# ---------------------------------------------------------------------------------- ONNX Runtime


def _np_dtype(elem_type: int) -> str:
    from onnx import helper

    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name
    except (KeyError, TypeError, ValueError):
        return "float32"


def _dims(value_info: Any) -> tuple[Any, ...]:
    tensor_type = value_info.type.tensor_type
    if not tensor_type.HasField("shape"):
        return ()
    dims: list[Any] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        elif dim.HasField("dim_param") and dim.dim_param:
            dims.append(dim.dim_param)
        else:
            dims.append(None)
    return tuple(dims)


INLINE_BYTES = 1024
"""Initializers up to this size stay in the skeleton (shape constants must be visible to ORT's
graph resolution); larger ones are shared with every session."""


class SharedWeights:
    """A model split into a weightless skeleton and its initializers as ORT values.

    Building a session for a few extra outputs then copies kilobytes, not the weights: every
    session made from the skeleton reads the same arrays (ORT external initializers). `streamed`
    adds IR tensors the skeleton lacks, so an in-memory conversion never builds the full protobuf.
    """

    def __init__(
        self, model: onnx.ModelProto, owned: bool, streamed: Mapping[str, Tensor] | None = None
    ) -> None:
        from onnx import ModelProto, helper, numpy_helper

        self._ort = import_runtime("onnxruntime", "onnxruntime")
        self.skeleton = ModelProto()
        _copy_fields(model, self.skeleton, skip="graph")
        _copy_fields(model.graph, self.skeleton.graph, skip="initializer")
        self.names: list[str] = []
        self.arrays: list[np.ndarray] = []
        self.values: list[Any] = []
        for tensor in model.graph.initializer:
            array = numpy_helper.to_array(tensor) if tensor.ByteSize() > INLINE_BYTES else None
            if array is None or not _shareable(array):
                self.skeleton.graph.initializer.add().CopyFrom(tensor)
                continue
            self._share(tensor.name, tensor.data_type, tensor.dims, array)
            if owned:
                tensor.ClearField("raw_data")
        for name, ir_tensor in (streamed or {}).items():
            array = ir_tensor.numpy()
            if _shareable(array):
                self._share(name, helper.np_dtype_to_tensor_dtype(array.dtype), array.shape, array)
            else:
                self.skeleton.graph.initializer.append(numpy_helper.from_array(array, name))

    def _share(self, name: str, data_type: int, dims: Sequence[int], array: np.ndarray) -> None:
        stub = self.skeleton.graph.initializer.add(name=name, data_type=data_type, dims=list(dims))
        stub.data_location = stub.EXTERNAL
        stub.external_data.add(key="location", value="netinspect-in-memory")
        array = np.ascontiguousarray(array)
        self.names.append(name)
        self.arrays.append(array)
        self.values.append(self._ort.OrtValue.ortvalue_from_numpy(array))

    def session(self, extra_outputs: Sequence[str] = ()) -> Any:
        """A session over the shared weights, with `extra_outputs` added as graph outputs.

        Optimization stops at EXTENDED (fusions): the layout level re-packs every conv weight
        into NCHWc blocks, which costs VGG-19 ~9 s per session against ~0.6 s per inference, and
        changes speed, not what is computed.
        """
        from onnx import ValueInfoProto

        model = self.skeleton
        if extra_outputs:
            model = type(self.skeleton)()
            model.CopyFrom(self.skeleton)
            present = {o.name for o in model.graph.output}
            model.graph.output.extend(ValueInfoProto(name=n) for n in extra_outputs if n not in present)
        options = self._ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = self._ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        if self.names:
            options.add_external_initializers(self.names, self.values)
        try:
            return self._ort.InferenceSession(
                model.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types
            raise RuntimeFailure(f"onnxruntime cannot load the model: {_first_line(e)}") from e


def _shareable(array: np.ndarray) -> bool:
    """ORT can wrap it without conversion: a plain numeric numpy array (not bfloat16/float8)."""
    return array.size > 0 and array.dtype.kind in "biuf" and array.dtype.name != "bfloat16"


def _copy_fields(source: Any, target: Any, skip: str) -> None:
    """Copy a protobuf message field by field, leaving out one (the weights, when copying is costly)."""
    for field, value in source.ListFields():
        if field.name == skip:
            continue
        if field.is_repeated:
            getattr(target, field.name).extend(value)
        elif field.message_type is not None:
            getattr(target, field.name).CopyFrom(value)
        else:
            setattr(target, field.name, value)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def load_onnx_model(path: Path) -> onnx.ModelProto:
    """An ONNX file with its external data, refusing data files outside the model's folder."""
    import onnx
    from onnx import external_data_helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends
        raise ModelFormatError(f"not a readable ONNX model ({_first_line(e)})", path) from e
    for tensor in external_data_helper._get_all_tensors(model):
        if external_data_helper.uses_external_data(tensor):
            info = external_data_helper.ExternalDataInfo(tensor)
            resolve_inside(path.parent, info.location, path)
    try:
        external_data_helper.load_external_data_for_model(model, str(path.parent))
    except OSError as e:
        raise ModelFormatError(f"cannot read external data ({e})", path) from e
    return model


class OnnxRuntimeRunner:
    """An ONNX model in onnxruntime (CPU). Intermediates come from sessions with extra outputs."""

    def __init__(
        self,
        model: onnx.ModelProto,
        owned: bool = False,
        name: str = "model",
        streamed: Mapping[str, Tensor] | None = None,
    ) -> None:
        ort = import_runtime("onnxruntime", "onnxruntime")
        self.label = f"onnxruntime {ort.__version__}"
        self.name = name
        initializers = {t.name for t in model.graph.initializer} | set(streamed or {})
        self._inputs = [
            InputSpec(v.name, _np_dtype(v.type.tensor_type.elem_type), _dims(v))
            for v in model.graph.input
            if v.name not in initializers
        ]
        self._outputs = [v.name for v in model.graph.output]
        self._weights = SharedWeights(model, owned, streamed)
        self._session: Any = None
        self.inference_seconds = 0.0
        """Time spent inside `InferenceSession.run`, summed: what the runtime itself costs."""

    @classmethod
    def from_path(cls, path: Path, graph: Graph | None = None) -> OnnxRuntimeRunner:
        return cls(load_onnx_model(path), owned=True, name=path.name)

    def input_specs(self) -> list[InputSpec]:
        return list(self._inputs)

    def output_names(self) -> list[str]:
        return list(self._outputs)

    def prepare(self) -> None:
        """Build the session now (it is otherwise built by the first `run`)."""
        if self._session is None:
            self._session = self._weights.session()

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.prepare()
        return dict(zip(self._outputs, self._infer(self._session, self._outputs, feeds), strict=True))

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        if not names:
            return {}
        session = self._weights.session(extra_outputs=names)
        try:
            return dict(zip(names, self._infer(session, list(names), feeds), strict=True))
        finally:
            del session

    def _infer(self, session: Any, names: list[str], feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        start = time.perf_counter()
        try:
            results = session.run(names, dict(feeds))
        except Exception as e:  # onnxruntime raises its own exception types
            raise RuntimeFailure(f"onnxruntime failed running {self.name}: {_first_line(e)}") from e
        finally:
            self.inference_seconds += time.perf_counter() - start
        return [np.asarray(r) for r in results]


# ------------------------------------------------------------------------------- MatConvNet


MATCONVNET_ACTIVATION = "HWCN"


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


class MatConvNetRunner:
    """The MatConvNet reference implementation; layer outputs are its intermediates."""

    def __init__(self, reference: Any, name: str) -> None:
        self.reference = reference
        self.name = name
        self.label = "MatConvNet reference (netinspect, NumPy)"
        self.inference_seconds = 0.0

    @classmethod
    def from_path(cls, path: Path, graph: Graph | None = None) -> MatConvNetRunner:
        try:
            module = importlib.import_module("netinspect.check.matconvnet_reference")
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
