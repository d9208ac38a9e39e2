"""The pruning decision: only a finished trial that costs no more can stop a running one."""

import math

import pytest

from search.pruning import Curve, Pruner, curve_of, dominating, no_costlier
from search.records import COMPLETE, FAILED, PRUNED, TrialRecord

SMALL = Curve("01", params=1_000, float16_bytes=4_000, latency_ms=0.1,
              val_mae=(10.0, 8.0, 7.0, 6.5))
BIG = Curve("02", params=50_000, float16_bytes=90_000, latency_ms=0.5,
            val_mae=(9.0, 6.0, 5.0, 4.0))


def test_a_trial_is_pruned_when_a_no_larger_one_was_better_by_the_margin():
    # at epoch 2 the small trial's best so far is 8.0; 8.0 * 1.1 = 8.8 < 9.0
    hit = dominating(2, 9.0, 2_000, 5_000, 0.2, [SMALL, BIG], margin=0.1)
    assert hit == (SMALL, 8.0)
    assert dominating(2, 8.7, 2_000, 5_000, 0.2, [SMALL], margin=0.1) is None  # within 10%
    assert dominating(2, 8.7, 2_000, 5_000, 0.2, [SMALL], margin=0.0) == (SMALL, 8.0)


def test_a_larger_or_slower_trial_never_prunes_a_smaller_one():
    assert dominating(2, 20.0, 2_000, 5_000, 0.2, [BIG]) is None  # BIG is larger
    assert dominating(2, 20.0, 999, 5_000, 0.2, [SMALL]) is None  # more params
    assert dominating(2, 20.0, 2_000, 3_999, 0.2, [SMALL]) is None  # more bytes
    assert dominating(2, 20.0, 2_000, 5_000, 0.05, [SMALL]) is None  # slower
    assert dominating(2, 20.0, 2_000, 5_000, None, [SMALL]) == (SMALL, 8.0)  # not timed
    assert no_costlier(SMALL, 1_000, 4_000, 0.1)  # equal costs: no larger


def test_curves_compare_best_so_far_at_the_same_epoch():
    noisy = Curve("03", 1, 1, None, (6.0, 30.0, math.nan))
    assert noisy.best_until(2) == 6.0 and noisy.best_until(0) is None
    # a finished trial that stopped early keeps its best value at later epochs
    assert dominating(10, 7.0, 5, 5, None, [noisy]) == (noisy, 6.0)
    # a Hyperband round starting at epoch 3 has nothing to compare before
    late = Curve("04", 1, 1, None, (math.nan, math.nan, 2.0))
    assert dominating(2, 50.0, 5, 5, None, [late]) is None
    assert dominating(3, 50.0, 5, 5, None, [late]) == (late, 2.0)
    assert dominating(2, math.nan, 5, 5, None, [noisy]) is None  # NaN is not the pruner's
    with pytest.raises(ValueError, match="margin must be >= 0, got -1"):
        dominating(1, 1.0, 1, 1, None, [], margin=-1)


def test_curves_of_records():
    r = TrialRecord("05", COMPLETE, params=10, tflite_float16_bytes=20, latency_ms=0.1,
                    history={"val_mae": [9.0, 8.0]}, initial_epoch=1)
    assert curve_of(r).val_mae[1:] == (9.0, 8.0) and math.isnan(curve_of(r).val_mae[0])
    assert curve_of(TrialRecord("06", PRUNED, params=1, tflite_float16_bytes=1,
                                history={"val_mae": [5.0]})) is not None
    assert curve_of(TrialRecord("07", FAILED, params=1, tflite_float16_bytes=1,
                                history={"val_mae": [5.0]})) is None
    ref = TrialRecord("ref", COMPLETE, params=1, tflite_float16_bytes=1, is_reference=True,
                      history={"val_mae": [1.0]})
    assert curve_of(ref) is None  # the seed's recipe is a yardstick, not a rival


def test_pruner_reads_the_run_folder(tmp_path):
    TrialRecord("01", COMPLETE, params=100, tflite_float16_bytes=100, latency_ms=0.1,
                history={"val_mae": [5.0, 4.0]}).save(tmp_path / "trials/01/record.json")
    pruner = Pruner(tmp_path, margin=0.1)
    me = TrialRecord("02", "failed", params=200, tflite_float16_bytes=300, latency_ms=0.2)
    check = pruner.for_trial(me)
    assert check(1, 5.4) is None and "trial 01" in check(1, 5.6)
    assert "pruned after epoch 2: val MAE 4.50 y > 1.1 x 4.00 y of trial 01" in check(2, 4.5)
    smaller = TrialRecord("03", "failed", params=50, tflite_float16_bytes=300)
    assert pruner.for_trial(smaller) is None  # nothing finished is no larger
    continuation = TrialRecord("04", "failed", params=100, tflite_float16_bytes=100,
                               continues_trial="01")
    assert pruner.for_trial(continuation) is None  # Hyperband: never against its own start


def test_no_trial_is_judged_before_the_grace_period_ends(tmp_path):
    TrialRecord("01", COMPLETE, params=100, tflite_float16_bytes=100, latency_ms=0.1,
                history={"val_mae": [5.0, 4.0, 3.0, 3.0]}).save(
                    tmp_path / "trials/01/record.json")
    me = TrialRecord("02", "failed", params=200, tflite_float16_bytes=300, latency_ms=0.2)
    check = Pruner(tmp_path, margin=0.1, start=3).for_trial(me)
    assert check(1, 50.0) is None and check(2, 50.0) is None  # far worse, but too early
    assert "pruned after epoch 3" in check(3, 50.0)
    with pytest.raises(ValueError, match="start epoch must be >= 1, got 0"):
        Pruner(tmp_path, start=0)


def test_the_grace_period_defaults_to_a_quarter_of_the_epochs():
    from search.config import RunConfig

    assert [RunConfig(epochs=e).prune_start() for e in (1, 4, 5, 12, 30)] == [1, 1, 2, 3, 8]
    assert RunConfig(epochs=12, prune_after=1).prune_start() == 1
