"""Multi-objective asynchronous successive halving (MO-ASHA): which paused trial goes on.

A multi-fidelity search trains every candidate for a few epochs (the first *rung*), and
only the most promising go on to the next rung, and so on up to the whole trial:

    rungs(12) == (1, 3, 12)     # every candidate 1 epoch; the best third 3; a ninth all 12

Asynchronous (Li et al., 2020, ASHA): a worker that is free never waits for a rung to fill.
It promotes a trial whenever one is among the best ``1 / eta`` of those that have reached its
rung so far, and starts a new candidate otherwise. Multi-objective (Schmucker et al., 2021,
MO-ASHA): "best" is a Pareto order, not one number. At a rung, the trials are ranked on
(validation MAE at that rung, parameters, TFLite float16 bytes):

1. inside the accuracy band first (:func:`band_limit`: the trials that kept at least
   ``band`` of the rung's best gain over the median-age baseline), so the tiny, inaccurate
   end of the front, which would otherwise be on every rung's front for its size alone,
   goes on only once the useful range has been served;
2. then by non-dominated rank (1 = the rung's Pareto front);
3. then, within a rank, by crowding distance (the isolated first: a spread-out front), and
   last by MAE, then trial id, so the order is total and every worker computes the same.

The costs are those of the finished network (they are known before it trains), so a small
network that is nearly as accurate as a large one at a rung is promoted beside it.

Everything here is a pure function of the rung's results; :mod:`search.backends.moasha`
reads them from the study and acts on the decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from search import pareto

#: Reduction factor: a third of the trials at a rung go on to the next.
ETA = 3


def rungs(epochs: int, eta: int = ETA, first: int = 1) -> tuple[int, ...]:
    """The epochs at which a trial of ``epochs`` epochs may stop: ``first``, ``first * eta``,
    ... below ``epochs``, then ``epochs`` (the whole trial, the last rung).

    >>> rungs(12)
    (1, 3, 12)
    >>> rungs(27)
    (1, 3, 9, 27)
    >>> rungs(2)
    (1, 2)
    """
    if epochs < 1 or first < 1 or eta < 2:
        raise ValueError(f"need epochs >= 1, first >= 1 and eta >= 2; got {epochs}, {first}, "
                         f"{eta}")
    out = []
    r = first
    # A rung within a factor 1.5 of the whole trial is not worth a stop: 9 of 12 epochs
    # spends three quarters of a trial to save one quarter.
    while r * 1.5 <= epochs:
        out.append(r)
        r *= eta
    return (*out, epochs)


def bracket_weights(n_rungs: int, brackets: int, eta: int = ETA) -> list[float]:
    """The share of new candidates that start in each bracket, as Hyperband sizes them
    (Li et al., 2018; asynchronous in ASHA). Bracket ``b`` starts its candidates at rung
    ``b`` of ``n_rungs``: bracket 0 at the first rung (every candidate pauses there first),
    the last at the whole trial (trained whole from the start, never paused). Synchronous
    Hyperband gives bracket ``b`` ``ceil((s + 1) / (k + 1) * eta ** k)`` candidates, with
    ``s = n_rungs - 1`` and ``k = s - b`` halvings to go; those sizes, for the first
    ``brackets`` brackets, normalised. One bracket is successive halving alone.

    >>> [round(w, 3) for w in bracket_weights(3, 3)]     # rungs (1, 3, 12): 9, 5 and 3
    [0.529, 0.294, 0.176]
    >>> bracket_weights(3, 1)
    [1.0]
    """
    if n_rungs < 1 or brackets < 1 or eta < 2:
        raise ValueError(f"need n_rungs >= 1, brackets >= 1 and eta >= 2; got {n_rungs}, "
                         f"{brackets}, {eta}")
    s = n_rungs - 1
    sizes = [math.ceil((s + 1) / (s - b + 1) * eta ** (s - b))
             for b in range(min(brackets, n_rungs))]
    return [n / sum(sizes) for n in sizes]


def bracket_for(u: float, weights: Sequence[float]) -> int:
    """The bracket of a new candidate from a uniform draw ``u`` in [0, 1): the first whose
    cumulative weight exceeds ``u``."""
    total = 0.0
    for b, w in enumerate(weights):
        total += w
        if u < total:
            return b
    return len(weights) - 1


def next_rung(done: int, schedule: Sequence[int]) -> int | None:
    """The rung after ``done`` epochs (None: the trial is whole)."""
    return next((r for r in schedule if r > done), None)


@dataclass(frozen=True)
class RungResult:
    """A trial as it stood at one rung: its best validation MAE up to that rung's epoch
    (years) and its costs. ``promotable``: it paused there and can go on (False for a
    trial that finished early, by early stopping, or already went on)."""

    trial: str
    mae: float
    params: int
    float16_bytes: int
    promotable: bool = True


def band_limit(maes: Sequence[float], band: float, baseline: float | None) -> float | None:
    """The worst MAE inside the accuracy band at a rung: ``band`` of the best MAE's gain over
    the median-age baseline kept; None when off (``band`` 0, no baseline) or when no trial
    has beaten the baseline yet."""
    finite = [m for m in maes if math.isfinite(m)]
    if band <= 0 or baseline is None or not finite or min(finite) >= baseline:
        return None
    return baseline - band * (baseline - min(finite))


def order(results: Sequence[RungResult], band: float = 0.0,
          baseline: float | None = None) -> list[RungResult]:
    """The rung's results, most promising first (see the module docstring)."""
    if not results:
        return []
    limit = band_limit([r.mae for r in results], band, baseline)

    def outside(r: RungResult) -> bool:
        return not math.isfinite(r.mae) or (limit is not None and r.mae > limit)

    out: list[RungResult] = []
    for group in ([r for r in results if not outside(r)], [r for r in results if outside(r)]):
        if not group:
            continue
        points = [(r.mae if math.isfinite(r.mae) else math.inf, float(r.params),
                   float(r.float16_bytes)) for r in group]
        ranks = pareto.non_dominated_ranks(points)
        ids = [r.trial for r in group]
        crowd = pareto.crowding_by_rank(ids, points, dict(zip(ids, ranks, strict=True)))
        out.extend(sorted(group, key=lambda r: (ranks[ids.index(r.trial)], -crowd[r.trial],
                                                r.mae, r.trial)))
    return out


def quota(n: int, eta: int = ETA, last_call: bool = False) -> int:
    """How many of the ``n`` trials at a rung go on: ``n // eta`` while new candidates may
    still start (more will reach the rung), ``ceil(n / eta)`` once none may (the end game:
    every rung that was reached sends at least one trial on, so a search of few
    candidates still trains one whole)."""
    return -(-n // eta) if last_call else n // eta


def promotable(results: Sequence[RungResult], eta: int = ETA, band: float = 0.0,
               baseline: float | None = None, last_call: bool = False) -> list[str]:
    """The trials to promote from a rung now, in order: those among the first
    :func:`quota` of :func:`order` that can still go on."""
    top = order(results, band, baseline)[: quota(len(results), eta, last_call)]
    return [r.trial for r in top if r.promotable]
