"""The ONNX side of every check: a model in onnxruntime (CPU), intermediates through extra outputs."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from netinspect.check.data import InputSpec
from netinspect.check.runtimes.base import BaseRunner, RuntimeFailure, import_runtime
from netinspect.dtypes import dtype_name, elem_type
from netinspect.errors import ModelFormatError
from netinspect.io.files import resolve_inside

if TYPE_CHECKING:
    import onnx

    from netinspect.ir import Graph, Tensor
    from netinspect.registry import LoadOptions, Probe


def _np_dtype(code: int) -> str:
    """The numpy name of an input's element type (strings as numpy's object arrays hold them)."""
    name = dtype_name(code) or "float32"
    return "object" if name == "string" else name


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


_threads = 0
"""onnxruntime's intra-op threads per session; 0 is its default (one per core)."""


def set_threads(count: int) -> None:
    """Threads per session from now on: `check --jobs N` gives each of N processes its share."""
    global _threads
    _threads = max(0, count)


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
        from onnx import ModelProto, numpy_helper

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
                self._share(name, elem_type(array.dtype.name), array.shape, array)
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
        options.intra_op_num_threads = _threads
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


class OnnxRuntimeRunner(BaseRunner):
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
    def from_path(cls, path: Path) -> OnnxRuntimeRunner:
        """The file as onnxruntime reads it, independent of netinspect's reader (an ONNX source)."""
        return cls(load_onnx_model(path), owned=True, name=path.name)

    @classmethod
    def from_probe(cls, probe: Probe, options: LoadOptions) -> OnnxRuntimeRunner:
        """An ONNX source's reference runtime (`Reader.runtime`): the file as onnxruntime reads it."""
        return cls.from_path(probe.path)

    @classmethod
    def from_graph(cls, graph: Graph, name: str) -> OnnxRuntimeRunner:
        """The IR graph written as ONNX in memory: a weightless protobuf, the weights handed to
        onnxruntime straight from the graph's (lazy, often memory-mapped) tensors, never copied into
        a protobuf. Both sides of `check` that netinspect produces (an ONNX target it read, a source
        it converts) run this way, so each file is read once."""
        from netinspect.converters.onnx.writer import to_model_proto

        skeleton = to_model_proto(graph, include_weights=False)
        present = {t.name for t in skeleton.graph.initializer}
        streamed = {key: tensor for key, tensor in graph.tensors.items() if key not in present}
        return cls(skeleton, owned=True, name=name, streamed=streamed)

    @property
    def model(self) -> onnx.ModelProto:
        """The model without its large weights (what shape inference needs)."""
        return self._weights.skeleton

    def accepts(self, shapes: Mapping[str, Sequence[int]]) -> bool | None:
        """Whether the model runs on inputs of these shapes: ONNX shape inference first (cheap, and
        it rejects most sizes a network cannot take), then one run on zeros, which catches what
        inference lets through (a Reshape to a fixed length). None: an input is not a plain tensor."""
        from onnx import ModelProto, shape_inference

        model = ModelProto()
        model.CopyFrom(self._weights.skeleton)
        for value in model.graph.input:
            if value.name not in shapes:
                continue
            if not value.type.HasField("tensor_type"):
                return None
            dims = value.type.tensor_type.shape.dim
            del dims[:]
            for size in shapes[value.name]:
                dims.add().dim_value = int(size)
        try:
            inferred = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
        except Exception:  # onnx raises InferenceError and friends for sizes the model cannot take
            return False
        if any(
            dim.HasField("dim_value") and dim.dim_value <= 0
            for value in (*inferred.graph.value_info, *inferred.graph.output)
            if value.type.HasField("tensor_type")
            for dim in value.type.tensor_type.shape.dim
        ):
            return False
        dtypes = {spec.name: spec.dtype for spec in self._inputs}
        zeros = {
            name: np.zeros(tuple(shape), dtype=dtypes.get(name, "float32")) for name, shape in shapes.items()
        }
        spent = self.inference_seconds
        try:
            self.run(zeros)
        except RuntimeFailure:
            return False
        finally:
            self.inference_seconds = spent  # a probe, not part of the comparison
        return True

    def input_specs(self) -> list[InputSpec]:
        return list(self._inputs)

    def output_names(self) -> list[str]:
        return list(self._outputs)

    def prepare(self) -> None:
        """Build the session now (it is otherwise built by the first `run`)."""
        if self._session is None:
            self._session = self._weights.session()

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, Any]:
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

    def _infer(self, session: Any, names: list[str], feeds: Mapping[str, np.ndarray]) -> list[Any]:
        """Tensors as arrays; sequence (list) and map (dict) outputs as onnxruntime gives them."""
        start = time.perf_counter()
        try:
            results = session.run(names, dict(feeds))
        except Exception as e:  # onnxruntime raises its own exception types
            raise RuntimeFailure(f"onnxruntime failed running {self.name}: {_first_line(e)}") from e
        finally:
            self.inference_seconds += time.perf_counter() - start
        return [r if isinstance(r, list | dict) else np.asarray(r) for r in results]
