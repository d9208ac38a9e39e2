"""Keras model -> TensorFlow Lite: where every model of the toolkit is converted.

The explicit route: ``model.export`` to a SavedModel, then the converter on it (Keras 3's
``from_keras_model`` silently falls back to an older path when the export fails). One export
and one converter serve every format of a model. Used for the costs of a candidate before it
trains (:mod:`search.costs`) and for the files :mod:`search.export` ships.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from search.errors import ConversionError
from search.quiet import stderr_silenced

#: TFLite formats, smallest change first: float32 as trained, float16 weights, dynamic-range
#: (int8 weights, float activations), full-integer int8 (uint8 pixels in, years out).
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
#: Formats whose size every candidate records before training.
MEASURED = ("float32", "float16", "int8")


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
    """Set every option a conversion to ``quantize`` depends on, so one converter object
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
    """Convert a SavedModel to a TFLite flatbuffer in each of ``quantizations`` (of
    :data:`QUANTIZATIONS`) with one converter: the SavedModel is read once, not per format.

    ``float32``: as trained. ``float16``: weights stored as float16. ``dynamic``:
    dynamic-range quantization (int8 weights, float activations, no calibration). ``int8``:
    full-integer quantization calibrated on ``calibration`` (``[n, h, w, 3]`` training pixels,
    0-255); uint8 pixels in, float32 years out. Only TFLite builtin ops are allowed (int8
    builtins for int8): a model that needs more raises :class:`ConversionError`.
    """
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


def to_tflite(model, quantize: str = "float32", calibration: np.ndarray | None = None) -> bytes:
    """Convert a Keras model to a TFLite flatbuffer (see :func:`convert_saved_model_all`)."""
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
