"""Costs measured aside by the cost worker while a trial trains: the same figures as
measuring them first, a fallback when the worker dies, and no orphan when the search does."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from search import cost_worker, costs, data, train
from search.records import COMPLETE

SMALL = {"blocks": 2, "filters_1": 4, "filters_2": 8, "dense_layers": 1, "dense_units_1": 8,
         "learning_rate": 1e-3}
FIGURES = ("params", "macs", "tflite_float32_bytes", "tflite_float16_bytes", "tflite_int8_bytes")


@pytest.fixture(scope="module")
def worker():
    with cost_worker.CostWorker() as w:
        yield w


def _ctx(tiny_cfg, tmp_path, name, **kw):
    return train.TrialContext(data=data.load(tiny_cfg), epochs=1, patience=1, seed=7,
                              run_dir=tmp_path / name, **kw)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (dead, not yet reaped by its parent) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_costs_measured_aside_are_the_costs_measured_first(tiny_cfg, tmp_path, worker):
    cache = costs.CostCache(tmp_path / "costs.json")
    aside = train.evaluate("a", SMALL, _ctx(tiny_cfg, tmp_path, "aside", cost_worker=worker,
                                            cost_cache=cache))
    first = train.evaluate("a", SMALL, _ctx(tiny_cfg, tmp_path, "first"))
    assert aside.status == first.status == COMPLETE
    for f in FIGURES:
        assert getattr(aside, f) == getattr(first, f) is not None, f
    assert aside.latency_ms > 0 and first.latency_ms > 0
    assert aside.cost_seconds > 0 and first.cost_seconds > 0
    assert first.cost_wait_seconds == first.cost_seconds  # measured first: all of it waited
    # the figures went to the cache: the same architecture is not converted again
    hit = cache.get(costs.architecture_key(SMALL, (32, 32, 3)))
    assert hit is not None and hit.tflite_float16_bytes == aside.tflite_float16_bytes
    again = train.evaluate("b", SMALL, _ctx(tiny_cfg, tmp_path, "again", cost_worker=worker,
                                            cost_cache=cache))
    assert again.cost_seconds == 0 and again.tflite_int8_bytes == aside.tflite_int8_bytes


def test_a_size_budget_measures_first_and_rejects_before_training(tiny_cfg, tmp_path, worker,
                                                                 monkeypatch):
    fits = []
    monkeypatch.setattr(train, "_fit", lambda *a, **k: fits.append(1))
    r = train.evaluate("a", SMALL, _ctx(tiny_cfg, tmp_path, "budget", cost_worker=worker,
                                        budget=costs.Budget(max_kib=1.0)))
    assert r.status == "infeasible" and "--max-kib 1" in r.reason
    assert fits == [] and r.cost_wait_seconds > 0


def test_a_dead_worker_costs_time_never_a_figure(tiny_cfg, tmp_path):
    w = cost_worker.CostWorker()
    try:
        pid = w._pool.submit(cost_worker._ready).result(timeout=120)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        r = train.evaluate("a", SMALL, _ctx(tiny_cfg, tmp_path, "dead", cost_worker=w))
        ref = train.evaluate("a", SMALL, _ctx(tiny_cfg, tmp_path, "ref"))
        assert r.status == COMPLETE, r.reason
        for f in FIGURES:
            assert getattr(r, f) == getattr(ref, f) is not None, f
        assert r.latency_ms > 0
    finally:
        w.close()


def test_the_worker_leaves_when_the_search_is_killed(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        from search import cost_worker
        w = cost_worker.CostWorker()
        print(w._pool.submit(cost_worker._ready).result(timeout=120), flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        pid = int(proc.stdout.readline())
        assert _alive(pid)
        proc.kill()  # kill -9: no atexit, no shutdown
        proc.wait()
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(pid), f"cost worker {pid} outlived its search"
    finally:
        proc.kill()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_the_worker_runs_only_on_idle_cores(worker):
    """The conversion never competes with training for a core: the worker's threads are
    SCHED_IDLE and nice 19."""
    assert worker._pool.submit(os.sched_getscheduler, 0).result(timeout=120) == os.SCHED_IDLE
    assert worker._pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result(timeout=60) == 19
