"""Pareto ranking: pure functions over plain numbers (lower is better for every objective)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


#: The plane the knee is found in: validation MAE against TFLite float16 size.
KNEE_OBJECTIVES = ("mae", "kib")


def knee(records: Sequence[TrialRecord]) -> TrialRecord | None:
    """The knee of the front of validation MAE against TFLite float16 size.

    Takes the complete trials' front in those two objectives, scales each objective to [0, 1]
    over the front (min-max), draws the line joining the front's two extremes (the lowest MAE
    and the smallest file, at (0, 1) and (1, 0) once scaled) and returns the point farthest
    from it on the side of the ideal point (0, 0): the trade-off where giving up more accuracy
    stops buying much size. The signed distance of a scaled point ``(m, k)`` is
    ``(1 - m - k) / sqrt(2)``.

    A front of one or two points, or one with nothing on the ideal side of the line, has no
    knee: the lowest MAE is returned then. Ties go to the lower MAE. None if no trial has both
    objectives measured.
    """
    ranks = rank(records, KNEE_OBJECTIVES)
    front = sorted((r for r in records if ranks.get(r.trial_id) == 1),
                   key=lambda r: (r.val_mae, r.tflite_float16_bytes, r.trial_id))
    if len(front) < 3:
        return front[0] if front else None
    maes = [float(r.val_mae) for r in front]  # type: ignore[arg-type]
    sizes = [float(r.tflite_float16_bytes) for r in front]  # type: ignore[arg-type]
    distance = [
        (1.0 - _scaled(m, maes) - _scaled(s, sizes)) / 2**0.5
        for m, s in zip(maes, sizes, strict=True)
    ]
    best_i = max(range(len(front)), key=lambda i: (distance[i], -i))
    return front[best_i] if distance[best_i] > 1e-12 else front[0]


def _scaled(x: float, xs: Sequence[float]) -> float:
    lo, hi = min(xs), max(xs)
    return 0.0 if hi == lo else (x - lo) / (hi - lo)


def within_budget(
    records: Sequence[TrialRecord],
    max_kib: float | None = None,
    max_latency_ms: float | None = None,
    latency_ms: Callable[[TrialRecord], float] | None = None,
) -> TrialRecord | None:
    """The complete trial with the lowest validation MAE that meets every budget given.

    ``max_kib``: the TFLite float16 file, in KiB (1024 bytes), at most this. ``max_latency_ms``:
    ``latency_ms(record)`` (host milliseconds per image) at most this; it is called in order of
    validation MAE and only until a trial fits, since measuring means converting. None when
    nothing fits.
    """
    if max_latency_ms is not None and latency_ms is None:
        raise ValueError("max_latency_ms needs a latency_ms function")
    done = sorted((r for r in records if r.status == COMPLETE and r.val_mae is not None),
                  key=lambda r: (r.val_mae, r.tflite_float16_bytes or 0, r.trial_id))
    for r in done:
        if max_kib is not None and (r.tflite_float16_bytes is None
                                    or r.tflite_float16_bytes / 1024 > max_kib):
            continue
        if max_latency_ms is not None and latency_ms(r) > max_latency_ms:  # type: ignore[misc]
            continue
        return r
    return None
