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
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search.memory import rss_mib
from search.records import COMPLETE, INFEASIBLE, PRUNED, TrialRecord


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
        if not d.is_dir():
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


def eta(seconds_per_trial: list[float], left: int, running: int) -> float | None:
    """Seconds left: the mean trial time of this worker x trials left, spread over the
    workers now running (at least one); None before any trial has finished."""
    if left <= 0:
        return 0.0
    if not seconds_per_trial:
        return None
    mean = sum(seconds_per_trial) / len(seconds_per_trial)
    return mean * left / max(1, running)


class SearchProgress:
    """The search's display. Use as a context manager around the search; the pipeline calls
    :meth:`trial_started` and :meth:`trial_finished`, and the trial's worker process sends
    its epochs to :meth:`on_event` (through :func:`epoch_callback` there)."""

    def __init__(self, console, *, total: int, epochs: int, run_dir: Path,
                 live: bool | None = None):
        self.console = console
        self.total, self.epochs, self.run_dir = total, epochs, Path(run_dir)
        self.live = console.is_terminal if live is None else live
        self.t0 = time.monotonic()
        self.durations: list[float] = []
        self._trial_t0: float | None = None
        self._progress = None
        self._search_task = self._trial_task = None
        self.done, self.running, self.best = 0, 0, None
        self._last_logs: dict[str, float] = {}

    # -- lifetime ----------------------------------------------------------------------

    def __enter__(self) -> SearchProgress:
        self.t0 = time.monotonic()
        self._refresh_counts()
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=24),
                                      TextColumn("{task.fields[info]}"),
                                      console=self.console, transient=True)
            self._search_task = self._progress.add_task("search", total=self.total,
                                                        info=self.summary())
            self._trial_task = self._progress.add_task("trial", total=self.epochs,
                                                       info="", visible=False)
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # -- what the pipeline reports -----------------------------------------------------

    def summary(self) -> str:
        """``3/6 done, 1 running, 2 left, best 7.12 y, 1:05 elapsed, ~2:10 left, 812 MiB``
        (the last: this process's resident memory)."""
        left = max(0, self.total - self.done - self.running)
        best = "-" if self.best is None else f"{self.best:.2f} y"
        remaining = eta(self.durations, left + self.running, max(1, self.running))
        rss = rss_mib()
        return (f"{self.done}/{self.total} done, {self.running} running, {left} left, best "
                f"{best}, {clock(time.monotonic() - self.t0)} elapsed, ~{clock(remaining)} left"
                + ("" if rss is None else f", {rss:.0f} MiB"))

    def trial_started(self, trial_id: str, values: Mapping[str, Any]) -> None:
        from search.report import summarise_values

        self._trial_t0 = time.monotonic()
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
        self._trial_t0 = None
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
        if self._progress is not None:
            self._progress.update(self._trial_task, completed=epoch + 1,
                                  info=self._trial_info(epoch + 1, epochs, record))
            self._update_search()

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
            self._progress.update(self._search_task, completed=self.done, info=self.summary())


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
