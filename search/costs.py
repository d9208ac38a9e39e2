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
    seconds: float  # time spent measuring (build + conversions)

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
        return Costs(**d) if d else None

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


def measure(model, values: Mapping[str, Any], input_shape: tuple[int, ...],
            cache: CostCache | None = None) -> Costs:
    """Parameter count and TFLite sizes (bytes) of a built, untrained model."""
    key = architecture_key(values, input_shape)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            return hit
    t0 = time.perf_counter()
    original = _distinct_weights(model)
    try:
        f32 = len(to_tflite(model, "float32"))
        f16 = len(to_tflite(model, "float16"))
    finally:
        model.set_weights(original)
    costs = Costs(params=int(model.count_params()), tflite_float32_bytes=f32,
                  tflite_float16_bytes=f16, seconds=time.perf_counter() - t0)
    if cache is not None:
        cache.put(key, costs)
    return costs
