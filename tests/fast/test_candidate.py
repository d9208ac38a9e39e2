"""A candidate's resolution, description and cost key (pure: no Keras needed)."""

import json

from conftest import lite_values

from search import costs
from search.candidate import Candidate


def test_resolution_is_the_candidates_own_else_the_default():
    v = lite_values([16, 32], [16])
    assert Candidate(v, 64).input_shape == (64, 64, 3)
    assert Candidate({**v, "image_size": 96}, 64).image_size == 96


def test_description_says_how_each_block_downsamples_and_at_what_resolution():
    v = lite_values([16, 32, 64], [64])
    assert Candidate(v, 64).description() == (
        "64x64x3 pixels → 3 × [separable 3x3 conv, BatchNorm, LeakyReLU, 2x2 max-pool] with 16, "
        "32, 64 filters → flatten → dense 64 (dropout 0.20) → 1 output (age, years)")
    avg = Candidate({**v, "pool": "avg", "image_size": 96}, 64).description()
    assert avg.startswith("96x96x3 pixels → 3 × [separable 3x3 conv, BatchNorm, LeakyReLU, "
                          "2x2 average-pool] with 16, 32, 64 filters")
    stride = Candidate({**v, "pool": "stride", "image_size": 48, "kernel_size": 5}, 64)
    assert stride.description().startswith(
        "48x48x3 pixels → 3 × [separable 5x5 conv at stride 2, BatchNorm, LeakyReLU] with 16, "
        "32, 64 filters →")
    assert "max-pool" not in stride.description()
    mixed = Candidate({**v, "pool_2": "stride", "pool_3": "avg", "conv_3": "full"}, 64)
    assert ("3 × [3x3 conv, BatchNorm, LeakyReLU, downsampling] with 16 separable filters "
            "(2x2 max-pool), 32 separable filters (stride-2 conv), 64 full filters "
            "(2x2 average-pool) → flatten") in mixed.description()


def test_description_of_values_that_are_not_a_network_is_none():
    assert Candidate({"blocks": 2}, 64).description() is None
    assert Candidate({**lite_values([8], [8]), "image_size": "big"}, 64).description() is None


def test_cost_key_is_the_cost_caches_and_tells_resolutions_apart():
    v = lite_values([16, 32], [16])
    c = Candidate({**v, "image_size": 48}, 64)
    assert c.cost_key() == costs.architecture_key(c.values, (48, 48, 3))
    assert json.loads(c.cost_key())["input"] == [48, 48, 3]
    assert c.cost_key() != Candidate(v, 64).cost_key()
    assert Candidate({**v, "learning_rate": 0.5}, 64).cost_key() == Candidate(v, 64).cost_key()
