"""What a search is doing, live on a terminal or as plain lines in a log.

On a terminal, two bars under the scrolling per-trial lines: the search (trials done,
running and left, best validation MAE so far, time elapsed, an estimate of the time left,
and the search process's memory) and the current trial (epoch and batch, with the last
epoch's loss, MAE and validation MAE). Anywhere else (a CI log, a file) the per-trial lines
alone, each finished trial's line ending with the same search figures, so a log reads like
the display.

Counts come from the run folder, so other workers' trials are included: *done* are the
recorded trials that count towards ``--trials`` (complete, pruned, failed), *running* the
trial folders without a record yet (a worker's trial in progress, or one left by a killed
worker that the next run resumes), and *left* what remains of ``--trials``.

The figures tell the truth between events too: on a terminal the elapsed time and the
estimate of the time left are computed at every redraw (ten a second), not when a trial
ends. Both survive restarts: the elapsed time is the time any search process has worked on
the run, from ``progress.jsonl`` in the run folder (one line per process and moment: when
it started and when it was last seen, :class:`RunClock`), and the estimate starts from the
durations the run's records hold. In a log, a long trial prints a line after an epoch when
:data:`LOG_EVERY` seconds have passed since the last line, so a log never falls silent for
a whole trial.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search.memory import rss_mib
from search.records import COMPLETE, INFEASIBLE, PRUNED, TrialRecord

#: Seconds of silence after which a log gets a line at an epoch's end.
LOG_EVERY = 30.0
#: The run's working time, across search processes and restarts (see :class:`RunClock`).
CLOCK_FILE = "progress.jsonl"


def clock(seconds: float | None) -> str:
    """``83`` -> ``"1:23"``; ``3725`` -> ``"1:02:05"``; None -> ``"?"``."""
    if seconds is None or not math.isfinite(seconds):
        return "?"
    s = int(round(max(0.0, seconds)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def scan(run_dir: Path) -> tuple[int, int, float | None]:
    """(done, running, best val MAE in years or None) from a run folder's trial records."""
    done, running, best = 0, 0, None
    trials = Path(run_dir) / "trials"
    if not trials.is_dir():
        return 0, 0, None
    for d in trials.iterdir():
        if not d.is_dir() or d.name.startswith("."):  # .claims: the workers' claim files
            continue
        path = d / "record.json"
        if not path.exists():
            running += 1
            continue
        try:
            r = TrialRecord.load(path)
        except (OSError, ValueError, TypeError):
            continue
        if r.status == INFEASIBLE:
            continue
        done += 1
        if (r.status == COMPLETE and r.val_mae is not None and math.isfinite(r.val_mae)
                and (best is None or r.val_mae < best)):
            best = r.val_mae
    return done, running, best


def eta(seconds_per_trial: list[float], left: int, running: int,
        current: float | None = None) -> float | None:
    """Seconds left: the mean trial time x trials left, spread over the workers now running
    (at least one), less ``current`` (seconds this worker's trial has run, up to one mean
    trial); None before any trial's duration is known."""
    if left <= 0:
        return 0.0
    if not seconds_per_trial:
        return None
    mean = sum(seconds_per_trial) / len(seconds_per_trial)
    spent = min(mean, current) if current else 0.0
    return max(0.0, (mean * left - spent) / max(1, running))


def union_seconds(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by the (start, end) spans together (overlaps counted once)."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(spans):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


class RunClock:
    """The time search processes have worked on a run, across restarts and workers.

    Each process appends to ``<run>/progress.jsonl`` a line ``{"session", "start", "seen"}``
    (wall-clock seconds) when it starts, at most every :data:`BEAT` seconds while it works
    and when it stops; a process killed outright loses at most one beat. :meth:`elapsed`:
    the union of every session's span, this one's up to now. A line that cannot be read (a
    power cut in the middle of a write) is skipped."""

    BEAT = 10.0

    #: Lines past which a starting session rewrites the file with one line per session.
    COMPACT = 2000

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / CLOCK_FILE
        self.start = time.time()
        self.session = f"{os.uname().nodename}:{os.getpid()}:{self.start:.3f}"
        self.earlier = self._read()
        self._written = 0.0

    def _read(self) -> list[tuple[float, float]]:
        spans: dict[str, tuple[float, float]] = {}
        try:
            lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []
        out = self._spans(lines, spans)
        if len(lines) > self.COMPACT:  # a long run: one line per session is enough
            from search.files import write_atomic

            try:
                write_atomic(self.path, "".join(
                    json.dumps({"session": k, "start": a, "seen": b}) + "\n"
                    for k, (a, b) in spans.items()))
            except OSError:
                pass
        return out

    @staticmethod
    def _spans(lines: list[str], spans: dict[str, tuple[float, float]]
               ) -> list[tuple[float, float]]:
        """Each session's (start, last seen) in ``lines``, gathered into ``spans``."""
        for line in lines:
            try:
                d = json.loads(line)
                start, seen = float(d["start"]), float(d["seen"])
                key = str(d["session"])
            except (ValueError, TypeError, KeyError):
                continue
            if math.isfinite(start) and math.isfinite(seen) and seen >= start:
                old = spans.get(key)
                spans[key] = (start, max(seen, old[1] if old else seen))
        return list(spans.values())

    def beat(self, force: bool = False) -> None:
        """Record that this session is working now (at most every BEAT seconds)."""
        now = time.time()
        if not force and now - self._written < self.BEAT:
            return
        self._written = now
        line = json.dumps({"session": self.session, "start": self.start, "seen": now})
        try:
            with open(self.path, "a", encoding="utf-8") as f:  # one short append: whole lines
                f.write(line + "\n")
        except OSError:
            pass  # a clock, never a reason to stop a search

    def elapsed(self) -> float:
        """Seconds any search process has worked on the run, this one included."""
        return union_seconds([*self.earlier, (self.start, time.time())])


class SearchProgress:
    """The search's display. Use as a context manager around the search; the pipeline calls
    :meth:`trial_started` and :meth:`trial_finished`, and the trial's worker process sends
    its epochs to :meth:`on_event` (through :func:`epoch_callback` there)."""

    def __init__(self, console, *, total: int, epochs: int, run_dir: Path,
                 live: bool | None = None):
        self.console = console
        self.total, self.epochs, self.run_dir = total, epochs, Path(run_dir)
        self.live = console.is_terminal if live is None else live
        self.clock: RunClock | None = None
        self.t0 = time.monotonic()
        self.durations: list[float] = []
        self.recorded: list[float] = []  # durations of the run's earlier trials (records)
        self._trial_t0: float | None = None
        self._trial: str | None = None
        self._progress = None
        self._search_task = self._trial_task = None
        self.done, self.running, self.best = 0, 0, None
        self._last_logs: dict[str, float] = {}
        self._last_line = time.monotonic()

    # -- lifetime ----------------------------------------------------------------------

    def __enter__(self) -> SearchProgress:
        self.t0 = time.monotonic()
        self.clock = RunClock(self.run_dir)
        self.clock.beat(force=True)
        self.recorded = recorded_durations(self.run_dir)
        self._refresh_counts()
        if self.live:
            from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
            from rich.text import Text

            class Info(ProgressColumn):
                """A task's figures, computed at every redraw when they are a function."""

                def render(self, task) -> Text:
                    info = task.fields.get("info", "")
                    return Text(info() if callable(info) else str(info))

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=24),
                                      Info(), console=self.console, transient=True)
            self._search_task = self._progress.add_task("search", total=self.total,
                                                        info=self.summary)
            self._trial_task = self._progress.add_task("trial", total=self.epochs,
                                                       info="", visible=False)
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self.clock is not None:
            self.clock.beat(force=True)

    def elapsed(self) -> float:
        """Seconds the run has been worked on, earlier sessions included (:class:`RunClock`)."""
        return self.clock.elapsed() if self.clock is not None else time.monotonic() - self.t0

    # -- what the pipeline reports -----------------------------------------------------

    def summary(self) -> str:
        """``3/6 done, 1 running, 2 left, best 7.12 y, 1:05 elapsed, ~2:10 left, 812 MiB``
        (the last: this process's resident memory)."""
        left = max(0, self.total - self.done - self.running)
        best = "-" if self.best is None else f"{self.best:.2f} y"
        current = None if self._trial_t0 is None else time.monotonic() - self._trial_t0
        remaining = eta(self.durations or self.recorded, left + self.running,
                        max(1, self.running), current)
        rss = rss_mib()
        return (f"{self.done}/{self.total} done, {self.running} running, {left} left, best "
                f"{best}, {clock(self.elapsed())} elapsed, ~{clock(remaining)} left"
                + ("" if rss is None else f", {rss:.0f} MiB"))

    def trial_started(self, trial_id: str, values: Mapping[str, Any]) -> None:
        from search.report import summarise_values

        self._trial_t0 = time.monotonic()
        self._trial = trial_id
        self.print(f"trial {trial_id}: {summarise_values(values)}")
        self._refresh_counts()
        if not (self.run_dir / "trials" / trial_id).is_dir():
            self.running += 1  # its folder is made when it starts
        self._update_search()

    def resumed(self, record: TrialRecord, epochs: int) -> None:
        self.print(f"trial {record.trial_id}: resumed after epoch {record.resumed_from_epoch} "
                   f"of {epochs} from its backup")

    def trial_finished(self, record: TrialRecord) -> None:
        if self._trial_t0 is not None and record.status != INFEASIBLE:
            self.durations.append(time.monotonic() - self._trial_t0)
        self._trial_t0 = self._trial = None
        if self.clock is not None:
            self.clock.beat()
        self._refresh_counts()
        mae = "-" if record.val_mae is None else f"{record.val_mae:.2f} y"
        epochs = (f"{record.epochs_run} epochs in {record.train_seconds:.0f} s"
                  + (f", pruned after epoch {record.pruned_at_epoch}"
                     if record.status == PRUNED and record.pruned_at_epoch
                     and not record.paused else "")
                  + (f", resumed after epoch {record.resumed_from_epoch}"
                     if record.resumed_from_epoch else ""))
        status = "paused" if record.paused else record.status  # at a rung (moasha)
        line = (f"trial {record.trial_id}: {status}, val MAE {mae}, "
                f"{record.params or 0:,} params, {(record.tflite_float16_kib or 0):.1f} KiB "
                f"float16, {epochs}" + (f" ({record.reason})" if record.reason else ""))
        if not self.live:
            line += f" [{self.summary()}]"
        self.print(line)
        if self._progress is not None:
            self._progress.update(self._trial_task, visible=False)
        self._update_search()

    def print(self, text: str) -> None:
        # In a log, one line per event whatever its length (nothing to re-join when reading).
        self.console.print(text, highlight=False, markup=False, soft_wrap=not self.live)
        self._last_line = time.monotonic()

    # -- per epoch -----------------------------------------------------------------------

    def on_event(self, method: str, *args: Any) -> None:
        """A progress call sent by a trial's worker process (search.trial_process)."""
        if method in ("train_begin", "epoch_begin", "batch_end", "epoch_end"):
            getattr(self, method)(*args)

    def train_begin(self, record: TrialRecord, epochs: int) -> None:
        if record.resumed_from_epoch:
            self.resumed(record, epochs)
        self._last_logs = {}

    def epoch_begin(self, record: TrialRecord, epoch: int, epochs: int) -> None:
        if self._progress is not None:
            self._progress.update(self._trial_task, completed=epoch, total=epochs,
                                  visible=True, description=f"trial {record.trial_id}",
                                  info=self._trial_info(epoch, epochs, record))

    def batch_end(self, epoch: int, fraction: float) -> None:
        if self._progress is not None:
            self._progress.update(self._trial_task, completed=epoch + fraction)

    def epoch_end(self, record: TrialRecord, epoch: int, epochs: int,
                  logs: Mapping[str, float]) -> None:
        self._last_logs = dict(logs)
        if self.clock is not None:
            self.clock.beat()
        if self._progress is not None:
            self._progress.update(self._trial_task, completed=epoch + 1,
                                  info=self._trial_info(epoch + 1, epochs, record))
            self._update_search()
        elif time.monotonic() - self._last_line >= LOG_EVERY:  # a log: not silent for long
            took = ("" if self._trial_t0 is None
                    else f", {clock(time.monotonic() - self._trial_t0)} in the trial")
            self.print(f"trial {record.trial_id}: {self._trial_info(epoch + 1, epochs, record)}"
                       f"{took} [{self.summary()}]")

    def _trial_info(self, epoch: int, epochs: int, record: TrialRecord) -> str:
        logs = self._last_logs if epoch > 0 else {}
        parts = [f"epoch {epoch}/{epochs}"]
        for key, label in (("loss", "loss"), ("mae", "MAE"), ("val_mae", "val MAE")):
            if key in logs:
                parts.append(f"{label} {logs[key]:.2f}")
        return ", ".join(parts)

    def _refresh_counts(self) -> None:
        self.done, self.running, self.best = scan(self.run_dir)

    def _update_search(self) -> None:
        if self._progress is not None:
            self._progress.update(self._search_task, completed=self.done, info=self.summary)


def recorded_durations(run_dir: Path) -> list[float]:
    """Seconds each finished trial of a run took to train and measure, from its records:
    the estimate of the time left before this session has timed a trial of its own."""
    out = []
    for path in (Path(run_dir) / "trials").glob("*/record.json"):
        try:
            r = TrialRecord.load(path)
        except (OSError, ValueError, TypeError):
            continue
        seconds = (r.train_seconds or 0.0) + (r.cost_seconds or 0.0)
        if r.status != INFEASIBLE and seconds > 0:
            out.append(seconds)
    return out


def epoch_callback():
    """The Keras callback class that feeds a trial's epochs to a progress display (or to
    anything with its ``train_begin``, ``epoch_begin``, ``batch_end`` and ``epoch_end``)."""
    import keras

    class EpochProgress(keras.callbacks.Callback):
        """Feeds a trial's epochs and batches to a :class:`SearchProgress`."""

        def __init__(self, progress: SearchProgress, record: TrialRecord, epochs: int):
            super().__init__()
            self.progress, self.record, self.epochs = progress, record, epochs
            self.epoch = 0
            self.steps: int | None = None

        def on_train_begin(self, logs=None):
            self.steps = (self.params or {}).get("steps")
            self.progress.train_begin(self.record, self.epochs)

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self.progress.epoch_begin(self.record, epoch, self.epochs)

        def on_train_batch_end(self, batch, logs=None):
            if self.steps:
                self.progress.batch_end(self.epoch, min(1.0, (batch + 1) / self.steps))

        def on_epoch_end(self, epoch, logs=None):
            self.progress.epoch_end(self.record, epoch, self.epochs, logs or {})

    return EpochProgress
