"""KerasTuner backend: a ``keras_tuner.Tuner`` whose ``run_trial`` calls the shared objective.

The oracle proposes and records; the tuner only runs trials. KerasTuner's own state
(``oracle.json``, one ``trial.json`` per trial) lives in ``<run>/tuner/``, so a run with the
same name picks up where it stopped; our own records live in ``<run>/trials/<id>/``.

Oracles (``--tuner``): ``random``, ``bayesian`` (a Gaussian process) and ``hyperband``. All
three minimise validation MAE only; parameters and TFLite size are recorded and ranked
afterwards. Hyperband's trials carry ``tuner/epochs`` and ``tuner/initial_epoch``: a later
round continues the weights of the trial named in ``tuner/trial_id`` from that epoch, which
the objective receives as ``epochs``, ``initial_epoch`` and ``continues``.

Interrupted trials: KerasTuner saves the oracle with the trial it handed out marked as
ongoing; on reload it puts that trial in its retry queue, so the next run re-runs the same
trial id with the same values, and the trial resumes from its epoch backup.

Many machines: KerasTuner's own chief/worker mode (a gRPC oracle server) works unchanged
through the environment: ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT`` and
``KERASTUNER_TUNER_ID`` (``chief`` for the process that serves the oracle and trains no
search trial, a distinct id per worker; the default here is ``tuner0``). All of them share
one results folder. tests/test_kerastuner_workers.py runs a chief and two workers on
127.0.0.1. What it does not do, being KerasTuner's: an infeasible candidate on a worker
still counts towards ``--trials`` (the worker cannot raise the chief's ``max_trials``); a
worker killed outright leaves its trial ongoing at the chief, which keeps waiting for it,
until a worker with the same ``KERASTUNER_TUNER_ID`` asks again and is handed the same trial
(it resumes from its epoch backup); the chief only notices that a search is over once a
worker is told to stop, and then checks every 20 s; and keras-tuner 1.4.8 prints the first
value of each conditional parameter whenever it sends the space over gRPC (a stray
``print`` in ``conditions.Parent.to_proto``). See the README.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import keras_tuner as kt

from search import backends
from search.errors import BudgetTooTight, UserError
from search.records import COMPLETE, INFEASIBLE, TrialRecord, load_records
from search.space import Param, Space

#: Hyperband's reduction factor: each round keeps a third of the trials, trained 3x longer.
HYPERBAND_FACTOR = 3


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


def hyperband_args(hp_values: dict[str, Any]) -> dict[str, Any]:
    """The objective's training arguments from a Hyperband trial's ``tuner/*`` values."""
    if "tuner/epochs" not in hp_values:
        return {}
    out: dict[str, Any] = {"epochs": int(hp_values["tuner/epochs"]),
                           "initial_epoch": int(hp_values.get("tuner/initial_epoch", 0))}
    if hp_values.get("tuner/trial_id") is not None:
        out["continues"] = str(hp_values["tuner/trial_id"])
    else:
        out["initial_epoch"] = 0  # a fresh model starts at epoch 0, whatever the round
    return out


def make_tuner(space: Space, objective: backends.Objective, cfg, run_dir: Path):
    streak = backends.InfeasibleStreak()

    class AgeTuner(kt.Tuner):
        """Runs one candidate per trial through the shared objective."""

        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            values = values_from(space, hp)
            record = objective(trial.trial_id, values, **hyperband_args(dict(hp.values)))
            if record.status == INFEASIBLE:
                # Not a trial the user asked for: propose another in its place.
                self.oracle.max_trials += 1
            try:
                streak.update(record)
            except BudgetTooTight as e:
                raise _Stop(str(e)) from None
            if record.status != COMPLETE:
                # Recorded by us already; tell the oracle not to retry it. Pruned trials too:
                # their MAE is a partial one, and Hyperband must not continue them.
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
    max_trials = cfg.trials + infeasible
    common = dict(objective=kt.Objective("val_mae", direction="min"), seed=cfg.seed,
                  hyperparameters=hyperparameters(space), tune_new_entries=False,
                  max_consecutive_failed_trials=10**9)
    if cfg.tuner == "bayesian":
        try:
            oracle = kt.oracles.BayesianOptimizationOracle(max_trials=max_trials, **common)
        except ImportError:
            raise UserError("--tuner bayesian needs scipy and scikit-learn; install them with "
                            "pip install 'keras-tuner[bayesian]' (or pip install -e .)") from None
    elif cfg.tuner == "hyperband":
        # Iterations without end: --trials is what stops it, as for the other oracles.
        oracle = kt.oracles.HyperbandOracle(max_epochs=cfg.epochs, factor=HYPERBAND_FACTOR,
                                            hyperband_iterations=10**6, **common)
        oracle.max_trials = max_trials
    else:
        oracle = kt.oracles.RandomSearchOracle(max_trials=max_trials, **common)
    return AgeTuner(oracle=oracle, directory=str(run_dir), project_name="tuner",
                    overwrite=cfg.overwrite)


def search(space: Space, objective: backends.Objective, cfg,
           run_dir: Path) -> list[TrialRecord]:
    """Run (or resume) the search; return every trial record of the run."""
    if cfg.storage:
        raise UserError(f"--storage is for the Optuna tuners (tpe, nsga2), not --tuner "
                        f"{cfg.tuner}; KerasTuner shares a search through its chief/worker "
                        "mode (see the README)")
    os.environ.setdefault("KERASTUNER_TUNER_ID", "tuner0")
    # KerasTuner prints the traceback of every failed trial to stderr; ours are recorded in
    # each trial's record.json instead, and infeasible candidates are not errors at all. No
    # public switch exists (keras_tuner.config does not): its module-level flag, under an upper
    # bound on keras-tuner, checked by tests/test_library_contracts.py.
    from keras_tuner.src import config as kt_config

    kt_config.DEBUG = False
    tuner = make_tuner(space, objective, cfg, run_dir)
    try:
        tuner.search(verbose=0)
    except _Stop as e:
        raise BudgetTooTight(str(e)) from None
    return load_records(run_dir)


def sample_values(space: Space, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` candidates as KerasTuner's random oracle draws them (no training)."""
    oracle = kt.oracles.RandomSearchOracle(hyperparameters=hyperparameters(space), seed=seed,
                                           tune_new_entries=False)
    out = []
    for i in range(n):
        response = oracle.populate_space(str(i))
        if response["status"] != "RUNNING":
            break
        values = response["values"]
        out.append(space.active_values(lambda p, v=values: _plain(v[p.name])))
    return out
