"""Pruning that fits a Pareto search: stop a trial whose learning curve is dominated.

Optuna cannot prune multi-objective studies (``trial.report`` raises), and a plain "worse
than the median" rule would kill every small model, whose MAE is expected to be higher. A
trial is stopped at the end of an epoch only when some finished trial that is **no larger**
(parameters and TFLite float16 bytes at most the same), **no slower** (host latency at most
the same, when both were measured) and therefore cannot be beaten on cost, was also better
on validation MAE at the same epoch by a margin. Such a trial is unlikely to reach the
Pareto front: the finished one already beats it on every objective. The margin leaves room
for a trial that starts slower and would have ended better, and so does a grace period: no
trial is judged before the end of epoch ``start`` (the command line's default: a quarter of
the epochs, the seed schedule's full-rate phase). Without it, the 4-minute search-efficiency
benchmark saw 5 deeper networks pruned at their first epoch, before they had learned anything.

Curves are compared "best so far": a trial's value at epoch ``e`` is its lowest validation
MAE up to ``e`` (a noisy epoch neither prunes nor saves a trial); a finished trial that
stopped before ``e`` (early stopping) keeps its best value. Epochs are those of the whole
trial, counted from 1 (a Hyperband round that starts at epoch 4 has no value for 1-3).

:func:`dominating` is the decision, a pure function; :class:`Pruner` reads the finished
trials of a run folder; the Keras callback that asks it at each epoch's end lives in
:mod:`search.trial`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from search.records import COMPLETE, PRUNED, TrialRecord, load_records

#: Default margin: a finished trial must have been at least 10% better.
DEFAULT_MARGIN = 0.1


@dataclass(frozen=True)
class Curve:
    """A trial as the pruner sees it: its costs and its validation MAE per epoch."""

    trial_id: str
    params: int
    float16_bytes: int
    latency_ms: float | None
    val_mae: tuple[float, ...]  # years, index 0 = epoch 1; NaN where it has no value

    def best_until(self, epoch: int) -> float | None:
        """Lowest finite validation MAE in epochs 1..``epoch`` (years); None if none."""
        finite = [x for x in self.val_mae[:epoch] if math.isfinite(x)]
        return min(finite) if finite else None


def curve_of(record: TrialRecord) -> Curve | None:
    """The curve of a finished trial, or None if it has no costs or no validation MAE."""
    if record.status not in (COMPLETE, PRUNED) or record.is_reference:
        return None
    if record.params is None or record.tflite_float16_bytes is None:
        return None
    maes = record.history.get("val_mae") or []
    if not maes:
        return None
    curve = (math.nan,) * record.initial_epoch + tuple(float(x) for x in maes)
    return Curve(record.trial_id, int(record.params), int(record.tflite_float16_bytes),
                 record.latency_ms, curve)


def no_costlier(other: Curve, params: int, float16_bytes: int,
                latency_ms: float | None) -> bool:
    """``other`` is no larger and (when both were timed) no slower than these costs."""
    if other.params > params or other.float16_bytes > float16_bytes:
        return False
    return latency_ms is None or other.latency_ms is None or other.latency_ms <= latency_ms


def dominating(epoch: int, best_mae: float, params: int, float16_bytes: int,
               latency_ms: float | None, finished: Iterable[Curve],
               margin: float = DEFAULT_MARGIN) -> tuple[Curve, float] | None:
    """The finished trial that dominates a running one at ``epoch``, if any.

    ``epoch`` is 1-based; ``best_mae`` is the running trial's lowest validation MAE up to it
    (years). Returns the dominating curve and its best MAE up to ``epoch`` (the one with the
    lowest MAE when several qualify), or None: the trial goes on. A trial is dominated when
    a finished trial that costs no more had ``best * (1 + margin) < best_mae``.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if not math.isfinite(best_mae):
        return None  # a NaN is the trial's own failure, not the pruner's business
    found: tuple[Curve, float] | None = None
    for c in finished:
        if not no_costlier(c, params, float16_bytes, latency_ms):
            continue
        theirs = c.best_until(epoch)
        if theirs is None or not theirs * (1.0 + margin) < best_mae:
            continue
        if found is None or theirs < found[1]:
            found = (c, theirs)
    return found


def reason(epoch: int, best_mae: float, by: Curve, theirs: float, margin: float) -> str:
    """One line for the record: what was compared with what."""
    return (f"pruned after epoch {epoch}: val MAE {best_mae:.2f} y > {1 + margin:g} x "
            f"{theirs:.2f} y of trial {by.trial_id} at the same epoch, which is no larger "
            f"({by.params:,} params, {by.float16_bytes / 1024:.1f} KiB float16)")


class Pruner:
    """Prunes against the finished trials of a run folder (every worker's, as on disk).

    ``for_trial(record)`` is called when a trial starts training, with its costs measured;
    it reads the finished trials once and returns the per-epoch check
    ``check(epoch, best_mae) -> reason | None``, or None when nothing finished could ever
    dominate it.
    """

    def __init__(self, run_dir: Path, margin: float = DEFAULT_MARGIN, start: int = 1):
        if margin < 0:
            raise ValueError(f"prune margin must be >= 0, got {margin}")
        if start < 1:
            raise ValueError(f"pruning start epoch must be >= 1, got {start}")
        self.run_dir = Path(run_dir)
        self.margin = margin
        self.start = start

    def finished(self) -> list[Curve]:
        out = []
        for r in load_records(self.run_dir):
            c = curve_of(r)
            if c is not None:
                out.append(c)
        return out

    def for_trial(self, record: TrialRecord) -> Callable[[int, float], str | None] | None:
        if record.is_reference or record.params is None or record.tflite_float16_bytes is None:
            return None
        params, size, lat = record.params, record.tflite_float16_bytes, record.latency_ms
        # A Hyperband round never competes with the trial it continues.
        skip = {record.trial_id, record.continues_trial}
        rivals: Sequence[Curve] = [c for c in self.finished() if c.trial_id not in skip
                                   and no_costlier(c, params, size, lat)]
        if not rivals:
            return None
        margin, start = self.margin, self.start

        def check(epoch: int, best_mae: float) -> str | None:
            if epoch < start:  # the grace period: slow starters are not judged yet
                return None
            hit = dominating(epoch, best_mae, params, size, lat, rivals, margin)
            return None if hit is None else reason(epoch, best_mae, hit[0], hit[1], margin)

        return check
