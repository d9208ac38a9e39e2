"""One candidate network: its hyperparameter values and the resolution it takes.

Pure (no Keras, no TensorFlow): a :class:`Candidate` says what it is
(:meth:`~Candidate.description`), what it takes (:attr:`~Candidate.input_shape`) and which
cost-cache entry is its (:meth:`~Candidate.cost_key`); :func:`search.builder.build_model`
builds it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from search import builder

#: How each ``pool`` value halves the image (see :func:`search.builder.build_model`).
POOL_TEXT = {"max": "2x2 max-pool", "avg": "2x2 average-pool", "stride": "stride-2 conv"}


def cost_key(values: Mapping[str, Any], input_shape: Sequence[int]) -> str:
    """The cost cache's key: only what shapes the network, and its input."""
    return json.dumps({"arch": builder.architecture(values), "input": list(input_shape)},
                      sort_keys=True)


@dataclass(frozen=True)
class Candidate:
    """Hyperparameter values, at their own ``image_size`` if they search it, else at
    ``default_image_size`` (the run's)."""

    values: Mapping[str, Any]
    default_image_size: int

    @property
    def image_size(self) -> int:
        return int(self.values.get("image_size", self.default_image_size))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Pixels the network takes: (height, width, RGB)."""
        return (self.image_size, self.image_size, 3)

    def cost_key(self) -> str:
        return cost_key(self.values, self.input_shape)

    def description(self) -> str | None:
        """The network in one line, input to age, as :func:`search.builder.build_model` builds
        it; None if the values do not describe a network."""
        try:
            arch = builder.architecture(self.values)
            rates = builder.dropout_rates(self.values)
            size = self.image_size
        except (KeyError, TypeError, ValueError):
            return None
        dense = [f"dense {units}" + (f" (dropout {rate:.2f})" if rate > 0 else "")
                 for units, rate in zip(arch["dense"], rates, strict=True)]
        head = "global average pooling" if arch["head"] == "gap" else "flatten"
        return " → ".join([f"{size}x{size}x3 pixels", _blocks_text(arch), head, *dense,
                           "1 output (age, years)"])


def _blocks_text(arch: Mapping[str, Any]) -> str:
    """``3 × [separable 3x3 conv, BatchNorm, LeakyReLU, 2x2 max-pool] with 16, 32, 64 filters``:
    what every block shares inside the brackets, what differs block by block after."""
    blocks = arch["blocks"]
    k = arch["kernel_size"]
    convs = {str(b["conv"]) for b in blocks}
    pools = {str(b["pool"]) for b in blocks}
    conv = (f"{next(iter(convs))} " if len(convs) == 1 else "") + f"{k}x{k} conv"
    if len(pools) > 1:
        layers = [conv, "BatchNorm", "LeakyReLU", "downsampling"]
    elif pools == {"stride"}:
        layers = [conv + " at stride 2", "BatchNorm", "LeakyReLU"]
    else:
        (pool,) = pools
        layers = [conv, "BatchNorm", "LeakyReLU", POOL_TEXT.get(pool, f"{pool} pool")]
    each = []
    for b in blocks:
        text = str(b["filters"]) + (f" {b['conv']}" if len(convs) > 1 else "")
        if len(pools) > 1:
            text += f" filters ({POOL_TEXT.get(str(b['pool']), str(b['pool']))})"
        each.append(text)
    filters = ", ".join(each) + ("" if len(pools) > 1 else " filters")
    return f"{len(blocks)} × [{', '.join(layers)}] with {filters}"


@dataclass(frozen=True)
class Counts:
    """What a network costs, counted from its values without building it."""

    params: int  # as ``keras.Model.count_params()``: BatchNorm's moving statistics included
    macs: int  # as :func:`search.costs.count_macs`: convolutions and dense layers


def counted(values: Mapping[str, Any], image_size: int) -> Counts:
    """Parameters and multiply-accumulates of the network :func:`search.builder.build_model`
    builds from ``values`` at ``image_size`` pixels, by arithmetic (microseconds, no
    TensorFlow): the costs a proposer can know before anything trains.
    ``tests/test_builder.py`` checks it against Keras for sampled candidates.

    Raises :class:`~search.errors.InfeasibleCandidate` as the builder would."""
    builder.check_shape(values, image_size)
    arch = builder.architecture(values)
    k = arch["kernel_size"]
    size, channels = image_size, 3
    params = macs = 0
    for b in arch["blocks"]:
        f = b["filters"]
        stride = b["pool"] == "stride"
        out = -(-size // 2) if stride else size  # 'same' padding: ceil(size / stride)
        if b["conv"] == "separable":
            params += k * k * channels + channels * f
            macs += out * out * (k * k * channels + channels * f)
        else:
            params += k * k * channels * f
            macs += out * out * k * k * channels * f
        params += 4 * f  # BatchNorm: gamma, beta, moving mean and variance
        size, channels = (out if stride else size // 2), f
    width = channels if arch["head"] == "gap" else size * size * channels
    for units in (*arch["dense"], 1):
        params += width * units + units
        macs += width * units
        width = units
    return Counts(params, macs)
