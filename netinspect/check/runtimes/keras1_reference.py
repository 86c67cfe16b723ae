"""An independent NumPy implementation of Keras 1 Sequential models, the reference for Keras 1 files
and for files saved on Theano by Keras 2 (whose layers it reads in Keras 1's terms).

Written from Keras 1.2.2's layer definitions, not from netinspect's reader: it parses the HDF5 file
itself (h5py + json) and computes in the file's own `dim_ordering`. Convolutions follow the
backend the file was trained with: TensorFlow's cross-correlation, or Theano's true convolution
(the kernel applied back to front, `out[i] = Σ_m x[i·s + K−1−m]·w[m]`), with Theano's 'same'
(half padding, trailing outputs cropped). The backend is read from the weight names (TensorFlow
variable names end in ':0'). Models: Sequential, and functional `Model`s whose layers are each
called once. Layers: Convolution1D/2D, Dense, TimeDistributedDense, Activation, MaxPooling2D,
AveragePooling2D, Flatten, Reshape, Permute, Dropout, BatchNormalization (mode 0), ZeroPadding2D,
Merge (sum, mul, concat, ave, max), Embedding, LSTM, GRU and SimpleRNN (per-gate or fused weights;
Keras 2's `reset_after` GRU), Bidirectional around them. The input takes the dtype the file gives
it (Keras 1 `input_dtype`, Keras 2 `dtype`): token ids for an Embedding are integers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from netinspect.check.data import InputSpec
from netinspect.check.layers import Layer
from netinspect.check.runtimes.base import RuntimeFailure


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | np.bytes_) else str(value)


class Keras1Model:
    """The layers of a Keras 1 Sequential file with their weights loaded, run one after the other."""

    def __init__(self, path: Path, config: dict[str, Any] | None = None, theano: bool | None = None) -> None:
        """`config`: the architecture of a weights-only file (the JSON given with --config);
        `theano`: the backend when the user states it, else it is read from the weight names."""
        import h5py

        with h5py.File(path, "r") as h5:
            if config is None:
                if "model_config" not in h5.attrs:
                    raise RuntimeFailure("a weights-only file: give its architecture JSON (--config)", path)
                config = json.loads(_s(h5.attrs["model_config"]))
            version = _s(h5.attrs.get("keras_version", "1.0.8"))
            numbers = tuple(int(v) for v in version.split("-")[0].split(".")[:3] if v.isdigit())
            self.true_std = numbers < (1, 0, 8)  # Keras 1.0.0–1.0.7 BatchNormalization
            keras2 = numbers >= (2,)
            group = h5.get("model_weights", h5)
            self.weights: dict[str, list[np.ndarray]] = {}
            names: list[str] = []
            for layer in group.attrs["layer_names"]:
                g = group[_s(layer)]
                wn = [_s(n) for n in np.atleast_1d(g.attrs.get("weight_names", []))]
                names += wn
                self.weights[_s(layer)] = [np.asarray(g[n][()], dtype=np.float64) for n in wn]
        if theano is None:  # TensorFlow variable names end in ':0', Theano's do not
            theano = bool(names) and not all(n.endswith(":0") for n in names)
        self.theano = theano
        self.path = path
        body = config.get("config")
        if config.get("class_name") == "Sequential":
            entries = body if isinstance(body, list) else body["layers"]
            source = entries[0] if entries and entries[0]["class_name"] == "InputLayer" else None
            entries = entries[1:] if source else entries
            self.layers = [(e["class_name"], e["config"]) for e in entries]
            first = (source or entries[0])["config"]
            self.input_name = first["name"] if source else f"{first['name']}_input"
            self.input_shape = tuple(first["batch_input_shape"])
            self.input_dtype = _dtype(first)
            previous = self.input_name
            self.reads: dict[str, list[str]] = {}
            for _, cfg in self.layers:
                self.reads[cfg["name"]] = [previous]
                previous = cfg["name"]
            self.output_name = previous
        elif config.get("class_name") in ("Model", "Functional"):  # functional: each layer called once
            entries = [e for e in body["layers"] if e["class_name"] != "InputLayer"]
            (source,) = [e for e in body["layers"] if e["class_name"] == "InputLayer"]
            self.input_name = source["name"]
            self.input_shape = tuple(source["config"]["batch_input_shape"])
            self.input_dtype = _dtype(source["config"])
            self.layers = [(e["class_name"], e["config"]) for e in entries]
            self.reads = {e["name"]: [ref[0] for ref in e["inbound_nodes"][0]] for e in entries}
            self.output_name = body["output_layers"][0][0]
        else:
            raise RuntimeFailure("the Keras 1 reference runs Sequential and Model configs only", path)
        if keras2:
            self.layers = [self._as_keras1(kind, cfg) for kind, cfg in self.layers]

    def _as_keras1(self, kind: str, cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """A Keras 2 layer config in Keras 1's terms (keras@2.0.0 legacy/interfaces.py renamed them),
        its kernel moved to Keras 1's layout: Keras 2 stores every kernel as (rows, cols, in, out),
        Keras 1 as its `dim_ordering` says."""
        if kind in ("LSTM", "GRU", "SimpleRNN"):
            return kind, _recurrent_as_keras1(cfg)
        if kind == "Bidirectional":
            inner = cfg["layer"]
            layer = {"class_name": inner["class_name"], "config": _recurrent_as_keras1(inner["config"])}
            return kind, {**cfg, "layer": layer}
        if kind == "Conv1D":
            if tuple(cfg.get("dilation_rate", (1,))) != (1,):
                raise RuntimeFailure("the NumPy Keras reference has no dilated convolution", self.path)
            renamed = {**cfg, "nb_filter": cfg["filters"], "filter_length": cfg["kernel_size"][0],
                       "subsample_length": cfg.get("strides", (1,))[0], "bias": cfg.get("use_bias", True),
                       "border_mode": cfg.get("padding", "valid")}  # fmt: skip
            weights = self.weights[cfg["name"]]
            weights[0] = weights[0][:, None]  # (length, in, out) → Keras 1's (length, 1, in, out)
            return "Convolution1D", renamed
        if kind in _KERAS2_MERGES:
            return "Merge", {**cfg, "mode": _KERAS2_MERGES[kind], "concat_axis": cfg.get("axis", -1)}
        ordering = "th" if cfg.get("data_format") == "channels_first" else "tf"
        renamed = {**cfg, "dim_ordering": ordering}
        if kind == "Conv2D":
            kind = "Convolution2D"
            rows, cols = cfg["kernel_size"]
            renamed.update(nb_filter=cfg["filters"], nb_row=rows, nb_col=cols, bias=cfg.get("use_bias", True))
            renamed.update(border_mode=cfg.get("padding", "valid"), subsample=cfg.get("strides", (1, 1)))
            if tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1):
                raise RuntimeFailure("the NumPy Keras reference has no dilated convolution", self.path)
            weights = self.weights[cfg["name"]]
            if ordering == "th":
                weights[0] = weights[0].transpose(3, 2, 0, 1)
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            renamed["border_mode"] = cfg.get("padding", "valid")
        elif kind == "Dense":
            renamed.update(output_dim=cfg["units"], bias=cfg.get("use_bias", True))
        elif kind == "BatchNormalization":
            renamed["mode"] = 0
            axis = cfg.get("axis", -1)
            renamed["axis"] = axis[0] if isinstance(axis, list) else axis  # tf.keras writes [axis]
            self.weights[cfg["name"]] = self._batch_norm_weights(cfg)
        elif kind == "ZeroPadding2D":
            (top, bottom), (left, right) = cfg["padding"]
            renamed["padding"] = (top, bottom, left, right)
        return kind, renamed

    def _batch_norm_weights(self, cfg: dict[str, Any]) -> list[np.ndarray]:
        """gamma, beta, mean, variance: Keras 2 leaves out gamma without `scale`, beta without `center`."""
        stored = list(self.weights[cfg["name"]])
        mean = stored[-2]
        gamma = stored.pop(0) if cfg.get("scale", True) else np.ones_like(mean)
        beta = stored.pop(0) if cfg.get("center", True) else np.zeros_like(mean)
        return [gamma, beta, *stored]

    def run(self, x: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
        """Every layer's output in order (the file lists a Keras 1 model's layers topologically)."""
        x = np.asarray(x)
        values = {self.input_name: x.astype(np.float64) if x.dtype.kind == "f" else x}
        out = []
        for kind, cfg in self.layers:
            args = [values[name] for name in self.reads[cfg["name"]]]
            a = self.merge(cfg, args) if kind == "Merge" else self.layer(kind, cfg, args[0])
            values[cfg["name"]] = a
            out.append((cfg["name"], kind, a))
        return out

    def merge(self, cfg: dict[str, Any], args: list[np.ndarray]) -> np.ndarray:
        mode = cfg.get("mode", "sum")
        if mode == "concat":
            return np.concatenate(args, axis=cfg.get("concat_axis", -1))
        if mode == "sum":
            return np.sum(args, axis=0)
        if mode == "mul":
            return np.prod(args, axis=0)
        if mode == "ave":
            return np.mean(args, axis=0)
        if mode == "max":
            return np.max(args, axis=0)
        raise RuntimeFailure(f"the Keras 1 reference has no Merge mode {mode!r}", self.path)

    # -- layers ---------------------------------------------------------------------------------
    def layer(self, kind: str, cfg: dict[str, Any], a: np.ndarray) -> np.ndarray:
        w = self.weights.get(cfg["name"], [])
        if kind == "Convolution2D":
            y = self.conv(a, w, cfg)
            return activation(y, cfg.get("activation", "linear"), th=cfg.get("dim_ordering") == "th")
        if kind == "Convolution1D":
            y = self.conv1d(a, w, cfg)
            return activation(y, cfg.get("activation", "linear"), th=False)
        if kind in ("Dense", "TimeDistributedDense"):  # the last axis, each time step alike
            y = a @ w[0] + (w[1] if cfg.get("bias", True) else 0.0)
            return activation(y, cfg.get("activation", "linear"), th=False)
        if kind == "Reshape":
            return a.reshape(a.shape[0], *cfg["target_shape"])
        if kind == "Permute":
            return a.transpose(0, *cfg["dims"])
        if kind == "Activation":
            return activation(a, cfg["activation"], th=False)
        if kind in ("MaxPooling2D", "AveragePooling2D"):
            return self.pool(a, cfg, kind == "MaxPooling2D")
        if kind == "Flatten":
            return a.reshape(a.shape[0], -1)
        if kind == "Dropout":
            return a
        if kind == "ZeroPadding2D":
            p = cfg.get("padding", (1, 1))
            top, bottom, left, right = (p[0], p[0], p[1], p[1]) if len(p) == 2 else p
            if cfg.get("dim_ordering") == "th":
                return np.pad(a, ((0, 0), (0, 0), (top, bottom), (left, right)))
            return np.pad(a, ((0, 0), (top, bottom), (left, right), (0, 0)))
        if kind == "BatchNormalization":
            if cfg.get("mode", 0) != 0:
                raise RuntimeFailure("BatchNormalization mode != 0", self.path)
            gamma, beta, mean, var = w
            axis = cfg.get("axis", -1) % a.ndim
            shape = [1] * a.ndim
            shape[axis] = -1
            eps = cfg.get("epsilon", 1e-3)
            # `running_std` held the std up to Keras 1.0.7, (x − m) / (std + ε); the variance after
            scale = var.reshape(shape) + eps if self.true_std else np.sqrt(var.reshape(shape) + eps)
            return (a - mean.reshape(shape)) / scale * gamma.reshape(shape) + beta.reshape(shape)
        if kind == "Embedding":
            return w[0][np.asarray(a, dtype=np.int64)]
        if kind in ("LSTM", "GRU", "SimpleRNN"):
            return self.recurrent(kind, cfg, w, a)
        if kind == "Bidirectional":
            return self.bidirectional(cfg, w, a)
        raise RuntimeFailure(f"the Keras 1 reference has no {kind} layer", self.path)

    def recurrent(self, kind: str, cfg: dict[str, Any], w: list[np.ndarray], a: np.ndarray) -> np.ndarray:
        """Keras 1.2.2's step functions (recurrent.py), one time step after another."""
        act = cfg.get("activation", "tanh")
        inner = cfg.get("inner_activation", "hard_sigmoid")
        units = cfg["output_dim"]
        if len(w) == 2:  # fused weights without a bias (Keras 2 use_bias=False)
            w = [*w, np.zeros(w[1].shape[-1])]
        steps = a[:, ::-1] if cfg.get("go_backwards") else a
        h = np.zeros((a.shape[0], units))
        c = np.zeros_like(h)
        if kind == "LSTM" and len(w) == 3:  # consume_less='gpu': fused i, f, c, o
            k = [np.split(m, 4, axis=-1) for m in w]
            gate = {g: (k[0][j], k[1][j], k[2][j]) for j, g in enumerate("ifco")}
        elif kind == "LSTM":  # W_i U_i b_i W_c U_c b_c W_f U_f b_f W_o U_o b_o
            gate = {g: tuple(w[3 * j : 3 * j + 3]) for j, g in enumerate("icfo")}
        elif kind == "GRU" and len(w) == 3:  # fused z, r, h: Keras 1 consume_less='gpu', Keras 2
            bias = w[2] if w[2].ndim == 2 else np.stack([w[2], np.zeros_like(w[2])])
            k = [np.split(m, 3, axis=-1) for m in (w[0], w[1], bias[0], bias[1])]
            gate = {g: (k[0][j], k[1][j], k[2][j], k[3][j]) for j, g in enumerate("zrh")}
        elif kind == "GRU":  # W_z U_z b_z W_r U_r b_r W_h U_h b_h
            gate = {g: (*w[3 * j : 3 * j + 3], 0.0) for j, g in enumerate("zrh")}
        else:
            gate = {"h": tuple(w)}
        outputs = []
        for t in range(steps.shape[1]):
            x = steps[:, t]

            def pre(g: str, state: np.ndarray, x: np.ndarray = x) -> np.ndarray:
                wx, uh, *biases = gate[g]  # GRU: the input bias, and reset_after's recurrent one
                return x @ wx + state @ uh + sum(biases)

            if kind == "LSTM":
                i = activation(pre("i", h), inner, th=False)
                f = activation(pre("f", h), inner, th=False)
                c = f * c + i * activation(pre("c", h), act, th=False)
                h = activation(pre("o", h), inner, th=False) * activation(c, act, th=False)
            elif kind == "GRU":
                z = activation(pre("z", h), inner, th=False)
                r = activation(pre("r", h), inner, th=False)
                if cfg.get("reset_after"):  # Keras ≥ 2.1.5: r scales U_h·h + its own bias
                    wx, uh, b, recurrent_bias = gate["h"]
                    hh = activation(x @ wx + b + r * (h @ uh + recurrent_bias), act, th=False)
                else:
                    hh = activation(pre("h", r * h), act, th=False)
                h = z * h + (1 - z) * hh
            else:
                h = activation(pre("h", h), act, th=False)
            outputs.append(h)
        return np.stack(outputs, axis=1) if cfg.get("return_sequences") else h

    def bidirectional(self, cfg: dict[str, Any], w: list[np.ndarray], a: np.ndarray) -> np.ndarray:
        """Keras 1.2.2 wrappers.py Bidirectional (Keras 2 alike): the forward layer's weights, then
        the backward copy's, which runs `go_backwards`; its sequence is turned back to input order."""
        inner = cfg["layer"]
        kind, layer = inner["class_name"], inner["config"]
        if layer.get("go_backwards"):
            raise RuntimeFailure("the Keras 1 reference has no Bidirectional around go_backwards", self.path)
        half = len(w) // 2
        forward = self.recurrent(kind, layer, w[:half], a)
        backward = self.recurrent(kind, {**layer, "go_backwards": True}, w[half:], a)
        if layer.get("return_sequences"):
            backward = backward[:, ::-1]
        mode = cfg.get("merge_mode", "concat")
        if mode == "concat":
            return np.concatenate([forward, backward], axis=-1)
        merged = {"sum": forward + backward, "mul": forward * backward, "ave": (forward + backward) / 2}
        if mode not in merged:
            raise RuntimeFailure(f"the Keras 1 reference has no Bidirectional merge_mode {mode!r}", self.path)
        return merged[mode]

    def conv1d(self, a: np.ndarray, w: list[np.ndarray], cfg: dict[str, Any]) -> np.ndarray:
        """Keras 1.2.2 Convolution1D: (steps, input_dim) in, kernel (length, 1, input_dim, nb_filter)
        as a 2-D convolution over (steps, 1) — true convolution on Theano, as conv2d."""
        image = a[:, :, None, :]  # (N, steps, 1, in): 'tf' ordering, as Keras 1 calls conv2d
        mode = cfg.get("border_mode", "valid")
        if mode == "causal":  # Keras 2: left padding by (length - 1), then 'valid'
            image = np.pad(image, ((0, 0), (w[0].shape[0] - 1, 0), (0, 0), (0, 0)))
            mode = "valid"
        step = {"subsample": (cfg.get("subsample_length", 1), 1), "border_mode": mode, "dim_ordering": "tf"}
        return self.conv(image, w, {**cfg, **step})[:, :, 0, :]

    def conv(self, a: np.ndarray, w: list[np.ndarray], cfg: dict[str, Any]) -> np.ndarray:
        th = cfg.get("dim_ordering") == "th"
        x = a if th else a.transpose(0, 3, 1, 2)  # N C H W
        kernel = w[0] if th else w[0].transpose(3, 2, 0, 1)  # O C KH KW
        sh, sw = cfg.get("subsample", (1, 1))
        mode = cfg.get("border_mode", "valid")
        kh, kw = kernel.shape[2:]
        h, wd = x.shape[2:]
        (pt, pb), oh = _pads(h, kh, sh, mode, self.theano)
        (pl, pr), ow = _pads(wd, kw, sw, mode, self.theano)
        xp = np.pad(x, ((0, 0), (0, 0), (pt, max(pb, 0)), (pl, max(pr, 0))))
        y = np.zeros((x.shape[0], kernel.shape[0], oh, ow))
        for i in range(oh):
            for j in range(ow):
                for u in range(kh):
                    for v in range(kw):
                        # true convolution (Theano) runs the kernel back to front
                        tap = kernel[:, :, kh - 1 - u, kw - 1 - v] if self.theano else kernel[:, :, u, v]
                        y[:, :, i, j] += xp[:, :, i * sh + u, j * sw + v] @ tap.T
        if cfg.get("bias", True):
            y += w[1].reshape(1, -1, 1, 1)
        return y if th else y.transpose(0, 2, 3, 1)

    def pool(self, a: np.ndarray, cfg: dict[str, Any], is_max: bool) -> np.ndarray:
        th = cfg.get("dim_ordering") == "th"
        x = a if th else a.transpose(0, 3, 1, 2)
        ph, pw = cfg.get("pool_size", (2, 2))
        sh, sw = cfg.get("strides") or (ph, pw)
        if cfg.get("border_mode", "valid") != "valid":
            raise RuntimeFailure("the Keras 1 reference pools with border_mode 'valid' only", self.path)
        oh = (x.shape[2] - ph) // sh + 1
        ow = (x.shape[3] - pw) // sw + 1
        y = np.zeros((*x.shape[:2], oh, ow))
        for i in range(oh):
            for j in range(ow):
                window = x[:, :, i * sh : i * sh + ph, j * sw : j * sw + pw]
                y[:, :, i, j] = window.max(axis=(2, 3)) if is_max else window.mean(axis=(2, 3))
        return y if th else y.transpose(0, 2, 3, 1)


_KERAS2_MERGES = {"Add": "sum", "Multiply": "mul", "Average": "ave", "Maximum": "max",
                  "Concatenate": "concat"}  # fmt: skip
"""Keras 2's merge layers, as the Keras 1 `Merge` mode computing the same."""


def _recurrent_as_keras1(cfg: dict[str, Any]) -> dict[str, Any]:
    """A Keras 2 LSTM/GRU/SimpleRNN config in Keras 1's names: its weights are already Keras 1's
    fused ones (kernel, recurrent kernel, bias; gates i,f,c,o and z,r,h)."""
    renamed = dict(cfg)
    if "units" in cfg:
        renamed.update(output_dim=cfg["units"], bias=cfg.get("use_bias", True))
    if "recurrent_activation" in cfg:
        renamed["inner_activation"] = cfg["recurrent_activation"]
    return renamed


def _dtype(cfg: dict[str, Any]) -> str:
    """An input's dtype as the file gives it (Keras 1 `input_dtype`, Keras 2 `dtype`)."""
    value = cfg.get("input_dtype") or cfg.get("dtype") or "float32"
    return str(np.dtype(value).name) if isinstance(value, str) else "float32"


def _pads(size: int, k: int, s: int, mode: str, theano: bool) -> tuple[tuple[int, int], int]:
    if mode == "valid":
        return (0, 0), (size - k) // s + 1
    if mode != "same":
        raise ValueError(f"border_mode {mode!r}")
    out = (size + s - 1) // s
    if theano:  # 'half': k//2 on both sides, outputs past ceil(size/s) dropped
        return (k // 2, k // 2), out
    total = max(0, (out - 1) * s + k - size)
    return (total // 2, total - total // 2), out


def activation(a: np.ndarray, name: str, th: bool) -> np.ndarray:
    if name == "linear":
        return a
    if name == "relu":
        return np.maximum(a, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-a))
    if name == "tanh":
        return np.tanh(a)
    if name == "hard_sigmoid":
        return np.clip(0.2 * a + 0.5, 0, 1)
    if name == "softplus":
        return np.log1p(np.exp(a))
    if name == "softmax":
        axis = 1 if th and a.ndim == 4 else -1
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        return e / e.sum(axis=axis, keepdims=True)
    raise RuntimeFailure(f"the Keras 1 reference has no activation {name!r}")


class Keras1Runner:
    """`Keras1Model` as a runner: inputs and outputs in the file's own layout."""

    def __init__(
        self,
        path: Path,
        reason: str | None = None,
        config: dict[str, Any] | None = None,
        theano: bool | None = None,
    ) -> None:
        """`reason`: why this file runs here rather than in Keras, said in the check's report."""
        self.path = path
        self.model = Keras1Model(path, config, theano)
        backend = "Theano true convolution" if self.model.theano else "TensorFlow cross-correlation"
        because = f", because {reason}" if reason else ""
        self.label = f"netinspect's NumPy Keras reference (float64; {backend}){because}"
        self.inference_seconds = 0.0
        self.input_name = self.model.input_name

    def prepare(self) -> None:
        """Weights are loaded by the constructor."""

    def input_specs(self) -> list[InputSpec]:
        shape = tuple("N" if i == 0 and d is None else d for i, d in enumerate(self.model.input_shape))
        rows = [cfg["input_dim"] for kind, cfg in self.model.layers
                if kind == "Embedding" and self.model.reads[cfg["name"]] == [self.input_name]]  # fmt: skip
        bound = min(rows) if rows else None
        return [InputSpec(self.input_name, self.model.input_dtype, shape, bound)]

    def output_names(self) -> list[str]:
        return [self.model.output_name]

    def source_layouts(self, recorded: Mapping[str, str]) -> dict[str, str]:
        return dict(recorded)

    def layers(self) -> list[Layer]:
        return [Layer(cfg["name"], kind, cfg["name"]) for kind, cfg in self.model.layers]

    def _run(self, feeds: Mapping[str, np.ndarray]) -> list[tuple[str, str, np.ndarray]]:
        if self.input_name not in feeds:
            raise RuntimeFailure(f"no feed for input {self.input_name!r}", self.path)
        start = time.perf_counter()
        try:
            return self.model.run(feeds[self.input_name])
        finally:
            self.inference_seconds += time.perf_counter() - start

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = {name: value for name, _, value in self._run(feeds)}
        return {self.model.output_name: values[self.model.output_name].astype(np.float32)}

    def run_values(self, feeds: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
        wanted = set(names)
        return {n: v.astype(np.float32) for n, _, v in self._run(feeds) if n in wanted}
