"""Leaderboards: one board (plain data) and its renderings for the terminal and for files.

A *board* is built from one or more run folders (:func:`load_run`, :func:`board`) at any
moment, during a search too: it reads ``trials/*/record.json`` and the run's
``config.json``, ``dataset.json``, ``space.json`` and ``baseline.json``, never Keras.
Renderings are pure functions of the board: :func:`table` (rich), :func:`markdown`,
:func:`csv_text`, :func:`json_text`, :func:`search.report_html.page` and
:func:`search.report_plot.pareto_png`; :func:`write_all` puts them in a folder.

``leaderboard.json`` schema (``schema_version`` 1; keys are only ever added)::

    {
      "schema_version": 1,
      "generated_at": "2026-01-01T12:00:00Z",      # UTC
      "run": "<run name>",                         # "<a> vs <b>" for merged runs
      "objectives": ["mae", "params", "kib"],      # all minimised
      "objective_units": {"mae": "years", ...},
      "config": {...}, "space": {...},             # of runs[0] (the run, unless merged)
      "dataset": {...}, "baseline": {...},         # baseline: median_age, val_mae, test_mae
      "runs": [{"run", "path", "config", "space", "dataset", "baseline",
                "trials_planned": int | null, "counts": {status: int},
                "front": [trial ids], "best_trial", "knee_trial",
                "hypervolume": float | null, "problems": [str]}, ...],
      "counts": {"complete": int, "pruned": int, "infeasible": int, "failed": int},
      "best_trial": "<id>" | null, "best_run": "<run>" | null,  # lowest val MAE on the front
      "knee_trial": "<id>" | null, "knee_run": "<run>" | null,
      "pareto": {"ranked": int, "unranked_complete": int,
                 "hypervolume": float | null, "hypervolume_max": float | null,
                 "hypervolume_note": str,
                 "normalisation": {objective: [best, worst]},   # objective units
                 "reference_point": {objective: value},          # objective units
                 "knee_definition": str},
      "budget": null | {"max_kib": .., "max_latency_ms": .., "max_params": ..,
                        "trial_id": "<id>" | null, "run": "<run>" | null, "message": str},
      "sort": "pareto" | "mae" | "size" | "latency",
      "summary": {"headline": [str], "details": [str]},   # what every rendering says
      "trials": [ {TrialRecord fields..., "run", "pareto_rank": int | null,
                   "crowding_distance": float | null,   # null: an extreme (infinite) or unranked
                   "on_front", "is_best", "is_knee": bool, "fits_budget": bool | null,
                   "tflite_float16_kib", "tflite_int8_kib": float | null,
                   "hyperparameters": {name: str}, "architecture": str | null,
                   "export_command": str | null}, ... ]   # sorted as the table
    }

Pareto ranks of a merged board are over all its runs together, so the front shows which run
holds the best trade-offs; each run's own front and hypervolume are in ``runs``. Numbers
that are not finite (a NaN loss) are written as null.
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import io
import json
import math
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search import pareto
from search.errors import UserError
from search.records import (
    COMPLETE,
    FAILED,
    INFEASIBLE,
    PRUNED,
    STATUSES,
    TrialRecord,
    load_records,
    trial_order,
)

SCHEMA_VERSION = 1
FORMATS = ("table", "markdown", "html", "csv", "json")
SORTS = ("pareto", "mae", "size", "latency")
#: What :func:`write_all` writes into a folder.
REPORT_FILES = ("leaderboard.json", "leaderboard.md", "leaderboard.csv", "pareto.png",
                "report.html")
#: Hyperparameters shown in the tables, in this order, when present.
KEY_PARAMS = ("blocks", "filters", "conv", "head", "dense", "dropout", "learning_rate")
_RAW_PARAMS = ("blocks", "dropout", "learning_rate")  # numbers: sorted and in CSV as recorded


# --- reading run folders ----------------------------------------------------------------


@dataclass
class RunData:
    """Everything a report needs from one run folder."""

    name: str
    path: str  # as given (used in the export commands the report prints)
    records: list[TrialRecord]
    config: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # files that could not be read


def _read_json(path: Path, problems: list[str]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        problems.append(f"{path.name}: unreadable ({type(e).__name__}: {e})")
        return {}
    return data if isinstance(data, dict) else {}


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder, finished or still searching.

    Raises :class:`UserError` if ``run_dir`` is not a run folder (no ``config.json``). A
    record that cannot be read is left out and named in ``problems``, so a damaged trial
    never hides the others.
    """
    path = Path(run_dir)
    if not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "has no config.json"
        raise UserError(f"{str(run_dir)!r} is not a run folder ({what}); expected "
                        "results/<run>, as printed at the start of a search")
    problems: list[str] = []
    config = _read_json(path / "config.json", problems)
    try:
        records = load_records(path)
    except (OSError, ValueError, TypeError):
        records = []
        for p in sorted(path.glob("trials/*/record.json")):
            try:
                records.append(TrialRecord.load(p))
            except (OSError, ValueError, TypeError) as e:
                problems.append(f"{p.relative_to(path)}: unreadable ({type(e).__name__}: {e})")
        records.sort(key=lambda r: (not r.is_reference, trial_order(r.trial_id)))
    baseline = _read_json(path / "baseline.json", problems)
    if not baseline:  # runs from before baseline.json: the leaderboard kept it
        baseline = dict(_read_json(path / "leaderboard.json", problems).get("baseline") or {})
    return RunData(name=path.resolve().name, path=str(run_dir), records=records, config=config,
                   space=_read_json(path / "space.json", problems),
                   dataset=_read_json(path / "dataset.json", problems),
                   baseline=baseline, problems=problems)


# --- budgets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """What a phone allows: float16 TFLite size (KiB), host latency (ms), parameters."""

    max_kib: float | None = None
    max_latency_ms: float | None = None
    max_params: float | None = None

    def __post_init__(self) -> None:
        for flag, v in (("--max-kib", self.max_kib), ("--max-latency-ms", self.max_latency_ms),
                        ("--max-params", self.max_params)):
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise UserError(f"{flag} must be a number above 0, got {v!r}")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.max_kib, self.max_latency_ms, self.max_params))

    def describe(self) -> str:
        parts = []
        if self.max_kib is not None:
            parts.append(f"{self.max_kib:g} KiB (float16 TFLite)")
        if self.max_latency_ms is not None:
            parts.append(f"{self.max_latency_ms:g} ms host latency")
        if self.max_params is not None:
            parts.append(f"{self.max_params:,.0f} parameters")
        return ", ".join(parts)

    def fits(self, record: TrialRecord) -> bool | None:
        """True or False, or None where a needed measurement is missing."""
        checks = ((self.max_kib, record.tflite_float16_kib),
                  (self.max_latency_ms, record.latency_ms), (self.max_params, record.params))
        missing = False
        for limit, value in checks:
            if limit is None:
                continue
            if value is None:
                missing = True
            elif value > limit:
                return False
        return None if missing else True


# --- the board ------------------------------------------------------------------------------


def _finite(x: Any) -> Any:
    """JSON-safe copy: non-finite floats become None, tuples lists."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def _text(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, list | dict) else str(v)


def summarise_values(values: Mapping[str, Any]) -> dict[str, str]:
    """Short strings for the key hyperparameters of a candidate (any value type is safe)."""
    out: dict[str, str] = {}
    try:
        blocks = int(values["blocks"]) if "blocks" in values else None
    except (TypeError, ValueError):
        blocks, out["blocks"] = None, _text(values["blocks"])
    if blocks is not None:
        out["blocks"] = str(blocks)
        idx = range(1, min(blocks, 64) + 1)
        out["filters"] = "-".join(_text(values.get(f"filters_{i}", "?")) for i in idx)
        kinds = {_text(values.get(f"conv_{i}", values.get("conv", "separable"))) for i in idx}
        out["conv"] = ("lite" if kinds == {"separable"} else "full" if kinds == {"full"}
                       else "mixed" if kinds <= {"separable", "full"} else "/".join(sorted(kinds)))
    if "head" in values:
        out["head"] = _text(values["head"])
    if "dense_layers" in values:
        try:
            idx = range(1, min(int(values["dense_layers"]), 64) + 1)
            out["dense"] = "-".join(_text(values.get(f"dense_units_{j}", "?")) for j in idx)
        except (TypeError, ValueError):
            out["dense"] = _text(values["dense_layers"])
    for name, spec in (("dropout", ".2f"), ("learning_rate", ".1e")):
        if name in values:
            try:
                out[name] = format(float(values[name]), spec)
            except (TypeError, ValueError):
                out[name] = _text(values[name])
    return out


def architecture_text(values: Mapping[str, Any], image_size: int | None) -> str | None:
    """The network in one line (input to age), or None if the values do not describe one."""
    from search import builder  # pure: imports no Keras

    try:
        arch = builder.architecture(values)
        rates = builder.dropout_rates(values)
    except (KeyError, TypeError, ValueError):
        return None
    blocks = arch["blocks"]
    k = arch["kernel_size"]
    kinds = sorted({str(b["conv"]) for b in blocks})
    if len(kinds) == 1:  # one kind of convolution: say it once
        conv = f"{kinds[0]} {k}x{k} conv"
        filters = ", ".join(str(b["filters"]) for b in blocks)
    else:
        conv = f"{k}x{k} conv"
        filters = ", ".join(f"{b['filters']} {b['conv']}" for b in blocks)
    parts = [f"{image_size}x{image_size}x3 pixels" if image_size else "RGB pixels",
             f"{len(blocks)} × [{conv}, BatchNorm, LeakyReLU, 2x2 max-pool] "
             f"with {filters} filters",
             "global average pooling" if arch["head"] == "gap" else "flatten"]
    for units, rate in zip(arch["dense"], rates, strict=True):
        parts.append(f"dense {units}" + (f" (dropout {rate:.2f})" if rate > 0 else ""))
    parts.append("1 output (age, years)")
    return " → ".join(parts)


def export_command(run_path: str, trial_id: str) -> str:
    """The shell command that exports one trial of a run."""
    return f"python run_search.py export {shlex.quote(run_path)} --trial {shlex.quote(trial_id)}"


def _status_order(status: str) -> int:
    return STATUSES.index(status) if status in STATUSES else len(STATUSES)


def _sort_key(sort: str):
    inf = math.inf

    def num(v: Any) -> tuple[bool, float]:
        return (v is None, v if v is not None else inf)

    def key(row: Mapping[str, Any]):
        tail = (_status_order(row["status"]), row["run_index"], row["trial_id"])
        mae = num(row.get("val_mae"))
        if sort == "pareto":
            rank = row.get("pareto_rank")
            crowd = row["_crowding"]
            return (_status_order(row["status"]), rank if rank is not None else 10**9,
                    -crowd if crowd is not None else inf, mae, *tail)
        if sort == "mae":
            return (*mae, *tail)
        if sort == "size":
            return (*num(row.get("tflite_float16_kib")), *mae, *tail)
        return (*num(row.get("latency_ms")), *mae, *tail)

    return key


def _knee_definition(objectives: Sequence[str]) -> str:
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


def _unique_names(runs: Sequence[RunData]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for r in runs:
        seen[r.name] = seen.get(r.name, 0) + 1
        out.append(r.name if seen[r.name] == 1 else f"{r.name} ({seen[r.name]})")
    return out


def board(runs: Sequence[RunData], objectives: Sequence[str] = pareto.DEFAULT_OBJECTIVES,
          sort: str = "pareto", budget: Budget | None = None,
          now: _dt.datetime | None = None) -> dict[str, Any]:
    """The leaderboard of one or more runs as plain data (what ``leaderboard.json`` holds)."""
    if not runs:
        raise UserError("no run to report on; expected at least one run folder")
    if sort not in SORTS:
        raise UserError(f"unknown --sort {sort!r}; expected one of {', '.join(SORTS)}")
    objectives = pareto.parse_objectives(objectives)
    budget = budget or Budget()
    names = _unique_names(runs)
    entries = [(i, rec) for i, run in enumerate(runs) for rec in run.records]

    # Ranks over every run together; each run's own front below.
    ranked, points = [], []
    for k, (_, rec) in enumerate(entries):
        vec = pareto.objective_vector(rec, objectives) if rec.status == COMPLETE else None
        if vec is not None:
            ranked.append(k)
            points.append(vec)
    rank_of = dict(zip(ranked, pareto.non_dominated_ranks(points), strict=True))
    keys = [str(k) for k in ranked]
    crowd = pareto.crowding_by_rank(keys, points, {str(k): rank_of[k] for k in ranked})
    front = [k for k in ranked if rank_of[k] == 1]
    point_of = dict(zip(ranked, points, strict=True))

    def lowest_mae(ks: Sequence[int]) -> int | None:
        done = [k for k in ks if entries[k][1].val_mae is not None]
        return min(done, key=lambda k: (entries[k][1].val_mae, entries[k][1].params or 0,
                                        entries[k][0], entries[k][1].trial_id), default=None)

    best_k = lowest_mae(front)
    knee_i = pareto.knee([point_of[k] for k in front], pareto.knee_weights(objectives))
    knee_k = front[knee_i] if knee_i is not None else None

    # Hypervolume: objectives normalised over every ranked trial, reference 1.1 in each.
    d = len(objectives)
    pareto_info: dict[str, Any] = {
        "ranked": len(ranked),
        "unranked_complete": sum(1 for k, (_, r) in enumerate(entries)
                                 if r.status == COMPLETE and k not in rank_of),
        "hypervolume": None, "hypervolume_max": None,
        "normalisation": {}, "reference_point": {},
        "knee_definition": _knee_definition(objectives),
    }
    run_hv: list[float | None] = [None] * len(runs)
    if points and 2 <= d <= 3:
        lows, highs = pareto.bounds(points)
        ref = [pareto.HV_REFERENCE] * d
        norm = dict(zip(ranked, pareto.normalise(points, lows, highs), strict=True))
        pareto_info["hypervolume"] = pareto.hypervolume([norm[k] for k in front], ref)
        pareto_info["hypervolume_max"] = pareto.HV_REFERENCE ** d
        pareto_info["normalisation"] = {o: [lo, hi] for o, lo, hi
                                        in zip(objectives, lows, highs, strict=True)}
        pareto_info["reference_point"] = {
            o: lo + pareto.HV_REFERENCE * (hi - lo)
            for o, lo, hi in zip(objectives, lows, highs, strict=True)}
        pareto_info["hypervolume_note"] = (
            "objectives normalised over the ranked trials (0 = best value seen, 1 = worst); "
            f"reference point {pareto.HV_REFERENCE} in each")
        for i in range(len(runs)):
            own = [k for k in ranked if entries[k][0] == i]
            own_ranks = pareto.non_dominated_ranks([point_of[k] for k in own])
            run_hv[i] = pareto.hypervolume(
                [norm[k] for k, r in zip(own, own_ranks, strict=True) if r == 1], ref)
    elif not points:
        pareto_info["hypervolume_note"] = "no ranked trial: no front to measure"
    else:
        pareto_info["hypervolume_note"] = (f"computed for 2 or 3 objectives; {d} chosen")

    # Budget pick: the lowest validation MAE among complete trials that fit.
    fits = {k: budget.fits(rec) for k, (_, rec) in enumerate(entries)} if budget.active else {}
    budget_info = None
    if budget.active:
        ok = [k for k, v in fits.items() if v and entries[k][1].status == COMPLETE]
        pick = lowest_mae(ok)
        budget_info = {"max_kib": budget.max_kib, "max_latency_ms": budget.max_latency_ms,
                       "max_params": budget.max_params,
                       "trial_id": entries[pick][1].trial_id if pick is not None else None,
                       "run": names[entries[pick][0]] if pick is not None else None}
        budget_info["message"] = _budget_message(budget, entries, names, fits, pick)

    rows = []
    for k, (i, rec) in enumerate(entries):
        row = _finite(rec.to_dict())
        c = crowd.get(str(k))
        row.update({
            "run": names[i], "run_index": i,
            "pareto_rank": rank_of.get(k),
            "crowding_distance": c if c is not None and math.isfinite(c) else None,
            "_crowding": c,
            "on_front": rank_of.get(k) == 1, "is_best": k == best_k, "is_knee": k == knee_k,
            "fits_budget": fits.get(k) if budget.active else None,
            "tflite_float16_kib": rec.tflite_float16_kib,
            "tflite_int8_kib": rec.tflite_int8_kib,
            "hyperparameters": summarise_values(rec.values),
            "architecture": architecture_text(rec.values, runs[i].config.get("image_size")),
            "export_command": (export_command(runs[i].path, rec.trial_id)
                               if rec.status == COMPLETE and rec.model_path else None),
        })
        rows.append(row)
    rows.sort(key=_sort_key(sort))
    for row in rows:
        del row["_crowding"], row["run_index"]

    counts = {s: sum(1 for _, r in entries if r.status == s) for s in STATUSES}
    run_infos = []
    for i, run in enumerate(runs):
        own = [k for k in ranked if entries[k][0] == i]
        own_ranks = dict(zip(own, pareto.non_dominated_ranks([point_of[k] for k in own]),
                             strict=True))
        own_front = [k for k in own if own_ranks[k] == 1]
        own_knee = pareto.knee([point_of[k] for k in own_front],
                               pareto.knee_weights(objectives))
        own_best = lowest_mae(own_front)
        run_infos.append({
            "run": names[i], "path": run.path, "config": run.config, "space": run.space,
            "dataset": run.dataset, "baseline": run.baseline,
            "trials_planned": run.config.get("trials"),
            "counts": {s: sum(1 for r in run.records if r.status == s) for s in STATUSES},
            "front": [entries[k][1].trial_id for k in own_front],
            "best_trial": entries[own_best][1].trial_id if own_best is not None else None,
            "knee_trial": (entries[own_front[own_knee]][1].trial_id
                           if own_knee is not None else None),
            "hypervolume": run_hv[i],
            "problems": list(run.problems),
        })
    first = runs[0]
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": (now or _dt.datetime.now(_dt.timezone.utc)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "run": " vs ".join(names),
        "objectives": list(objectives),
        "objective_units": {o: pareto.OBJECTIVES[o].unit for o in objectives},
        "config": first.config, "space": first.space, "dataset": first.dataset,
        "baseline": first.baseline,
        "runs": run_infos,
        "counts": counts,
        "best_trial": entries[best_k][1].trial_id if best_k is not None else None,
        "best_run": names[entries[best_k][0]] if best_k is not None else None,
        "knee_trial": entries[knee_k][1].trial_id if knee_k is not None else None,
        "knee_run": names[entries[knee_k][0]] if knee_k is not None else None,
        "pareto": pareto_info,
        "budget": budget_info,
        "sort": sort,
        "trials": rows,
    }
    out = _finite(out)
    out["summary"] = summary(out)
    return out


def leaderboard(run_name: str, records: Sequence[TrialRecord], *,
                config: Mapping | None = None, space: Mapping | None = None,
                dataset: Mapping | None = None, baseline: Mapping | None = None,
                objectives: Sequence[str] = pareto.DEFAULT_OBJECTIVES, run_path: str = "RUN_DIR",
                sort: str = "pareto", budget: Budget | None = None) -> dict[str, Any]:
    """The board of one run held in memory (no folder needed)."""
    run = RunData(name=run_name, path=run_path, records=list(records),
                  config=dict(config or {}), space=dict(space or {}),
                  dataset=dict(dataset or {}), baseline=dict(baseline or {}))
    return board([run], objectives, sort=sort, budget=budget)


def _budget_message(budget: Budget, entries, names, fits, pick) -> str:
    multi = len(set(names)) > 1

    def who(k: int) -> str:
        i, rec = entries[k]
        return f"trial {rec.trial_id}" + (f" of {names[i]}" if multi else "")

    within = f"within {budget.describe()}"
    done = [k for k, (_, r) in enumerate(entries) if r.status == COMPLETE]
    unknown = sum(1 for k in done if fits.get(k) is None)
    note = (f" ({unknown} complete trial(s) lack a measurement the budget needs and are not "
            "counted)") if unknown else ""
    if pick is not None:
        rec = entries[pick][1]
        latency = f", {rec.latency_ms:.2f} ms" if rec.latency_ms is not None else ""
        return (f"Best MAE {within}: {who(pick)}, val MAE {_f(rec.val_mae, '.2f')} y, "
                f"{_f(rec.tflite_float16_kib, '.1f')} KiB, {_count(rec.params)} parameters"
                f"{latency}.{note}")
    if not done:
        return f"No complete trial yet, so none fits {budget.describe()}."
    smallest = min((k for k in done if entries[k][1].tflite_float16_kib is not None),
                   key=lambda k: entries[k][1].tflite_float16_kib, default=None)
    tail = ""
    if smallest is not None:
        tail = (f" The smallest complete one is {who(smallest)} at "
                f"{entries[smallest][1].tflite_float16_kib:.1f} KiB.")
    return f"No complete trial fits {budget.describe()}.{tail}{note}"


# --- sentences every rendering shows -------------------------------------------------------------


def _f(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _count(n: float | None) -> str:
    return "-" if n is None else f"{n:,.0f}"


def _macs(n: float | None) -> str:
    if n is None:
        return "-"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.1f}{suffix}"
    return f"{n:.0f}"


def _find(b: Mapping[str, Any], trial_id: str | None, run: str | None) -> dict | None:
    return next((t for t in b["trials"]
                 if t["trial_id"] == trial_id and (run is None or t["run"] == run)), None)


def _objective_value(o: str, row: Mapping[str, Any]) -> str:
    return {"mae": lambda: f"val MAE {_f(row.get('val_mae'), '.2f')} y",
            "params": lambda: f"{_count(row.get('params'))} parameters",
            "kib": lambda: f"{_f(row.get('tflite_float16_kib'), '.1f')} KiB",
            "macs": lambda: f"{_macs(row.get('macs'))} MACs",
            "latency": lambda: f"{_f(row.get('latency_ms'), '.2f')} ms"}[o]()


def _objective_name(o: str) -> str:
    obj = pareto.OBJECTIVES[o]
    return obj.label if obj.label == obj.unit else f"{obj.label} ({obj.unit})"


def _ref_value(o: str, v: float) -> str:
    unit = pareto.OBJECTIVES[o].unit
    if o in ("params", "macs"):
        return f"{v:,.0f} {unit}"
    return f"{v:.3g} {unit}" if o == "latency" else f"{v:.2f} {unit}"


def summary(b: Mapping[str, Any]) -> dict[str, list[str]]:
    """The board's story in plain sentences: ``headline`` (what to ship, what went wrong) and
    ``details`` (the runs, the front, the baseline). Renderings escape them as they need."""
    head: list[str] = []
    detail: list[str] = []
    multi = len(b["runs"]) > 1
    for run in b["runs"]:
        cfg, data, counts = run["config"], run["dataset"], run["counts"]
        n = sum(counts.values())
        planned = run.get("trials_planned")
        status = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        splits = data.get("splits") or {}
        data_text = ""
        if data:
            data_text = (f"; data: {data.get('source', '?')}, {_count(data.get('used'))} images"
                         + (f" (train {splits.get('train')}, val {splits.get('val')}, test "
                            f"{splits.get('test')})" if splits else ""))
        setup = ", ".join(x for x in (
            f"space {run['space'].get('name') or cfg.get('space', '?')}",
            f"tuner {cfg['tuner']}" if cfg.get("tuner") else "",
            f"{cfg['image_size']} px" if cfg.get("image_size") else "",
            f"up to {cfg['epochs']} epochs" if cfg.get("epochs") else "",
            f"seed {cfg['seed']}" if cfg.get("seed") is not None else "") if x)
        recorded = f"{n} of {planned} planned trials recorded" if planned else f"{n} trials"
        detail.append(f"Run {run['run']}: {setup}; {recorded}"
                      + (f" ({status})" if status else "") + data_text + ".")
        for p in run.get("problems", []):
            head.append(f"Run {run['run']}: left out {p}.")
    counts = b["counts"]
    total = sum(counts.values())
    objs = ", ".join(_objective_name(o) for o in b["objectives"])
    info = b["pareto"]
    if total == 0:
        head.append("No trial recorded yet: the search has not finished its first trial. "
                    "Nothing to rank.")
    elif counts[COMPLETE] == 0:
        why = ", ".join(f"{counts[s]} {s}" for s in (FAILED, INFEASIBLE, PRUNED) if counts[s])
        head.append(f"No trial finished ({why}): nothing to rank. Their reasons are listed "
                    "with the table.")
    else:
        front = sum(1 for t in b["trials"] if t["on_front"])
        if info["ranked"]:
            detail.append(f"Pareto front on {objs}, all lower is better: {front} of "
                          f"{info['ranked']} ranked trial(s)"
                          + (" (one complete trial: it is the front by itself)"
                             if info["ranked"] == 1 else "") + ".")
        if info["unranked_complete"]:
            missing = [o for o in b["objectives"] if any(
                t["status"] == COMPLETE and t.get(pareto.OBJECTIVES[o].attr) is None
                for t in b["trials"])]
            line = (f"{info['unranked_complete']} complete trial(s) not ranked: "
                    f"{', '.join(missing) or 'an objective'} not measured (shown as '-').")
            if info["ranked"] == 0:  # nothing on the front: say so where it is seen first
                head.append(f"No trial ranked: {line} Choose other --objectives "
                            f"(now {','.join(b['objectives'])}).")
            else:
                detail.append(line)
    best = _find(b, b["best_trial"], b["best_run"])
    where = (lambda row: f" of {row['run']}") if multi else (lambda row: "")
    if best:
        head.append(f"Best MAE on the front: trial {best['trial_id']}{where(best)}, val MAE "
                    f"{_f(best['val_mae'], '.2f')} y, test MAE {_f(best.get('test_mae'), '.2f')}"
                    f" y, {_f(best.get('tflite_float16_kib'), '.1f')} KiB, "
                    f"{_count(best.get('params'))} parameters.")
    if b.get("budget"):
        head.append(b["budget"]["message"])
    for run in b["runs"]:
        base = run["baseline"]
        if not base or not base.get("test_mae"):
            continue
        own_best = _find(b, run["best_trial"], run["run"])
        ratio = ""
        if own_best and own_best.get("test_mae") is not None:
            ratio = (f"; best / baseline on test: "
                     f"{own_best['test_mae'] / base['test_mae']:.2f}")
        head.append(f"The median-age baseline{' of ' + run['run'] if multi else ''} (always "
                    f"predicting {base.get('median_age', 0):.0f} y) scores val "
                    f"{_f(base.get('val_mae'), '.2f')} y, test {_f(base.get('test_mae'), '.2f')}"
                    f" y{ratio}.")
    knee = _find(b, b["knee_trial"], b["knee_run"])
    if knee and info["ranked"] > 1:
        vals = ", ".join(_objective_value(o, knee) for o in b["objectives"])
        head.append(f"Knee (best trade-off of accuracy against cost, see the report's notes): "
                    f"trial {knee['trial_id']}{where(knee)}, {vals}.")
    if info.get("hypervolume") is not None:
        refp = ", ".join(f"{o} {_ref_value(o, v)}" for o, v in info["reference_point"].items())
        per_run = ""
        if multi:
            per_run = " Per run (same normalisation): " + ", ".join(
                f"{r['run']} {_f(r['hypervolume'], '.3f')}" for r in b["runs"]) + "."
        detail.append(f"Hypervolume of the front: {info['hypervolume']:.3f} of "
                      f"{info['hypervolume_max']:.3f} possible "
                      f"({info['hypervolume'] / info['hypervolume_max']:.0%}); "
                      f"{info['hypervolume_note']}, i.e. {refp}.{per_run}")
    elif total and counts[COMPLETE]:
        detail.append(f"Hypervolume not computed: {info['hypervolume_note']}.")
    refs = [t for t in b["trials"] if t.get("is_reference")]
    for ref in refs:
        head.append(f"Reference (the seed's recipe): trial {ref['trial_id']}{where(ref)}, "
                    f"{ref['status']}, val MAE {_f(ref.get('val_mae'), '.2f')} y, Pareto rank "
                    f"{ref.get('pareto_rank') or '-'}.")
    return {"headline": head, "details": detail}


# --- columns shared by the table, Markdown, HTML and CSV ----------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    numeric: bool
    show: Any  # row -> display string
    raw: Any  # row -> sortable / machine value (None = missing)


def _marks(row: Mapping[str, Any]) -> list[str]:
    out = []
    if row.get("is_best"):
        out.append("best")
    if row.get("is_knee"):
        out.append("knee")
    if row.get("is_reference"):
        out.append("ref")
    if row.get("fits_budget") and row["status"] == COMPLETE:
        out.append("fits")
    return out


def _hp(name: str) -> Column:
    """A key hyperparameter: shown as summarised, sorted by its recorded number if it has one."""
    header = {"learning_rate": "lr"}.get(name, name)
    if name in _RAW_PARAMS:
        return Column(name, header, True, lambda r: r["hyperparameters"].get(name, "-"),
                      lambda r: r.get("values", {}).get(name))
    return Column(name, header, False, lambda r: r["hyperparameters"].get(name, "-"),
                  lambda r: r["hyperparameters"].get(name))


def columns(b: Mapping[str, Any]) -> list[Column]:
    """The leaderboard's columns (a run column only when runs are merged)."""
    cols = []
    if len(b["runs"]) > 1:
        cols.append(Column("run", "run", False, lambda r: r["run"], lambda r: r["run"]))
    cols += [
        Column("trial_id", "trial", False, lambda r: r["trial_id"], lambda r: r["trial_id"]),
        Column("status", "status", False, lambda r: r["status"], lambda r: r["status"]),
        Column("pareto_rank", "rank", True,
               lambda r: "-" if r["pareto_rank"] is None
               else f"{r['pareto_rank']}{' *' if r['on_front'] else ''}",
               lambda r: r["pareto_rank"]),
        Column("val_mae", "val MAE (y)", True, lambda r: _f(r.get("val_mae"), ".2f"),
               lambda r: r.get("val_mae")),
        Column("test_mae", "test MAE (y)", True, lambda r: _f(r.get("test_mae"), ".2f"),
               lambda r: r.get("test_mae")),
        Column("params", "params", True, lambda r: _count(r.get("params")),
               lambda r: r.get("params")),
        Column("macs", "MACs", True, lambda r: _macs(r.get("macs")), lambda r: r.get("macs")),
        Column("tflite_float16_kib", "f16 KiB", True,
               lambda r: _f(r.get("tflite_float16_kib"), ".1f"),
               lambda r: r.get("tflite_float16_kib")),
        Column("tflite_int8_kib", "int8 KiB", True,
               lambda r: _f(r.get("tflite_int8_kib"), ".1f"),
               lambda r: r.get("tflite_int8_kib")),
        Column("latency_ms", "latency ms", True, lambda r: _f(r.get("latency_ms"), ".2f"),
               lambda r: r.get("latency_ms")),
    ]
    cols += [_hp(n) for n in ("filters", "conv", "head", "dense", "dropout", "learning_rate")]
    cols += [
        Column("epochs_run", "epochs", True, lambda r: str(r.get("epochs_run", 0)),
               lambda r: r.get("epochs_run")),
        Column("train_seconds", "train s", True, lambda r: _f(r.get("train_seconds"), ".0f"),
               lambda r: r.get("train_seconds")),
        Column("notes", "notes", False, lambda r: " ".join(_marks(r)) or "",
               lambda r: " ".join(_marks(r))),
    ]
    return cols


LEGEND = ("rank: Pareto rank, 1 * = on the front; best: lowest validation MAE on the front; "
          "knee: best trade-off; ref: the seed's recipe; fits: within the budget; "
          "'-': not measured. Sizes are TFLite files in KiB; latency is on the host CPU, "
          "one image.")


def _not_finished(b: Mapping[str, Any]) -> list[dict]:
    return [t for t in b["trials"] if t["status"] != COMPLETE and t.get("reason")]


# --- terminal -----------------------------------------------------------------------------------


#: Terminal headers (two lines where that saves width) and minimum widths of the columns
#: that may wrap; every other column never wraps.
_TERMINAL: dict[str, tuple[str, int | None]] = {
    "run": ("run", 6), "trial_id": ("trial", 5), "pareto_rank": ("rank", None),
    "val_mae": ("val\nMAE y", None), "test_mae": ("test\nMAE y", None),
    "tflite_float16_kib": ("f16\nKiB", None), "tflite_int8_kib": ("int8\nKiB", None),
    "latency_ms": ("host\nms", None), "filters": ("filters", 8), "dense": ("dense", 5),
    "dropout": ("drop", None), "epochs_run": ("ep", None), "train_seconds": ("train\ns", None),
    "notes": ("notes", 4),
}


#: Terminal columns left out first when the console is too narrow, in this order.
_DROP_ORDER = ("conv", "head", "dropout", "learning_rate", "train_seconds", "epochs_run",
               "dense", "filters", "macs", "tflite_int8_kib", "latency_ms", "test_mae")


def _width(c: Column, rows: Sequence[Mapping[str, Any]]) -> int:
    header = _TERMINAL.get(c.key, (c.header, None))[0]
    cells = [len(c.show(r)) for r in rows]
    return max([len(line) for line in header.split("\n")] + cells) + 2


def terminal_columns(b: Mapping[str, Any], width: int | None) -> tuple[list[Column], list[str]]:
    """The columns that fit ``width`` characters, and the headers of those left out."""
    cols = columns(b)
    dropped: list[str] = []
    if width is None:
        return cols, dropped
    for key in _DROP_ORDER:
        if sum(_width(c, b["trials"]) for c in cols) <= width:
            break
        hit = [c for c in cols if c.key == key]
        if hit:
            cols.remove(hit[0])
            dropped.append(hit[0].header)
    return cols, dropped


def table(b: Mapping[str, Any], width: int | None = None):
    """A rich Table of the leaderboard; columns that do not fit ``width`` are left out."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(f"Leaderboard: {b['run']}"), title_justify="left", header_style="bold",
              box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False)
    cols, _ = terminal_columns(b, width)
    for c in cols:
        header, min_width = _TERMINAL.get(c.key, (c.header, None))
        t.add_column(header, justify="right" if c.numeric else "left", min_width=min_width,
                     no_wrap=min_width is None, overflow="fold")
    for row in b["trials"]:
        style = None if row["status"] == COMPLETE else "dim"
        if row.get("is_best"):
            style = "bold green"
        t.add_row(*(Text(c.show(row)) for c in cols), style=style)
    return t


def print_board(b: Mapping[str, Any], console=None) -> None:
    """The table, the trials that did not finish and the summary, in the terminal."""
    from rich.console import Console

    console = console or Console()
    if b["trials"]:
        console.print(table(b, console.width))
        _, dropped = terminal_columns(b, console.width)
        hidden = (f" Left out for width: {', '.join(dropped)} (see --format markdown or html)."
                  if dropped else "")
        console.print(LEGEND + hidden, style="dim", markup=False, highlight=False)
    for row in _not_finished(b):
        console.print(f"  trial {row['trial_id']} {row['status']}: {row['reason']}",
                      style="dim", markup=False, highlight=False)
    for line in b["summary"]["details"]:
        console.print(line, markup=False, highlight=False)
    for line in b["summary"]["headline"]:
        console.print(line, style="bold", markup=False, highlight=False)


# --- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def md_escape(text: Any) -> str:
    """Text that Markdown (GitHub's included) shows as written: HTML-special characters as
    entities, Markdown's own (``\\ ` * _ [ ] | ~ #``) backslash-escaped, newlines as spaces."""
    s = html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", s)


def _fence(text: str) -> str:
    """A fence longer than any run of backticks in ``text`` (CommonMark)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def markdown(b: Mapping[str, Any], plot_file: str | None = "pareto.png") -> str:
    """The leaderboard as a Markdown page (GitHub-flavoured tables)."""
    from search.report_plot import plottable

    out = [f"# Leaderboard: {md_escape(b['run'])}", "",
           f"Generated {md_escape(b['generated_at'])}.", ""]
    out += [f"- {md_escape(line)}" for line in b["summary"]["headline"]]
    out.append("")
    if plot_file and any(plottable(t) for t in b["trials"]):
        out += [f"![Validation MAE against TFLite size]({plot_file})", ""]
    cols = columns(b)
    if b["trials"]:
        out.append("| " + " | ".join(c.header for c in cols) + " |")
        out.append("| " + " | ".join("---:" if c.numeric else "---" for c in cols) + " |")
        for row in b["trials"]:
            out.append("| " + " | ".join(md_escape(c.show(row)) for c in cols) + " |")
        out += ["", md_escape(LEGEND), ""]
    else:
        out += ["No trial recorded yet.", ""]
    unfinished = _not_finished(b)
    if unfinished:
        out += ["## Trials that did not finish", ""]
        out += [f"- trial {md_escape(t['trial_id'])} ({md_escape(t['status'])}): "
                f"{md_escape(t['reason'])}" for t in unfinished]
        out.append("")
    out += ["## Details", ""]
    out += [f"- {md_escape(line)}" for line in b["summary"]["details"]]
    if b["knee_trial"]:
        out.append(f"- Knee: {md_escape(b['pareto']['knee_definition'])}.")
    out.append("")
    front = [t for t in b["trials"] if t["on_front"]]
    if front:
        out += ["## Front members", ""]
        for t in front:
            where = f" of {md_escape(t['run'])}" if len(b["runs"]) > 1 else ""
            out += [f"### Trial {md_escape(t['trial_id'])}{where}", "",
                    f"- {md_escape(_objectives_line(t))}",
                    f"- architecture: {md_escape(t['architecture'] or 'not described')}",
                    f"- hyperparameters: {md_escape(_values_line(t['values']))}", ""]
            if t.get("export_command"):
                fence = _fence(t["export_command"])
                out += [f"{fence}sh", t["export_command"], fence, ""]
    return "\n".join(out).rstrip() + "\n"


def _objectives_line(t: Mapping[str, Any]) -> str:
    return (f"val MAE {_f(t.get('val_mae'), '.2f')} y, test MAE {_f(t.get('test_mae'), '.2f')} "
            f"y, {_count(t.get('params'))} parameters, {_macs(t.get('macs'))} MACs, "
            f"{_f(t.get('tflite_float16_kib'), '.1f')} KiB float16, "
            f"{_f(t.get('tflite_int8_kib'), '.1f')} KiB int8, "
            f"{_f(t.get('latency_ms'), '.2f')} ms, Pareto rank {t.get('pareto_rank') or '-'}"
            + (f" ({', '.join(_marks(t))})" if _marks(t) else ""))


def _values_line(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_text(v)}" for k, v in values.items()) or "none"


# --- CSV and JSON -------------------------------------------------------------------------------

#: CSV columns: machine values (numbers unformatted, empty = not measured).
CSV_FIELDS = ("run", "trial_id", "status", "pareto_rank", "on_front", "crowding_distance",
              "is_reference", "is_best", "is_knee", "fits_budget", "val_mae", "test_mae",
              "params", "macs", "tflite_float32_bytes", "tflite_float16_bytes",
              "tflite_float16_kib", "tflite_int8_bytes", "tflite_int8_kib", "latency_ms",
              *KEY_PARAMS, "epochs_run", "best_epoch", "train_seconds", "cost_seconds",
              "cost_wait_seconds", "reason", "values")


def csv_text(b: Mapping[str, Any]) -> str:
    """The leaderboard as CSV (one row per trial, header first, values as JSON in 'values')."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for t in b["trials"]:
        row = []
        for name in CSV_FIELDS:
            if name in _RAW_PARAMS:
                v = t.get("values", {}).get(name)
            elif name in KEY_PARAMS:
                v = t["hyperparameters"].get(name)
            elif name == "values":
                v = json.dumps(t.get("values", {}), sort_keys=True)
            else:
                v = t.get(name)
            row.append("" if v is None else str(v).lower() if isinstance(v, bool) else v)
        w.writerow(row)
    return buf.getvalue()


def json_text(b: Mapping[str, Any]) -> str:
    """The board as strict JSON (what ``leaderboard.json`` holds)."""
    return json.dumps(b, indent=2, allow_nan=False) + "\n"


# --- files --------------------------------------------------------------------------------------


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write under a temporary name, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        if isinstance(data, bytes):
            tmp.write_bytes(data)
        else:
            tmp.write_text(data, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write(b: Mapping[str, Any], run_dir: Path) -> Path:
    """``leaderboard.json`` only (see :func:`write_all` for every file)."""
    path = Path(run_dir) / "leaderboard.json"
    write_atomic(path, json_text(b))
    return path


def write_all(b: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write every file of :data:`REPORT_FILES` into ``out_dir``; return their paths."""
    from search import report_html, report_plot

    out = Path(out_dir)
    png = report_plot.pareto_png(b)
    texts: dict[str, str | bytes] = {
        "leaderboard.json": json_text(b),
        "leaderboard.md": markdown(b),
        "leaderboard.csv": csv_text(b),
        "pareto.png": png,
        "report.html": report_html.page(b, png),
    }
    paths = {}
    for name in REPORT_FILES:
        paths[name] = out / name
        write_atomic(paths[name], texts[name])
    return paths


def render(b: Mapping[str, Any], fmt: str) -> str:
    """The board as text in ``fmt`` (not 'table', which goes through rich)."""
    if fmt == "markdown":
        return markdown(b)
    if fmt == "csv":
        return csv_text(b)
    if fmt == "json":
        return json_text(b)
    if fmt == "html":
        from search import report_html, report_plot

        return report_html.page(b, report_plot.pareto_png(b))
    raise UserError(f"unknown --format {fmt!r}; expected one of {', '.join(FORMATS)}")


def show(run_dirs: Sequence[str | Path], fmt: str = "table", sort: str = "pareto",
         objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES,
         budget: Budget | None = None, out_dir: str | Path | None = None,
         console=None) -> dict[str, Any]:
    """The ``leaderboard`` command: read runs, print the board in ``fmt``, optionally write
    every report file into ``out_dir``. Returns the board."""
    import sys

    if fmt not in FORMATS:
        raise UserError(f"unknown --format {fmt!r}; expected one of {', '.join(FORMATS)}")
    b = board([load_run(d) for d in run_dirs], pareto.parse_objectives(objectives), sort=sort,
              budget=budget)
    if fmt == "table":
        print_board(b, console)
    else:
        sys.stdout.write(render(b, fmt))
    if out_dir is not None:
        paths = write_all(b, out_dir)
        msg = f"report files written to {Path(out_dir)}: {', '.join(paths)}"
        if fmt == "table":
            (console.print(msg, markup=False, highlight=False) if console
             else print(msg))
        else:
            print(msg, file=sys.stderr)
    return b
