"""Each trial in a worker process: a crash fails one trial, the worker is recycled unseen,
it dies with the search, and the search process never loads TensorFlow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import lite_values

from search import data as data_mod
from search import pipeline
from search.records import COMPLETE, FAILED, load_records
from search.trial import run_trial
from search.trial_process import TrialWorker, WorkerSetup, death_reason

ROOT = Path(__file__).resolve().parent.parent
SMALL = {**lite_values([8, 16], [16], lr=3e-3), "lr_schedule": "step"}


def abort_001(trial_id, values, ctx, **kw):
    """A trial function for the worker: trial 001 crashes the process as a segfault in
    TensorFlow would (no Python exception, no record written)."""
    if trial_id == "001":
        os.abort()
    return run_trial(trial_id, values, ctx, **kw)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def test_a_trial_that_kills_its_worker_fails_alone_and_the_search_goes_on(tiny_cfg,
                                                                          monkeypatch):
    monkeypatch.setattr(pipeline, "TRIAL_TARGET", f"{__name__}:abort_001")
    cfg = tiny_cfg.replace(trials=3, epochs=1, reference=False, run_name="abort")
    board = pipeline.run(cfg)
    records = {r.trial_id: r for r in load_records(Path(cfg.results_dir) / "abort")}
    assert sorted(records) == ["000", "001", "002"]  # the trials asked for, all recorded
    assert records["001"].status == FAILED
    assert "worker process killed by SIGABRT" in records["001"].reason
    assert records["000"].status == records["002"].status == COMPLETE
    assert board["counts"]["failed"] == 1 and board["counts"]["complete"] == 2


def test_the_worker_is_recycled_after_its_trials_and_gives_the_same_results(tiny_cfg,
                                                                          tmp_path):
    data = data_mod.load(tiny_cfg)
    events = []
    setup = WorkerSetup(data=data, epochs=1, patience=1, seed=7, run_dir=tmp_path / "run")
    with TrialWorker(setup, recycle_after=2,
                     on_event=lambda method, *a: events.append(method)) as w:
        pids, records = [], []
        for tid in ("a", "b", "c"):
            pids.append(w.pid)
            records.append(w.run(tid, SMALL))
        assert w.starts == 2  # a fresh child after two trials
    assert pids[0] == pids[1] != pids[2]
    assert [r.status for r in records] == [COMPLETE] * 3
    # The same network, seed and data: a fresh process trains it to the same figures.
    assert records[0].val_mae == records[2].val_mae
    assert records[0].tflite_float16_bytes == records[2].tflite_float16_bytes
    assert events.count("epoch_end") == 3 and events.count("train_begin") == 3


def test_a_recycled_worker_is_one_that_grew():
    from search.memory import should_recycle

    assert not should_recycle(740.0, 700.0, 0.1, 20.0)  # 760 <= 770
    assert should_recycle(751.0, 700.0, 0.1, 20.0)  # 771 > 770
    assert death_reason(-signal.SIGKILL) == "killed by SIGKILL"
    assert death_reason(3) == "exited with status 3"


def test_the_worker_dies_with_the_search_and_the_search_holds_no_tensorflow(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from search import data
        from search.config import RunConfig
        from search.trial_process import TrialWorker, WorkerSetup
        d = data.load(RunConfig(synthetic_images=48, image_size=32, seed=7,
                                cache_dir={str(tmp_path / 'cache')!r}))
        w = TrialWorker(WorkerSetup(data=d, epochs=1, patience=1, seed=7,
                                    run_dir=__import__('pathlib').Path({str(tmp_path)!r})))
        w.start()
        print(w.pid, 'tensorflow' in sys.modules, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        pid_text, tf_loaded = proc.stdout.readline().split()
        pid = int(pid_text)
        assert tf_loaded == "False"  # the search process proposes and records only
        assert _alive(pid)
        proc.kill()  # kill -9 of the search: no atexit, no shutdown
        proc.wait()
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(pid), f"trial worker {pid} outlived its search"
    finally:
        proc.kill()
