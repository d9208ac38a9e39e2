"""``build_model(values, input_shape) -> keras.Model``: pure, no I/O, no tuner.

The reference recipe's architecture, driven by a dict of hyperparameter values:

    pixels (0-255) -> Rescaling(1/255)
    -> (optional stem: 3x3 Conv2D at stride 2 -> BatchNorm -> activation)
    -> blocks of [Conv2D | SeparableConv2D] -> BatchNorm -> LeakyReLU -> 2x2 pool
       (He-normal init, L2 on the kernels; ``pool``: max (the reference recipe's), average, the
       convolution at stride 2, or none: the block keeps its input's size)
       or inverted residual blocks (MobileNetV2's: 1x1 expand -> BatchNorm -> activation
       -> depthwise kxk, at stride 2 or 1 -> BatchNorm -> activation -> optional
       squeeze-and-excitation -> 1x1 linear project -> BatchNorm, plus the block's input
       when the stride is 1 and the channels match)
    -> (optional 1x1 Conv2D -> BatchNorm -> activation: MobileNetV2's last convolution)
    -> Flatten (the reference recipe's head) or global average pooling
    -> Dense -> LeakyReLU -> Dropout, dropout falling layer by layer
    -> Dense(1) -> Rescaling(116): the age in years

The activation is LeakyReLU (the reference recipe's) or ReLU6 (MobileNet's, which TFLite fuses into
the convolution before it, int8 included). ``width`` multiplies every convolution's filters
(MobileNet's width multiplier).

Normalisation and denormalisation live inside the model, so an exported TFLite file takes raw
RGB pixels and returns years: the phone needs no constants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from search.errors import InfeasibleCandidate

#: Ages are predicted as a fraction of this many years, as in the seed (age / 116).
AGE_SCALE = 116.0

#: Values a candidate may leave out, and what they mean then.
DEFAULTS: dict[str, Any] = {
    "conv": "separable",  # "separable" (the reference recipe's lite model) or "full" (Conv2D)
    "kernel_size": 3,
    "head": "flatten",  # "flatten" (the seed) or "gap" (global average pooling)
    "leaky_slope": 0.3,  # LeakyReLU negative slope (Keras' default, the reference recipe's)
    "conv_l2": 1e-5,
    "dense_l2": 1e-5,
    "dense_layers": 1,
    "dropout": 0.0,  # dropout after the first dense layer
    "dropout_decay": 0.5,  # each further dense layer's dropout = previous * decay
    "learning_rate": 1e-3,
    "lr_schedule": "step",  # "step" (the reference recipe's), "cosine" or "constant"
    "pool": "max",  # how each block halves the image: "max", "avg" pooling or "stride" 2
    "augment": 0.0,  # training-time augmentation strength, 0 (off) .. 1
    # A flatten head over more features than this is infeasible (0: no limit). A flatten
    # over a large feature map (2 blocks at 96 px: 24x24x64 = 36,864 features) puts millions
    # of parameters in the first dense layer, for a model larger and less accurate than the
    # reference; the shipped spaces set 4096 (the reference flattens 2x2x256 = 1,024).
    "max_flatten": 0,
    "activation": "leaky_relu",  # of every block, the stem, the last conv and dense layers
    "width": 1.0,  # multiplies every convolution's filters, rounded as MobileNet does
    "expansion": 6,  # an inverted residual block's expansion factor (MobileNetV2's)
    "se_ratio": 0.0,  # squeeze-and-excitation in inverted blocks: squeezed/expanded, 0: none
    "stem_filters": 0,  # a 3x3 stride-2 Conv2D before the blocks; 0: none
    "last_filters": 0,  # a 1x1 Conv2D after the blocks (MobileNetV2's 1280); 0: none
}

#: What ``conv`` (and ``conv_<i>``) may be: the reference recipe's two convolutions, or
#: MobileNetV2's inverted residual block.
CONVS = ("separable", "full", "inverted")
#: What ``pool`` (and ``pool_<i>``) may be: how a block changes its input's size.
POOLS = ("max", "avg", "stride", "none")
#: Channels a width multiplier other than 1 rounds to a multiple of (MobileNet's rule).
CHANNEL_DIVISOR = 8

#: Every hyperparameter name the builder and trainer understand (regex, kind, allowed).
KNOWN: tuple[tuple[str, str, tuple[Any, ...] | None], ...] = (
    (r"blocks", "int", None),
    (r"filters_[1-9]\d*", "int", None),
    (r"conv", "str", CONVS),
    (r"conv_[1-9]\d*", "str", CONVS),
    (r"kernel_size", "int", None),
    (r"head", "str", ("flatten", "gap")),
    (r"leaky_slope", "float", None),
    (r"conv_l2", "float", None),
    (r"dense_l2", "float", None),
    (r"dense_layers", "int", None),
    (r"dense_units_[1-9]\d*", "int", None),
    (r"dropout", "float", None),
    (r"dropout_decay", "float", None),
    (r"learning_rate", "float", None),
    (r"lr_schedule", "str", ("step", "cosine", "constant")),
    (r"pool", "str", POOLS),
    (r"pool_[1-9]\d*", "str", POOLS),
    (r"image_size", "int", None),
    (r"batch_size", "int", None),
    (r"augment", "float", None),
    (r"max_flatten", "int", None),
    (r"activation", "str", ("leaky_relu", "relu6")),
    (r"width", "float", None),
    (r"expansion", "int", None),
    (r"expansion_[1-9]\d*", "int", None),
    (r"se_ratio", "float", None),
    (r"se_ratio_[1-9]\d*", "float", None),
    (r"stem_filters", "int", None),
    (r"last_filters", "int", None),
)


def known_kind(name: str) -> tuple[str, tuple[Any, ...] | None] | None:
    """(kind, allowed values) of a hyperparameter name, or None if the name is unknown."""
    for pattern, kind, allowed in KNOWN:
        if re.fullmatch(pattern, name):
            return kind, allowed
    return None


def known_names() -> str:
    """The hyperparameter names, for an error message: ``filters_<i>`` for a name per block,
    ``conv[_<i>]`` for a name with a per-block override."""
    names = [pattern.replace(r"_[1-9]\d*", "_<i>") for pattern, _, _ in KNOWN]
    out: list[str] = []
    for name in names:
        base = name.removesuffix("_<i>")
        if name != base and base in out:
            out[out.index(base)] = f"{base}[_<i>]"
        else:
            out.append(name)
    return ", ".join(out)


def resolved(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values with defaults filled in."""
    out = dict(DEFAULTS)
    out.update(values)
    return out


def round_channels(filters: float, divisor: int = CHANNEL_DIVISOR) -> int:
    """MobileNet's rounding of a width-multiplied filter count: the nearest multiple of
    ``divisor`` (at least ``divisor``), one more step up when rounding lost over 10%."""
    out = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if out < 0.9 * filters:
        out += divisor
    return out


def channels(filters: int, width: float) -> int:
    """The filters a convolution gets: as written at width 1, else :func:`round_channels`."""
    return int(filters) if float(width) == 1.0 else round_channels(int(filters) * float(width))


def squeezed(expanded: int, ratio: float) -> int:
    """Channels of a squeeze-and-excitation's bottleneck (MobileNetV3's rounding)."""
    return round_channels(expanded * float(ratio))


def architecture(values: Mapping[str, Any]) -> dict[str, Any]:
    """Only what shapes the network (no training settings): the key of the cost cache.

    Filters are the convolutions' own, ``width`` applied. Keys the reference recipe's
    networks do not use (``stem``, ``last``, ``activation``, a block's ``expansion`` and
    ``se_ratio``) are there only when used, so the keys of the reference recipe's networks,
    and older runs' cost caches, stay."""
    v = resolved(values)
    blocks = int(v["blocks"])
    dense = int(v["dense_layers"])
    width = float(v["width"])
    out_blocks = []
    for i in range(1, blocks + 1):
        b = {"filters": channels(v[f"filters_{i}"], width), "conv": v.get(f"conv_{i}", v["conv"]),
             "pool": v.get(f"pool_{i}", v["pool"])}
        if b["conv"] == "inverted":
            b["expansion"] = int(v.get(f"expansion_{i}", v["expansion"]))
            b["se_ratio"] = float(v.get(f"se_ratio_{i}", v["se_ratio"]))
        out_blocks.append(b)
    arch: dict[str, Any] = {
        "blocks": out_blocks,
        "leaky_slope": float(v["leaky_slope"]),
        "kernel_size": int(v["kernel_size"]),
        "head": v["head"],
        "dense": [int(v[f"dense_units_{j}"]) for j in range(1, dense + 1)],
    }
    if v["activation"] != "leaky_relu":
        arch["activation"] = v["activation"]
    if int(v["stem_filters"]) > 0:
        arch["stem"] = channels(v["stem_filters"], width)
    if int(v["last_filters"]) > 0:
        arch["last"] = channels(v["last_filters"], width)
    return arch


def dropout_rates(values: Mapping[str, Any]) -> list[float]:
    """The dropout after each dense layer: a start rate falling by ``dropout_decay``."""
    v = resolved(values)
    start, decay = float(v["dropout"]), float(v["dropout_decay"])
    return [start * decay**j for j in range(int(v["dense_layers"]))]


def _halved(size: int, pool: str) -> int:
    """A block's output side: 'same' padding at stride 2 rounds up, 2x2 pooling down."""
    if pool == "stride":
        return -(-size // 2)
    return size if pool == "none" else size // 2


def check_shape(values: Mapping[str, Any], image_size: int) -> None:
    """Raise :class:`InfeasibleCandidate` if the stem and blocks shrink the image below 1x1,
    or if a flatten head takes more features than ``max_flatten`` allows."""
    v = resolved(values)
    arch = architecture(values)
    blocks = arch["blocks"]
    size = -(-image_size // 2) if "stem" in arch else image_size
    for i, b in enumerate(blocks, start=1):
        if b["pool"] == "none":
            continue
        if size < 2:
            if "stem" in arch or any(c["pool"] == "none" for c in blocks):
                steps = ("a stride-2 stem and " if "stem" in arch else "") + \
                    f"{sum(c['pool'] != 'none' for c in blocks)} downsampling blocks"
                raise InfeasibleCandidate(
                    f"{steps} shrink a {image_size} px input below 1x1 at block {i} (at most "
                    f"{max_blocks(image_size)} halvings fit, the stem's included)")
            raise InfeasibleCandidate(
                f"{len(blocks)} pooled blocks shrink a {image_size} px input below 1x1 at "
                f"block {i} (at most {max_blocks(image_size)} blocks fit)"
            )
        size = _halved(size, b["pool"])
    limit = int(v["max_flatten"])
    if limit > 0 and v["head"] == "flatten":
        ch = arch.get("last", blocks[-1]["filters"] if blocks else 3)
        if size * size * ch > limit:
            raise InfeasibleCandidate(
                f"a flatten head over {size}x{size}x{ch} = {size * size * ch:,} "
                f"features (max_flatten {limit:,}); use more blocks, fewer filters in the last "
                "block, or head = \"gap\"")


def max_blocks(image_size: int) -> int:
    """How many 2x2-pooled blocks an input of ``image_size`` pixels survives."""
    n, size = 0, image_size
    while size >= 2:
        size //= 2
        n += 1
    return n


def build_model(values: Mapping[str, Any], input_shape: tuple[int, int, int], name: str = "age"):
    """A Keras model taking raw RGB pixels (0-255) and returning the age in years."""
    import keras
    from keras import layers, regularizers

    check_shape(values, input_shape[0])
    v = resolved(values)
    arch = architecture(values)
    slope = float(v["leaky_slope"])
    k = int(v["kernel_size"])
    conv_l2 = regularizers.L2(float(v["conv_l2"]))
    dense_l2 = regularizers.L2(float(v["dense_l2"]))

    def act(label: str):
        if v["activation"] == "relu6":
            return layers.ReLU(max_value=6.0, name=label)
        return layers.LeakyReLU(negative_slope=slope, name=label)

    def bn(label: str):
        # momentum 0.9 (not 0.99): small data sets give few steps per epoch, and slow
        # moving statistics make early validation MAE erratic and early stopping wrong.
        return layers.BatchNormalization(momentum=0.9, name=label)

    def pointwise(filters: int, label: str):
        return layers.Conv2D(filters, 1, use_bias=False, kernel_initializer="he_normal",
                             kernel_regularizer=conv_l2, name=label)

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    if "stem" in arch:
        x = layers.Conv2D(arch["stem"], 3, strides=2, padding="same", use_bias=False,
                          kernel_initializer="he_normal", kernel_regularizer=conv_l2,
                          name="stem_conv")(x)
        x = act("stem_act")(bn("stem_bn")(x))
    ch = int(x.shape[-1])
    for i, b in enumerate(arch["blocks"], start=1):
        filters, kind, pool = b["filters"], b["conv"], b["pool"]
        strides = 2 if pool == "stride" else 1
        if kind == "separable":
            # Keras 3's SeparableConv2D has no kernel_initializer: it takes one per stage.
            x = layers.SeparableConv2D(
                filters, k, strides=strides, padding="same", use_bias=False,
                depthwise_initializer="he_normal", pointwise_initializer="he_normal",
                depthwise_regularizer=conv_l2, pointwise_regularizer=conv_l2,
                name=f"block{i}_sepconv",
            )(x)
        elif kind == "full":
            x = layers.Conv2D(
                filters, k, strides=strides, padding="same", use_bias=False,
                kernel_initializer="he_normal",
                kernel_regularizer=conv_l2, name=f"block{i}_conv",
            )(x)
        elif kind == "inverted":
            x = _inverted_residual(x, i, ch, b, k, strides, act, bn, pointwise, conv_l2)
        else:
            raise InfeasibleCandidate(f"conv_{i} must be one of {list(CONVS)}, got {kind!r}")
        if kind != "inverted":
            x = act(f"block{i}_act")(bn(f"block{i}_bn")(x))
        if pool == "max":
            x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        elif pool == "avg":
            x = layers.AveragePooling2D(2, name=f"block{i}_pool")(x)
        ch = filters
    if "last" in arch:
        x = act("last_act")(bn("last_bn")(pointwise(arch["last"], "last_conv")(x)))
    if v["head"] == "gap":
        x = layers.GlobalAveragePooling2D(name="head_gap")(x)
    else:
        x = layers.Flatten(name="head_flatten")(x)
    for j, rate in enumerate(dropout_rates(v), start=1):
        x = layers.Dense(
            int(v[f"dense_units_{j}"]), kernel_initializer="he_normal",
            kernel_regularizer=dense_l2, name=f"dense{j}",
        )(x)
        x = act(f"dense{j}_act")(x)
        if rate > 0:
            x = layers.Dropout(rate, name=f"dense{j}_dropout")(x)
    # Start every candidate at a typical adult age (30 years) with a near-flat output: with
    # a default init the first predictions are off by a hundred years and the first epochs
    # are spent undoing that.
    x = layers.Dense(1, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3),
                     bias_initializer=keras.initializers.Constant(30.0 / AGE_SCALE),
                     name="age_fraction")(x)
    outputs = layers.Rescaling(AGE_SCALE, name="age_years")(x)
    return keras.Model(inputs, outputs, name=name)


def _inverted_residual(x, i: int, in_channels: int, block: Mapping[str, Any], k: int,
                       strides: int, act, bn, pointwise, conv_l2):
    """MobileNetV2's block: expand (1x1, skipped at expansion 1), depthwise kxk at the
    block's stride, optional squeeze-and-excitation (MobileNetV3's, a sigmoid gate: every op
    a TFLite int8 builtin), linear 1x1 project; the input is added back when the stride is 1
    and the channels match."""
    from keras import layers

    t, ratio, filters = int(block["expansion"]), float(block["se_ratio"]), block["filters"]
    expanded = in_channels * t
    y = x
    if t != 1:
        y = act(f"block{i}_expand_act")(bn(f"block{i}_expand_bn")(
            pointwise(expanded, f"block{i}_expand")(y)))
    y = layers.DepthwiseConv2D(k, strides=strides, padding="same", use_bias=False,
                               depthwise_initializer="he_normal",
                               depthwise_regularizer=conv_l2, name=f"block{i}_dwconv")(y)
    y = act(f"block{i}_dw_act")(bn(f"block{i}_dw_bn")(y))
    if ratio > 0:
        s = layers.GlobalAveragePooling2D(keepdims=True, name=f"block{i}_se_pool")(y)
        s = layers.Conv2D(squeezed(expanded, ratio), 1, activation="relu",
                          name=f"block{i}_se_reduce")(s)
        s = layers.Conv2D(expanded, 1, activation="sigmoid", name=f"block{i}_se_expand")(s)
        y = layers.Multiply(name=f"block{i}_se")([y, s])
    y = bn(f"block{i}_project_bn")(pointwise(filters, f"block{i}_project")(y))
    if strides == 1 and in_channels == filters:
        y = layers.Add(name=f"block{i}_add")([x, y])
    return y
