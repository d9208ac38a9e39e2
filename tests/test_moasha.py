"""``--tuner moasha``: candidates pause at rungs and the Pareto-best go on from their backup;
a rung interrupted in the middle resumes; two workers share one search."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from search import cli, pipeline, promotion
from search.backends import moasha
from search.backends import optuna as ob
from search.records import COMPLETE, load_records
from search.trial import backup_epoch, run_trial

ROOT = Path(__file__).resolve().parent.parent


def _args(cfg, run_name: str, trials: int, epochs: int) -> list[str]:
    return ["--tuner", "moasha", "--trials", str(trials), "--epochs", str(epochs),
            "--patience", str(epochs), "--no-reference", "--synthetic-images", "48",
            "--image-size", "32", "--batch-size", "16", "--seed", "7", "--run-name", run_name,
            "--results-dir", cfg.results_dir, "--cache-dir", cfg.cache_dir]


def _study(run_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name=run_dir.name, storage=ob.storage_for(None, run_dir))


def _check_run(run_dir: Path, trials: int, epochs: int) -> list:
    """What every MO-ASHA run must satisfy; returns its records."""
    records = load_records(run_dir)
    assert len(records) == trials and len({r.trial_id for r in records}) == trials
    schedule = promotion.rungs(epochs)
    study = _study(run_dir)
    trials = study.get_trials()
    start = {t.user_attrs[ob.TRIAL_ID]: schedule[t.user_attrs.get(moasha.BRACKET, 0)]
             for t in trials}  # the rung each candidate started at (its bracket's first)
    for r in records:
        # every candidate ends as a model, at the rung it reached
        assert r.status == COMPLETE and not r.paused, (r.trial_id, r.status, r.reason)
        assert r.epochs_run in schedule and r.test_mae is not None
        assert r.epochs_run >= start[r.trial_id]
        assert (run_dir / "trials" / r.trial_id / "model.keras").exists()
        assert not (run_dir / "trials" / r.trial_id / "backup").exists()
        # no epoch trained twice: the history has exactly the epochs trained
        assert all(len(v) == r.epochs_run for v in r.history.values()), r.trial_id
        if r.epochs_run > start[r.trial_id]:  # went on from a backup: a rung's, or an
            assert start[r.trial_id] <= r.resumed_from_epoch < r.epochs_run  # interruption's
    assert sorted(t.user_attrs[ob.TRIAL_ID] for t in trials) == sorted(
        r.trial_id for r in records)
    by_id = {r.trial_id: r for r in records}
    for t in trials:  # the study says what the records say, the reference included
        r = by_id[t.user_attrs[ob.TRIAL_ID]]
        assert r.is_reference == bool(t.user_attrs.get(moasha.IS_REFERENCE))
        assert t.user_attrs[ob.TRIAL_ID] == ("ref" if r.is_reference else ob.folder_name(t.number))
        assert t.state == optuna.trial.TrialState.COMPLETE, (t.number, t.state)
        assert t.values == pytest.approx([r.val_mae, r.params, r.tflite_float16_bytes])
    return records


def test_a_search_pauses_candidates_at_rungs_and_trains_the_best_on(tiny_cfg):
    """The reference is the first candidate, through the rungs like the others."""
    cfg = tiny_cfg.replace(tuner="moasha", trials=7, epochs=4, patience=4, run_name="asha")
    pipeline.run(cfg)
    run_dir = Path(cfg.results_dir) / "asha"
    records = _check_run(run_dir, trials=7, epochs=4)
    assert [r.trial_id for r in records if r.is_reference] == ["ref"]
    complete = [r for r in records if r.epochs_run == 4]
    # rungs (1, 4): all seven start; once none may start, ceil(7 / 3) = 3 go on
    assert promotion.rungs(4) == (1, 4)
    assert len(complete) == 3
    assert sum(r.epochs_run == 1 for r in records) == 4
    # the promoted are the first three of the first rung's Pareto order
    study = _study(run_dir)
    first = [promotion.RungResult(t.user_attrs[ob.TRIAL_ID], t.user_attrs[moasha.mae_key(1)],
                                  t.user_attrs[moasha.PARAMS], t.user_attrs[moasha.FLOAT16])
             for t in study.get_trials()]
    expected = [r.trial for r in promotion.order(first, cfg.accuracy_band,
                                                 _baseline(run_dir))[:3]]
    assert sorted(expected) == sorted(r.trial_id for r in complete)
    # the compute a run has spent: every epoch of every trial, once
    train_images = 48 - 2 * round(48 * 0.15)
    spent = pipeline.compute_spent(records, train_images)
    assert spent == pytest.approx(sum(r.macs * train_images * r.epochs_run
                                      for r in records) / 1e9)


def test_brackets_start_some_candidates_whole_and_promote_within_their_own(tiny_cfg):
    """--brackets 2 with rungs (1, 4): Hyperband's shares are 3 to 2, so of 9 candidates
    some start at the whole trial (never paused, not resumed from a rung); the first rung's
    promotions are decided among bracket 0's candidates alone."""
    cfg = tiny_cfg.replace(tuner="moasha", trials=9, epochs=4, patience=4, brackets=2,
                           reference=False, run_name="hb")
    pipeline.run(cfg)
    run_dir = Path(cfg.results_dir) / "hb"
    records = {r.trial_id: r for r in _check_run(run_dir, trials=9, epochs=4)}
    trials = _study(run_dir).get_trials()
    bracket = {t.user_attrs[ob.TRIAL_ID]: t.user_attrs[moasha.BRACKET] for t in trials}
    assert set(bracket.values()) == {0, 1}, bracket  # 9 draws at 3:2 (seed 7): both brackets
    for tid, b in bracket.items():
        r = records[tid]
        if b == 1:  # trained whole at once: one segment of 4 epochs, no rung, no resume
            assert r.epochs_run == 4 and r.resumed_from_epoch is None
            assert moasha.mae_key(1) not in next(t for t in trials if
                                                 t.user_attrs[ob.TRIAL_ID] == tid).user_attrs
    # bracket 0: ceil(n / 3) of its own first rung went on, the first of their Pareto order
    first = [promotion.RungResult(t.user_attrs[ob.TRIAL_ID], t.user_attrs[moasha.mae_key(1)],
                                  t.user_attrs[moasha.PARAMS], t.user_attrs[moasha.FLOAT16])
             for t in trials if t.user_attrs[moasha.BRACKET] == 0]
    went_on = sorted(r.trial for r in first if records[r.trial].epochs_run == 4)
    expected = [r.trial for r in promotion.order(first, cfg.accuracy_band, _baseline(run_dir))]
    assert went_on == sorted(expected[:-(-len(first) // 3)])


def _baseline(run_dir: Path) -> float:
    import json

    return json.loads((run_dir / "baseline.json").read_text())["val_mae"]


def interrupt_a_promotion(trial_id, values, ctx, **kw):
    """A trial function for the worker process: Ctrl-C in the middle of the first promotion
    to the last rung, after its third epoch of four."""
    import keras

    marker = ctx.run_dir / ".interrupted-once"
    if kw.get("epochs") == 4 and not marker.exists():
        marker.touch()

        class CtrlC(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 2:
                    raise KeyboardInterrupt

        ctx = dataclasses.replace(ctx, extra_callbacks=lambda record, epochs: [CtrlC()])
    return run_trial(trial_id, values, ctx, **kw)


def test_a_rung_interrupted_in_the_middle_resumes_from_its_backup(tiny_cfg, monkeypatch):
    monkeypatch.setattr(pipeline, "TRIAL_TARGET", f"{__name__}:interrupt_a_promotion")
    args = _args(tiny_cfg, "mid", trials=4, epochs=4)
    assert cli.main(args) == 130
    run_dir = Path(tiny_cfg.results_dir) / "mid"
    before = {r.trial_id: r.to_dict() for r in load_records(run_dir)}
    (cut,) = [t for t in _study(run_dir).get_trials()
              if t.user_attrs.get(moasha.TARGET) == 4]  # left mid-rung, to be taken up again
    folder = ob.folder_name(cut.number)
    assert backup_epoch(run_dir / "trials" / folder) == 3

    assert cli.main(args) == 0  # the same command, with the real trial function again
    records = {r.trial_id: r for r in _check_run(run_dir, trials=4, epochs=4)}
    resumed = records[folder]
    assert resumed.status == COMPLETE and resumed.resumed_from_epoch == 3
    for tid, rec in before.items():  # what finished before the interruption is intact
        if tid != folder and rec["status"] == COMPLETE:
            assert records[tid].to_dict() == rec
        elif tid != folder:  # paused then: it went on, or was finished where it stood
            assert records[tid].history["val_mae"][:1] == rec["history"]["val_mae"][:1]


def test_two_workers_share_one_moasha_search(tiny_cfg, faces):
    """The same command started twice: 7 candidates in all, each rung of each trained once."""
    cmd = [sys.executable, str(ROOT / "run_search.py"), *_args(tiny_cfg, "two", 7, 4)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    run_dir = Path(tiny_cfg.results_dir) / "two"
    records = _check_run(run_dir, trials=7, epochs=4)
    segments = [m for out, _ in outs for m in re.findall(
        r"^trial (\d+): (complete|paused), .*? (\d+) epochs in", out, re.M)]
    # every trial's first rung once ("paused"), then once more: its last rung if
    # promoted, else its finishing where it stood (no epoch)
    assert sorted(t for t, _, _ in segments) == sorted(2 * [r.trial_id for r in records])
    assert len(set(segments)) == len(segments)
