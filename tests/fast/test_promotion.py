"""MO-ASHA's decisions (search.promotion) and the costs a proposer knows before training
(search.candidate.counted): pure functions, no TensorFlow."""

from __future__ import annotations

import math

import pytest

from search import candidate, promotion
from search.errors import InfeasibleCandidate, UserError
from search.promotion import RungResult


def test_rungs_grow_by_eta_and_end_at_the_whole_trial():
    assert promotion.rungs(12) == (1, 3, 12)
    assert promotion.rungs(27) == (1, 3, 9, 27)
    assert promotion.rungs(12, eta=2) == (1, 2, 4, 8, 12)
    assert promotion.rungs(1) == (1,)
    assert promotion.rungs(4) == (1, 4)  # 3 of 4 epochs is not worth a stop
    assert promotion.rungs(12, first=2) == (2, 6, 12)
    with pytest.raises(ValueError):
        promotion.rungs(0)
    assert promotion.next_rung(0, (1, 3, 12)) == 1
    assert promotion.next_rung(3, (1, 3, 12)) == 12
    assert promotion.next_rung(12, (1, 3, 12)) is None


def test_brackets_take_hyperbands_shares_and_a_draw_picks_one():
    # rungs (1, 3, 12): synchronous Hyperband runs 9, 5 and 3 candidates in its brackets
    assert promotion.bracket_weights(3, 3) == pytest.approx([9 / 17, 5 / 17, 3 / 17])
    assert promotion.bracket_weights(3, 2) == pytest.approx([9 / 14, 5 / 14])
    assert promotion.bracket_weights(3, 1) == [1.0]
    assert promotion.bracket_weights(2, 5) == pytest.approx([3 / 5, 2 / 5])  # only 2 rungs
    assert promotion.bracket_weights(1, 3) == [1.0]
    with pytest.raises(ValueError):
        promotion.bracket_weights(3, 0)
    w = [0.5, 0.3, 0.2]
    assert [promotion.bracket_for(u, w) for u in (0.0, 0.49, 0.5, 0.79, 0.8, 0.999)] == [
        0, 0, 1, 1, 2, 2]
    # many draws land in proportion to the weights
    import random

    rng = random.Random(1)
    n = [0, 0, 0]
    for _ in range(6000):
        n[promotion.bracket_for(rng.random(), w)] += 1
    assert [round(k / 6000, 1) for k in n] == [0.5, 0.3, 0.2]


def test_quota_is_a_third_and_rounds_up_only_in_the_end_game():
    assert [promotion.quota(n) for n in range(7)] == [0, 0, 0, 1, 1, 1, 2]
    assert [promotion.quota(n, last_call=True) for n in range(7)] == [0, 1, 1, 1, 2, 2, 2]


def _r(trial, mae, params, promotable=True):
    return RungResult(trial, mae, params, 2 * params + 1000, promotable)


def test_the_pareto_front_goes_first_and_the_dominated_last():
    results = [_r("big-good", 8.0, 300_000), _r("small-ok", 9.0, 20_000),
               _r("dominated", 9.5, 400_000), _r("mid", 8.5, 100_000)]
    order = [r.trial for r in promotion.order(results)]
    assert order[-1] == "dominated"
    assert set(order[:3]) == {"big-good", "small-ok", "mid"}
    # The front's extremes have infinite crowding distance, so they precede "mid".
    assert order[2] == "mid"


def test_a_small_network_near_the_best_is_promoted_beside_it():
    """Costs count: with six at a rung, two go on, and a network a tenth the size that is
    nearly as accurate is one of them, ahead of larger, less accurate ones."""
    results = [_r("a", 8.0, 350_000), _r("b", 8.1, 30_000), _r("c", 8.6, 360_000),
               _r("d", 8.9, 380_000), _r("e", 9.0, 370_000), _r("f", 9.2, 390_000)]
    assert promotion.promotable(results) == ["a", "b"]


def test_the_accuracy_band_puts_tiny_inaccurate_networks_last():
    """Without the band the tiniest network is on the front for its size alone; with it, a
    network that kept under 75% of the best gain over the baseline (15 y) waits."""
    results = [_r("tiny-bad", 14.5, 500), _r("good", 8.0, 300_000), _r("ok", 8.5, 200_000),
               _r("worse", 9.0, 350_000), _r("meh", 9.5, 360_000), _r("poor", 10.0, 380_000)]
    assert "tiny-bad" in promotion.promotable(results)
    banded = promotion.promotable(results, band=0.75, baseline=15.0)
    assert banded == ["good", "ok"]
    assert promotion.band_limit([8.0, 14.5], 0.75, 15.0) == pytest.approx(15 - 0.75 * 7)
    assert promotion.band_limit([16.0], 0.75, 15.0) is None  # nothing beat the baseline
    assert promotion.band_limit([8.0], 0.0, 15.0) is None  # off


def test_a_trial_that_cannot_go_on_still_takes_its_place():
    """A finished or already promoted trial keeps its slot in the top third: the next one
    down is not promoted in its place."""
    results = [_r("done", 7.0, 300_000, promotable=False), _r("a", 8.0, 310_000),
               _r("b", 9.0, 320_000)]
    assert promotion.promotable(results) == []
    assert promotion.promotable(results, last_call=True) == []
    results.append(_r("c", 6.0, 330_000))  # 4 at the rung: still one slot, now c's
    assert promotion.promotable(results) == ["c"]


def test_order_is_total_and_a_nan_is_last():
    results = [_r("x", math.nan, 1_000), _r("y", 9.0, 1_000), _r("z", 9.0, 1_000)]
    assert [r.trial for r in promotion.order(results)] == ["y", "z", "x"]
    assert promotion.order([]) == []


def test_costs_are_counted_without_building_the_network():
    ref = {"blocks": 5, "filters_1": 16, "filters_2": 32, "filters_3": 64, "filters_4": 128,
           "filters_5": 256, "kernel_size": 3, "pool": "max", "head": "flatten",
           "dense_layers": 3, "dense_units_1": 256, "dense_units_2": 128,
           "dense_units_3": 64}
    c = candidate.counted(ref, 64)
    assert c.macs == 2_984_000  # the reference recipe's 2.98 M multiply-accumulates
    assert c.params == 351_356
    gap = candidate.counted({**ref, "head": "gap"}, 64)
    assert gap.params < c.params and gap.macs < c.macs
    assert candidate.counted(ref, 96).macs > c.macs
    with pytest.raises(InfeasibleCandidate, match="below 1x1"):
        candidate.counted({**ref, "blocks": 5}, 16)


def test_a_flatten_over_a_large_feature_map_is_infeasible_where_the_space_says_so():
    two = {"blocks": 2, "filters_1": 16, "filters_2": 64, "head": "flatten", "dense_layers": 1,
           "dense_units_1": 128}
    assert candidate.counted(two, 96).params > 4_000_000  # 24x24x64 features x 128 units
    with pytest.raises(InfeasibleCandidate, match=r"24x24x64 = 36,864 features"):
        candidate.counted({**two, "max_flatten": 4096}, 96)
    candidate.counted({**two, "max_flatten": 4096, "head": "gap"}, 96)  # gap: fine
    from search import space

    assert space.load("lite").fixed["max_flatten"] == 4096
    ref = space.load("lite").reference
    candidate.counted({**space.load("lite").fixed, **ref}, 64)  # the reference fits


def test_a_config_takes_every_bracket_count_its_rungs_allow():
    from search.config import RunConfig

    for epochs, first, most in ((12, 1, 3), (27, 1, 4), (27, 3, 3), (12, 12, 1), (2, 1, 2)):
        assert len(promotion.rungs(epochs, first=first)) == most
        RunConfig(tuner="moasha", epochs=epochs, min_epochs=first, brackets=most).check()
        with pytest.raises(UserError, match=f"--brackets {most + 1}: expected at most {most}"):
            RunConfig(tuner="moasha", epochs=epochs, min_epochs=first,
                      brackets=most + 1).check()
    RunConfig(tuner="tpe").check()  # the defaults are fine for every tuner
    RunConfig(tuner="hyperband").check()
