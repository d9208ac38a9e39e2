import numpy as np
import pytest

from search import builder, space
from search.errors import InfeasibleCandidate


def test_seed_block_sequence_and_raw_pixel_input():
    ref = space.load("lite").reference
    model = builder.build_model(ref, (64, 64, 3))
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:3] == ["InputLayer", "Rescaling", "SeparableConv2D"]
    block = ["SeparableConv2D", "BatchNormalization", "LeakyReLU", "MaxPooling2D"]
    assert kinds[2:2 + 4 * 5] == block * 5
    assert kinds[22] == "Flatten"
    assert kinds[23:32] == ["Dense", "LeakyReLU", "Dropout"] * 3
    assert kinds[-2:] == ["Dense", "Rescaling"]
    drop = [layer.rate for layer in model.layers if type(layer).__name__ == "Dropout"]
    assert drop == pytest.approx([0.5, 0.3, 0.18])
    sep = model.get_layer("block1_sepconv")
    assert type(sep.depthwise_initializer).__name__ == "HeNormal"
    assert sep.depthwise_regularizer.l2 == pytest.approx(1e-5)
    assert model.get_layer("dense1").kernel_regularizer.l2 == pytest.approx(0.1)


def test_outputs_years_from_raw_pixels():
    values = {"blocks": 2, "filters_1": 4, "filters_2": 4, "dense_layers": 1,
              "dense_units_1": 4, "conv": "full"}
    model = builder.build_model(values, (16, 16, 3))
    x = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    y = model.predict(x, verbose=0)
    assert y.shape == (3, 1)
    assert model.get_layer("rescale").scale == pytest.approx(1 / 255)
    assert model.get_layer("age_years").scale == pytest.approx(116.0)
    assert isinstance(model.get_layer("block1_conv"), __import__("keras").layers.Conv2D)


def test_collapsing_shapes_are_rejected_with_the_reason():
    values = {"blocks": 6, **{f"filters_{i}": 4 for i in range(1, 7)}, "dense_layers": 1,
              "dense_units_1": 4}
    with pytest.raises(InfeasibleCandidate, match=r"6 pooled blocks shrink a 32 px input.*at most 5"):
        builder.build_model(values, (32, 32, 3))
    builder.build_model(values, (64, 64, 3))  # fits at 64 px
    assert builder.max_blocks(48) == 5


def test_step_schedule_matches_the_seed():
    from search.trial import step_learning_rate

    lrs = [step_learning_rate(1e-3, e, 8) for e in range(8)]
    assert lrs == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 1e-4, 1e-4, 9.5e-5, 9.5e-5])


@pytest.mark.parametrize("space_name", ["lite", "full", "mixed", "mobile"])
def test_counted_costs_match_the_built_network(space_name):
    """search.candidate.counted (arithmetic, what the multi-fidelity proposer screens draws
    with) agrees exactly with Keras' parameter count and the MACs counted from the layers,
    for sampled candidates of every shipped space, stride-2 and odd sizes included."""
    from search import candidate, costs

    s = space.load(space_name)
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(40):
        values = {**s.sample(rng), "max_flatten": 0}
        size = int(values.get("image_size", 64))
        if rng.random() < 0.3:
            size = int(rng.choice([33, 47, 50]))  # odd sizes: 'same' strides round up
        try:
            counted = candidate.counted(values, size)
        except InfeasibleCandidate:
            with pytest.raises(InfeasibleCandidate):
                builder.build_model(values, (size, size, 3))
            continue
        model = builder.build_model(values, (size, size, 3))
        assert counted.params == model.count_params(), values
        assert counted.macs == costs.count_macs(model), values
        checked += 1
        if checked >= 8:
            break
    assert checked >= 8


def test_mobile_reference_is_a_mobilenetv2_style_network():
    """Stem, inverted residual blocks (expand, depthwise at the block's stride, linear
    project, the input added back only at stride 1 with matching channels), ReLU6, a 1x1
    conv, global average pooling."""
    import keras

    ref = space.load("mobile").reference
    model = builder.build_model(ref, (64, 64, 3))
    names = [layer.name for layer in model.layers]
    assert names[:5] == ["pixels", "rescale", "stem_conv", "stem_bn", "stem_act"]
    assert model.get_layer("stem_conv").strides == (2, 2)
    # block 1: expansion 1, so no expand conv (MobileNetV2's first block)
    assert "block1_expand" not in names and "block1_dwconv" in names
    for i in range(2, 8):
        expand = model.get_layer(f"block{i}_expand")
        assert expand.kernel_size == (1, 1)
        assert expand.filters == 6 * model.get_layer(f"block{i}_expand").input.shape[-1]
    strides = {i: model.get_layer(f"block{i}_dwconv").strides for i in range(1, 8)}
    assert strides == {1: (1, 1), 2: (2, 2), 3: (1, 1), 4: (2, 2), 5: (1, 1), 6: (2, 2),
                       7: (1, 1)}
    assert all(isinstance(model.get_layer(f"block{i}_dwconv"), keras.layers.DepthwiseConv2D)
               for i in range(1, 8))
    # residual: stride 1 and the same channels (16->16, 24->24, 32->32); not block 7 (64->96)
    assert sorted(n for n in names if n.endswith("_add")) == [
        "block1_add", "block3_add", "block5_add"]
    # the projection is linear: its BatchNorm feeds the add or the next block, no activation
    after_project = [layer.name for layer in model.layers
                     if layer.name.startswith("block7_project_bn")]
    assert after_project and "block7_project_act" not in names
    acts = [layer for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    assert acts and all(float(a.max_value) == 6.0 for a in acts)
    assert not any(isinstance(layer, keras.layers.LeakyReLU) for layer in model.layers)
    assert model.get_layer("last_conv").filters == 256
    assert isinstance(model.get_layer("head_gap"), keras.layers.GlobalAveragePooling2D)
    assert model.get_layer("dense1").units == 64
    assert model.output_shape == (None, 1)


def test_width_multiplier_and_squeeze_excitation():
    ref = space.load("mobile").reference
    half = builder.build_model({**ref, "width": 0.5, "se_ratio": 0.25}, (48, 48, 3))
    # MobileNet's rounding: 16 * 0.5 = 8; 24 * 0.5 = 12 -> 16 (nearest multiple of 8, up on a
    # tie); 96 * 0.5 = 48; 256 * 0.5 = 128
    assert half.get_layer("stem_conv").filters == 8
    assert half.get_layer("block2_project").filters == 16
    assert half.get_layer("block7_project").filters == 48
    assert half.get_layer("last_conv").filters == 128
    assert builder.round_channels(0.35 * 16) == 8 and builder.round_channels(0.75 * 20) == 16
    assert builder.round_channels(0.35 * 96) == 32  # 33.6: nearest multiple of 8
    # SE on the expanded channels of block 2: 8 * 6 = 48 -> squeeze 12 -> 16 (multiple of 8)
    assert half.get_layer("block2_se_reduce").filters == 16
    assert half.get_layer("block2_se_expand").filters == 48
    assert half.get_layer("block2_se_expand").activation.__name__ == "sigmoid"
    assert type(half.get_layer("block2_se")).__name__ == "Multiply"


# Every kind of block and option, one change at a time from the mobile reference: the costs by
# arithmetic must equal Keras' exactly for each.
VARIANTS = [
    {},
    {"width": 0.35},
    {"width": 1.3, "se_ratio": 0.25},
    {"se_ratio_3": 0.5, "expansion_5": 3},
    {"stem_filters": 0},
    {"last_filters": 0, "dense_layers": 0},
    {"pool_7": "max", "pool_3": "avg"},
    {"kernel_size": 5},
    {"head": "flatten", "max_flatten": 0},
    {"conv_2": "separable", "conv_5": "full", "pool_5": "none"},
    {"conv": "separable", "activation": "leaky_relu", "pool": "none", "pool_2": "stride"},
    {"activation": "leaky_relu", "expansion": 1},
]


@pytest.mark.parametrize("change", VARIANTS, ids=lambda c: ",".join(c) or "reference")
@pytest.mark.parametrize("size", [64, 47])
def test_counted_costs_match_keras_for_every_block_kind(change, size):
    from search import candidate, costs

    values = {**space.load("mobile").reference, **change}
    counted = candidate.counted(values, size)
    model = builder.build_model(values, (size, size, 3))
    assert counted.params == model.count_params()
    assert counted.macs == costs.count_macs(model)


def test_downsampling_past_1x1_is_rejected_with_the_stem_counted():
    ref = space.load("mobile").reference
    values = {**ref, **{f"pool_{i}": "stride" for i in range(2, 8)}}
    with pytest.raises(InfeasibleCandidate,
                       match=r"a stride-2 stem and 6 downsampling blocks shrink a 32 px input "
                             r"below 1x1 at block 6 \(at most 5 halvings fit"):
        builder.build_model(values, (32, 32, 3))
    builder.build_model(values, (96, 96, 3))  # fits at 96 px: 48, 24, 12, 6, 3, 2, 1
    # stride-1 blocks never shrink the image, however many
    flat = {**ref, **{f"pool_{i}": "none" for i in range(1, 8)}}
    assert builder.build_model(flat, (8, 8, 3)).output_shape == (None, 1)
