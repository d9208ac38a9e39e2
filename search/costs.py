"""What a candidate costs on a phone, measured before it trains.

TFLite file size does not depend on the trained weight values (float32, float16), so it is
measured by converting the *untrained* model: a candidate's costs are known before a single
epoch is spent. Results are cached by architecture, so the same network is never converted
twice in a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search import builder
from search.errors import ConversionError
from search.quiet import stderr_silenced

#: TFLite formats, smallest change first: float32 as trained, float16 weights, dynamic-range
#: (int8 weights, float activations), full-integer int8 (uint8 pixels in, years out).
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
#: Formats whose size every candidate records before training.
MEASURED = ("float32", "float16", "int8")


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


def _quiet_tf() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@contextlib.contextmanager
def saved_model(model) -> Iterator[Path]:
    """The model exported as a TensorFlow SavedModel in a temporary folder, removed after.

    The explicit route (``model.export``, then the converter on the SavedModel), because
    ``from_keras_model`` silently falls back to an older path when the export fails. One
    export serves every format of a model.
    """
    _quiet_tf()
    tmp = Path(tempfile.mkdtemp(prefix="agesearch-savedmodel-"))
    try:
        model.export(str(tmp / "saved_model"), format="tf_saved_model", verbose=False)
        yield tmp / "saved_model"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def calibration_batches(images: np.ndarray) -> list[np.ndarray]:
    """The representative data set for int8 calibration: one float32 ``[1, h, w, 3]`` array
    of pixels (0-255) per image.

    The first image gets one black and one white pixel, so calibration sees the full 0-255
    input range: the int8 file's uint8 input then has scale 1 and zero point 0 and takes raw
    pixels, whatever the brightest pixel of the sample happened to be.
    """
    if len(images) == 0:
        raise ValueError("int8 calibration needs at least one image")
    batches = [np.asarray(img, dtype=np.float32)[None].copy() for img in images]
    batches[0][0, 0, 0, :] = 0.0
    batches[0][0, 0, -1, :] = 255.0
    return batches


def _configure(converter, quantize: str, calibration: np.ndarray | None) -> None:
    """Set every option :func:`convert_saved_model` depends on, so one converter object
    can convert to each format in turn (its SavedModel is loaded once) with the same bytes
    as a fresh converter per format."""
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.optimizations = [] if quantize == "float32" else [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16] if quantize == "float16" else []
    converter.representative_dataset = None
    converter.inference_input_type = tf.float32
    converter.inference_output_type = tf.float32
    if quantize == "int8":
        batches = calibration_batches(calibration)
        converter.representative_dataset = lambda: ([b] for b in batches)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8


def convert_saved_model_all(path: Path, quantizations: tuple[str, ...],
                            calibration: np.ndarray | None = None) -> dict[str, bytes]:
    """Convert a SavedModel to each of ``quantizations`` (see :func:`convert_saved_model`)
    with one converter: the SavedModel is read once, not once per format."""
    _quiet_tf()
    import tensorflow as tf

    for q in quantizations:  # bad arguments fail before any work
        if q not in QUANTIZATIONS:
            raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {q!r}")
        if q == "int8" and calibration is None:
            raise ValueError("int8 conversion needs calibration images")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(path))
    out = {}
    for q in quantizations:
        _configure(converter, q, calibration)
        try:
            with stderr_silenced():
                blob = converter.convert()
        except Exception as e:
            allowed = "TFLite builtin ops" + (" with int8 kernels" if q == "int8" else "")
            raise ConversionError(f"conversion to {q} failed: {_converter_reason(e)}; only "
                                  f"{allowed} are allowed") from None
        if q == "int8":
            _check_pixel_input(blob)
        out[q] = blob
    return out


def convert_saved_model(path: Path, quantize: str = "float32",
                        calibration: np.ndarray | None = None) -> bytes:
    """Convert a SavedModel to a TFLite flatbuffer in one of :data:`QUANTIZATIONS`.

    ``float32``: as trained. ``float16``: weights stored as float16. ``dynamic``:
    dynamic-range quantization (int8 weights, float activations, no calibration). ``int8``:
    full-integer quantization calibrated on ``calibration`` (``[n, h, w, 3]`` training pixels,
    0-255); uint8 pixels in, float32 years out. Only TFLite builtin ops are allowed (int8
    builtins for int8): a model that needs more raises :class:`ConversionError`.
    """
    return convert_saved_model_all(path, (quantize,), calibration)[quantize]


def to_tflite(model, quantize: str = "float32", calibration: np.ndarray | None = None) -> bytes:
    """Convert a Keras model to a TFLite flatbuffer (see :func:`convert_saved_model`)."""
    return to_tflite_all(model, (quantize,), calibration)[quantize]


def to_tflite_all(model, quantizations: tuple[str, ...],
                  calibration: np.ndarray | None = None) -> dict[str, bytes]:
    """A Keras model as TFLite flatbuffers, one per format, from one SavedModel export."""
    with saved_model(model) as path:
        return convert_saved_model_all(path, quantizations, calibration)


def _converter_reason(error: Exception) -> str:
    """One line from the converter's (long, multi-line) error: the ops it lacks if it says."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    for prefix in ("Custom ops:", "Flex ops:"):
        for ln in lines:
            if ln.startswith(prefix):
                return f"the model needs ops outside TFLite's builtins ({ln})"
    for ln in lines:
        if "error:" in ln:
            return ln.split("error:", 1)[1].strip()[:300]
    return (lines[0] if lines else type(error).__name__)[:300]


def _check_pixel_input(blob: bytes) -> None:
    """The int8 file must take raw uint8 pixels: input scale 1, zero point 0."""
    from search import interpreter

    spec = interpreter.input_spec(interpreter.load(blob))
    if spec.dtype != "uint8" or abs(spec.scale - 1.0) > 1e-3 or spec.zero_point != 0:
        raise ConversionError(
            f"int8 conversion gave input {spec.dtype} with scale {spec.scale:.6g} and zero "
            f"point {spec.zero_point}; expected uint8 pixels with scale 1 and zero point 0")


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
    measured in this process (:mod:`search.cost_worker` measures them in another one while
    the model trains)."""
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


@dataclass(frozen=True)
class Budget:
    """What the target phone allows; None means no limit."""

    max_params: int | None = None
    max_kib: float | None = None  # of the deploy_dtype TFLite file
    max_latency_ms: float | None = None
    max_macs: int | None = None
    deploy_dtype: str = "float16"

    @property
    def needs_conversion(self) -> bool:
        """Whether a candidate's fit depends on figures only a conversion gives (size,
        latency): then they are measured before it trains, not while."""
        return self.max_kib is not None or self.max_latency_ms is not None

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
