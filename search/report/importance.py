"""Which hyperparameters mattered: each one's correlation ratio (η²) with validation MAE.

η² of a hyperparameter is the share of the spread (variance) of the complete trials'
validation MAE that its values explain on their own: the trials are grouped by its value
(numbers with more than :data:`BINS` distinct values in :data:`BINS` bins of equal count;
a parameter a trial does not have, such as ``filters_4`` of a 3-block network, is a group
of its own), and η² = the between-group sum of squares over the total. 0: its value tells
nothing about the MAE; 1: it tells all. Each is measured alone, so two parameters that moved
together share the credit; with a handful of trials every η² is rough. Pure: numbers in,
numbers out; the leaderboard's trials only. Optuna's evaluators (fANOVA, PED-ANOVA) answer
the same question on the Optuna study of a run (``optuna.importance``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

BINS = 4
ABSENT = "(absent)"


def _groups(values: Sequence[Any]) -> list[Any]:
    present = [v for v in values if v is not ABSENT]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in present)
    if not numeric or len(set(present)) <= BINS:
        return [v if v is ABSENT else repr(v) for v in values]
    order = sorted(range(len(values)), key=lambda i: (values[i] is ABSENT,
                                                     0 if values[i] is ABSENT else values[i]))
    out: list[Any] = [None] * len(values)
    n = len(present)
    for rank, i in enumerate(order):
        out[i] = ABSENT if values[i] is ABSENT else min(BINS - 1, rank * BINS // n)
    return out


def eta_squared(values: Sequence[Any], maes: Sequence[float]) -> float | None:
    """η² of one hyperparameter's ``values`` (:data:`ABSENT` where a trial has none) with
    validation ``maes`` (years); None with fewer than 3 trials or no spread at all."""
    if len(maes) < 3 or len(values) != len(maes):
        return None
    mean = sum(maes) / len(maes)
    total = sum((y - mean) ** 2 for y in maes)
    if total <= 0:
        return None
    by: dict[Any, list[float]] = {}
    for g, y in zip(_groups(values), maes, strict=True):
        by.setdefault(g, []).append(y)
    between = sum(len(ys) * (sum(ys) / len(ys) - mean) ** 2 for ys in by.values())
    return max(0.0, min(1.0, between / total))


def importances(trials: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """η² of every hyperparameter that varies among the complete trials with a finite
    validation MAE, highest first; empty with fewer than 3 such trials."""
    done = [t for t in trials if t.get("status") == "complete" and t.get("val_mae") is not None
            and math.isfinite(t["val_mae"])]
    names = sorted({k for t in done for k in (t.get("values") or {})})
    maes = [float(t["val_mae"]) for t in done]
    out = {}
    for name in names:
        values = [(t.get("values") or {}).get(name, ABSENT) for t in done]
        if len({repr(v) for v in values}) < 2:
            continue  # the same in every trial: nothing to learn from it
        score = eta_squared(values, maes)
        if score is not None:
            out[name] = score
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))
