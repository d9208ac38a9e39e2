"""Never lose work: a trial resumes from its last epoch; Ctrl-C ends cleanly with a
leaderboard and exit 130; kill -9 mid-trial and restart ends with the trials asked for; a
NaN trial does not stop the search."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import lite_values

from search import cli, pipeline, trial
from search import data as data_mod
from search.records import COMPLETE, FAILED, TrialRecord, load_records
from search.trial import TrialContext, run_trial

ROOT = Path(__file__).resolve().parent.parent
SMALL = {**lite_values([8, 16], [16], lr=3e-3), "lr_schedule": "step"}


def _ctx(cfg, run_dir: Path, epochs: int, **kw) -> TrialContext:
    return TrialContext(data=data_mod.load(cfg), epochs=epochs, patience=epochs, seed=cfg.seed,
                        run_dir=run_dir, **kw)


def test_an_interrupted_trial_resumes_after_its_last_epoch(tiny_cfg, tmp_path):
    import keras

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # after the second epoch's backup
                raise KeyboardInterrupt

    run_dir = tmp_path / "run"
    ctx = _ctx(tiny_cfg, run_dir, 3, extra_callbacks=lambda rec, epochs: [CtrlC()])
    with pytest.raises(KeyboardInterrupt):
        run_trial("7", SMALL, ctx)
    trial_dir = run_dir / "trials" / "7"
    assert not (trial_dir / "record.json").exists()  # unfinished: no record, not "failed"
    assert trial.backup_epoch(trial_dir) == 2
    assert len(json.loads((trial_dir / "backup" / "history.json").read_text())["loss"]) == 2

    rec = run_trial("7", SMALL, dataclasses.replace(ctx, extra_callbacks=None))
    assert rec.status == COMPLETE, rec.reason
    assert rec.resumed_from_epoch == 2 and rec.epochs_run == 3
    assert [len(v) for v in rec.history.values()] == [3] * len(rec.history)
    assert 1 <= rec.best_epoch <= 3 and rec.test_mae > 0
    assert not (trial_dir / "backup").exists()
    assert TrialRecord.load(trial_dir / "record.json").resumed_from_epoch == 2


def test_a_dominated_trial_is_pruned_with_its_epoch(tiny_cfg, tmp_path):
    from search.pruning import Pruner

    run_dir = tmp_path / "run"
    tiny = TrialRecord("900", COMPLETE, values={}, val_mae=0.5, params=1,
                       tflite_float16_bytes=1, latency_ms=1e-6,
                       history={"val_mae": [0.5, 0.5, 0.5]})
    tiny.save(run_dir / "trials" / "900" / "record.json")
    ctx = _ctx(tiny_cfg, run_dir, 3, pruner=Pruner(run_dir, 0.1).for_trial)
    rec = run_trial("1", SMALL, ctx)
    assert rec.status == "pruned" and rec.pruned_at_epoch == 1 and rec.epochs_run == 1
    assert rec.val_mae == rec.history["val_mae"][0] and rec.test_mae is None
    assert "trial 900" in rec.reason and "epoch 1" in rec.reason
    assert not (run_dir / "trials" / "1" / "model.keras").exists()
    # The same trial with pruning off trains every epoch.
    rec = run_trial("2", SMALL, dataclasses.replace(ctx, pruner=None))
    assert rec.status == COMPLETE and rec.epochs_run == 3


def nan_trial(trial_id, values, ctx, **kw):
    """A trial function for the worker process: a NaN learning rate (no space file accepts
    one, so the trial is handed it here), whose loss is NaN from the first step."""
    return run_trial(trial_id, {**values, "learning_rate": float("nan")}, ctx, **kw)


def test_a_nan_trial_is_recorded_as_failed_and_the_search_goes_on(tiny_cfg, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setattr(pipeline, "TRIAL_TARGET", f"{__name__}:nan_trial")
    space = tmp_path / "nan.toml"
    space.write_text('name = "nan"\n[fixed]\nfilters_1 = 8\n'
                     '[params.blocks]\ntype = "int"\nlow = 1\nhigh = 2\n'
                     '[params.filters_2]\ntype = "choice"\nvalues = [8, 16]\n'
                     'when = { blocks = [2] }\n'
                     '[params.dense_units_1]\ntype = "choice"\nvalues = [8, 16]\n')
    cfg = tiny_cfg.replace(space=str(space), trials=2, epochs=1, reference=False, run_name="nan")
    board = pipeline.run(cfg)
    records = load_records(Path(cfg.results_dir) / "nan")
    assert [r.status for r in records] == [FAILED, FAILED]
    assert all("not a finite number" in r.reason for r in records)
    assert board["best_trial"] is None


def interrupt_001(trial_id, values, ctx, **kw):
    """A trial function for the worker process: Ctrl-C arrives during trial 001."""
    if trial_id == "001":
        raise KeyboardInterrupt
    return run_trial(trial_id, values, ctx, **kw)


def test_ctrl_c_writes_the_leaderboard_exits_130_and_the_run_resumes(
        tiny_cfg, monkeypatch, capsys):
    monkeypatch.setattr(pipeline, "TRIAL_TARGET", f"{__name__}:interrupt_001")
    args = ["--trials", "2", "--epochs", "1", "--no-reference", "--synthetic-images", "48",
            "--image-size", "32", "--batch-size", "16", "--seed", "7", "--run-name", "cc",
            "--results-dir", tiny_cfg.results_dir, "--cache-dir", tiny_cfg.cache_dir]
    assert cli.main(args) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("interrupted: 1 finished trial(s) kept") and "\n" not in err
    run_dir = Path(tiny_cfg.results_dir) / "cc"
    board = json.loads((run_dir / "leaderboard.json").read_text())
    assert [t["trial_id"] for t in board["trials"]] == ["000"]

    monkeypatch.undo()
    assert cli.main(args) == 0
    assert sorted(r.trial_id for r in load_records(run_dir)) == ["000", "001"]  # same folder


# --- kill -9 in the middle of a trial, in a real process -------------------------------------


def _search_cmd(tuner: str, results: Path, cache: Path) -> list[str]:
    return [sys.executable, str(ROOT / "run_search.py"), "--tuner", tuner, "--trials", "2",
            "--epochs", "12", "--patience", "12", "--no-prune", "--no-reference",
            "--synthetic-images", "48", "--image-size", "32", "--batch-size", "8",
            "--seed", "7", "--run-name", "k", "--results-dir", str(results),
            "--cache-dir", str(cache)]


def _wait_for_a_backup_of_the_second_trial(run_dir: Path, proc, timeout: float = 180) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, "the search ended before it could be killed"
        trials = [d for d in (run_dir / "trials").glob("*") if d.is_dir()] if (
            run_dir / "trials").is_dir() else []
        if any((d / "record.json").exists() for d in trials):
            for d in trials:
                if not (d / "record.json").exists() and (trial.backup_epoch(d) or 0) >= 2:
                    return d.name
        time.sleep(0.05)
    raise AssertionError("no trial reached a backup in time")


@pytest.mark.parametrize("tuner", ["tpe", "random"])
def test_kill_9_mid_trial_then_restart_resumes_it_from_its_backup(tmp_path, faces,
                                                                   synth_cache, tuner):
    results = tmp_path / "r"
    cmd = _search_cmd(tuner, results, synth_cache)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        killed = _wait_for_a_backup_of_the_second_trial(results / "k", proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run_dir = results / "k"
    before = {r.trial_id: r.to_dict() for r in load_records(run_dir)}
    assert len(before) == 1 and killed not in before

    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    after = {r.trial_id: r for r in load_records(run_dir)}
    assert len(after) == 2 and killed in after  # exactly the trials asked for
    for tid, rec in before.items():
        assert after[tid].to_dict() == rec  # earlier results intact
    resumed = after[killed]
    assert resumed.status == COMPLETE and resumed.resumed_from_epoch >= 2, resumed.reason
    assert resumed.epochs_run == 12
    assert f"trial {killed}: resumed after epoch {resumed.resumed_from_epoch}" in done.stdout
    if tuner == "tpe":  # the study: the killed trial adopted, not failed and copied
        import optuna
        from optuna.trial import TrialState

        from search.backends import optuna as ob

        study = optuna.load_study(study_name="k", storage=ob.storage_for(None, run_dir))
        assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 2
        assert sorted(ob.folder_name(t.number) for t in study.get_trials()) == sorted(after)


def test_max_minutes_lets_the_running_trial_finish_and_starts_no_other(tiny_cfg, monkeypatch):
    import io
    import types

    from rich.console import Console

    # the deadline; trial 1: the search's check before it asks, the objective's; trial 2...
    clock = iter([1000.0, 1000.0, 1000.0, 1061.0, 1061.0, 1061.0])
    monkeypatch.setattr(pipeline, "time", types.SimpleNamespace(time=lambda: next(clock)))
    cfg = tiny_cfg.replace(trials=3, epochs=1, reference=False, run_name="clock",
                           max_minutes=1.0)
    out = io.StringIO()
    board = pipeline.run(cfg, console=Console(file=out, width=200))
    assert [t["status"] for t in board["trials"]] == [COMPLETE]  # started in time, finished
    assert "--max-minutes 1 spent: 1 trial(s) finished" in out.getvalue()
    assert (Path(cfg.results_dir) / "clock" / "leaderboard.json").exists()
    monkeypatch.undo()
    board = pipeline.run(cfg.replace(max_minutes=None))  # the same run goes on to --trials
    assert len(board["trials"]) == 3


def test_max_minutes_must_be_positive(tiny_cfg):
    from search.errors import UserError

    with pytest.raises(UserError, match="--max-minutes must be a positive number of minutes, "
                                        "got 0"):
        pipeline.run(tiny_cfg.replace(max_minutes=0))
