"""Each trial in a worker process: the search process stays small, a crash fails one trial.

TensorFlow keeps memory it never returns (traced graphs in reference cycles through C++
objects, allocator pools), so a process that trains trial after trial grows. The search
process therefore never trains: :class:`TrialWorker` hands each trial to one child process
that holds TensorFlow, the decoded data and the cost cache, and gets the trial's
:class:`~search.records.TrialRecord` back. Children are forked from a fork server that
imported TensorFlow once (:func:`_context`), so a fresh one starts in about 1 s
(``benchmarks/trial_memory.py`` measures it). The child is replaced by a fresh one

- after :data:`RECYCLE_AFTER` trials, and
- when one more trial would take it more than ``max_growth`` above its memory after its
  second trial (:func:`search.memory.should_recycle`),

so memory is flat by construction and the user never sees a restart. A child that dies in
the middle of a trial (a segfault in TensorFlow or the converter, the kernel's OOM killer,
``os.abort()``) fails that trial only: it is recorded as failed with the signal as its reason
and the next trial gets a fresh child.

Ctrl-C reaches both processes; the child ignores it and the search process stops the child,
whose trial keeps its last epoch's backup and resumes on the next run, as before. The child
also dies with the search process (``kill -9`` of the search): the fork server exits with
it and Linux's parent-death signal follows, a watch on the search process elsewhere, and a
pipe found broken ends the child before its trial could record a failure.

Messages on the pipe, child to parent: ``("event", method, args)`` for the progress display
(per epoch, throttled per batch), then ``("done", record_dict, rss_mib)``, ``("interrupted",)``
or ``("error", text)``. Parent to child: ``("setup", WorkerSetup)`` once, then ``("trial",
trial_id, values, is_reference, train_kwargs)`` or ``("stop",)``.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.budget import Budget
from search.memory import SETTLE_TRIALS, rss_mib, should_recycle
from search.records import FAILED, INFEASIBLE, TrialRecord, finished_record

#: Trials one child trains before a fresh one replaces it, whatever its memory.
RECYCLE_AFTER = 20
#: The function a child calls for each trial: ``module:name``, called as
#: ``f(trial_id, values, ctx, is_reference=..., **train)`` (tests name their own).
DEFAULT_TARGET = "search.trial:run_trial"
#: Seconds between two per-batch progress messages (epochs always send theirs).
BATCH_EVENT_INTERVAL = 0.25
#: Seconds a child may take to stop when asked, before it is killed.
STOP_WAIT = 10.0


@dataclass(frozen=True)
class WorkerSetup:
    """What a child needs to train any trial of the run (pickled to it once)."""

    data: Any  # search.data.Data, before any pipeline is built
    epochs: int
    patience: int
    seed: int
    run_dir: Path
    budget: Budget = Budget()
    prune_margin: float | None = None  # None: no pruning
    prune_start: int = 1
    progress: bool = True  # send per-epoch events
    batch_events: bool = False  # and throttled per-batch ones (a live terminal display)
    target: str = DEFAULT_TARGET


# --- the child --------------------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Make this process end when the search process does, even on ``kill -9``.

    Forked from the fork server, its parent is that server, which exits when the search
    process does: Linux's parent-death signal ends this process at once. Elsewhere (and in
    case the server died before the signal was set), a thread checks for the search
    process."""
    with contextlib.suppress(Exception):  # Linux: the kernel sends SIGKILL at once
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    server = os.getppid()

    def watch() -> None:
        while True:
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(0)
            except OSError:
                pass
            if os.getppid() != server:
                os._exit(0)
            time.sleep(0.5)

    threading.Thread(target=watch, daemon=True).start()


def _context():
    """Workers are forked from a fork server that imported TensorFlow once
    (:mod:`search.tensorflow_preload`), not spawned afresh: a new worker then costs a fork,
    not a TensorFlow import. Only the import happens before the fork, no TensorFlow op.
    Where there is no fork server (not POSIX), they are spawned."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["search.tensorflow_preload"])
    return ctx


def _send(conn, message: tuple) -> None:
    """Send to the search process; if it is gone (killed), end this process at once, before
    the trial could record a failure that never happened: its last epoch's backup stays, and
    the next run resumes it."""
    try:
        conn.send(message)
    except OSError:  # BrokenPipeError, ConnectionResetError
        os._exit(0)


class _Events:
    """Stands in for :class:`search.progress.SearchProgress` in the child: every call the
    trial's progress callback makes is sent to the search process."""

    def __init__(self, conn, batches: bool):
        self.conn, self.batches = conn, batches
        self._last_batch = 0.0

    def _send(self, method: str, *args: Any) -> None:
        _send(self.conn, ("event", method, args))

    def train_begin(self, record: TrialRecord, epochs: int) -> None:
        self._send("train_begin", record.to_dict(), epochs)

    def epoch_begin(self, record: TrialRecord, epoch: int, epochs: int) -> None:
        self._send("epoch_begin", record.to_dict(), epoch, epochs)

    def batch_end(self, epoch: int, fraction: float) -> None:
        now = time.monotonic()
        if self.batches and now - self._last_batch >= BATCH_EVENT_INTERVAL:
            self._last_batch = now
            self._send("batch_end", epoch, fraction)

    def epoch_end(self, record: TrialRecord, epoch: int, epochs: int,
                  logs: Mapping[str, float]) -> None:
        self._send("epoch_end", record.to_dict(), epoch, epochs,
                   {k: float(v) for k, v in logs.items()})


def _load_target(target: str) -> Callable[..., TrialRecord]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _child(conn, parent: int) -> None:  # pragma: no cover - runs in the child process
    """The child's whole life: load TensorFlow, receive the setup, train trials until told
    to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the search process's to handle
    _die_with_parent(parent)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from search.quiet import load_tensorflow

    load_tensorflow()
    from search import trial
    from search.costs import CostCache
    from search.progress import epoch_callback
    from search.pruning import Pruner

    kind, setup = conn.recv()
    assert kind == "setup", kind
    events = _Events(conn, setup.batch_events)
    callback = epoch_callback()
    ctx = trial.TrialContext(
        data=setup.data, epochs=setup.epochs, patience=setup.patience, seed=setup.seed,
        run_dir=setup.run_dir, cost_cache=CostCache(setup.run_dir / "costs.json"),
        budget=setup.budget,
        extra_callbacks=((lambda record, epochs: [callback(events, record, epochs)])
                         if setup.progress else None),
        pruner=(Pruner(setup.run_dir, setup.prune_margin, setup.prune_start).for_trial
                if setup.prune_margin is not None else None))
    run = _load_target(setup.target)
    trial.freeze_startup_objects()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):  # the search process is gone
            os._exit(0)
        if msg[0] == "stop":
            return
        _, trial_id, values, is_reference, kwargs = msg
        try:
            record = run(trial_id, values, ctx, is_reference=is_reference, **kwargs)
        except KeyboardInterrupt:
            _send(conn, ("interrupted",))
            continue
        except BaseException:  # noqa: BLE001 - the trial function never should; say what
            _send(conn, ("error", traceback.format_exc()))
            continue
        _send(conn, ("done", record.to_dict(), rss_mib()))


# --- the search process's side ----------------------------------------------------------------


def death_reason(exitcode: int | None) -> str:
    """Why a child ended, in words: ``killed by SIGABRT`` or ``exited with status 3``."""
    if exitcode is None:
        return "stopped answering"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


class TrialWorker:
    """Runs trials in a child process; use :meth:`run` like the trial function itself.

    ``on_event(method, *args)`` receives the child's progress calls (the records in them as
    :class:`TrialRecord`). Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, setup: WorkerSetup, *,
                 on_event: Callable[..., None] | None = None,
                 recycle_after: int = RECYCLE_AFTER, max_growth: float = 0.1):
        self.setup = setup
        self.on_event = on_event
        self.recycle_after, self.max_growth = recycle_after, max_growth
        self._ctx = _context()
        self._proc = None
        self._conn = None
        self.starts = 0  # children started, for benchmarks and tests
        self._reset_memory()

    def _reset_memory(self) -> None:
        self.trained = 0  # trials this child trained (infeasible ones are not counted)
        self.baseline: float | None = None  # its memory after trial SETTLE_TRIALS, MiB
        self.last: float | None = None
        self.step = 0.0  # the largest growth over one trial seen in this child, MiB
        self.rss: float | None = None

    # -- lifetime --------------------------------------------------------------------------

    def start(self) -> None:
        """Start a child now (it loads TensorFlow while the caller goes on); no-op if one
        is running."""
        if self._proc is not None and self._proc.is_alive():
            return
        self._drop()
        parent_end, child_end = self._ctx.Pipe()
        proc = self._ctx.Process(target=_child, args=(child_end, os.getpid()),
                                 name="agesearch-trial", daemon=True)
        proc.start()
        child_end.close()  # ours: so a dead child reads as EOF here
        parent_end.send(("setup", self.setup))
        self._proc, self._conn = proc, parent_end
        self.starts += 1
        self._reset_memory()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def close(self) -> None:
        """Ask the child to stop, wait a little, then kill it."""
        proc, conn = self._proc, self._conn
        if proc is None:
            return
        with contextlib.suppress(OSError, ValueError, BrokenPipeError):
            conn.send(("stop",))
        proc.join(STOP_WAIT)
        self._drop()

    def _drop(self) -> None:
        """Forget the child, killing it if it still runs."""
        proc, conn, self._proc, self._conn = self._proc, self._conn, None, None
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(STOP_WAIT)
            with contextlib.suppress(ValueError):
                proc.close()
        if conn is not None:
            conn.close()

    def __enter__(self) -> TrialWorker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- trials ----------------------------------------------------------------------------

    def run(self, trial_id: str, values: Mapping[str, Any], is_reference: bool = False,
            **train: Any) -> TrialRecord:
        """Train one trial in the child and return its record (written to the run folder
        by the child, or here if the child died)."""
        self.start()
        self._conn.send(("trial", trial_id, dict(values), is_reference, dict(train)))
        try:
            while True:
                try:
                    msg = self._conn.recv()
                except (EOFError, OSError):
                    return self._died(trial_id, values, is_reference, train)
                kind = msg[0]
                if kind == "event":
                    self._event(msg[1], msg[2])
                elif kind == "done":
                    record = TrialRecord.from_dict(msg[1])
                    self._after(record, msg[2])
                    return record
                elif kind == "interrupted":
                    raise KeyboardInterrupt
                elif kind == "error":
                    return self._failed(trial_id, values, is_reference, train,
                                        "the trial's worker process raised: "
                                        + msg[1].strip().splitlines()[-1], msg[1])
        except KeyboardInterrupt:
            # The child's trial is not finished: it keeps its backup and resumes next run.
            self._drop()
            raise

    def _event(self, method: str, args: tuple) -> None:
        if self.on_event is None:
            return
        args = tuple(TrialRecord.from_dict(a) if isinstance(a, dict) and "trial_id" in a
                     else a for a in args)
        self.on_event(method, *args)

    def _after(self, record: TrialRecord, rss: float | None) -> None:
        """Count the trial toward the child's memory watch; recycle the child if due."""
        if record.status == INFEASIBLE:
            return
        self.trained += 1
        self.rss = rss
        if rss is not None:
            if self.last is not None:
                self.step = max(self.step, rss - self.last)
            self.last = rss
            if self.baseline is None and self.trained == SETTLE_TRIALS:
                self.baseline = rss
        due = self.trained >= self.recycle_after or (
            self.max_growth > 0 and rss is not None and self.baseline is not None
            and self.trained >= SETTLE_TRIALS
            and should_recycle(rss, self.baseline, self.max_growth, self.step))
        if due:
            self.close()
            self.start()  # the next child loads TensorFlow while the tuner proposes

    def _died(self, trial_id: str, values, is_reference: bool, train) -> TrialRecord:
        proc = self._proc
        if proc is not None:
            proc.join(STOP_WAIT)
        why = death_reason(proc.exitcode if proc is not None else None)
        self._drop()
        done = finished_record(self.setup.run_dir, trial_id, values, train)
        if done is not None:  # it finished and wrote its record just before it died
            return done
        return self._failed(trial_id, values, is_reference, train,
                            f"the trial's worker process {why} (in TensorFlow, the converter "
                            "or out of memory); the search went on with a fresh one")

    def _failed(self, trial_id: str, values, is_reference: bool, train, reason: str,
                trace: str | None = None) -> TrialRecord:
        record = TrialRecord(trial_id=trial_id, status=FAILED, values=dict(values),
                             is_reference=is_reference,
                             initial_epoch=train.get("initial_epoch", 0),
                             continues_trial=train.get("continues"), reason=reason,
                             traceback=trace)
        record.save(self.setup.run_dir / "trials" / trial_id / "record.json")
        return record
