"""How much memory a candidate needs to train, estimated before it trains, and whether this
machine has it.

Pure arithmetic on the candidate's values (no TensorFlow), counting what dominates training
a small CNN with Keras:

- the decoded images, cached as uint8 at the candidate's resolution (:mod:`search.data`);
- one batch of activations kept for backpropagation, float32: the pixels (as read and
  rescaled) and, per block, the convolution's output (and a separable convolution's
  depthwise output; an inverted residual block's expanded maps), BatchNorm's and LeakyReLU's,
  and the pooled result; as much again for their gradients;
- the weights four times over (weights, gradients, Adam's two moments);
- :data:`OVERHEAD_BYTES` for TensorFlow itself.

It is a rough floor, not a forecast: its only job is to refuse, with one line, a candidate
that cannot fit (``--image-size 512`` with a batch of 4096 needs tens of GiB before
the first step), instead of letting the kernel's OOM killer end the trial minutes later.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search import builder

GIB = 1024**3
#: TensorFlow, Keras and the converter in a trial worker, about (benchmarks/trial_memory.py).
OVERHEAD_BYTES = GIB // 2


def _spatial(size: int, pool: str) -> tuple[int, int]:
    """(side of the convolution's output, side after the block) for a block's input side."""
    if pool == "stride":
        out = -(-size // 2)
        return out, out
    return size, size if pool == "none" else size // 2


def training_bytes(values: Mapping[str, Any], image_size: int, batch_size: int,
                   images: int = 0) -> int:
    """Bytes of memory training this candidate takes, about (see the module's docstring)."""
    arch = builder.architecture(values)
    k = arch["kernel_size"]
    side, channels = image_size, 3
    activations = 2 * side * side * channels  # pixels, rescaled pixels
    params = 0
    if "stem" in arch:  # 3x3 conv at stride 2, BatchNorm, activation
        side, channels = -(-side // 2), arch["stem"]
        activations += 3 * side * side * channels
        params += 31 * channels
    for block in arch["blocks"]:
        f = block["filters"]
        in_map = side * side
        conv_side, side = _spatial(side, block["pool"])
        per_map = conv_side * conv_side
        if block["conv"] == "inverted":  # expand, depthwise (3 maps each), project (2), add
            e = channels * int(block["expansion"])
            activations += (3 * in_map * e if e != channels else 0) + 3 * per_map * e
            activations += 3 * per_map * f + side * side * f
            params += channels * e + k * k * e + e * f + 8 * e + 4 * f
            channels = f
            continue
        activations += 3 * per_map * f + side * side * f
        if block["conv"] == "separable":
            activations += per_map * channels
            params += k * k * channels + channels * f
        else:
            params += k * k * channels * f
        params += 4 * f  # BatchNorm
        channels = f
    if "last" in arch:  # 1x1 conv, BatchNorm, activation
        activations += 3 * side * side * arch["last"]
        params += channels * arch["last"] + 4 * arch["last"]
        channels = arch["last"]
    width = channels if arch["head"] == "gap" else max(1, side) ** 2 * channels
    for units in arch["dense"]:
        params += width * units + units
        activations += 2 * units
        width = units
    params += width + 1
    batch = batch_size * activations * 4 * 2  # float32, values and gradients
    return int(batch + params * 4 * 4 + images * image_size * image_size * 3
               + OVERHEAD_BYTES)


def available_bytes() -> int | None:
    """Memory this machine can give now (Linux's MemAvailable), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def problem(values: Mapping[str, Any], image_size: int, batch_size: int, images: int = 0,
            available: int | None = None) -> str | None:
    """Why the candidate cannot train in this machine's memory (one line), or None when it
    fits or the machine's memory is unknown. ``available``: bytes (default: now)."""
    available = available_bytes() if available is None else available
    if available is None:
        return None
    try:
        need = training_bytes(values, image_size, batch_size, images)
    except (KeyError, TypeError, ValueError):
        return None  # not a network the builder can make: the trial says why
    if need <= available:
        return None
    return (f"needs about {need / GIB:.1f} GiB of memory to train ({image_size} px, batch of "
            f"{batch_size}), more than the {available / GIB:.1f} GiB this machine has free; "
            "use a smaller --image-size or --batch-size")
