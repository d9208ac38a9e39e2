"""The board: the trials of one or more runs, ranked once, for every reader.

:func:`build` turns trial records into a :class:`Board`: each trial's Pareto rank and
crowding distance over every run together, the front, the best trial (lowest validation MAE
on the front), the knee, the hypervolume (of all runs together and of each run, on one
normalisation), the trial a budget picks and each run's best against its median-age
baseline. The leaderboard (:mod:`search.report`) shows a board and export
(:mod:`search.export`) chooses from one: nothing else decides which trial is best.

Every choice among trials breaks ties the same way (:func:`choice_key`): lowest validation
MAE, then fewest parameters, then the earlier run, then the trial id; the leaderboard lists
them by rank, then in that order (:func:`pareto_order`). Pure: no Keras, no
files; the maths is :mod:`search.pareto`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from search import pareto
from search.budget import Budget
from search.records import COMPLETE, TrialRecord


@dataclass(frozen=True, eq=False)
class Standing:
    """One trial's place on the board."""

    record: TrialRecord
    run: int  # index of its run in the board's runs
    rank: int | None = None  # Pareto rank over every run; None: not complete or not measured
    crowding: float | None = None  # within its rank; inf at an extreme; None: not ranked
    fits: bool | None = None  # the budget; None: no budget, or a figure it needs is missing

    @property
    def on_front(self) -> bool:
        return self.rank == 1


@dataclass(frozen=True, eq=False)
class RunStanding:
    """One run's own front (ranked among its own trials only), on the board's objectives."""

    front: tuple[Standing, ...]
    best: Standing | None
    knee: Standing | None
    hypervolume: float | None  # on the board's normalisation; None where it has none
    baseline_ratio: float | None  # test MAE of its best over its median-age baseline's


@dataclass(frozen=True)
class Hypervolume:
    """The front's hypervolume: objectives normalised over every ranked trial (0 = best value
    seen, 1 = worst), reference point :data:`search.pareto.HV_REFERENCE` in each."""

    value: float | None  # None: no ranked trial, or not 2 or 3 objectives
    maximum: float | None
    note: str  # how it was computed, or why not
    normalisation: dict[str, list[float]] = field(default_factory=dict)  # [best, worst]
    reference_point: dict[str, float] = field(default_factory=dict)  # objective units


@dataclass(frozen=True, eq=False)
class Board:
    """The trials of one or more runs, ranked (see :func:`build`)."""

    objectives: tuple[str, ...]
    trials: tuple[Standing, ...]  # runs in order, each run's records in the order given
    runs: tuple[RunStanding, ...]
    best: Standing | None  # lowest validation MAE on the front (of every run together)
    knee: Standing | None  # see :func:`search.pareto.knee`, weighted by knee_weights
    ranked: int  # complete trials with every objective measured
    unranked_complete: int  # complete trials missing an objective
    hypervolume: Hypervolume
    budget: Budget = field(default_factory=Budget)
    budget_pick: Standing | None = None  # lowest validation MAE among those that fit

    @property
    def front(self) -> list[Standing]:
        return [s for s in self.trials if s.on_front]

    @property
    def knee_definition(self) -> str:
        return knee_definition(self.objectives)


def choice_key(s: Standing) -> tuple[Any, ...]:
    """Order of preference among trials: lowest validation MAE, fewest parameters, earlier
    run, trial id."""
    return (s.record.val_mae, s.record.params or 0, s.run, s.record.trial_id)


def pareto_order(s: Standing) -> tuple[Any, ...]:
    """How the leaderboard lists trials by Pareto standing: rank first (unranked last), then
    within a rank the order of preference of :func:`choice_key` (lowest validation MAE,
    fewest parameters, earlier run, trial id), so the front reads from its most accurate
    member to its cheapest and a 13 y model never sits second for being an extreme."""
    mae = s.record.val_mae
    known = mae is not None and math.isfinite(mae)
    return (s.rank if s.rank is not None else math.inf, not known, mae if known else 0.0,
            s.record.params or 0, s.run, s.record.trial_id)


def _preferred(standings: Iterable[Standing]) -> list[Standing]:
    """Complete trials with a finite validation MAE, in order of preference."""
    ok = [s for s in standings if s.record.status == COMPLETE and s.record.val_mae is not None
          and math.isfinite(s.record.val_mae)]
    return sorted(ok, key=choice_key)


def _pick(standings: Iterable[Standing], budget: Budget,
          latency_ms: Callable[[TrialRecord], float] | None = None) -> Standing | None:
    """The first trial in order of preference that meets ``budget``: every limit but latency
    on the record's figures, then latency on ``latency_ms(record)`` (called only for trials
    that meet the other limits, in order, until one fits) or else on the recorded figure."""
    others = replace(budget, max_latency_ms=None)
    for s in _preferred(standings):
        if not others.fits(s.record):
            continue
        if budget.max_latency_ms is not None:
            ms = latency_ms(s.record) if latency_ms is not None else s.record.latency_ms
            if ms is None or ms > budget.max_latency_ms:
                continue
        return s
    return None


def knee_definition(objectives: Sequence[str]) -> str:
    """What the knee is, in words, for these objectives (leaderboard.json, the reports)."""
    weights = pareto.knee_weights(objectives)
    head = ("the front member with the smallest weighted sum of its objectives, each "
            "normalised over the front to [0, 1] (0 = the front's best)")
    if len(set(weights)) == 1:
        return head + ", all weighing 1"
    costs = [pareto.OBJECTIVES[o].label for o in objectives if o != "mae"]
    share = min(weights)  # every cost objective's weight
    return (head + f": validation MAE weighs 1 and the costs ({', '.join(costs)}) {share:.2g} "
            "each, so accuracy counts as much as cost")


def baseline_ratio(test_mae: float | None, baseline: Mapping[str, Any] | None) -> float | None:
    """Test MAE over the median-age baseline's; None where either is missing."""
    base = (baseline or {}).get("test_mae")
    if not base or test_mae is None or not math.isfinite(test_mae):
        return None
    return test_mae / base


def build(runs: Sequence[Sequence[TrialRecord]],
          objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES,
          budget: Budget | None = None,
          baselines: Sequence[Mapping[str, Any] | None] | None = None) -> Board:
    """Rank the records of each run (one list per run) on ``objectives``, all minimised.

    Ranks and crowding are over every run together, so the front shows which run holds the
    best trade-offs; each run's own front is in :attr:`Board.runs`. Only complete trials with
    every objective measured (and finite) are ranked. ``baselines``: each run's
    ``baseline.json`` (for :attr:`RunStanding.baseline_ratio`).
    """
    objectives = pareto.parse_objectives(objectives)
    budget = budget or Budget()
    entries = [(i, rec) for i, recs in enumerate(runs) for rec in recs]

    ranked, points = [], []
    for k, (_, rec) in enumerate(entries):
        vec = pareto.objective_vector(rec, objectives) if rec.status == COMPLETE else None
        if vec is not None:
            ranked.append(k)
            points.append(vec)
    rank_of = dict(zip(ranked, pareto.non_dominated_ranks(points), strict=True))
    crowd = pareto.crowding_by_rank([str(k) for k in ranked], points,
                                    {str(k): rank_of[k] for k in ranked})
    point_of = dict(zip(ranked, points, strict=True))
    weights = pareto.knee_weights(objectives)
    trials = tuple(
        Standing(rec, i, rank_of.get(k), crowd.get(str(k)),
                 budget.fits(rec) if budget.active else None)
        for k, (i, rec) in enumerate(entries))

    def best_and_knee(front: Sequence[int]) -> tuple[Standing | None, Standing | None]:
        best = _preferred(trials[k] for k in front)
        knee = pareto.knee([point_of[k] for k in front], weights)
        return best[0] if best else None, trials[front[knee]] if knee is not None else None

    front = [k for k in ranked if rank_of[k] == 1]
    best, knee = best_and_knee(front)

    own_fronts = []
    for i in range(len(runs)):
        own = [k for k in ranked if entries[k][0] == i]
        own_ranks = pareto.non_dominated_ranks([point_of[k] for k in own])
        own_fronts.append([k for k, r in zip(own, own_ranks, strict=True) if r == 1])

    d = len(objectives)
    run_hv: list[float | None] = [None] * len(runs)
    if points and 2 <= d <= 3:
        lows, highs = pareto.bounds(points)
        ref = [pareto.HV_REFERENCE] * d
        norm = dict(zip(ranked, pareto.normalise(points, lows, highs), strict=True))
        hv = Hypervolume(
            value=pareto.hypervolume([norm[k] for k in front], ref),
            maximum=pareto.HV_REFERENCE ** d,
            note=("objectives normalised over the ranked trials (0 = best value seen, 1 = "
                  f"worst); reference point {pareto.HV_REFERENCE} in each"),
            normalisation={o: [lo, hi] for o, lo, hi in zip(objectives, lows, highs,
                                                            strict=True)},
            reference_point={o: lo + pareto.HV_REFERENCE * (hi - lo)
                             for o, lo, hi in zip(objectives, lows, highs, strict=True)})
        run_hv = [pareto.hypervolume([norm[k] for k in own], ref) for own in own_fronts]
    elif not points:
        hv = Hypervolume(None, None, "no ranked trial: no front to measure")
    else:
        hv = Hypervolume(None, None, f"computed for 2 or 3 objectives; {d} chosen")

    run_standings = []
    for i, own in enumerate(own_fronts):
        own_best, own_knee = best_and_knee(own)
        base = baselines[i] if baselines is not None else None
        run_standings.append(RunStanding(
            front=tuple(trials[k] for k in own), best=own_best, knee=own_knee,
            hypervolume=run_hv[i],
            baseline_ratio=baseline_ratio(own_best.record.test_mae if own_best else None, base)))

    return Board(objectives=objectives, trials=trials, runs=tuple(run_standings), best=best,
                 knee=knee, ranked=len(ranked),
                 unranked_complete=sum(1 for k, (_, r) in enumerate(entries)
                                       if r.status == COMPLETE and k not in rank_of),
                 hypervolume=hv, budget=budget,
                 budget_pick=_pick(trials, budget) if budget.active else None)


# --- one run's records: what export chooses from ----------------------------------------


def rank(records: Sequence[TrialRecord],
         objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES) -> dict[str, int]:
    """Pareto rank of every complete trial with all objectives measured, by trial id."""
    return {s.record.trial_id: s.rank for s in build([records], objectives).trials
            if s.rank is not None}


def best(records: Sequence[TrialRecord],
         objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES) -> TrialRecord | None:
    """Lowest validation MAE on the front (ties: :func:`choice_key`); None if none is ranked."""
    s = build([records], objectives).best
    return s.record if s else None


def knee_trial(records: Sequence[TrialRecord],
               objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES
               ) -> TrialRecord | None:
    """The trial at the knee of the front (see :func:`search.pareto.knee`), the one the
    leaderboard marks with the same objectives; None if no trial is ranked."""
    s = build([records], objectives).knee
    return s.record if s else None


def within_budget(records: Sequence[TrialRecord], budget: Budget,
                  latency_ms: Callable[[TrialRecord], float] | None = None
                  ) -> TrialRecord | None:
    """The complete trial with the lowest validation MAE (ties: :func:`choice_key`) that meets
    every limit of ``budget``; None when nothing fits.

    Latency is the recorded figure, or ``latency_ms(record)`` (host milliseconds per image)
    when given: it is called in order of preference, only for trials that meet the other
    limits and only until one fits, since measuring means converting.
    """
    s = _pick((Standing(r, 0) for r in records), budget, latency_ms)
    return s.record if s else None
