"""The Optuna study is the leaderboard's search, read with Optuna's own API as
optuna-dashboard reads it: after a run that was interrupted in the middle of a trial and
resumed, the same trials (the reference included) with the same ids, values, per-epoch
validation MAE and figures, trial numbers that name the folders, and no failed trial. The
same run's TensorBoard HParams sessions are checked too."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import pytest
from test_tb_hparams import sessions

from search import pipeline
from search.errors import SearchInterrupted
from search.trial import run_trial


def interrupt_001_once(trial_id, values, ctx, **kw):
    """A trial function for the worker process: Ctrl-C after trial 001's first epoch, once
    (its epoch backup written), as a user stopping the search would."""
    import keras

    marker = ctx.run_dir / ".interrupted-001"
    if trial_id == "001" and not marker.exists():
        marker.write_text("once")

        class CtrlC(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                raise KeyboardInterrupt

        ctx = dataclasses.replace(ctx, extra_callbacks=lambda rec, epochs: [CtrlC()])
    return run_trial(trial_id, values, ctx, **kw)


def test_the_study_is_the_leaderboard_after_an_interrupted_and_resumed_run(tiny_cfg,
                                                                            monkeypatch):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    from search.backends import optuna as ob

    monkeypatch.setattr(pipeline, "TRIAL_TARGET", f"{__name__}:interrupt_001_once")
    cfg = tiny_cfg.replace(tuner="tpe", trials=4, epochs=2, patience=2, run_name="study")
    with pytest.raises(SearchInterrupted):
        pipeline.run(cfg)
    pipeline.run(cfg)  # resumes: trial 001 from its backup, then 002

    run_dir = Path(cfg.results_dir) / "study"
    board = json.loads((run_dir / "leaderboard.json").read_text())
    rows = {t["trial_id"]: t for t in board["trials"]}
    assert sorted(rows) == ["000", "001", "002", "ref"]
    assert rows["001"]["resumed_from_epoch"] == 1

    # As the README's optuna-dashboard command opens it: the journal file.
    storage = JournalStorage(JournalFileBackend(str(run_dir / "optuna.journal")))
    study = optuna.load_study(study_name="study", storage=storage)
    trials = study.get_trials()
    assert len(trials) == len(rows)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * len(rows)  # no FAIL, no copy
    by_id = {t.user_attrs[ob.TRIAL_ID]: t for t in trials}
    assert set(by_id) == set(rows)
    assert by_id["ref"].user_attrs[ob.IS_REFERENCE] is True
    for trial_id, row in rows.items():
        t = by_id[trial_id]
        if trial_id != "ref":
            assert trial_id == ob.folder_name(t.number)  # the folder is the trial number
        assert t.values == pytest.approx([row["val_mae"], row["params"],
                                          row["tflite_float16_bytes"]])
        assert t.intermediate_values == pytest.approx(
            {i: v for i, v in enumerate(row["history"]["val_mae"], start=1)})
        assert len(t.intermediate_values) == row["epochs_run"] == 2
        a = t.user_attrs
        assert a[ob.STATUS] == row["status"] == "complete"
        assert a["agesearch_test_mae"] == pytest.approx(row["test_mae"])
        assert a["agesearch_macs"] == row["macs"] and a["agesearch_params"] == row["params"]
        assert a["agesearch_float16_bytes"] == row["tflite_float16_bytes"]
        assert t.params and all(row["values"][k] == v for k, v in t.params.items())
    assert study.metric_names == list(ob.METRICS)
    # The dashboard's Pareto front is the leaderboard's.
    front = {tid for tid, row in rows.items() if row["pareto_rank"] == 1}
    assert {t.user_attrs[ob.TRIAL_ID] for t in study.best_trials} == front
    # Optuna's importance evaluators work on it (the dashboard's importance view).
    with warnings.catch_warnings():  # "some regimes have less than 2 trials": 4 trials
        warnings.simplefilter("ignore", UserWarning)
        importances = optuna.importance.get_param_importances(
            study, target=lambda t: t.values[0],
            evaluator=optuna.importance.PedAnovaImportanceEvaluator())
    assert importances
    assert set(importances) <= {k for row in rows.values() for k in row["values"]}

    # TensorBoard's HParams dashboard lists every trial with its hyperparameters and figures.
    found = sessions(run_dir)
    assert sorted(found) == sorted(f"trials/{tid}/logs" for tid in rows)
    for trial_id, row in rows.items():
        s = found[f"trials/{trial_id}/logs"]
        assert s["metrics"]["hparams/val_mae"] == pytest.approx(row["val_mae"])
        assert s["hparams"]["learning_rate"] == pytest.approx(row["values"]["learning_rate"])
        assert s["hparams"]["image_size"] == 32


@pytest.mark.parametrize("tuner", ["tpe", "nsga2"])
def test_interruptions_leave_no_failed_trial_and_the_reference_is_in(tmp_path, tuner):
    """The same without training (a fake objective, tests/test_backends_contract.py), for
    each Optuna tuner: Ctrl-C twice, then the run ends; one trial per folder."""
    from conftest import lite_values
    from optuna.trial import TrialState
    from test_backends_contract import Fake, _cfg, _run_dir, _search

    from search import space as space_mod
    from search.backends import optuna as ob
    from search.records import TrialRecord

    lite = space_mod.load("lite")
    cfg = _cfg(tmp_path, tuner, trials=3)
    run_dir = _run_dir(cfg)
    ref = TrialRecord("ref", "complete", values=lite_values([16, 32, 64, 128], [64]),
                      val_mae=9.0, params=99_000, tflite_float16_bytes=200_000,
                      epochs_run=2, history={"val_mae": [12.0, 9.0]}, is_reference=True)
    ref.save(run_dir / "trials" / "ref" / "record.json")  # as the pipeline trains it first
    for n in (1, 0):  # interrupted in its second trial, then in the first it runs again
        with pytest.raises(KeyboardInterrupt):
            _search(lite, Fake(run_dir, status=lambda i, v, n=n: "interrupt" if i == n
                               else "complete"), cfg)
    _search(lite, Fake(run_dir), cfg)
    study = ob.open_study(cfg, run_dir)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    # the searched trials numbered as if never interrupted; the reference added at the end
    assert [t.user_attrs[ob.TRIAL_ID] for t in trials] == ["000", "001", "002", "ref"]
    assert [t.number for t in trials] == [0, 1, 2, 3]
    ref_trial = trials[3]
    assert ref_trial.values == [9.0, 99_000, 200_000]
    assert ref_trial.intermediate_values == {1: 12.0, 2: 9.0}
    assert ref_trial.params["blocks"] == 4  # its values, where the space has them
    assert all(t.intermediate_values for t in trials)
