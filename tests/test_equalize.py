"""Cross-layer range equalization (search.equalize): the same function, equal channel ranges
where the reader is depthwise, and less int8 error, on real Keras models and the real TFLite
converter and interpreter."""

import numpy as np
import pytest

from search import builder, equalize, interpreter
from search.convert import to_tflite

LITE = {"blocks": 3, "filters_1": 8, "filters_2": 12, "filters_3": 8, "conv": "separable",
        "dense_layers": 2, "dense_units_1": 16, "dense_units_2": 8, "head": "flatten"}


def _uneven(values, size=32, seed=0):
    """A built network whose batch normalisations give their channels very different ranges
    (as trained networks do), and images for it."""
    rng = np.random.default_rng(seed)
    model = builder.build_model(values, (size, size, 3))
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            c = layer.gamma.shape[0]
            layer.gamma.assign(10.0 ** rng.uniform(-1.5, 1.0, c))
            layer.beta.assign(rng.normal(0.0, 0.3, c))
            layer.moving_mean.assign(rng.normal(0.0, 0.1, c))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c))
        if layer.name == "age_fraction":
            layer.kernel.assign(rng.normal(0.0, 0.3, layer.kernel.shape))
    images = rng.uniform(0, 255, (64, size, size, 3)).astype(np.float32)
    return model, images


def test_the_pairs_are_each_batchnorm_and_the_layer_that_reads_it():
    model, _ = _uneven(LITE)
    found = [(p.bn.name, p.reader.name, p.depthwise) for p in equalize.pairs(model)]
    assert found == [("block1_bn", "block2_sepconv", True), ("block2_bn", "block3_sepconv", True),
                     ("block3_bn", "dense1", False)]
    full = builder.build_model({**LITE, "conv": "full", "head": "gap"}, (32, 32, 3))
    assert [(p.bn.name, p.reader.name, p.depthwise) for p in equalize.pairs(full)] == [
        ("block1_bn", "block2_conv", False), ("block2_bn", "block3_conv", False),
        ("block3_bn", "dense1", False)]


def test_relu6_and_residual_adds_are_left_alone():
    import keras

    inp = keras.Input((16, 16, 4))
    a = keras.layers.BatchNormalization(name="bn_relu6")(keras.layers.Conv2D(4, 3, padding="same")(inp))
    a = keras.layers.DepthwiseConv2D(3, padding="same", name="dw1")(keras.layers.ReLU(6.0)(a))
    b = keras.layers.BatchNormalization(name="bn_add")(a)
    b = keras.layers.Add()([b, inp])
    c = keras.layers.BatchNormalization(name="bn_ok")(b)
    c = keras.layers.DepthwiseConv2D(3, padding="same", name="dw2")(keras.layers.LeakyReLU()(c))
    model = keras.Model(inp, c)
    assert [(p.bn.name, p.reader.name) for p in equalize.pairs(model)] == [("bn_ok", "dw2")]


def test_the_copy_computes_the_same_ages_with_equal_ranges_and_leaves_the_model_alone():
    model, images = _uneven(LITE)
    before = [w.copy() for w in model.get_weights()]
    twin, done = equalize.equalized(model, images)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    want = model.predict(images, verbose=0)
    got = twin.predict(images, verbose=0)
    assert np.allclose(got, want, rtol=1e-4, atol=1e-3), np.abs(got - want).max()
    assert done["pairs"] == 3
    spreads = {d["bn"]: (d["spread_before"], d["spread_after"]) for d in done["layers"]}
    for bn in ("block1_bn", "block2_bn"):  # depthwise readers: ranges made equal
        assert spreads[bn][0] > 3 and spreads[bn][1] == pytest.approx(1.0, abs=0.01)
    assert spreads["block3_bn"][1] < spreads["block3_bn"][0]  # shared with dense1's weights


def _spiked(seed):
    """Conv, batch normalisation with one channel 100 times the others (as a trained network
    may have), a separable conv, global pooling, one output."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(x)
    bn = keras.layers.BatchNormalization(name="bn1")
    x = keras.layers.LeakyReLU(0.2)(bn(x))
    x = keras.layers.SeparableConv2D(8, 3, padding="same", use_bias=False, name="sep")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(1, name="out")(x))
    bn.gamma.assign(np.array([100.0] + [1.0] * 7))
    return model


def test_int8_error_falls_where_one_channel_dwarfs_the_others():
    errors = np.zeros(2)
    for seed in range(4):
        model = _spiked(seed)
        images = np.random.default_rng(seed).uniform(0, 255, (64, 16, 16, 3)).astype(np.float32)
        want = model.predict(images, verbose=0).reshape(-1)
        twin, done = equalize.equalized(model, images)
        assert [d["reader"] for d in done["layers"]] == ["sep", "out"]
        for i, m in enumerate((model, twin)):
            pred = interpreter.predict(to_tflite(m, "int8", images), images.astype(np.uint8))
            errors[i] += float(np.mean(np.abs(pred.reshape(-1) - want)))
    # measured: 0.158 against 0.056 (per seed 0.087/0.017, 0.033/0.020, 0.010/0.007,
    # 0.028/0.012): the int8 file's distance from the float model, summed over the seeds
    assert errors[1] < 0.6 * errors[0], errors


def test_a_network_without_pairs_is_copied_unchanged():
    import keras

    inp = keras.Input((8, 8, 3))
    model = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(inp)))
    twin, done = equalize.equalized(model, np.zeros((2, 8, 8, 3), np.float32))
    assert done == {"pairs": 0} and twin is not model
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), twin.get_weights(),
                                                    strict=True))
