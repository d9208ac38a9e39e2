"""Pareto maths: pure functions over plain numbers (lower is better for every objective).

- :func:`non_dominated_ranks`: 1 for the front, 2 for the front once 1 is removed, ...
- :func:`crowding_distance`: how isolated each point of one front is (NSGA-II), the tie-break
  between trials of the same rank: more isolated first.
- :func:`hypervolume`: the volume a set of points dominates up to a reference point.
- :func:`knee`: the best trade-off on a front (definition in its docstring).
- :func:`normalise`: map each objective to [0, 1] between given bounds, for the two above.

:data:`OBJECTIVES` names what can be minimised and :func:`objective_vector` reads it from a
:class:`TrialRecord`; nothing here touches files or chooses a trial (that is
:mod:`search.board`'s).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from search.errors import UserError
from search.records import TrialRecord


@dataclass(frozen=True)
class Objective:
    """A minimised objective: the record attribute it reads and how to show it."""

    name: str  # what --objectives takes
    attr: str  # TrialRecord attribute
    scale: float  # multiply the attribute by this to get ``unit``
    unit: str
    label: str

    def value(self, record: TrialRecord) -> float | None:
        """The objective in ``unit``, or None where the record has not measured it."""
        v = getattr(record, self.attr)
        return None if v is None else float(v) * self.scale


#: Objective name -> how to read it. All are minimised.
OBJECTIVES: dict[str, Objective] = {
    o.name: o for o in (
        Objective("mae", "val_mae", 1.0, "years", "validation MAE"),
        Objective("params", "params", 1.0, "parameters", "parameters"),
        Objective("kib", "tflite_float16_bytes", 1 / 1024, "KiB", "TFLite float16 size"),
        Objective("macs", "macs", 1.0, "MACs", "multiply-accumulates per image"),
        Objective("latency", "latency_ms", 1.0, "ms", "host latency"),
    )
}
DEFAULT_OBJECTIVES = ("mae", "params", "kib")

#: Reference point of :func:`hypervolume` in normalised units (0 = best seen, 1 = worst seen).
HV_REFERENCE = 1.1


def parse_objectives(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"mae,params,kib"`` -> ``("mae", "params", "kib")``; a UserError names a bad one."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if not names:
        raise UserError(f"--objectives {text!r}: expected a comma-separated list of "
                        f"{', '.join(OBJECTIVES)}")
    for n in names:
        if n not in OBJECTIVES:
            raise UserError(f"unknown objective {n!r} in --objectives; known: "
                            f"{', '.join(OBJECTIVES)}")
    if len(set(names)) != len(names):
        raise UserError(f"--objectives {','.join(names)!r} names an objective twice")
    return tuple(names)


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


def crowding_distance(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II crowding distance of each point of one front (Deb et al., 2002).

    For every objective, the points are sorted; the two extremes get infinity and every other
    point adds the gap between its two neighbours divided by the objective's spread. An
    objective with no spread adds nothing. Larger means more isolated; unitless.
    """
    n = len(points)
    if n == 0:
        return []
    dist = [0.0] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: (points[i][m], i))
        lo, hi = points[order[0]][m], points[order[-1]][m]
        dist[order[0]] = dist[order[-1]] = math.inf
        if hi == lo:
            continue
        for k in range(1, n - 1):
            dist[order[k]] += (points[order[k + 1]][m] - points[order[k - 1]][m]) / (hi - lo)
    return dist


def normalise(points: Sequence[Sequence[float]], lows: Sequence[float],
              highs: Sequence[float]) -> list[list[float]]:
    """Each coordinate mapped by ``(x - low) / (high - low)``; 0 where ``high == low``."""
    out = []
    for p in points:
        out.append([(x - lo) / (hi - lo) if hi > lo else 0.0
                    for x, lo, hi in zip(p, lows, highs, strict=True)])
    return out


def bounds(points: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """Per-objective minimum and maximum of a non-empty point set."""
    cols = list(zip(*points, strict=True))
    return [min(c) for c in cols], [max(c) for c in cols]


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (minimisation).

    Exact, by slicing: the last objective is swept in order and each slab adds the
    (d-1)-dimensional hypervolume of the points below it times its thickness; in 2-D a sweep
    over the first objective. Cost O(N^(d-1) log N): instant for 2-3 objectives and the
    hundreds of trials of a search, slow beyond 4. Points not strictly better than the
    reference in every objective add nothing. Units: the product of the objectives' units.
    """
    d = len(reference)
    pts = [tuple(float(x) for x in p) for p in points]
    for p in pts:
        if len(p) != d:
            raise ValueError(f"point {p} has {len(p)} objectives, the reference point {d}")
    pts = [p for p in pts if all(x < r for x, r in zip(p, reference, strict=True))]
    return _hv(pts, tuple(float(r) for r in reference))


def _hv(pts: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    if not pts:
        return 0.0
    d = len(ref)
    if d == 1:
        return ref[0] - min(p[0] for p in pts)
    if d == 2:
        area, best_y = 0.0, math.inf
        xs = sorted(pts)
        for k, (x, y) in enumerate(xs):
            best_y = min(best_y, y)
            nxt = xs[k + 1][0] if k + 1 < len(xs) else ref[0]
            area += (nxt - x) * (ref[1] - best_y)
        return area
    by_last = sorted(pts, key=lambda p: p[-1])
    vol = 0.0
    for k, p in enumerate(by_last):
        top = by_last[k + 1][-1] if k + 1 < len(by_last) else ref[-1]
        if top > p[-1]:
            vol += _hv([q[:-1] for q in by_last[: k + 1]], ref[:-1]) * (top - p[-1])
    return vol


def knee_weights(objectives: Sequence[str]) -> tuple[float, ...]:
    """How much each objective counts towards the knee: accuracy against cost, evenly.

    ``mae`` weighs 1 and the cost objectives (parameters, TFLite size, MACs, latency) share
    a weight of 1 between them, so that two measures of the same size (parameters and the
    TFLite file, nearly proportional) do not together outvote accuracy. Without ``mae``,
    every objective weighs 1.
    """
    if "mae" not in objectives or len(objectives) < 2:
        return tuple(1.0 for _ in objectives)
    share = 1.0 / (len(objectives) - 1)
    return tuple(1.0 if o == "mae" else share for o in objectives)


def knee(points: Sequence[Sequence[float]],
         weights: Sequence[float] | None = None) -> int | None:
    """Index of the knee of a front: the best trade-off, or None for no points.

    Definition: normalise every objective over the front itself to [0, 1] (0 = the front's
    best value, 1 = its worst); the knee is the point farthest on the ideal side of the
    hyperplane through the points (1/w1, 0, ...), (0, 1/w2, ...), ..., that is the point with
    the smallest weighted sum of normalised objectives (``weights``: 1 each by default; see
    :func:`knee_weights` for the leaderboard's). With two objectives weighing the same that
    hyperplane is exactly the line through the front's two extreme points (Das, 1999; Deb and
    Gupta, 2011). Ties go to the lowest first objective, then the earliest point.
    """
    if not points:
        return None
    w = [1.0] * len(points[0]) if weights is None else list(weights)
    if len(w) != len(points[0]):
        raise ValueError(f"{len(w)} knee weights for {len(points[0])} objectives")
    lows, highs = bounds(points)
    norm = normalise(points, lows, highs)
    return min(range(len(points)),
               key=lambda i: (sum(x * wi for x, wi in zip(norm[i], w, strict=True)),
                              points[i][0], i))


def objective_vector(record: TrialRecord, objectives: Sequence[str]) -> list[float] | None:
    """The record's objective values (in each objective's unit), or None if any is missing."""
    out = []
    for name in objectives:
        if name not in OBJECTIVES:
            raise UserError(f"unknown objective {name!r}; known: {', '.join(OBJECTIVES)}")
        v = OBJECTIVES[name].value(record)
        if v is None or not math.isfinite(v):
            return None
        out.append(v)
    return out


def crowding_by_rank(ids: Sequence[str], points: Sequence[Sequence[float]],
                     ranks: Mapping[str, int]) -> dict[str, float]:
    """Crowding distance of each id within its own rank (see :func:`crowding_distance`)."""
    out: dict[str, float] = {}
    for r in sorted({ranks[i] for i in ids}):
        members = [k for k, i in enumerate(ids) if ranks[i] == r]
        for k, dist in zip(members, crowding_distance([points[k] for k in members]),
                           strict=True):
            out[ids[k]] = dist
    return out
