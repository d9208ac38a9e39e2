"""What a candidate costs on a phone, measured before it trains.

TFLite file size does not depend on the trained weight values (float32, float16), so it is
measured by converting the *untrained* model: a candidate's costs are known before a single
epoch is spent. Results are cached by architecture, so the same network is never converted
twice in a run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search.candidate import cost_key
from search.convert import MEASURED, to_tflite_all


@dataclass(frozen=True)
class Costs:
    params: int
    tflite_float32_bytes: int
    tflite_float16_bytes: int
    seconds: float  # time spent measuring (conversions and latency)
    tflite_int8_bytes: int | None = None
    macs: int | None = None  # multiply-accumulates per image
    latency_ms: float | None = None  # host latency of the deploy file, LiteRT, 1 thread, median
    latency_dtype: str | None = None  # which file the latency is of

    def kib(self, dtype: str) -> float:
        return getattr(self, f"tflite_{dtype}_bytes") / 1024

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def architecture_key(values: Mapping[str, Any], input_shape: tuple[int, ...]) -> str:
    """The cost cache's key: see :func:`search.candidate.cost_key`."""
    return cost_key(values, input_shape)


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
            from search.files import write_json_atomic

            write_json_atomic(self.path, self._mem)


def _distinct_weights(model):
    """Give every constant weight array (BatchNorm's ones and zeros, zero biases) distinct
    values, returning the original weights.

    The converter stores identical constant buffers once, so an untrained model whose
    BatchNorm layers all hold ones and zeros converts to a smaller file than the same model
    after training. With distinct values the untrained size is the trained size.
    """
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


def convert_measured(model, input_shape: tuple[int, ...]) -> dict[str, bytes]:
    """The :data:`MEASURED` TFLite files of a built model, converted with distinct constant
    weights (:func:`_distinct_weights`), so their sizes are those of the trained model's."""
    original = _distinct_weights(model)
    # Sizes do not depend on what calibration sees: a few random images do for int8.
    calibration = np.random.default_rng(0).uniform(0, 255, (4, *input_shape)).astype(np.float32)
    try:
        return to_tflite_all(model, MEASURED, calibration)
    finally:
        model.set_weights(original)


def costs_of(params: int, macs: int, sizes: Mapping[str, int], seconds: float,
             input_shape: tuple[int, ...], deploy_dtype: str = "float16",
             deploy_blob: bytes | None = None) -> Costs:
    """Costs from counted and converted figures; with ``deploy_blob`` (the ``deploy_dtype``
    file), its host latency is measured here (LiteRT, 1 thread, median of 30 after warm-up)
    and the time it takes is added to ``seconds``."""
    lat = None
    if deploy_blob is not None:
        from search.interpreter import latency_ms

        t0 = time.perf_counter()
        probe = np.random.default_rng(0).uniform(0, 255, input_shape).astype(np.float32)
        lat = latency_ms(deploy_blob, probe, threads=1, runs=30)
        seconds += time.perf_counter() - t0
    return Costs(params=int(params), tflite_float32_bytes=int(sizes["float32"]),
                 tflite_float16_bytes=int(sizes["float16"]),
                 tflite_int8_bytes=int(sizes["int8"]), seconds=seconds, macs=int(macs),
                 latency_ms=lat, latency_dtype=deploy_dtype if lat is not None else None)


def cached(cache: CostCache | None, key: str, with_latency: bool = True) -> Costs | None:
    """A cache entry that has every figure asked for, or None."""
    hit = cache.get(key) if cache is not None else None
    if hit is not None and (hit.latency_ms is not None or not with_latency):
        return hit
    return None


def measure(model, values: Mapping[str, Any], input_shape: tuple[int, ...],
            cache: CostCache | None = None, deploy_dtype: str = "float16",
            with_latency: bool = True) -> Costs:
    """Parameters, MACs, TFLite sizes (bytes) and host latency of a built, untrained model,
    measured in this process (a trial's worker process, before the model trains)."""
    key = architecture_key(values, input_shape)
    hit = cached(cache, key, with_latency)
    if hit is not None:
        return hit
    t0 = time.perf_counter()
    blobs = convert_measured(model, input_shape)
    c = costs_of(model.count_params(), count_macs(model),
                 {q: len(b) for q, b in blobs.items()}, time.perf_counter() - t0,
                 input_shape, deploy_dtype, blobs[deploy_dtype] if with_latency else None)
    if cache is not None:
        cache.put(key, c)
    return c
