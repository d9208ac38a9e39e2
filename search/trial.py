"""One trial: costs first, then fit with the reference recipe's callbacks, then evaluate.

:func:`run_trial` is the objective every tuner backend calls: it takes a candidate's values
and returns a :class:`TrialRecord`. It never imports a tuner library.
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search import builder, costs, tb_hparams
from search.budget import Budget
from search.candidate import Candidate
from search.errors import InfeasibleCandidate
from search.files import write_json_atomic
from search.records import COMPLETE, FAILED, INFEASIBLE, PRUNED, TrialRecord

# The reference recipe's step schedule: full rate for the first quarter of the epochs, then
# 5e-4, 1e-4 and 9.5e-5. Its base rate was 1e-3, so the steps are kept as fractions of the
# base rate (0.5, 0.1, 0.095): a searched learning rate keeps the recipe's shape.
STEP_FRACTIONS = (1.0, 0.5, 0.1, 0.095)


def step_learning_rate(base: float, epoch: int, epochs: int) -> float:
    """Learning rate of 0-based ``epoch`` out of ``epochs`` under the reference recipe's step
    schedule."""
    quarter = min(3, (4 * epoch) // max(1, epochs))
    return base * STEP_FRACTIONS[quarter]


#: Per trial: a backup of the last finished epoch (weights, optimizer state, epoch number and
#: the history so far), written at every epoch's end and removed when training ends. A trial
#: interrupted by Ctrl-C, ``kill -9`` or a power cut resumes from it.
BACKUP_DIR = "backup"
HISTORY_FILE = "history.json"
BEST_WEIGHTS = "best.weights.h5"  # the best epoch's weights (lowest validation MAE)
CHECKPOINT = "checkpoint.weights.h5"  # the last epoch's weights, as the seed kept them


@dataclass
class TrialContext:
    """What a trial needs besides its values: data, settings, where to write."""

    data: Any  # search.data.Data
    epochs: int
    patience: int
    seed: int
    run_dir: Path
    cost_cache: costs.CostCache | None = None
    budget: Budget = Budget()
    verbose: int = 0
    # (record with its costs measured, epochs it trains up to) -> more Keras callbacks, e.g.
    # a progress bar
    extra_callbacks: Callable[[TrialRecord, int], list] | None = None
    # record -> check(epoch, best val MAE so far) -> a reason to stop the trial, or None
    # (search.pruning.Pruner.for_trial); None: no pruning
    pruner: Callable[[TrialRecord], Callable[[int, float], str | None] | None] | None = None


def input_shape(values: Mapping[str, Any], data) -> tuple[int, int, int]:
    """The candidate's input: its own ``image_size`` if the space searches it, else the
    data's (see :class:`search.candidate.Candidate`)."""
    return Candidate(values, data.image_size).input_shape


def learning_rate(schedule: str, base: float, epoch: int, epochs: int) -> float:
    """Learning rate of 0-based ``epoch``: the reference recipe's steps, a cosine decay, or
    constant."""
    if schedule == "step":
        return step_learning_rate(base, epoch, epochs)
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, epochs)))
    return base


def clear_keras() -> None:
    """Reset Keras' global state (layer names, the session) before and after a trial. What
    TensorFlow keeps beyond that is bounded by the trial's process being replaced
    (search.trial_process)."""
    import keras

    keras.backend.clear_session(free_memory=False)


def freeze_startup_objects() -> None:
    """Exclude everything alive now (TensorFlow's modules, the decoded data) from garbage
    collection: the collections after each trial then look at the trial's own objects only
    (0.16 s each with TensorFlow loaded, about 1 s a trial before)."""
    gc.collect()
    gc.freeze()


def run_trial(trial_id: str, values: Mapping[str, Any], ctx: TrialContext,
             is_reference: bool = False, *, epochs: int | None = None, initial_epoch: int = 0,
             continues: str | None = None, pause: bool = False) -> TrialRecord:
    """Measure, train and evaluate one candidate; never raises for a trial-level problem.

    ``epochs`` (default ``ctx.epochs``) is the epoch the trial trains up to, counted over the
    whole trial; ``initial_epoch`` and ``continues`` start it from the weights of trial
    ``continues`` after that many epochs (Hyperband's later rounds). A trial whose backup
    exists (it was interrupted, or paused) resumes after the backup's epoch.

    ``pause``: ``epochs`` is a rung of a multi-fidelity search (:mod:`search.promotion`),
    not the trial's end. A trial that reaches it is recorded as paused (status "pruned",
    ``paused``; not tested, no model file) and keeps its epoch backup, so that a later call
    with a larger ``epochs`` goes on from it, optimizer state and all. A trial that early
    stopping ends before the rung is complete as usual.

    The record is written to ``run_dir/trials/<trial_id>/record.json`` before returning, so a
    search that dies later keeps it. A KeyboardInterrupt writes no record (the trial is not
    finished: the next run resumes it) and propagates.
    """
    import keras

    trial_dir = ctx.run_dir / "trials" / trial_id
    trial_dir.mkdir(parents=True, exist_ok=True)
    record = TrialRecord(trial_id=trial_id, status=FAILED, values=dict(values),
                         is_reference=is_reference, initial_epoch=initial_epoch,
                         continues_trial=continues, target_epochs=epochs)
    interrupted = False
    try:
        clear_keras()
        keras.utils.set_random_seed(ctx.seed)
        shape = input_shape(values, ctx.data)
        try:
            model = builder.build_model(values, shape, name=f"trial_{trial_id}")
        except InfeasibleCandidate as e:
            record.status, record.reason = INFEASIBLE, str(e)
            return record
        # Parameters and MACs are free to count: a candidate over those budgets is rejected
        # before any conversion.
        record.params, record.macs = int(model.count_params()), costs.count_macs(model)
        over = ctx.budget.violation(costs.Costs(record.params, 0, 0, 0.0, macs=record.macs))
        if over:
            record.status, record.reason = INFEASIBLE, over
            return record
        c = costs.cached(ctx.cost_cache, costs.architecture_key(values, shape))
        if c is None:  # measured now, before training (about 2 s): the trial waits
            t0 = time.perf_counter()
            c = costs.measure(model, values, shape, ctx.cost_cache,
                              deploy_dtype=ctx.budget.deploy_dtype)
            record.cost_seconds = record.cost_wait_seconds = time.perf_counter() - t0
        _record_costs(record, c)  # measured, or from the cache (which cost nothing now)
        over = ctx.budget.violation(c)
        if over:  # never trained: the phone could not run it
            record.status, record.reason = INFEASIBLE, over
            return record
        if continues is not None:
            model.load_weights(ctx.run_dir / "trials" / continues / "model.keras")

        t1 = time.perf_counter()
        target = epochs or ctx.epochs
        pruned = _fit(model, values, ctx, trial_dir, record, target,
                      pause=pause and target < ctx.epochs)
        record.train_seconds = time.perf_counter() - t1
        if record.val_mae is None or not math.isfinite(record.val_mae):
            record.status = FAILED
            record.reason = f"validation MAE is not a finite number ({record.val_mae})"
            return record
        if pruned is not None:
            record.status, record.reason = PRUNED, pruned
            return record
        model_path = trial_dir / "model.keras"
        tmp = trial_dir / ".model.keras.tmp.keras"
        model.save(tmp)
        tmp.replace(model_path)
        record.model_path = str(model_path.relative_to(ctx.run_dir))
        record.status = COMPLETE
        return record
    except KeyboardInterrupt:
        interrupted = True
        raise
    except Exception as e:  # a trial failure is recorded; the search goes on
        record.status = FAILED
        record.reason = f"{type(e).__name__}: {e}".splitlines()[0][:500]
        record.traceback = traceback.format_exc()
        return record
    finally:
        if not interrupted:
            record.save(trial_dir / "record.json")
            tb_hparams.write(trial_dir, record, ctx.data.image_size)  # TensorBoard's HParams
        clear_keras()


def _record_costs(record: TrialRecord, c: costs.Costs) -> None:
    record.params = c.params
    record.macs = c.macs
    record.latency_ms = c.latency_ms
    record.tflite_float32_bytes = c.tflite_float32_bytes
    record.tflite_float16_bytes = c.tflite_float16_bytes
    record.tflite_int8_bytes = c.tflite_int8_bytes


def backup_epoch(trial_dir: Path) -> int | None:
    """The last finished epoch in a trial's backup (1-based), or None without one."""
    for name in ("training_metadata.json", "training_metadata.json.bkp"):
        path = Path(trial_dir) / BACKUP_DIR / name
        try:
            return int(json.loads(path.read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return None


def prior_history(trial_dir: Path, epochs: int) -> dict[str, list[float]]:
    """The history saved with a backup, cut to the backup's ``epochs`` (the two files are
    written one after the other, so a kill between them can leave one epoch more)."""
    try:
        h = json.loads((trial_dir / BACKUP_DIR / HISTORY_FILE).read_text())
        return {str(k): [float(x) for x in v][:epochs] for k, v in h.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def callback_classes():
    """Small Keras callbacks of a trial (defined on first use: Keras loads lazily);
    :mod:`search.refit` backs up a refit's history with the first."""
    import keras

    class HistoryBackup(keras.callbacks.Callback):
        """Writes the history so far beside the backup at each epoch's end."""

        def __init__(self, path: Path, prior: dict[str, list[float]], with_lr: bool):
            super().__init__()
            self.path, self.history = path, {k: list(v) for k, v in prior.items()}
            self.with_lr = with_lr  # a scheduler adds the rate to the logs after this runs

        def on_epoch_end(self, epoch, logs=None):
            logs = dict(logs or {})
            if self.with_lr and "learning_rate" not in logs:
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(
                    self.model.optimizer.learning_rate))
            for k, v in logs.items():
                self.history.setdefault(k, []).append(float(v))
            write_json_atomic(self.path, self.history)

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        """Early stopping that counts the epochs before an interruption too."""

        def __init__(self, prior: list[float], **kw):
            super().__init__(**kw)
            self.prior = prior

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)
            for i, v in enumerate(self.prior):
                self.wait += 1
                if math.isfinite(v) and (self.best is None or v < self.best):
                    self.best, self.best_epoch, self.wait = v, i, 0

    class PruneWhenDominated(keras.callbacks.Callback):
        """Asks the pruner at each epoch's end (but the last); stops training if told why.

        ``start()`` gives the per-epoch check (or None: nothing can dominate this trial); it
        is called at the first epoch's end."""

        def __init__(self, start, prior: list[float], last_epoch: int):
            super().__init__()
            self.start, self.last_epoch = start, last_epoch
            self.check = None
            self.started = False
            finite = [x for x in prior if math.isfinite(x)]
            self.best = min(finite) if finite else math.inf
            self.reason: str | None = None
            self.epoch: int | None = None

        def on_epoch_end(self, epoch, logs=None):
            v = (logs or {}).get("val_mae")
            if v is not None and math.isfinite(float(v)):
                self.best = min(self.best, float(v))
            if epoch + 1 >= self.last_epoch or not math.isfinite(self.best):
                return
            if not self.started:
                self.started, self.check = True, self.start()
            if self.check is None:
                return
            why = self.check(epoch + 1, self.best)
            if why:
                self.reason, self.epoch = why, epoch + 1
                self.model.stop_training = True

    class EpochWeights(keras.callbacks.Callback):
        """The best epoch's weights and the last epoch's, as copies of the backup's weights
        file (written just before by BackupAndRestore, the callback before this one): one
        weights save an epoch, not three. ``model.save_weights`` costs 70-240 ms whatever
        the model's size (Keras walks every layer and optimizer variable); a copy of the
        file costs about 1 ms (benchmarks/throughput.py)."""

        def __init__(self, backup, best_path: Path, last_path: Path, prior_best: float):
            super().__init__()
            self.backup, self.best_path, self.last_path = backup, best_path, last_path
            self.best = prior_best

        def _write(self, path: Path) -> None:
            source = Path(getattr(self.backup, "_weights_path", ""))
            tmp = path.with_name(f".{path.name}.tmp.weights.h5")
            if source.name and source.is_file():
                shutil.copyfile(source, tmp)
            else:  # a Keras whose backup keeps its weights elsewhere: save them instead
                self.model.save_weights(tmp)
            tmp.replace(path)

        def on_epoch_end(self, epoch, logs=None):
            v = (logs or {}).get("val_mae")
            if v is not None and math.isfinite(float(v)) and float(v) < self.best:
                self.best = float(v)
                self._write(self.best_path)
            self._write(self.last_path)

    return HistoryBackup, ResumableEarlyStopping, PruneWhenDominated, EpochWeights


def _fit(model, values: Mapping[str, Any], ctx: TrialContext, trial_dir: Path,
         record: TrialRecord, epochs: int, pause: bool = False) -> str | None:
    """Train up to ``epochs`` (whole-trial count), resuming from a backup if one exists;
    evaluate the best epoch's weights. Returns why the trial was pruned (or paused at a
    rung: ``pause``, see :func:`run_trial`), or None."""
    import keras

    HistoryBackup, ResumableEarlyStopping, PruneWhenDominated, EpochWeights = callback_classes()
    v = builder.resolved(values)
    base_lr = float(v["learning_rate"])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=base_lr),
        loss="mae",  # the model outputs years, so the loss is the MAE in years
        metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
    )
    # Optimizer variables created here, eagerly, and not inside the first traced train step:
    # created there, TensorFlow wraps each one's initialiser in a conditional graph that is
    # never freed (about 12 MiB a trial at 32 px; benchmarks/trial_memory.py).
    model.optimizer.build(model.trainable_variables)
    backup = trial_dir / BACKUP_DIR
    best_path = trial_dir / BEST_WEIGHTS
    start = record.initial_epoch
    resumed = backup_epoch(trial_dir)
    if resumed is not None and resumed > start:
        record.resumed_from_epoch = resumed
        prior = prior_history(trial_dir, resumed - start)
    else:  # a fresh start: nothing left from an earlier attempt may leak in
        shutil.rmtree(backup, ignore_errors=True)
        best_path.unlink(missing_ok=True)
        prior = {}
    prior_val = prior.get("val_mae", [])
    finite_prior = [x for x in prior_val if math.isfinite(x)]
    # Kept after training when the trial pauses at a rung: the next rung goes on from it.
    backup_callback = keras.callbacks.BackupAndRestore(str(backup), double_checkpoint=True,
                                                       delete_checkpoint=not pause)
    callbacks: list = [
        # Before BackupAndRestore: a kill between the two writes leaves the history one
        # epoch ahead, which prior_history cuts, never behind.
        HistoryBackup(backup / HISTORY_FILE, prior, with_lr=v["lr_schedule"] != "constant"),
        backup_callback,
        # Right after it: the best and last weights are copies of the file it just wrote.
        EpochWeights(backup_callback, best_path, trial_dir / CHECKPOINT,
                     min(finite_prior) if finite_prior else math.inf),
        ResumableEarlyStopping(prior_val, monitor="val_mae", mode="min",
                               patience=ctx.patience),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(log_dir=str(trial_dir / "logs"), write_graph=False,
                                    profile_batch=0),
    ]
    schedule = v["lr_schedule"]
    if schedule != "constant":
        callbacks.append(keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: learning_rate(schedule, base_lr, epoch, ctx.epochs)))
    pruner = None
    if ctx.pruner is not None:
        pruner = PruneWhenDominated(lambda: ctx.pruner(record), prior_val, epochs)
        callbacks.append(pruner)
    if ctx.extra_callbacks:
        callbacks.extend(ctx.extra_callbacks(record, epochs))
    size = input_shape(values, ctx.data)[0]
    batch = int(values.get("batch_size", ctx.data.batch_size))
    val = ctx.data.dataset("val", image_size=size, batch_size=batch)
    hist = model.fit(
        ctx.data.dataset("train", image_size=size, batch_size=batch,
                         augment=float(v["augment"])),
        validation_data=val,
        epochs=epochs,
        initial_epoch=start,
        callbacks=callbacks,
        verbose=ctx.verbose,
    )
    h = {k: list(prior.get(k, [])) for k in prior}
    for k, vals in hist.history.items():
        h.setdefault(k, []).extend(float(x) for x in vals)
    record.history = h
    record.epochs_run = len(h.get("loss", []))
    curve = h.get("val_mae", [])
    finite = [(x, i) for i, x in enumerate(curve) if math.isfinite(x)]
    if not finite:
        record.val_mae = float("nan") if curve else None
        return None
    best, idx = min(finite)
    record.best_epoch = start + idx + 1
    if pruner is not None and pruner.reason is not None:
        record.pruned_at_epoch = pruner.epoch
        record.val_mae = float(best)  # the best so far; a pruned trial is not tested
        return pruner.reason
    if pause:
        if record.epochs_run >= epochs:  # reached the rung: wait there, backup kept
            record.paused = True
            record.pruned_at_epoch = epochs
            record.val_mae = float(best)
            return (f"paused at epoch {epochs} of {ctx.epochs}, a rung of the multi-fidelity "
                    "search: not (yet) among the best at that rung")
        shutil.rmtree(backup, ignore_errors=True)  # early stopping ended it: complete
    # The best epoch's weights (saved whenever validation MAE improved, before an
    # interruption too). Their validation MAE is the best epoch's, measured on these very
    # weights at that epoch's end: not measured again. The test split is predicted once:
    # its MAE, and its MAE by gender, ethnicity and age band (search.groups).
    record.val_mae = float(best)
    if best_path.exists():
        model.load_weights(best_path)
    else:  # no improvement was saved (a resumed trial whose best file was lost)
        record.val_mae = float(model.evaluate(val, verbose=0, return_dict=True)["mae"])
    predicted = ctx.data.predictions(model, "test", image_size=size, batch_size=batch)
    if predicted is None:  # files and predictions cannot be matched: the MAE alone
        test = ctx.data.dataset("test", image_size=size, batch_size=batch)
        record.test_mae = float(model.evaluate(test, verbose=0, return_dict=True)["mae"])
    else:
        from search import groups

        record.test_mae = float(np.mean(np.abs(predicted - ctx.data.ages("test"))))
        record.groups = groups.of_files(ctx.data.splits["test"], predicted)
    return None
