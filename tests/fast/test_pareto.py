import numpy as np
import pytest

from search import pareto


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


def test_hypervolume_by_hand_in_two_and_three_dimensions():
    # Two boxes [1,4]x[3,4] and [2,4]x[1,4] overlap in [2,4]x[3,4]: 3 + 6 - 2 = 7.
    assert pareto.hypervolume([[1, 3], [2, 1]], [4, 4]) == pytest.approx(7.0)
    # A dominated point and a point outside the reference box add nothing.
    assert pareto.hypervolume([[1, 3], [2, 1], [3, 3], [5, 0]], [4, 4]) == pytest.approx(7.0)
    assert pareto.hypervolume([[0, 0, 0]], [1, 2, 3]) == pytest.approx(6.0)
    # Boxes of 1 x 0.5 x 0.5 and 0.5 x 1 x 1, overlapping in a 0.5 cube.
    assert pareto.hypervolume([[0, 0.5, 0.5], [0.5, 0, 0]], [1, 1, 1]) == pytest.approx(
        0.25 + 0.5 - 0.125)
    assert pareto.hypervolume([], [1, 1]) == 0.0


def _grid_hypervolume(points, ref):
    """Brute force on integer points: count the unit cells some point dominates."""
    import itertools

    count = 0
    for cell in itertools.product(*(range(int(r)) for r in ref)):
        if any(all(p[k] <= cell[k] for k in range(len(ref))) for p in points):
            count += 1
    return count


@pytest.mark.parametrize("dims, seed", [(2, 0), (2, 1), (3, 2), (3, 3), (3, 4), (4, 5)])
def test_hypervolume_matches_brute_force_cell_count(dims, seed):
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 7, (12, dims)).tolist()  # ties and dominated points on purpose
    ref = [7] * dims
    assert pareto.hypervolume(points, ref) == pytest.approx(_grid_hypervolume(points, ref))


def test_crowding_distance_by_hand():
    points = [[1, 5], [2, 3], [4, 2], [5, 1]]
    # Interior: sum over objectives of (next - previous) / (max - min).
    assert pareto.crowding_distance(points) == pytest.approx(
        [float("inf"), (4 - 1) / 4 + (5 - 2) / 4, (5 - 2) / 4 + (3 - 1) / 4, float("inf")])
    assert pareto.crowding_distance([[1, 1], [1, 1], [1, 1]])[1] == 0.0  # no spread, no credit
    assert pareto.crowding_distance([]) == []


def test_knee_is_farthest_from_the_line_through_the_extremes():
    # Extremes (0, 10) and (10, 0); (2, 2) bulges most towards the ideal point.
    front = [[0, 10], [2, 2], [5, 1], [10, 0]]
    assert pareto.knee(front) == 1
    assert pareto.knee([[3, 4]]) == 0
    assert pareto.knee([]) is None
    # A flat front (on the line): ties go to the lowest first objective.
    assert pareto.knee([[2, 8], [0, 10], [10, 0]]) == 1
    # Weights tilt the line: counting the second objective 5x makes (5, 1) the better trade.
    assert pareto.knee(front, [1, 5]) == 2
    with pytest.raises(ValueError, match="2 knee weights for 3 objectives"):
        pareto.knee([[1, 2, 3]], [1, 1])


def test_normalise_maps_bounds_to_zero_and_one():
    pts = [[1, 5, 7], [3, 5, 9]]
    lows, highs = pareto.bounds(pts)
    assert pareto.normalise(pts, lows, highs) == [[0, 0, 0], [1, 0, 1]]


def test_parse_objectives_names_the_bad_value():
    from search.errors import UserError

    assert pareto.parse_objectives("mae, kib") == ("mae", "kib")
    assert pareto.parse_objectives("latency,macs") == ("latency", "macs")
    with pytest.raises(UserError, match="unknown objective 'size'.*known: mae, params, kib"):
        pareto.parse_objectives("mae,size")
    with pytest.raises(UserError, match="twice"):
        pareto.parse_objectives("mae,mae")
    with pytest.raises(UserError, match="comma-separated"):
        pareto.parse_objectives(" , ")
