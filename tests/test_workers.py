"""Many workers: one storage, one search; claims; storage URLs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from search import workers
from search.errors import UserError
from search.records import COMPLETE, load_records

ROOT = Path(__file__).resolve().parent.parent


def test_two_workers_on_one_journal_share_a_search(tmp_path, faces, synth_cache):
    """The same command started twice: 4 trials in all, 4 distinct, none run twice."""
    results = tmp_path / "r"
    cmd = [sys.executable, str(ROOT / "run_search.py"), "--tuner", "tpe", "--trials", "4",
           "--epochs", "1", "--no-reference", "--synthetic-images", "48", "--image-size",
           "32", "--batch-size", "16", "--seed", "7", "--run-name", "w", "--results-dir",
           str(results), "--cache-dir", str(synth_cache)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=400) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-2000:]
    records = load_records(results / "w")
    assert len(records) == 4 and len({r.trial_id for r in records}) == 4
    assert all(r.status == COMPLETE for r in records), [r.reason for r in records]
    assert len({repr(sorted(r.values.items())) for r in records}) == 4  # distinct candidates
    ran = [re.findall(r"^trial (\d+): complete", out, re.M) for out, _ in outs]
    assert sorted(ran[0] + ran[1]) == sorted(r.trial_id for r in records)  # none twice

    import optuna

    from search.backends import optuna as ob

    study = optuna.load_study(study_name="w", storage=ob.storage_for(None, results / "w"))
    assert sum(ob.counts(t) for t in study.get_trials()) == 4
    assert len(study.best_trials) >= 1


def test_a_claim_is_held_once_and_taken_over_from_a_dead_worker(tmp_path):
    path = tmp_path / ".ref.claim"
    assert workers.claim(path) and path.read_text() == workers.worker_id()
    path.write_text("some-other-host:1")  # alive as far as this host can tell
    assert not workers.claim(path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(f"{workers.worker_id().rsplit(':', 1)[0]}:{dead.pid}")
    assert workers.is_dead(path.read_text())
    assert workers.claim(path)
    workers.release(path)
    assert not path.exists()


def test_storage_urls(tmp_path):
    from search.backends import optuna as ob

    with pytest.raises(UserError, match="unknown scheme 'redis'"):
        ob.storage_for("redis://localhost", tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        ob.storage_for(str(tmp_path / "nowhere" / "x.journal"), tmp_path)
    s = ob.storage_for(f"sqlite:///{tmp_path / 'o.db'}", tmp_path)  # an RDB, as PostgreSQL
    assert type(s).__name__ == "RDBStorage"
    assert type(ob.storage_for(None, tmp_path)).__name__ == "JournalStorage"
    assert (tmp_path / "optuna.journal").exists()


def test_storage_is_refused_for_kerastuner_tuners(tmp_path):
    from search.backends import registry
    from search.config import RunConfig

    cfg = RunConfig(tuner="random", storage="postgresql://x/y")
    with pytest.raises(UserError, match="--storage is for the Optuna tuners"):
        registry.get("random")(None, None, cfg, tmp_path)


def test_a_dead_workers_trial_is_adopted_once_and_never_failed(tmp_path):
    """A RUNNING trial whose worker on this host is gone (killed, or stopped by Ctrl-C) is
    adopted by the next worker: the same trial, number and values, no FAIL and no copy; a
    live worker's trial is left alone; two workers never adopt the same one."""
    import optuna

    from search.backends import optuna as ob
    from search.config import RunConfig

    run_dir = tmp_path / "r"
    run_dir.mkdir()
    storage = ob.storage_for(None, run_dir)
    study = ob.open_study(RunConfig(results_dir=str(tmp_path), run_name="r"), run_dir,
                          storage=storage)
    study_id = storage.get_study_id_from_name("r")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = f"{workers.worker_id().rsplit(':', 1)[0]}:{dead.pid}"
    stale = study.ask()
    blocks = stale.suggest_int("blocks", 2, 5)
    stale.set_user_attr(ob.TRIAL_ID, "000")
    stale.set_user_attr(ob.WORKER, gone)
    host = gone.rsplit(":", 1)[0]
    study.ask().set_user_attr(ob.WORKER, f"{host}:{os.getppid()}")  # a live worker
    assert [t.number for t in ob.orphans(study)] == [0]
    trial, claim = ob._adopt(study, storage, study_id, run_dir)
    assert trial.number == 0 and trial.suggest_int("blocks", 2, 5) == blocks
    assert trial.user_attrs[ob.WORKER] == workers.worker_id()
    trial.set_user_attr(ob.WORKER, f"{host}:{os.getppid()}")  # as if a live worker held it
    assert ob.orphans(study) == []
    study.tell(trial, [1.0, 2.0, 3.0])
    workers.release(claim)
    assert ob._adopt(study, storage, study_id, run_dir) == (None, None)
    assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.COMPLETE,
                                                     optuna.trial.TrialState.RUNNING]
    assert ob.recover_stale(study) == []  # no heartbeat on a journal: nothing failed


