"""Running TFLite files with the LiteRT interpreter: ages for images, and host latency.

Every agesearch TFLite file takes one image of raw RGB pixels, shape ``[1, size, size, 3]``,
and returns the age in years, shape ``[1, 1]``, float32. Float files (float32, float16,
dynamic) take float32 pixels 0-255; the int8 file takes uint8 pixels quantized with scale 1
and zero point 0, so the same pixel values go in either way. :func:`to_input` still applies
whatever quantization a file declares, so a file made elsewhere is fed correctly too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search.quiet import stderr_silenced

#: Warm-up invocations before timing, and timed invocations, for :func:`latency_ms`.
WARMUP_RUNS = 5
TIMED_RUNS = 50


@dataclass(frozen=True)
class InputSpec:
    """What a TFLite file's (single) input expects."""

    shape: tuple[int, ...]  # [1, height, width, channels]
    dtype: str  # "float32", "uint8" or "int8"
    scale: float  # quantization scale; 0.0 for a float input
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.dtype in ("uint8", "int8")

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "dtype": self.dtype, "scale": self.scale,
                "zero_point": self.zero_point}


def load(model: bytes | str | Path, threads: int = 1):
    """A LiteRT interpreter for ``model`` (file contents or a path), sized for one image."""
    from ai_edge_litert.interpreter import Interpreter

    with stderr_silenced():
        if isinstance(model, bytes | bytearray):
            interp = Interpreter(model_content=bytes(model), num_threads=threads)
        else:
            interp = Interpreter(model_path=str(model), num_threads=threads)
        inp = interp.get_input_details()[0]
        interp.resize_tensor_input(inp["index"], [1, *inp["shape"][1:]])
        interp.allocate_tensors()
    return interp


def input_spec(interp) -> InputSpec:
    inp = interp.get_input_details()[0]
    scale, zero_point = inp["quantization"]
    return InputSpec(shape=tuple(int(d) for d in inp["shape"]),
                     dtype=np.dtype(inp["dtype"]).name, scale=float(scale),
                     zero_point=int(zero_point))


def describe(interp) -> dict:
    """The input and output of a loaded file as plain data (shapes, dtypes, quantization)."""
    out = interp.get_output_details()[0]
    scale, zero_point = out["quantization"]
    return {
        "input": input_spec(interp).to_dict(),
        "output": {"shape": [int(d) for d in out["shape"]], "dtype": np.dtype(out["dtype"]).name,
                   "scale": float(scale), "zero_point": int(zero_point)},
    }


def to_input(images: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Pixels (0-255, any numeric dtype) in the dtype the model takes.

    A quantized input gets ``round(pixel / scale) + zero_point``, clipped to its dtype's range;
    with an agesearch int8 file (scale 1, zero point 0) that is the pixel itself.
    """
    if not spec.quantized:
        return np.asarray(images, dtype=np.float32)
    info = np.iinfo(spec.dtype)
    q = np.round(np.asarray(images, dtype=np.float64) / spec.scale) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def predict(model: bytes | str | Path, images: np.ndarray, threads: int = 1) -> np.ndarray:
    """Ages in years (float32, one per image) for images ``[n, size, size, 3]`` of pixels 0-255.

    Raises ValueError when the images do not have the model's input shape.
    """
    interp = load(model, threads)
    spec = input_spec(interp)
    if tuple(images.shape[1:]) != spec.shape[1:]:
        raise ValueError(f"model input {list(spec.shape)} does not fit images of shape "
                         f"{list(images.shape[1:])}")
    inp = interp.get_input_details()[0]["index"]
    out = interp.get_output_details()[0]["index"]
    x = to_input(images, spec)
    ages = np.empty(len(x), dtype=np.float32)
    for i in range(len(x)):
        interp.set_tensor(inp, x[i : i + 1])
        interp.invoke()
        ages[i] = float(np.asarray(interp.get_tensor(out)).reshape(-1)[0])
    return ages


def latency_ms(model: bytes | str | Path, image: np.ndarray, threads: int = 1,
               runs: int = TIMED_RUNS, warmup: int = WARMUP_RUNS) -> float:
    """Host latency of one image in milliseconds: the median of ``runs`` timed invocations
    after ``warmup`` untimed ones, with ``threads`` interpreter threads.

    Measured on this machine's CPU, so only comparable between files timed on the same host.
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    interp = load(model, threads)
    spec = input_spec(interp)
    interp.set_tensor(interp.get_input_details()[0]["index"], to_input(image[None], spec))
    for _ in range(warmup):
        interp.invoke()
    times = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        interp.invoke()
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1000.0)
