"""One search, end to end: space -> data -> tuner -> Pareto ranks -> leaderboard.

Nothing imports this module but the command line; it wires the others together and is the
only place that decides where files go (``<results>/<run>/``):

    config.json        the RunConfig (any result can be rebuilt from it)
    dataset.json       the data set's account (found, used, skipped by reason, split)
    space.json         the space as loaded
    baseline.json      the median-age baseline (years), so reports can be read mid-search
    trials/<id>/       record.json, model.keras, checkpoints, TensorBoard logs, the epoch backup
    optuna.journal     the Optuna study (tpe, nsga2; unless --storage names another)
    progress.jsonl     when search processes worked on the run (the display's elapsed time)
    tuner/             KerasTuner's oracle state (random, bayesian, hyperband)
    leaderboard.json, leaderboard.md, leaderboard.csv, pareto.png, report.html
                       the reports, written when the search ends (search.report)
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from search import backends, footprint, report, runfiles, workers
from search import data as data_mod
from search import space as space_mod
from search.backends import registry
from search.budget import Budget
from search.candidate import Candidate
from search.config import RunConfig
from search.errors import BudgetTooTight, SearchInterrupted, TimeBudgetSpent, UserError
from search.files import check_name, writable_folder, write_json_atomic
from search.progress import SearchProgress
from search.records import (
    INFEASIBLE,
    REFERENCE_ID,
    TrialRecord,
    finished_record,
    load_records,
    other_candidate,
)
from search.trial_process import DEFAULT_TARGET, TrialWorker, WorkerSetup


def run_name(cfg: RunConfig, space_name: str) -> str:
    """The run folder's name: --run-name, else "<space name>-<date>-<time>"; either way a
    name that cannot leave --results-dir (:func:`search.files.check_name`)."""
    if cfg.run_name:
        return check_name(cfg.run_name, "--run-name")
    return check_name(f"{space_name}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}",
                      "the run's name (from the space's name; or give --run-name)")


def median_baseline(train_ages: np.ndarray, val_ages: np.ndarray,
                    test_ages: np.ndarray) -> dict[str, float]:
    """Error of always predicting the training set's median age (years)."""
    med = float(np.median(train_ages))
    return {
        "median_age": med,
        "val_mae": float(np.mean(np.abs(val_ages - med))),
        "test_mae": float(np.mean(np.abs(test_ages - med))),
    }


def trial_compute(record: TrialRecord, train_images: int) -> float:
    """Training work of a trial so far, in G MAC-images (``--max-compute``): its forward
    multiply-accumulates per image x ``train_images`` x the epochs it trained."""
    return (record.macs or 0) * train_images * record.epochs_run / 1e9


def compute_spent(records, train_images: int) -> float:
    """Training work of every trial of a run, in G MAC-images (see :func:`trial_compute`)."""
    return sum(trial_compute(r, train_images) for r in records)


def _deadline(cfg: RunConfig) -> float | None:
    """``time.time()`` after which no trial starts: --max-minutes from now."""
    return None if cfg.max_minutes is None else time.time() + 60 * cfg.max_minutes


def _check_budget(cfg: RunConfig) -> None:
    for flag, value, low in (("--trials", cfg.trials, 1), ("--epochs", cfg.epochs, 1),
                             ("--patience", cfg.patience, 1),
                             ("--synthetic-images", cfg.synthetic_images, 3)):
        if value < low:
            raise UserError(f"{flag} must be at least {low}, got {value}")
    if cfg.max_minutes is not None and not cfg.max_minutes > 0:
        raise UserError(f"--max-minutes must be a positive number of minutes, got "
                        f"{cfg.max_minutes}")
    cfg.check()


def _prepare_run_dir(cfg: RunConfig, run_dir: Path, fingerprint: dict[str, Any]) -> list[str]:
    """Create the run folder, or check that a resumed run searches the same thing and mend
    its damaged files (:mod:`search.runfiles`); return a line on each damaged file."""
    state = run_dir / "run.json"
    if cfg.overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    fingerprint = json.loads(json.dumps(fingerprint))  # tuples -> lists, as stored
    previous, notes = runfiles.previous_setup(run_dir, cfg, fingerprint)
    if previous is not None:
        old = _flatten(previous)
        new = _flatten(fingerprint)
        diffs = [f"{k}: was {_short(old.get(k))}, now {_short(new.get(k))}"
                 for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        if diffs:
            more = f" and {len(diffs) - 3} more" if len(diffs) > 3 else ""
            raise UserError(f"run {run_dir.name!r} exists with a different setup ("
                            + "; ".join(diffs[:3]) + more
                            + "); use another --run-name, or --overwrite to start over")
    notes += runfiles.mend_for_search(run_dir, cfg, REFERENCE_ID)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(state, fingerprint)
    return notes


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: d}


def _short(v: Any) -> str:
    text = "absent" if v is None else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _resolutions(space) -> str:
    if "image_size" in space.fixed:
        return f"{space.fixed['image_size']} px"
    p = next((p for p in space.params if p.name == "image_size"), None)
    if p is None:
        from search.config import DEFAULT_IMAGE_SIZE

        return f"{DEFAULT_IMAGE_SIZE} px"
    dom = p.domain()
    return f"{'/'.join(map(str, dom))} px" if dom else f"{p.low}-{p.high} px"


#: What the trial worker calls for each trial (``module:function``); tests name a wrapper.
TRIAL_TARGET = DEFAULT_TARGET


def run(cfg: RunConfig, console=None, *, trial_target: str | None = None) -> dict[str, Any]:
    """Run (or resume) a search and return its leaderboard.

    Each trial trains in a worker process (:mod:`search.trial_process`); this process only
    proposes, records and reports. ``trial_target`` (``module:function``) is what the worker
    calls for a trial (default :data:`TRIAL_TARGET`: :func:`search.trial.run_trial`).
    """
    from rich.console import Console

    console = console or Console()
    _check_budget(cfg)
    deadline = _deadline(cfg)
    space = space_mod.load(cfg.space)
    if cfg.image_size:  # --image-size fixes the resolution the space would search
        space = space.pinned({"image_size": cfg.image_size})
    name = run_name(cfg, space.name)
    run_dir = writable_folder(writable_folder(cfg.results_dir, "--results-dir") / name,
                              "the run folder")
    console.print(f"[bold]agesearch[/] run [cyan]{name}[/] - space [cyan]{space.name}[/], "
                  f"tuner {cfg.tuner}, {cfg.trials} trials x up to {cfg.epochs} epochs, "
                  + (f"{cfg.image_size} px" if cfg.image_size else
                     _resolutions(space)))
    budget = Budget(max_params=cfg.max_params, max_kib=cfg.max_kib,
                    max_latency_ms=cfg.max_latency_ms, max_macs=cfg.max_macs,
                    deploy_dtype=cfg.deploy_dtype)
    data = data_mod.load(cfg)
    acc = data.account
    console.print(f"data: {acc.source} - {acc.used} images used "
                  f"(train {acc.splits['train']}, val {acc.splits['val']}, "
                  f"test {acc.splits['test']}), {acc.skipped_total} skipped",
                  highlight=False, markup=False)
    space_def = {k: v for k, v in space.to_dict().items() if k != "source"}
    fingerprint = {"space": space_def, "data": data.fingerprint(),
                   "image_size": cfg.image_size, "tuner": cfg.tuner, "seed": cfg.seed}
    for note in _prepare_run_dir(cfg, run_dir, fingerprint):
        console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    cfg.save(run_dir / "config.json")
    write_json_atomic(run_dir / "dataset.json", acc.to_dict())
    write_json_atomic(run_dir / "space.json", space.to_dict())

    baseline = median_baseline(data.ages("train"), data.ages("val"), data.ages("test"))
    write_json_atomic(run_dir / "baseline.json", baseline)
    progress = SearchProgress(console, total=cfg.trials, epochs=cfg.epochs, run_dir=run_dir)
    # Started once the input is known to be good (a bad --data-dir must not wait for
    # TensorFlow to load); it loads while the tuner sets up.
    setup = WorkerSetup(data=data, epochs=cfg.epochs, patience=cfg.patience, seed=cfg.seed,
                        run_dir=run_dir, budget=budget,
                        # a multi-fidelity tuner prunes by promotion instead
                        prune_margin=(cfg.prune_margin if cfg.prune and cfg.tuner
                                      not in backends.MULTI_FIDELITY else None),
                        prune_start=cfg.prune_start(), batch_events=progress.live,
                        target=trial_target or TRIAL_TARGET)
    worker = TrialWorker(setup, on_event=progress.on_event, max_growth=cfg.max_memory_growth)
    worker.start()

    def spent() -> str | None:
        """Which budget is spent ("--max-minutes 10 spent"), or None: trials may start."""
        if deadline is not None and time.time() >= deadline:
            return f"--max-minutes {cfg.max_minutes:g} spent"
        if (cfg.max_compute is not None
                and compute_spent(load_records(run_dir), acc.splits["train"]) >= cfg.max_compute):
            return f"--max-compute {cfg.max_compute:g} spent"
        return None

    def objective(trial_id: str, values: dict[str, Any], is_reference: bool = False,
                  **train: Any) -> TrialRecord:
        # finishing: a multi-fidelity search's last step, which trains no epoch (it tests a
        # trial where it paused), so no budget holds it back
        finishing = train.pop("finishing", False)
        done = finished_record(run_dir, trial_id, values, train)
        if done is not None:  # finished before a kill that came before the tuner heard
            progress.print(f"trial {trial_id}: {done.status} already, record kept")
            return done
        if other_candidate(run_dir, trial_id, values) is not None:  # never train over it
            raise UserError(f"trial {trial_id} finished before with other values than the tuner "
                            f"now gives it: the tuner's state ({runfiles.tuner_state(run_dir, cfg)})"
                            " does not match the run's trials; restore it, or start the run over "
                            "with --overwrite")
        why = None if finishing else spent()
        if why:
            raise TimeBudgetSpent(why)
        size = Candidate(values, data.image_size).image_size
        too_big = footprint.problem(values, size, int(values.get("batch_size", cfg.batch_size)),
                                    images=acc.used)
        if too_big is not None:  # recorded without training: the machine cannot hold it
            record = TrialRecord(trial_id, INFEASIBLE, values=dict(values), reason=too_big,
                                 is_reference=is_reference)
            record.save(run_dir / "trials" / trial_id / "record.json")
            progress.print(f"trial {trial_id}: infeasible, {too_big}")
            return record
        progress.trial_started(trial_id, values)
        record = worker.run(trial_id, values, is_reference=is_reference, **train)
        progress.trial_finished(record)
        return record

    objective.deadline = deadline  # a backend may plan by it (search.backends.optuna)
    objective.spent = spent  # a backend may stop before it proposes (search.backends.moasha)
    objective.baseline_mae = baseline["val_mae"]  # the accuracy band's zero (the same)
    stopped: UserError | None = None
    interrupted = False
    out_of_time: str | None = None  # which budget was spent
    with progress, worker:
        try:
            # a multi-fidelity tuner takes the reference as its first candidate, through
            # the rungs like any other (search.backends.moasha)
            tuner_trials = cfg.trials - (0 if cfg.tuner in backends.MULTI_FIDELITY
                                         else _reference(cfg, space, run_dir, objective))
            # An Optuna study holds the reference too (search.backends.optuna), even when
            # it is the run's only trial.
            if tuner_trials > 0 or cfg.tuner in backends.OPTUNA_TUNERS:
                backend = registry.get(cfg.tuner)
                backend(space, objective, cfg.replace(trials=tuner_trials), run_dir)
        except BudgetTooTight as e:  # keep what finished: rank and report it, then say why
            stopped = e
        except TimeBudgetSpent as e:  # a budget spent: a normal end; the run can be resumed
            out_of_time = str(e)
        except KeyboardInterrupt:  # Ctrl-C: the same, and the next run resumes
            interrupted = True
    board = report.board([report.load_run(run_dir)])
    report.print_board(board, console)
    try:
        report.write_all(board, run_dir)
        console.print(f"report: {run_dir / 'report.html'} (and leaderboard.md, .csv, .json, "
                      "pareto.png)", highlight=False, markup=False)
    except Exception as e:  # the trials are safe on disk; the report can be redone
        report.write(board, run_dir)
        console.print(f"could not write the report files ({type(e).__name__}: {e}); "
                      f"leaderboard.json is written; retry with: python run_search.py "
                      f"leaderboard {run_dir} --out {run_dir}", highlight=False, markup=False)
    if board["best_trial"] is not None:
        console.print(f"export the best trial: python run_search.py export {run_dir}",
                      highlight=False, markup=False)
    if out_of_time:
        n = sum(1 for t in board["trials"] if t["status"] != INFEASIBLE)
        flag = out_of_time.split()[0] if out_of_time else "--max-minutes"
        console.print(f"{out_of_time}: {n} trial(s) finished; the same command with a larger "
                      f"{flag} continues the search", highlight=False, markup=False)
    if stopped is not None:
        raise stopped
    if interrupted:
        n = sum(1 for t in board["trials"] if t["status"] != INFEASIBLE)
        raise SearchInterrupted(f"interrupted: {n} finished trial(s) kept and ranked in "
                                f"{run_dir}; the same command resumes the search")
    return board


def _reference(cfg: RunConfig, space, run_dir: Path, objective) -> int:
    """Train the space's reference as trial 'ref' unless done; return how many trials it
    takes from --trials (0 or 1: an over-budget reference does not count).

    With several workers, the first to claim it trains it; the others count it as running.
    """
    if not cfg.reference or space.reference is None:
        return 0
    ref_dir = run_dir / "trials" / REFERENCE_ID
    if (ref_dir / "record.json").exists():
        ref = TrialRecord.load(ref_dir / "record.json")
        return 0 if ref.status == INFEASIBLE else 1
    claim = run_dir / "trials" / f".{REFERENCE_ID}.claim"
    if not workers.claim(claim):
        return 1  # another worker is training it
    try:
        ref = objective(REFERENCE_ID, dict(space.reference), is_reference=True)
    finally:
        workers.release(claim)
    return 0 if ref.status == INFEASIBLE else 1
