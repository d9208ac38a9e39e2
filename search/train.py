"""One trial: costs first, then fit with the seed's callbacks, then evaluate.

:func:`evaluate` is the objective every tuner backend calls: it takes a candidate's values
and returns a :class:`TrialRecord`. It never imports a tuner library.
"""

from __future__ import annotations

import gc
import math
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search import builder, costs
from search.errors import InfeasibleCandidate
from search.records import COMPLETE, FAILED, INFEASIBLE, TrialRecord

# The seed's step schedule: full rate for the first quarter of the epochs, then 5e-4, 1e-4
# and 9.5e-5. The seed's base rate was 1e-3, so the steps are kept as fractions of the base
# rate (0.5, 0.1, 0.095): a searched learning rate keeps the seed's shape.
STEP_FRACTIONS = (1.0, 0.5, 0.1, 0.095)


def step_learning_rate(base: float, epoch: int, epochs: int) -> float:
    """Learning rate of 0-based ``epoch`` out of ``epochs`` under the seed's step schedule."""
    quarter = min(3, (4 * epoch) // max(1, epochs))
    return base * STEP_FRACTIONS[quarter]


@dataclass
class TrialContext:
    """What a trial needs besides its values: data, settings, where to write."""

    data: Any  # search.data.Data
    epochs: int
    patience: int
    seed: int
    run_dir: Path
    cost_cache: costs.CostCache | None = None
    budget: costs.Budget = costs.Budget()
    verbose: int = 0
    extra_callbacks: Callable[[str], list] | None = None  # trial id -> Keras callbacks


def input_shape(values: Mapping[str, Any], data) -> tuple[int, int, int]:
    """The candidate's input: its own ``image_size`` if the space searches it."""
    size = int(values.get("image_size", data.image_size))
    return (size, size, 3)


def learning_rate(schedule: str, base: float, epoch: int, epochs: int) -> float:
    """Learning rate of 0-based ``epoch``: the seed's steps, a cosine decay, or constant."""
    if schedule == "step":
        return step_learning_rate(base, epoch, epochs)
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, epochs)))
    return base


def _clear() -> None:
    """Free what the previous trial allocated (graphs, models): memory stays flat."""
    import keras

    keras.backend.clear_session(free_memory=True)
    gc.collect()


def evaluate(trial_id: str, values: Mapping[str, Any], ctx: TrialContext,
             is_reference: bool = False) -> TrialRecord:
    """Measure, train and evaluate one candidate; never raises for a trial-level problem.

    The record is written to ``run_dir/trials/<trial_id>/record.json`` before returning, so a
    search that dies later keeps it.
    """
    import keras

    trial_dir = ctx.run_dir / "trials" / trial_id
    trial_dir.mkdir(parents=True, exist_ok=True)
    record = TrialRecord(trial_id=trial_id, status=FAILED, values=dict(values),
                         is_reference=is_reference)
    try:
        _clear()
        keras.utils.set_random_seed(ctx.seed)
        t0 = time.perf_counter()
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
            record.cost_seconds = time.perf_counter() - t0
            return record
        c = costs.measure(model, values, shape, ctx.cost_cache,
                          deploy_dtype=ctx.budget.deploy_dtype)
        record.params = c.params
        record.macs = c.macs
        record.latency_ms = c.latency_ms
        record.tflite_float32_bytes = c.tflite_float32_bytes
        record.tflite_float16_bytes = c.tflite_float16_bytes
        record.tflite_int8_bytes = c.tflite_int8_bytes
        record.cost_seconds = time.perf_counter() - t0
        over = ctx.budget.violation(c)
        if over:  # never trained: the phone could not run it
            record.status, record.reason = INFEASIBLE, over
            return record

        t1 = time.perf_counter()
        _fit(model, values, ctx, trial_id, trial_dir, record)
        record.train_seconds = time.perf_counter() - t1
        if record.val_mae is None or not math.isfinite(record.val_mae):
            record.status = FAILED
            record.reason = f"validation MAE is not a finite number ({record.val_mae})"
            return record
        model_path = trial_dir / "model.keras"
        tmp = trial_dir / ".model.keras.tmp.keras"
        model.save(tmp)
        tmp.replace(model_path)
        record.model_path = str(model_path.relative_to(ctx.run_dir))
        record.status = COMPLETE
        return record
    except Exception as e:  # a trial failure is recorded; the search goes on
        record.status = FAILED
        record.reason = f"{type(e).__name__}: {e}".splitlines()[0][:500]
        record.traceback = traceback.format_exc()
        return record
    finally:
        record.save(trial_dir / "record.json")
        _clear()


def _fit(model, values: Mapping[str, Any], ctx: TrialContext, trial_id: str, trial_dir: Path,
         record: TrialRecord) -> None:
    import keras

    v = builder.resolved(values)
    base_lr = float(v["learning_rate"])
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=base_lr),
        loss="mae",  # the model outputs years, so the loss is the MAE in years
        metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
    )
    callbacks: list = [
        keras.callbacks.EarlyStopping(monitor="val_mae", mode="min", patience=ctx.patience,
                                      restore_best_weights=True),
        keras.callbacks.ModelCheckpoint(str(trial_dir / "checkpoint.weights.h5"),
                                        save_weights_only=True, save_freq="epoch"),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(log_dir=str(trial_dir / "logs"), write_graph=False,
                                    profile_batch=0),
    ]
    schedule = v["lr_schedule"]
    if schedule != "constant":
        callbacks.append(keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: learning_rate(schedule, base_lr, epoch, ctx.epochs)))
    if ctx.extra_callbacks:
        callbacks.extend(ctx.extra_callbacks(trial_id))
    size = input_shape(values, ctx.data)[0]
    batch = int(values.get("batch_size", ctx.data.batch_size))
    val = ctx.data.dataset("val", image_size=size, batch_size=batch)
    hist = model.fit(
        ctx.data.dataset("train", image_size=size, batch_size=batch,
                         augment=float(v["augment"])),
        validation_data=val,
        epochs=ctx.epochs,
        callbacks=callbacks,
        verbose=ctx.verbose,
    )
    h = {k: [float(x) for x in vals] for k, vals in hist.history.items()}
    record.history = h
    record.epochs_run = len(h.get("loss", []))
    curve = h.get("val_mae", [])
    finite = [(x, i) for i, x in enumerate(curve) if math.isfinite(x)]
    if not finite:
        record.val_mae = float("nan") if curve else None
        return
    best, idx = min(finite)
    record.best_epoch = idx + 1
    # Weights are the best epoch's (restore_best_weights); evaluate them on val and test.
    record.val_mae = float(model.evaluate(val, verbose=0, return_dict=True)["mae"])
    test = ctx.data.dataset("test", image_size=size, batch_size=batch)
    record.test_mae = float(model.evaluate(test, verbose=0, return_dict=True)["mae"])
