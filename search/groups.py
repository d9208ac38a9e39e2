"""Errors by group: test MAE by gender, ethnicity and age band, with counts.

A face-age model is not equally good for everyone: UTKFace holds more White adults than
anyone else, few people over 80, and its file names carry gender and race codes
(``[age]_[gender]_[race]_[date].jpg``, parsed by :func:`search.data.parse_name`), so each
complete trial's error can be broken down before a model ships. Pure numpy: the labels and
the predictions come from the caller.

The breakdown (what ``TrialRecord.groups``, ``leaderboard.json`` and the model card hold)::

    {"gender": {"male": {"n": 12, "mae": 5.1}, "female": {...}},
     "ethnicity": {"White": {...}, "Black": ..., "Asian": ..., "Indian": ..., "Others": ...},
     "age_band": {"0-12": {...}, "13-19": ..., "20-39": ..., "40-59": ..., "60+": ...}}

Every group is always there; ``mae`` (years) is None when ``n`` is 0. Images whose name lacks
the gender or race field count in the age bands only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: UTKFace's gender codes.
GENDERS = {0: "male", 1: "female"}
#: UTKFace's race codes, as its authors name them.
ETHNICITIES = {0: "White", 1: "Black", 2: "Asian", 3: "Indian", 4: "Others"}
#: Age bands: (name, lowest age, highest age), years, inclusive.
AGE_BANDS = (("0-12", 0, 12), ("13-19", 13, 19), ("20-39", 20, 39), ("40-59", 40, 59),
             ("60+", 60, 10**6))
#: The breakdowns, in the order they are shown, with their titles.
KINDS = {"gender": "gender", "ethnicity": "ethnicity", "age_band": "age band"}


def age_band(age: float) -> str:
    """The band of an age in years (whole years: 12.5 is in 0-12)."""
    for name, low, high in AGE_BANDS:
        if low <= int(age) <= high:
            return name
    raise ValueError(f"age {age} is outside 0-{AGE_BANDS[-1][1]}+")


def _cell(errors: np.ndarray) -> dict[str, Any]:
    return {"n": int(errors.size), "mae": float(np.mean(errors)) if errors.size else None}


def breakdown(ages: Sequence[float], genders: Sequence[int | None],
              races: Sequence[int | None], predicted: Sequence[float]) -> dict[str, Any]:
    """MAE (years) and count of each group, from the true ages (years), the UTKFace gender
    and race codes (None where the name lacks them) and the predicted ages (years), one of
    each per image, in the same order."""
    ages_a = np.asarray(ages, dtype=np.float64).reshape(-1)
    pred = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if not len(ages_a) == len(genders) == len(races) == len(pred):
        raise ValueError(f"one label and one prediction per image expected, got {len(ages_a)} "
                         f"ages, {len(genders)} genders, {len(races)} races and {len(pred)} "
                         "predictions")
    errors = np.abs(pred - ages_a)
    gender = np.array([-1 if g is None else int(g) for g in genders], dtype=np.int64)
    race = np.array([-1 if r is None else int(r) for r in races], dtype=np.int64)
    band = np.array([age_band(a) for a in ages_a], dtype=object)
    return {
        "gender": {name: _cell(errors[gender == code]) for code, name in GENDERS.items()},
        "ethnicity": {name: _cell(errors[race == code]) for code, name in ETHNICITIES.items()},
        "age_band": {name: _cell(errors[band == name]) for name, _, _ in AGE_BANDS},
    }


def of_files(files: Sequence[Any], predicted: Sequence[float | None]) -> dict[str, Any] | None:
    """:func:`breakdown` of the labelled, predicted images: ``files`` holds each image's
    labels (anything with ``age``, ``gender`` and ``race``: a :class:`search.data.FaceFile`,
    the :class:`search.data.Labels` of its name) or None, ``predicted`` its age (years) or
    None; images lacking either are left out. None when none is left."""
    pairs = [(f, p) for f, p in zip(files, predicted, strict=True)
             if f is not None and p is not None]
    if not pairs:
        return None
    return breakdown([f.age for f, _ in pairs], [f.gender for f, _ in pairs],
                     [f.race for f, _ in pairs], [p for _, p in pairs])


def is_breakdown(value: Any) -> bool:
    """Whether ``value`` has the shape :func:`breakdown` gives (a record read from disk may
    hold anything)."""
    if not isinstance(value, Mapping):
        return False
    for kind, names in (("gender", GENDERS.values()), ("ethnicity", ETHNICITIES.values()),
                        ("age_band", [b[0] for b in AGE_BANDS])):
        part = value.get(kind)
        if not isinstance(part, Mapping):
            return False
        for name in names:
            cell = part.get(name)
            if not (isinstance(cell, Mapping) and isinstance(cell.get("n"), int)
                    and (cell.get("mae") is None or isinstance(cell.get("mae"), int | float))):
                return False
    return True


def rows(groups: Mapping[str, Any]) -> list[tuple[str, str, int, float | None]]:
    """(breakdown, group, images, MAE in years) for each group, in the order shown."""
    return [(KINDS[kind], name, int(cell["n"]), cell["mae"])
            for kind in KINDS for name, cell in groups[kind].items()]


def lines(groups: Mapping[str, Any], overall: float | None = None) -> list[str]:
    """The breakdown as plain text, one line per breakdown: ``gender: male 5.10 y (n 12),
    female 6.02 y (n 9)``; groups without images read ``- (n 0)``. ``overall``: the MAE of
    all images (years), to compare with."""
    out = [] if overall is None else [f"all: {overall:.2f} y"]
    for kind, title in KINDS.items():
        cells = [f"{name} {'-' if c['mae'] is None else format(c['mae'], '.2f') + ' y'} "
                 f"(n {c['n']})" for name, c in groups[kind].items()]
        out.append(f"{title}: " + ", ".join(cells))
    return out


def markdown(groups: Mapping[str, Any]) -> str:
    """The breakdown as a Markdown table (for reports)."""
    out = ["| breakdown | group | images | MAE (years) |", "| --- | --- | ---: | ---: |"]
    for kind, name, n, mae in rows(groups):
        out.append(f"| {kind} | {name} | {n} | {'-' if mae is None else f'{mae:.2f}'} |")
    return "\n".join(out)


def widest_gap(groups: Mapping[str, Any], min_n: int = 1) -> dict[str, Any] | None:
    """The breakdown whose groups (each with at least ``min_n`` images) differ most in MAE:
    ``{"breakdown", "best", "worst", "gap_years"}``, or None without two such groups."""
    best: dict[str, Any] | None = None
    for kind, title in KINDS.items():
        cells = [(c["mae"], name) for name, c in groups[kind].items()
                 if c["mae"] is not None and c["n"] >= min_n]
        if len(cells) < 2:
            continue
        lo, hi = min(cells), max(cells)
        if best is None or hi[0] - lo[0] > best["gap_years"]:
            best = {"breakdown": title, "best": lo[1], "worst": hi[1], "gap_years": hi[0] - lo[0]}
    return best
