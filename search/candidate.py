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
POOL_TEXT = {"max": "2x2 max-pool", "avg": "2x2 average-pool", "stride": "stride-2 conv",
             "none": "no downsampling"}


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
        act = ACTIVATION_TEXT.get(arch.get("activation", "leaky_relu"), "LeakyReLU")
        stem = ([f"stem 3x3 conv at stride 2 with {arch['stem']} filters, BatchNorm, {act}"]
                if "stem" in arch else [])
        last = ([f"1x1 conv with {arch['last']} filters, BatchNorm, {act}"]
                if "last" in arch else [])
        return " → ".join([f"{size}x{size}x3 pixels", *stem, _blocks_text(arch), *last, head,
                           *dense, "1 output (age, years)"])


#: How each ``activation`` value reads.
ACTIVATION_TEXT = {"leaky_relu": "LeakyReLU", "relu6": "ReLU6"}


def _blocks_text(arch: Mapping[str, Any]) -> str:
    """``3 × [separable 3x3 conv, BatchNorm, LeakyReLU, 2x2 max-pool] with 16, 32, 64 filters``:
    what every block shares inside the brackets, what differs block by block after."""
    blocks = arch["blocks"]
    if any(b["conv"] == "inverted" for b in blocks):
        return _inverted_text(arch)
    k = arch["kernel_size"]
    act = ACTIVATION_TEXT.get(arch.get("activation", "leaky_relu"), "LeakyReLU")
    convs = {str(b["conv"]) for b in blocks}
    pools = {str(b["pool"]) for b in blocks}
    conv = (f"{next(iter(convs))} " if len(convs) == 1 else "") + f"{k}x{k} conv"
    if len(pools) > 1:
        layers = [conv, "BatchNorm", act, "downsampling"]
    elif pools == {"stride"}:
        layers = [conv + " at stride 2", "BatchNorm", act]
    elif pools == {"none"}:
        layers = [conv, "BatchNorm", act]
    else:
        (pool,) = pools
        layers = [conv, "BatchNorm", act, POOL_TEXT.get(pool, f"{pool} pool")]
    each = []
    for b in blocks:
        text = str(b["filters"]) + (f" {b['conv']}" if len(convs) > 1 else "")
        if len(pools) > 1:
            text += f" filters ({POOL_TEXT.get(str(b['pool']), str(b['pool']))})"
        each.append(text)
    filters = ", ".join(each) + ("" if len(pools) > 1 else " filters")
    return f"{len(blocks)} × [{', '.join(layers)}] with {filters}"


def _inverted_text(arch: Mapping[str, Any]) -> str:
    """``6 × [inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project; BatchNorm, ReLU6]
    with 16 (x1), 24 (x6, stride 2), 24 (x6, residual)``: each block's filters, expansion,
    stride, squeeze-and-excitation and residual; a seed block among them says its kind."""
    k = arch["kernel_size"]
    act = ACTIVATION_TEXT.get(arch.get("activation", "leaky_relu"), "LeakyReLU")
    channels = arch.get("stem", 3)
    each = []
    for b in arch["blocks"]:
        pool = str(b["pool"])
        if b["conv"] != "inverted":
            text = f"{b['filters']} {b['conv']}"
            if pool != "none":
                text += f" ({POOL_TEXT.get(pool, pool)})"
        else:
            notes = [f"x{b['expansion']}"]
            if pool == "stride":
                notes.append("stride 2")
            elif pool != "none":
                notes.append(POOL_TEXT.get(pool, pool))
            if b["se_ratio"] > 0:
                notes.append(f"SE {b['se_ratio']:g}")
            if pool != "stride" and channels == b["filters"]:
                notes.append("residual")
            text = f"{b['filters']} ({', '.join(notes)})"
        each.append(text)
        channels = b["filters"]
    return (f"{len(arch['blocks'])} × [inverted residual: 1x1 expand, {k}x{k} depthwise, "
            f"1x1 project; BatchNorm, {act}] with {', '.join(each)} filters")


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
    if "stem" in arch:  # 3x3 Conv2D at stride 2, BatchNorm
        s = arch["stem"]
        size = -(-size // 2)
        params += 9 * channels * s + 4 * s
        macs += size * size * 9 * channels * s
        channels = s
    for b in arch["blocks"]:
        f = b["filters"]
        stride = b["pool"] == "stride"
        out = -(-size // 2) if stride else size  # 'same' padding: ceil(size / stride)
        if b["conv"] == "inverted":
            p, m = _inverted_counts(channels, f, b["expansion"], b["se_ratio"], k, size, out)
            params, macs = params + p, macs + m
        elif b["conv"] == "separable":
            params += k * k * channels + channels * f + 4 * f  # 4: BatchNorm's gamma, beta,
            macs += out * out * (k * k * channels + channels * f)  # moving mean and variance
        else:
            params += k * k * channels * f + 4 * f
            macs += out * out * k * k * channels * f
        size = out if b["pool"] in ("stride", "none") else size // 2
        channels = f
    if "last" in arch:  # 1x1 Conv2D, BatchNorm
        last = arch["last"]
        params += channels * last + 4 * last
        macs += size * size * channels * last
        channels = last
    width = channels if arch["head"] == "gap" else size * size * channels
    for units in (*arch["dense"], 1):
        params += width * units + units
        macs += width * units
        width = units
    return Counts(params, macs)


def _inverted_counts(cin: int, cout: int, expansion: int, se_ratio: float, k: int, size: int,
                     out: int) -> tuple[int, int]:
    """(parameters, MACs) of one inverted residual block (:func:`search.builder.build_model`):
    ``size`` the input's side, ``out`` the depthwise output's."""
    e = cin * expansion
    params = macs = 0
    if expansion != 1:  # 1x1 expand, BatchNorm
        params += cin * e + 4 * e
        macs += size * size * cin * e
    params += k * k * e + 4 * e  # depthwise, BatchNorm
    macs += out * out * k * k * e
    if se_ratio > 0:  # two 1x1 convolutions with biases on the pooled 1x1 map
        sq = builder.squeezed(e, se_ratio)
        params += e * sq + sq + sq * e + e
        macs += 2 * e * sq
    params += e * cout + 4 * cout  # 1x1 project, BatchNorm
    macs += out * out * e * cout
    return params, macs
