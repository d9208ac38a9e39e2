"""Leaderboards: one board (plain data) and its renderings for the terminal and for files.

A *board* is built from one or more run folders (:func:`load_run`, :func:`board`) at any
moment, during a search too: it reads ``trials/*/record.json`` and the run's
``config.json``, ``dataset.json``, ``space.json`` and ``baseline.json``, never Keras. The
ranking (front, best, knee, hypervolume, budget pick) is :func:`search.board.build`'s; this
module lays it out as plain data. Renderings are pure functions of that data, one module a
format, none depending on another: :mod:`~search.report.terminal` (rich),
:mod:`~search.report.markdown`, :mod:`~search.report.tables` (CSV and JSON),
:mod:`~search.report.html` and :mod:`~search.report.plot`, on the shared
:mod:`~search.report.common` and :mod:`~search.report.text`; :func:`write_all` puts them
in a folder.

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
                   "hyperparameters": {name: str}, "image_size": int (pixels),
                   "architecture": str | null,
                   "export_command": str | null}, ... ]   # sorted as the table
    }

Pareto ranks of a merged board are over all its runs together, so the front shows which run
holds the best trade-offs; each run's own front and hypervolume are in ``runs``. Numbers
that are not finite (a NaN loss) are written as null.
"""

from __future__ import annotations

import datetime as _dt
import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search import board as ranking
from search import pareto, refit, runfiles
from search.budget import Budget
from search.candidate import Candidate
from search.config import DEFAULT_IMAGE_SIZE
from search.errors import UserError
from search.files import writable_folder, write_atomic
from search.records import COMPLETE, STATUSES, TrialRecord
from search.report import html, markdown, plot, tables
from search.report.terminal import print_board
from search.report.text import budget_message, count, summarise_values, summary

__all__ = ["FORMATS", "REPORT_FILES", "SCHEMA_VERSION", "SORTS", "Budget", "RunData", "board",
           "differences", "export_command", "leaderboard", "load_run", "print_board", "render", "show",
           "summarise_values", "summary", "write", "write_all"]

SCHEMA_VERSION = 1
FORMATS = ("table", "markdown", "html", "csv", "json")
SORTS = ("pareto", "mae", "size", "latency")
#: What :func:`write_all` writes into a folder.
REPORT_FILES = ("leaderboard.json", "leaderboard.md", "leaderboard.csv", "pareto.png",
                "report.html")


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
    setup: dict[str, Any] = field(default_factory=dict)  # run.json: the data's fingerprint
    refits: dict[str, list[TrialRecord]] = field(default_factory=dict)  # trial id -> refits


def load_run(run_dir: str | Path) -> RunData:
    """Read a run folder, finished or still searching (through :mod:`search.runfiles`).

    Raises :class:`UserError` if ``run_dir`` is not a run folder (neither ``config.json`` nor
    trials). A damaged file (a record, config.json, ...) is left out and named in
    ``problems``, so a damaged trial never hides the others.
    """
    path = Path(run_dir)
    if not (path / "config.json").exists() and not (path / "trials").is_dir():
        what = ("does not exist" if not path.exists() else
                "is not a folder" if not path.is_dir() else "has no config.json")
        raise UserError(f"{str(run_dir)!r} is not a run folder ({what}); expected "
                        "results/<run>, as printed at the start of a search")
    problems: list[str] = []
    config = runfiles.read_optional(path, "config.json", problems)
    if not (path / "config.json").exists():
        problems.append(f"{path / 'config.json'}: is missing; the run's settings are not "
                        "shown")
    records = runfiles.records(path, problems)
    baseline = runfiles.read_optional(path, "baseline.json", problems)
    if not baseline and not (path / "baseline.json").exists():
        # runs from before baseline.json: the leaderboard kept it
        baseline = dict(runfiles.read_optional(path, "leaderboard.json", problems)
                        .get("baseline") or {})
    return RunData(name=path.resolve().name, path=str(run_dir), records=records, config=config,
                   space=runfiles.read_optional(path, "space.json", problems),
                   dataset=runfiles.read_optional(path, "dataset.json", problems),
                   baseline=baseline, problems=problems,
                   # only for comparing runs: a damaged run.json is the search's to mend
                   setup=runfiles.read_optional(path, "run.json", []),
                   refits=refit.refits_of(path))


# --- the leaderboard as data ------------------------------------------------------------------


def _finite(x: Any) -> Any:
    """JSON-safe copy: non-finite floats become None, tuples lists."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


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
        if sort == "pareto":  # rank, then val MAE, ... (search.board.pareto_order)
            return (_status_order(row["status"]), *row["_order"], *tail)
        if sort == "mae":
            return (*mae, *tail)
        if sort == "size":
            return (*num(row.get("tflite_float16_kib")), *mae, *tail)
        return (*num(row.get("latency_ms")), *mae, *tail)

    return key


def _unique_names(runs: Sequence[RunData]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for r in runs:
        seen[r.name] = seen.get(r.name, 0) + 1
        out.append(r.name if seen[r.name] == 1 else f"{r.name} ({seen[r.name]})")
    return out


def _resolution(run: RunData) -> str:
    """A run's input resolution: pinned (``64 px``) or searched (``32/48/64 px``)."""
    size = run.config.get("image_size")
    if size:
        return f"{size} px"
    space = run.space or {}
    fixed = (space.get("fixed") or {}).get("image_size")
    if fixed:
        return f"{fixed} px"
    param = (space.get("params") or {}).get("image_size")
    if isinstance(param, Mapping):
        if param.get("values"):
            return "/".join(str(v) for v in param["values"]) + " px"
        if param.get("low") is not None:
            return f"{param['low']}-{param['high']} px"
    return f"{DEFAULT_IMAGE_SIZE} px"


def _split(run: RunData) -> str:
    splits = run.dataset.get("splits") or {}
    return " / ".join(f"{k} {count(v)}" for k, v in splits.items()) or "unknown"


def differences(runs: Sequence[RunData], names: Sequence[str]) -> list[str]:
    """How the runs' setups differ where it makes their MAEs incomparable: the data (its
    source and image count), the input resolution, the split into train, val and test
    (counts, or the same images split otherwise: run.json's fingerprint). One line each,
    naming every run's value; empty when they agree (or for one run)."""
    if len(runs) < 2:
        return []

    def line(what: str, values: list[str]) -> str | None:
        if len(set(values)) < 2:
            return None
        return f"{what} ({'; '.join(f'{n}: {v}' for n, v in zip(names, values, strict=True))})"

    data = [f"{r.dataset.get('source', '?')}, {count(r.dataset.get('used'))} images"
            for r in runs]
    out = [line("data", data), line("resolution", [_resolution(r) for r in runs])]
    splits = [_split(r) for r in runs]
    prints = [str(r.setup.get("data") or "") for r in runs]
    if len(set(data)) < 2 and len(set(splits)) < 2 and all(prints) and len(set(prints)) > 1:
        splits = [f"{s}, fingerprint {f[:8]}" for s, f in zip(splits, prints, strict=True)]
    out.append(line("split", splits))
    return [x for x in out if x]


def board(runs: Sequence[RunData], objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES,
          sort: str = "pareto", budget: Budget | None = None,
          now: _dt.datetime | None = None, rank_anyway: bool = False) -> dict[str, Any]:
    """The leaderboard of one or more runs as plain data (what ``leaderboard.json`` holds):
    the runs ranked by :func:`search.board.build`, laid out and sorted for the renderings.

    Runs whose data, resolution or split differ (:func:`differences`) are not ranked
    together: :class:`UserError`, unless ``rank_anyway``, when the board says so first."""
    if not runs:
        raise UserError("no run to report on; expected at least one run folder")
    if sort not in SORTS:
        raise UserError(f"unknown --sort {sort!r}; expected one of {', '.join(SORTS)}")
    unlike = differences(runs, _unique_names(runs))
    if unlike and not rank_anyway:
        raise UserError("these runs differ in " + "; ".join(unlike) + ": their MAEs are not "
                        "comparable, so they are not ranked together; report each alone, "
                        "or rank them anyway with --rank-anyway")
    b = ranking.build([run.records for run in runs], objectives, budget,
                      [run.baseline for run in runs])
    names = _unique_names(runs)

    def tid(s: ranking.Standing | None) -> str | None:
        return s.record.trial_id if s is not None else None

    def run_of(s: ranking.Standing | None) -> str | None:
        return names[s.run] if s is not None else None

    rows = []
    for s in b.trials:
        rec, run = s.record, runs[s.run]
        row = _finite(rec.to_dict())
        size = run.config.get("image_size") or DEFAULT_IMAGE_SIZE
        row.update({
            "run": names[s.run], "run_index": s.run,
            "pareto_rank": s.rank,
            "crowding_distance": s.crowding if s.crowding is not None
            and math.isfinite(s.crowding) else None,
            "_order": ranking.pareto_order(s),
            "on_front": s.on_front, "is_best": s is b.best, "is_knee": s is b.knee,
            "fits_budget": s.fits,
            "tflite_float16_kib": rec.tflite_float16_kib,
            "tflite_int8_kib": rec.tflite_int8_kib,
            "hyperparameters": summarise_values(rec.values),
            "image_size": Candidate(rec.values, size).image_size,  # the trial's resolution
            "architecture": Candidate(rec.values, size).description(),
            **refit.row_fields(run.refits.get(rec.trial_id, [])),
            "export_command": (export_command(run.path, rec.trial_id)
                               if rec.status == COMPLETE and rec.model_path else None),
        })
        rows.append(row)
    rows.sort(key=_sort_key(sort))
    for row in rows:
        del row["_order"], row["run_index"]

    hv = b.hypervolume
    pareto_info: dict[str, Any] = {
        "ranked": b.ranked, "unranked_complete": b.unranked_complete,
        "hypervolume": hv.value, "hypervolume_max": hv.maximum,
        "normalisation": hv.normalisation, "reference_point": hv.reference_point,
        "knee_definition": ranking.knee_definition(b.objectives),
        "hypervolume_note": hv.note,
    }
    budget_info = None
    if b.budget.active:
        budget_info = {"max_kib": b.budget.max_kib, "max_latency_ms": b.budget.max_latency_ms,
                       "max_params": b.budget.max_params, "trial_id": tid(b.budget_pick),
                       "run": run_of(b.budget_pick), "message": budget_message(b, names)}
    run_infos = []
    for i, (run, own) in enumerate(zip(runs, b.runs, strict=True)):
        run_infos.append({
            "run": names[i], "path": run.path, "config": run.config, "space": run.space,
            "dataset": run.dataset, "baseline": run.baseline,
            "trials_planned": run.config.get("trials"),
            "counts": {st: sum(1 for r in run.records if r.status == st) for st in STATUSES},
            "front": [s.record.trial_id for s in own.front],
            "best_trial": tid(own.best), "knee_trial": tid(own.knee),
            "hypervolume": own.hypervolume,
            "problems": list(run.problems),
        })
    first = runs[0]
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": (now or _dt.datetime.now(_dt.timezone.utc)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "run": " vs ".join(names),
        "objectives": list(b.objectives),
        "objective_units": {o: pareto.OBJECTIVES[o].unit for o in b.objectives},
        "config": first.config, "space": first.space, "dataset": first.dataset,
        "baseline": first.baseline,
        "runs": run_infos,
        "counts": {st: sum(1 for s in b.trials if s.record.status == st) for st in STATUSES},
        "best_trial": tid(b.best), "best_run": run_of(b.best),
        "knee_trial": tid(b.knee), "knee_run": run_of(b.knee),
        "pareto": pareto_info,
        "budget": budget_info,
        "sort": sort,
        "trials": rows,
    }
    out = _finite(out)
    out["summary"] = summary(out)
    if unlike:
        out["summary"]["headline"].insert(
            0, "Warning: ranked together as asked (--rank-anyway), although these runs "
            "differ in " + "; ".join(unlike) + ": their MAEs are not comparable.")
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


# --- files and output ---------------------------------------------------------------------------


def write(b: Mapping[str, Any], run_dir: Path) -> Path:
    """``leaderboard.json`` only (see :func:`write_all` for every file)."""
    path = Path(run_dir) / "leaderboard.json"
    write_atomic(path, tables.json_text(b))
    return path


def write_all(b: Mapping[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write every file of :data:`REPORT_FILES` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    png = plot.pareto_png(b)
    texts: dict[str, str | bytes] = {
        "leaderboard.json": tables.json_text(b),
        "leaderboard.md": markdown.page(b),
        "leaderboard.csv": tables.csv_text(b),
        "pareto.png": png,
        "report.html": html.page(b, png),
    }
    paths = {}
    for name in REPORT_FILES:
        paths[name] = out / name
        write_atomic(paths[name], texts[name])
    return paths


def render(b: Mapping[str, Any], fmt: str) -> str:
    """The board as text in ``fmt`` (not 'table', which goes through rich)."""
    if fmt == "markdown":
        return markdown.page(b)
    if fmt == "csv":
        return tables.csv_text(b)
    if fmt == "json":
        return tables.json_text(b)
    if fmt == "html":
        return html.page(b, plot.pareto_png(b))
    raise UserError(f"unknown --format {fmt!r}; expected one of {', '.join(FORMATS)}")


def show(run_dirs: Sequence[str | Path], fmt: str = "table", sort: str = "pareto",
         objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES,
         budget: Budget | None = None, out_dir: str | Path | None = None,
         console=None, rank_anyway: bool = False) -> dict[str, Any]:
    """The ``leaderboard`` command: read runs, print the board in ``fmt``, optionally write
    every report file into ``out_dir``. Returns the board. Runs whose data, resolution or
    split differ raise :class:`UserError` unless ``rank_anyway`` (:func:`board`)."""
    import sys

    if fmt not in FORMATS:
        raise UserError(f"unknown --format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if out_dir is not None:
        writable_folder(out_dir, "--out")
    b = board([load_run(d) for d in run_dirs], pareto.parse_objectives(objectives), sort=sort,
              budget=budget, rank_anyway=rank_anyway)
    if fmt == "table":
        print_board(b, console)  # its headline names each file left out
    else:
        sys.stdout.write(render(b, fmt))
        for run in b["runs"]:
            for line in run["problems"]:
                print(f"warning: run {run['run']}: {line}", file=sys.stderr)
    if out_dir is not None:
        paths = write_all(b, out_dir)
        msg = f"report files written to {Path(out_dir)}: {', '.join(paths)}"
        if fmt == "table":
            (console.print(msg, markup=False, highlight=False) if console
             else print(msg))
        else:
            print(msg, file=sys.stderr)
    return b
