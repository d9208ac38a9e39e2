"""KerasTuner backend: a ``keras_tuner.Tuner`` whose ``run_trial`` calls the shared objective.

The oracle proposes and records; the tuner only runs trials. KerasTuner's own state
(``oracle.json``, one ``trial.json`` per trial) lives in ``<run>/tuner/``, so a run with the
same name picks up where it stopped; our own records live in ``<run>/trials/<id>/``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras_tuner as kt

from search.errors import BudgetTooTight
from search.records import COMPLETE, INFEASIBLE, TrialRecord, load_records
from search.space import Param, Space

Objective = Callable[[str, dict[str, Any]], TrialRecord]

#: Over-budget candidates proposed in a row before the search gives up. They cost a build
#: and (for size or latency budgets) two conversions each, never an epoch, and do not count
#: towards --trials. KerasTuner's own max_model_size gives up after 5.
MAX_INFEASIBLE_STREAK = 100


class _Stop(kt.errors.FatalError):
    """Ends KerasTuner's loop (it catches every other exception as a failed trial)."""


def hyperparameters(space: Space):
    """The space as KerasTuner ``HyperParameters``, conditions as (nested) conditional scopes."""
    hp = kt.HyperParameters()
    for p in space.params:
        with contextlib.ExitStack() as stack:
            for parent, allowed in p.when:
                stack.enter_context(hp.conditional_scope(parent, list(allowed)))
            _define(hp, p)
    return hp


def _define(hp, p: Param) -> None:
    if p.type == "int":
        hp.Int(p.name, int(p.low), int(p.high), step=int(p.step or 1),
               sampling="log" if p.log else "linear", default=p.default)
    elif p.type == "float":
        hp.Float(p.name, float(p.low), float(p.high), step=p.step,
                 sampling="log" if p.log else "linear", default=p.default)
    elif p.type == "choice":
        hp.Choice(p.name, list(p.values), default=p.default)
    elif p.type == "bool":
        hp.Boolean(p.name, default=bool(p.default))
    else:  # pragma: no cover - the space loader rejects other types
        raise ValueError(p.type)


def values_from(space: Space, hp) -> dict[str, Any]:
    """Complete candidate values from a trial's hyperparameters (inactive ones absent)."""
    return space.active_values(lambda p: _plain(hp.get(p.name)))


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def make_tuner(space: Space, objective: Objective, cfg, run_dir: Path):
    class AgeTuner(kt.Tuner):
        """Runs one candidate per trial through the shared objective."""

        streak = 0  # over-budget candidates in a row

        def run_trial(self, trial, *args, **kwargs):
            values = values_from(space, trial.hyperparameters)
            record = objective(trial.trial_id, values)
            if record.status == INFEASIBLE:
                # Not a trial the user asked for: propose another in its place.
                self.oracle.max_trials += 1
                self.streak += 1
                if self.streak >= MAX_INFEASIBLE_STREAK:
                    raise _Stop(f"{self.streak} candidates in a row were infeasible (last: "
                                f"{record.reason}); loosen the budget or narrow the space")
            else:
                self.streak = 0
            if record.status != COMPLETE:
                # Recorded by us already; tell the oracle not to retry it.
                raise kt.errors.FailedTrialError(f"{record.status}: {record.reason}")
            return {
                "val_mae": record.val_mae,
                "params": float(record.params),
                "tflite_float16_bytes": float(record.tflite_float16_bytes),
            }

        def save_model(self, trial_id, model, step=0):  # the objective saves models itself
            pass

        def load_model(self, trial):
            import keras

            record = TrialRecord.load(run_dir / "trials" / trial.trial_id / "record.json")
            return keras.models.load_model(run_dir / record.model_path)

    # Infeasible trials recorded earlier (a resumed run) did not count either.
    infeasible = sum(1 for r in load_records(run_dir)
                     if r.status == INFEASIBLE and not r.is_reference)
    objective_ = kt.Objective("val_mae", direction="min")
    common = dict(objective=objective_, max_trials=cfg.trials + infeasible, seed=cfg.seed,
                  hyperparameters=hyperparameters(space), tune_new_entries=False,
                  max_consecutive_failed_trials=10**9)
    if cfg.tuner == "bayesian":
        oracle = kt.oracles.BayesianOptimizationOracle(**common)
    else:
        oracle = kt.oracles.RandomSearchOracle(**common)
    return AgeTuner(oracle=oracle, directory=str(run_dir), project_name="tuner",
                    overwrite=cfg.overwrite)


def search(space: Space, objective: Objective, cfg, run_dir: Path) -> list[TrialRecord]:
    """Run (or resume) the search; return every trial record of the run."""
    os.environ.setdefault("KERASTUNER_TUNER_ID", "tuner0")
    # KerasTuner prints the traceback of every failed trial to stderr; ours are recorded in
    # each trial's record.json instead, and infeasible candidates are not errors at all.
    from keras_tuner.src import config as kt_config  # no public switch exists

    kt_config.DEBUG = False
    tuner = make_tuner(space, objective, cfg, run_dir)
    try:
        tuner.search(verbose=0)
    except _Stop as e:
        raise BudgetTooTight(str(e)) from None
    return load_records(run_dir)
