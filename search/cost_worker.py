"""Costs measured in a second process while the candidate trains.

Converting a candidate to three TFLite formats takes 2-3 s on 2 cores (the converter's fixed
cost, whatever the model's size; benchmarks/costs.py), as long as a whole training epoch of
a small model on the default synthetic set. When no budget depends on the figures
(``--max-kib``, ``--max-latency-ms``), nothing has to wait for them: the trial hands the candidate's
values to this worker and starts training at once. The worker builds the same architecture
under the same name, converts it (one thread, SCHED_IDLE: only on a core training leaves
idle) and sends back the sizes and the deploy file; the trial measures host latency
itself, between two epochs or after training, when the machine is quiet, so the latency
figure is not disturbed by the training it ran beside.

Parameters and MACs are always counted in the trial's own process (they are free), so the
``--max-params`` and ``--max-macs`` budgets still reject before any training.

The worker is one spawned process with TensorFlow loaded once (started when the search's
input has been checked, so its import overlaps the first trial's training). It ignores
Ctrl-C (the search handles it), exits when its parent dies (``kill -9``) and is replaced
every :data:`RECYCLE_AFTER` candidates, so its memory stays bounded. If it ever fails, the
trial measures in its own process instead: a broken worker costs time, never a figure.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

#: Candidates one worker process measures before a fresh one replaces it.
RECYCLE_AFTER = 25
#: Seconds a finished search waits for a running measurement before leaving it.
SHUTDOWN_WAIT = 30.0


def _watch_parent(parent: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:  # the search died (kill -9): nobody needs our figures
            os._exit(0)


def _start(parent: int) -> None:
    """Worker initialiser: quiet, one thread, deaf to Ctrl-C, TensorFlow loaded now."""
    import gc
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The lowest CPU priority: training, on the critical path, keeps its cores; the worker
    # converts in the cycles training leaves idle (and has the machine while a trial waits).
    # SCHED_IDLE (Linux) runs it only on a core nothing else wants; every thread started
    # after this (TensorFlow's) inherits it. Elsewhere, nice 19.
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    with contextlib.suppress(OSError):
        os.nice(19)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from search.quiet import load_tensorflow

    load_tensorflow()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    # The converter collects garbage on every call; TensorFlow's own objects need not be
    # looked at each time.
    gc.collect()
    gc.freeze()


def _ready() -> int:
    return os.getpid()


def _convert(values: Mapping[str, Any], input_shape: tuple[int, ...], name: str,
             deploy_dtype: str) -> dict[str, Any]:
    """In the worker: build the candidate and convert it; sizes, time and the deploy file."""
    import gc

    import keras

    from search import builder, costs

    t0 = time.perf_counter()
    # A fresh session, as the trial's own: the same layer names, so the same file bytes.
    keras.backend.clear_session(free_memory=False)
    try:
        model = builder.build_model(values, tuple(input_shape), name=name)
        blobs = costs.convert_measured(model, tuple(input_shape))
    finally:
        keras.backend.clear_session(free_memory=False)
        gc.collect()
    return {"sizes": {q: len(b) for q, b in blobs.items()}, "deploy": blobs[deploy_dtype],
            "seconds": time.perf_counter() - t0}


class CostWorker:
    """One background process that converts candidates; use as a context manager."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start, initargs=(os.getpid(),), max_tasks_per_child=RECYCLE_AFTER)
        self._pool.submit(_ready)  # start it now: TensorFlow loads while the data does

    def submit(self, values: Mapping[str, Any], input_shape: tuple[int, ...], name: str,
               deploy_dtype: str) -> Future | None:
        """Start converting; None if the worker is gone (the caller measures itself)."""
        if self._pool is None:
            return None
        try:
            return self._pool.submit(_convert, dict(values), tuple(input_shape), name,
                                     deploy_dtype)
        except Exception:  # noqa: BLE001 - a broken pool: measure in the trial instead
            self.close()
            return None

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> CostWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_shared: CostWorker | None = None


def shared() -> CostWorker:
    """The process's cost worker, started on first use and kept for later searches in the
    same process (tests, benchmarks); stopped at exit or by :func:`close_shared`."""
    global _shared
    if _shared is None or _shared._pool is None:
        if _shared is None:
            atexit.register(close_shared)
        _shared = CostWorker()
    return _shared


def close_shared() -> None:
    """Stop the shared worker (before the process replaces itself with ``os.execv``)."""
    if _shared is not None:
        _shared.close()


class PendingCosts:
    """A candidate's costs on their way from the worker.

    ``done()`` says, without waiting, whether the figures can be had now; ``result()``
    waits for them, measures latency here and returns :class:`search.costs.Costs`; if the
    worker failed, it measures everything in this process from ``model`` instead.
    """

    def __init__(self, future: Future, model, values: Mapping[str, Any],
                 input_shape: tuple[int, ...], deploy_dtype: str, params: int, macs: int):
        self.future, self.model = future, model
        self.values, self.input_shape, self.deploy_dtype = values, input_shape, deploy_dtype
        self.params, self.macs = params, macs
        self.waited = 0.0  # seconds the trial spent waiting for the figures, latency included
        self._costs = None

    def done(self) -> bool:
        return self._costs is not None or self.future.done()

    def result(self):
        from search import costs

        if self._costs is not None:
            return self._costs
        t0 = time.perf_counter()
        try:
            got = self.future.result()
            self._costs = costs.costs_of(self.params, self.macs, got["sizes"], got["seconds"],
                                         self.input_shape, self.deploy_dtype, got["deploy"])
        except Exception:  # noqa: BLE001 - the worker died or failed: measure here
            self._costs = costs.measure(self.model, self.values, self.input_shape,
                                        deploy_dtype=self.deploy_dtype)
        self.model = None
        self.waited += time.perf_counter() - t0
        return self._costs

    def cancel(self) -> None:
        self.future.cancel()
        self.model = None
