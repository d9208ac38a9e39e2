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


@pytest.mark.parametrize("space_name", ["lite", "full", "mixed"])
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
