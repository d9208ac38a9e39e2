"""What a candidate costs on a phone, measured before it trains.

TFLite file size does not depend on the trained weight values (float32, float16), so it is
measured by converting the *untrained* model: a candidate's costs are known before a single
epoch is spent. Results are cached by architecture, so the same network is never converted
twice in a run.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from search import builder

QUANTIZATIONS = ("float32", "float16")


@dataclass(frozen=True)
class Costs:
    params: int
    tflite_float32_bytes: int
    tflite_float16_bytes: int
    seconds: float  # time spent measuring (conversions and latency)
    macs: int | None = None  # multiply-accumulates per image
    latency_ms: float | None = None  # host latency of the deploy file, LiteRT, 1 thread, median
    latency_dtype: str | None = None  # which file the latency is of

    def kib(self, dtype: str) -> float:
        return getattr(self, f"tflite_{dtype}_bytes") / 1024

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def to_tflite(model, quantize: str = "float32") -> bytes:
    """Convert a Keras model to a TFLite flatbuffer.

    Takes the explicit route (``model.export`` to a SavedModel, then the converter), because
    ``from_keras_model`` silently falls back to an older path when export fails. Only
    TFLite builtin ops are allowed: a model that needs more fails here, loudly.
    """
    _quiet_tf()
    import tensorflow as tf

    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    tmp = Path(tempfile.mkdtemp(prefix="agesearch-savedmodel-"))
    try:
        model.export(str(tmp / "saved_model"), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "saved_model"))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def architecture_key(values: Mapping[str, Any], input_shape: tuple[int, ...]) -> str:
    return json.dumps({"arch": builder.architecture(values), "input": list(input_shape)},
                      sort_keys=True)


class CostCache:
    """Costs by architecture, in memory and (optionally) in a JSON file that survives resume."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else None
        self._mem: dict[str, dict[str, Any]] = {}
        if self.path and self.path.exists():
            try:
                self._mem = json.loads(self.path.read_text())
            except ValueError:
                self._mem = {}  # a damaged cache is only a slower run

    def get(self, key: str) -> Costs | None:
        d = self._mem.get(key)
        if not d:
            return None
        known = set(Costs.__dataclass_fields__)
        return Costs(**{k: v for k, v in d.items() if k in known})

    def put(self, key: str, costs: Costs) -> None:
        self._mem[key] = costs.to_dict()
        if self.path:
            from search.records import write_json_atomic

            write_json_atomic(self.path, self._mem)


def _distinct_weights(model):
    """Give every constant weight array (BatchNorm's ones and zeros, zero biases) distinct
    values, returning the original weights.

    The converter stores identical constant buffers once, so an untrained model whose
    BatchNorm layers all hold ones and zeros converts to a smaller file than the same model
    after training. With distinct values the untrained size is the trained size.
    """
    import numpy as np

    original = model.get_weights()
    rng = np.random.default_rng(0)
    model.set_weights([
        rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) if w.size and np.all(w == w.flat[0]) else w
        for w in original
    ])
    return original


def count_macs(model) -> int:
    """Multiply-accumulates per image, counted from the layers (convolutions and dense
    layers; normalisation, activations and pooling are a few percent and left out)."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Dense"):
            continue
        out = layer.output.shape
        cin = int(layer.input.shape[-1])
        if kind == "Dense":
            total += cin * int(out[-1])
            continue
        kh, kw = layer.kernel_size
        pixels = int(out[1]) * int(out[2])
        if kind == "Conv2D":
            total += pixels * kh * kw * cin * int(out[-1])
        elif kind == "DepthwiseConv2D":
            total += pixels * kh * kw * cin * layer.depth_multiplier
        else:  # separable: depthwise then pointwise
            total += pixels * kh * kw * cin * layer.depth_multiplier
            total += pixels * cin * layer.depth_multiplier * int(out[-1])
    return total


def latency_ms(model_bytes: bytes, threads: int = 1, warmup: int = 5, runs: int = 30) -> float:
    """Median host latency (ms) of one invocation in the LiteRT interpreter, after warm-up."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_bytes, num_threads=threads)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, inp["shape"]).astype(inp["dtype"])
    interp.set_tensor(inp["index"], x)
    for _ in range(warmup):
        interp.invoke()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        interp.invoke()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000.0)


def measure(model, values: Mapping[str, Any], input_shape: tuple[int, ...],
            cache: CostCache | None = None, deploy_dtype: str = "float16",
            with_latency: bool = True) -> Costs:
    """Parameters, MACs, TFLite sizes (bytes) and host latency of a built, untrained model."""
    key = architecture_key(values, input_shape)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None and (hit.latency_ms is not None or not with_latency):
            return hit
    t0 = time.perf_counter()
    original = _distinct_weights(model)
    try:
        blobs = {q: to_tflite(model, q) for q in QUANTIZATIONS}
    finally:
        model.set_weights(original)
    lat = latency_ms(blobs[deploy_dtype]) if with_latency else None
    costs = Costs(params=int(model.count_params()),
                  tflite_float32_bytes=len(blobs["float32"]),
                  tflite_float16_bytes=len(blobs["float16"]),
                  seconds=time.perf_counter() - t0, macs=count_macs(model), latency_ms=lat,
                  latency_dtype=deploy_dtype if with_latency else None)
    if cache is not None:
        cache.put(key, costs)
    return costs


@dataclass(frozen=True)
class Budget:
    """What the target phone allows; None means no limit."""

    max_params: int | None = None
    max_kib: float | None = None  # of the deploy_dtype TFLite file
    max_latency_ms: float | None = None
    max_macs: int | None = None
    deploy_dtype: str = "float16"

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.max_params, self.max_kib, self.max_latency_ms,
                                            self.max_macs))

    def violation(self, c: Costs) -> str | None:
        """The first figure that breaks the budget, as a sentence; None if it fits."""
        if self.max_params is not None and c.params > self.max_params:
            return f"{c.params:,} parameters > --max-params {self.max_params:,}"
        if self.max_macs is not None and c.macs is not None and c.macs > self.max_macs:
            return f"{c.macs:,} MACs > --max-macs {self.max_macs:,}"
        if self.max_kib is not None and c.kib(self.deploy_dtype) > self.max_kib:
            return (f"{self.deploy_dtype} TFLite {c.kib(self.deploy_dtype):.1f} KiB > "
                    f"--max-kib {self.max_kib:g}")
        if (self.max_latency_ms is not None and c.latency_ms is not None
                and c.latency_ms > self.max_latency_ms):
            return f"latency {c.latency_ms:.2f} ms > --max-latency-ms {self.max_latency_ms:g}"
        return None
