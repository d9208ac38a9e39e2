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


def test_mobile_description_names_each_blocks_expansion_stride_and_residual():
    from search import space

    ref = space.load("mobile").reference
    assert Candidate(ref, 64).description() == (
        "64x64x3 pixels → stem 3x3 conv at stride 2 with 16 filters, BatchNorm, ReLU6 → "
        "7 × [inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project; BatchNorm, ReLU6] "
        "with 16 (x1, residual), 24 (x6, stride 2), 24 (x6, residual), 32 (x6, stride 2), "
        "32 (x6, residual), 64 (x6, stride 2), 96 (x6) filters → 1x1 conv with 256 filters, "
        "BatchNorm, ReLU6 → global average pooling → dense 64 (dropout 0.20) → "
        "1 output (age, years)")
    half = Candidate({**ref, "width": 0.5, "se_ratio_2": 0.25, "image_size": 48}, 64)
    assert half.description().startswith(
        "48x48x3 pixels → stem 3x3 conv at stride 2 with 8 filters, BatchNorm, ReLU6 → 7 × "
        "[inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project; BatchNorm, ReLU6] with "
        "8 (x1, residual), 16 (x6, stride 2, SE 0.25), 16 (x6, residual)")


def test_the_seed_networks_keep_their_cost_keys():
    """Keys the seed's networks do not use stay out of the cost cache's key, so the caches of
    runs before the mobile space still match."""
    from search import builder

    arch = builder.architecture(lite_values([16, 32], [16]))
    assert set(arch) == {"blocks", "leaky_slope", "kernel_size", "head", "dense"}
    assert all(set(b) == {"filters", "conv", "pool"} for b in arch["blocks"])
    assert Candidate(lite_values([16, 32], [16]), 64).cost_key() == (
        '{"arch": {"blocks": [{"conv": "separable", "filters": 16, "pool": "max"}, '
        '{"conv": "separable", "filters": 32, "pool": "max"}], "dense": [16], "head": '
        '"flatten", "kernel_size": 3, "leaky_slope": 0.3}, "input": [64, 64, 3]}')
    # width 1 keeps the filters as written; another width changes the key
    wide = Candidate({**lite_values([16, 32], [16]), "width": 1.5}, 64)
    assert wide.cost_key() != Candidate(lite_values([16, 32], [16]), 64).cost_key()
    assert [b["filters"] for b in builder.architecture(wide.values)["blocks"]] == [24, 48]


def test_every_mobile_candidate_fits_every_resolution_of_its_space_and_small_ones_exist():
    """No draw of the mobile space is infeasible at 48, 64 or 96 px (no trial lost to a
    shape), and it reaches the issue's phone sizes: a tenth of its draws have under 20,000
    parameters (about 40 KiB float16), and its largest stay near a million (about 1 MiB int8)."""
    import numpy as np

    from search import space
    from search.candidate import counted

    s = space.load("mobile")
    rng = np.random.default_rng(0)
    params = []
    for _ in range(400):
        values = s.sample(rng)
        for size in (48, 64, 96):
            counted(values, size)  # raises InfeasibleCandidate if it does not fit
        params.append(counted(values, values["image_size"]).params)
    assert np.percentile(params, 10) < 20_000
    assert max(params) < 1_200_000
    assert counted(s.reference, 64).params == 174_785
