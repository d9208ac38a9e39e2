"""``build_model(values, input_shape) -> keras.Model``: pure, no I/O, no tuner.

The seed's architecture, driven by a dict of hyperparameter values:

    pixels (0-255) -> Rescaling(1/255)
    -> blocks of [Conv2D | SeparableConv2D] -> BatchNorm -> LeakyReLU -> 2x2 pool
       (He-normal init, L2 on the kernels; ``pool``: max (the seed's), average, or none
       with the convolution at stride 2)
    -> Flatten (the seed's head) or global average pooling
    -> Dense -> LeakyReLU -> Dropout, dropout falling layer by layer
    -> Dense(1) -> Rescaling(116): the age in years

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
    "conv": "separable",  # "separable" (the seed's lite model) or "full" (Conv2D)
    "kernel_size": 3,
    "head": "flatten",  # "flatten" (the seed) or "gap" (global average pooling)
    "leaky_slope": 0.3,  # LeakyReLU negative slope (Keras' default, the seed's)
    "conv_l2": 1e-5,
    "dense_l2": 1e-5,
    "dense_layers": 1,
    "dropout": 0.0,  # dropout after the first dense layer
    "dropout_decay": 0.5,  # each further dense layer's dropout = previous * decay
    "learning_rate": 1e-3,
    "lr_schedule": "step",  # "step" (the seed's), "cosine" or "constant"
    "pool": "max",  # how each block halves the image: "max", "avg" pooling or "stride" 2
    "augment": 0.0,  # training-time augmentation strength, 0 (off) .. 1
    # A flatten head over more features than this is infeasible (0: no limit). A flatten
    # over a large feature map (2 blocks at 96 px: 24x24x64 = 36,864 features) puts millions
    # of parameters in the first dense layer, for a model larger and less accurate than the
    # reference; the shipped spaces set 4096 (the reference flattens 2x2x256 = 1,024).
    "max_flatten": 0,
}

#: Every hyperparameter name the builder and trainer understand (regex, kind, allowed).
KNOWN: tuple[tuple[str, str, tuple[Any, ...] | None], ...] = (
    (r"blocks", "int", None),
    (r"filters_[1-9]\d*", "int", None),
    (r"conv", "str", ("separable", "full")),
    (r"conv_[1-9]\d*", "str", ("separable", "full")),
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
    (r"pool", "str", ("max", "avg", "stride")),
    (r"pool_[1-9]\d*", "str", ("max", "avg", "stride")),
    (r"image_size", "int", None),
    (r"batch_size", "int", None),
    (r"augment", "float", None),
    (r"max_flatten", "int", None),
)


def known_kind(name: str) -> tuple[str, tuple[Any, ...] | None] | None:
    """(kind, allowed values) of a hyperparameter name, or None if the name is unknown."""
    for pattern, kind, allowed in KNOWN:
        if re.fullmatch(pattern, name):
            return kind, allowed
    return None


def resolved(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values with defaults filled in."""
    out = dict(DEFAULTS)
    out.update(values)
    return out


def architecture(values: Mapping[str, Any]) -> dict[str, Any]:
    """Only what shapes the network (no training settings): the key of the cost cache."""
    v = resolved(values)
    blocks = int(v["blocks"])
    dense = int(v["dense_layers"])
    return {
        "blocks": [
            {"filters": int(v[f"filters_{i}"]), "conv": v.get(f"conv_{i}", v["conv"]),
             "pool": v.get(f"pool_{i}", v["pool"])}
            for i in range(1, blocks + 1)
        ],
        "leaky_slope": float(v["leaky_slope"]),
        "kernel_size": int(v["kernel_size"]),
        "head": v["head"],
        "dense": [int(v[f"dense_units_{j}"]) for j in range(1, dense + 1)],
    }


def dropout_rates(values: Mapping[str, Any]) -> list[float]:
    """The dropout after each dense layer: a start rate falling by ``dropout_decay``."""
    v = resolved(values)
    start, decay = float(v["dropout"]), float(v["dropout_decay"])
    return [start * decay**j for j in range(int(v["dense_layers"]))]


def check_shape(values: Mapping[str, Any], image_size: int) -> None:
    """Raise :class:`InfeasibleCandidate` if the pooled blocks shrink the image below 1x1, or
    if a flatten head takes more features than ``max_flatten`` allows."""
    v = resolved(values)
    blocks = int(v["blocks"])
    size = image_size
    for i in range(1, blocks + 1):
        if size < 2:
            raise InfeasibleCandidate(
                f"{blocks} pooled blocks shrink a {image_size} px input below 1x1 at block {i} "
                f"(at most {max_blocks(image_size)} blocks fit)"
            )
        stride = v.get(f"pool_{i}", v["pool"]) == "stride"
        size = -(-size // 2) if stride else size // 2
    limit = int(v["max_flatten"])
    if limit > 0 and v["head"] == "flatten":
        channels = int(v[f"filters_{blocks}"])
        if size * size * channels > limit:
            raise InfeasibleCandidate(
                f"a flatten head over {size}x{size}x{channels} = {size * size * channels:,} "
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
    slope = float(v["leaky_slope"])
    k = int(v["kernel_size"])
    conv_l2 = regularizers.L2(float(v["conv_l2"]))
    dense_l2 = regularizers.L2(float(v["dense_l2"]))

    inputs = keras.Input(shape=input_shape, name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    for i in range(1, int(v["blocks"]) + 1):
        filters = int(v[f"filters_{i}"])
        kind = v.get(f"conv_{i}", v["conv"])
        strides = 2 if v.get(f"pool_{i}", v["pool"]) == "stride" else 1
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
        else:
            raise InfeasibleCandidate(f"conv_{i} must be 'separable' or 'full', got {kind!r}")
        # momentum 0.9 (not 0.99): small data sets give few steps per epoch, and slow
        # moving statistics make early validation MAE erratic and early stopping wrong.
        x = layers.BatchNormalization(momentum=0.9, name=f"block{i}_bn")(x)
        x = layers.LeakyReLU(negative_slope=slope, name=f"block{i}_act")(x)
        pool = v.get(f"pool_{i}", v["pool"])
        if pool == "max":
            x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        elif pool == "avg":
            x = layers.AveragePooling2D(2, name=f"block{i}_pool")(x)
    if v["head"] == "gap":
        x = layers.GlobalAveragePooling2D(name="head_gap")(x)
    else:
        x = layers.Flatten(name="head_flatten")(x)
    for j, rate in enumerate(dropout_rates(v), start=1):
        x = layers.Dense(
            int(v[f"dense_units_{j}"]), kernel_initializer="he_normal",
            kernel_regularizer=dense_l2, name=f"dense{j}",
        )(x)
        x = layers.LeakyReLU(negative_slope=slope, name=f"dense{j}_act")(x)
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
