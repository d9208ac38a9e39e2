"""Pareto ranking: pure functions over plain numbers (lower is better for every objective)."""

from __future__ import annotations

from collections.abc import Sequence

from search.records import COMPLETE, TrialRecord

#: Objective name -> the record attribute it reads. All are minimised.
OBJECTIVES = {
    "mae": "val_mae",
    "params": "params",
    "kib": "tflite_float16_bytes",
}
DEFAULT_OBJECTIVES = ("mae", "params", "kib")


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` everywhere and strictly better somewhere."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def non_dominated_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Rank of each point: 1 for the Pareto front, 2 for the front once 1 is removed, ...

    Fast non-dominated sorting (Deb et al., 2002), O(M N^2).
    """
    n = len(points)
    dominated_by: list[list[int]] = [[] for _ in range(n)]  # i dominates these
    count = [0] * n  # how many dominate i
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                dominated_by[i].append(j)
                count[j] += 1
            elif dominates(points[j], points[i]):
                dominated_by[j].append(i)
                count[i] += 1
    ranks = [0] * n
    front = [i for i in range(n) if count[i] == 0]
    r = 1
    while front:
        nxt = []
        for i in front:
            ranks[i] = r
            for j in dominated_by[i]:
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(j)
        front, r = nxt, r + 1
    return ranks


def objective_vector(record: TrialRecord, objectives: Sequence[str]) -> list[float] | None:
    """The record's objective values, or None if any is missing."""
    out = []
    for name in objectives:
        if name not in OBJECTIVES:
            raise ValueError(f"unknown objective {name!r}; known: {', '.join(OBJECTIVES)}")
        v = getattr(record, OBJECTIVES[name])
        if v is None:
            return None
        out.append(float(v))
    return out


def rank(
    records: Sequence[TrialRecord], objectives: Sequence[str] = DEFAULT_OBJECTIVES
) -> dict[str, int]:
    """Pareto rank of every complete trial with all objectives measured, by trial id."""
    ids, points = [], []
    for r in records:
        if r.status != COMPLETE:
            continue
        vec = objective_vector(r, objectives)
        if vec is not None:
            ids.append(r.trial_id)
            points.append(vec)
    return dict(zip(ids, non_dominated_ranks(points), strict=True))


def best(records: Sequence[TrialRecord], ranks: dict[str, int]) -> TrialRecord | None:
    """Lowest validation MAE on the front (ties: smaller model)."""
    front = [r for r in records if ranks.get(r.trial_id) == 1]
    if not front:
        return None
    return min(front, key=lambda r: (r.val_mae, r.params or 0, r.trial_id))
