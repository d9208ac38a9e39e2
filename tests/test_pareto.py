import numpy as np
import pytest

from search import pareto
from search.records import COMPLETE, FAILED, TrialRecord


def brute_force_front(points):
    return [i for i, p in enumerate(points)
            if not any(pareto.dominates(q, p) for j, q in enumerate(points) if j != i)]


@pytest.mark.parametrize("seed", range(5))
def test_ranks_match_brute_force_dominance(seed):
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 6, (40, 3)).astype(float).tolist()  # ties on purpose
    ranks = pareto.non_dominated_ranks(points)
    remaining = list(range(len(points)))
    r = 1
    while remaining:
        front = [remaining[i] for i in brute_force_front([points[k] for k in remaining])]
        assert sorted(i for i in remaining if ranks[i] == r) == sorted(front)
        remaining = [i for i in remaining if i not in front]
        r += 1


def test_dominance_needs_a_strict_improvement():
    assert pareto.dominates([1, 2], [1, 3])
    assert not pareto.dominates([1, 2], [1, 2])
    assert not pareto.dominates([1, 3], [2, 2])


def test_rank_skips_unfinished_trials_and_best_is_lowest_mae_on_front():
    recs = [
        TrialRecord("a", COMPLETE, val_mae=5.0, params=1000, tflite_float16_bytes=4000),
        TrialRecord("b", COMPLETE, val_mae=7.0, params=100, tflite_float16_bytes=400),
        TrialRecord("c", COMPLETE, val_mae=8.0, params=2000, tflite_float16_bytes=9000),
        TrialRecord("d", FAILED, reason="NaN"),
    ]
    ranks = pareto.rank(recs)
    assert ranks == {"a": 1, "b": 1, "c": 2}
    assert pareto.best(recs, ranks).trial_id == "a"
    assert pareto.best([recs[3]], pareto.rank([recs[3]])) is None


def test_ranks_agree_with_optuna_best_trials():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 1, (30, 3)).round(2).tolist()
    study = optuna.create_study(directions=["minimize"] * 3)
    for p in pts:
        study.add_trial(optuna.trial.create_trial(values=p, distributions={}, params={}))
    optuna_front = {t.number for t in study.best_trials}
    ranks = pareto.non_dominated_ranks(pts)
    assert {i for i, r in enumerate(ranks) if r == 1} == optuna_front
