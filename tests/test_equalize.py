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


MOBILE = {"conv": "inverted", "activation": "relu6", "head": "gap", "stem_filters": 16,
          "blocks": 3, "filters_1": 8, "filters_2": 16, "filters_3": 16, "expansion": 4,
          "expansion_1": 1, "pool_1": "none", "pool_2": "stride", "pool_3": "none",
          "se_ratio": 0.25, "last_filters": 32, "dense_layers": 1, "dense_units_1": 16}

SHAPES = {
    "lite-flatten-max": LITE,
    "full-gap-max": {**LITE, "conv": "full", "head": "gap"},
    "lite-gap-avg": {**LITE, "head": "gap", "pool": "avg"},
    "full-flatten-avg": {**LITE, "conv": "full", "pool": "avg"},
    "mobile-relu6": MOBILE,
    "mobile-leaky": {**MOBILE, "activation": "leaky_relu"},
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_the_copy_computes_the_same_ages_with_equal_ranges_and_leaves_the_model_alone(shape):
    model, images = _uneven(SHAPES[shape])
    before = [w.copy() for w in model.get_weights()]
    twin, done = equalize.equalized(model, images)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    want = model.predict(images, verbose=0)
    got = twin.predict(images, verbose=0)
    assert np.allclose(got, want, rtol=1e-4, atol=1e-3), np.abs(got - want).max()
    found = {p.bn.name: p for p in equalize.pairs(model)}
    assert done["pairs"] == len(found) > 0
    for d in done["layers"]:
        if found[d["bn"]].depthwise:  # ranges made equal
            assert d["spread_before"] > 3 and d["spread_after"] == pytest.approx(1.0, abs=0.01)
        else:  # the range shared with the reader's weights
            assert d["spread_after"] < d["spread_before"]
    if shape == "lite-flatten-max":
        assert sorted(found) == ["block1_bn", "block2_bn", "block3_bn"]


def test_the_mobile_blocks_pair_only_what_has_one_plain_reader():
    """ReLU6 caps (its input cannot be rescaled), residual adds and the squeeze-and-excitation
    gate (two readers) end a chain; a projection read by the next block's expansion alone,
    and LeakyReLU expansions read by a depthwise conv, pair."""
    relu6 = builder.build_model(MOBILE, (32, 32, 3))
    assert [(p.bn.name, p.reader.name) for p in equalize.pairs(relu6)] == [
        ("block1_project_bn", "block2_expand")]
    leaky = builder.build_model({**MOBILE, "activation": "leaky_relu"}, (32, 32, 3))
    assert [(p.bn.name, p.reader.name, p.depthwise) for p in equalize.pairs(leaky)] == [
        ("stem_bn", "block1_dwconv", True), ("block1_project_bn", "block2_expand", False),
        ("block2_expand_bn", "block2_dwconv", True), ("block3_expand_bn", "block3_dwconv", True),
        ("last_bn", "dense1", False)]


def test_ops_model_outputs_and_shared_or_odd_layers_end_a_chain():
    """Readers the layer list does not show (``x + y``, a ``keras.ops`` call, a model
    output) count; a batch normalisation called twice, over the channels-first axis, or read
    by a grouped conv is left alone."""
    import keras

    inp = keras.Input((8, 8, 4))
    conv = keras.layers.Conv2D(4, 3, padding="same")(inp)
    plus = keras.layers.BatchNormalization(name="bn_plus")(conv)
    dw_plus = keras.layers.DepthwiseConv2D(3, padding="same", name="dw_plus")(plus)
    added = dw_plus + plus  # an op, not a layer: bn_plus has two readers
    ops = keras.layers.BatchNormalization(name="bn_ops")(added)
    dw_ops = keras.layers.DepthwiseConv2D(3, padding="same", name="dw_ops")(ops)
    gated = dw_ops * keras.ops.sigmoid(ops)
    out = keras.layers.BatchNormalization(name="bn_out")(gated)
    dw_out = keras.layers.DepthwiseConv2D(3, padding="same", name="dw_out")(out)
    shared = keras.layers.BatchNormalization(name="bn_shared")
    twice = keras.layers.DepthwiseConv2D(3, padding="same", name="dw_twice")(shared(dw_out))
    again = shared(twice)
    first = keras.layers.BatchNormalization(axis=1, name="bn_axis1")(again)
    dw_first = keras.layers.DepthwiseConv2D(3, padding="same", name="dw_axis1")(first)
    grouped = keras.layers.BatchNormalization(name="bn_grouped")(dw_first)
    conv_g = keras.layers.Conv2D(4, 3, padding="same", groups=2, name="grouped")(grouped)
    ok = keras.layers.BatchNormalization(name="bn_ok")(conv_g)
    dw_ok = keras.layers.DepthwiseConv2D(3, padding="same", name="dw_ok")(ok)
    model = keras.Model(inp, [dw_ok, out])
    assert [(p.bn.name, p.reader.name) for p in equalize.pairs(model)] == [("bn_ok", "dw_ok")]


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
