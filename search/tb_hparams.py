"""TensorBoard's HParams dashboard: each trial's hyperparameters and final figures.

``tensorboard --logdir results/<run>`` finds one *session* per trial, in the trial's log
folder (``trials/<id>/logs``, where Keras' TensorBoard callback writes the per-epoch
``epoch_loss`` and ``epoch_mae`` under ``train/`` and ``validation/``), as KerasTuner writes
one per trial: the hyperparameters (every value of the candidate, its resolution, whether it
is the reference) and, as scalars at the trial's last epoch, its final figures
(:data:`METRICS`). The HParams dashboard then lists, sorts and compares the trials.

Written with TensorBoard's own protobufs and event writer, no TensorFlow: a trial's worker
calls :func:`write` when the trial ends, and tests read the files without a model.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from search.records import INFEASIBLE, TrialRecord

#: Scalar tag -> (record field, what it is). Written at the trial's last epoch.
METRICS: dict[str, tuple[str, str]] = {
    "hparams/val_mae": ("val_mae", "validation MAE, years (best epoch)"),
    "hparams/test_mae": ("test_mae", "test MAE, years (best epoch's weights)"),
    "hparams/params": ("params", "parameters"),
    "hparams/tflite_float16_kib": ("tflite_float16_kib", "TFLite float16 file, KiB"),
    "hparams/macs": ("macs", "multiply-accumulates per image"),
    "hparams/latency_ms": ("latency_ms", "host CPU latency per image, ms"),
    "hparams/epochs": ("epochs_run", "epochs trained"),
}
LOGS = "logs"  # a trial's TensorBoard folder, under its trial folder


def hparams_of(record: TrialRecord, image_size: int | None = None) -> dict[str, Any]:
    """A trial's hyperparameters as TensorBoard takes them (bool, int, float or text):
    numbers and text as they are, anything else (lists, dicts) as JSON text."""
    out: dict[str, Any] = {}
    for name, v in record.values.items():
        if isinstance(v, bool | str) or (isinstance(v, int | float) and math.isfinite(v)):
            out[name] = v
        elif v is not None:
            out[name] = json.dumps(v, sort_keys=True)
    if image_size is not None and "image_size" not in out:
        out["image_size"] = int(image_size)
    out["is_reference"] = bool(record.is_reference)
    out["status"] = record.status
    return out


def write(trial_dir: Path, record: TrialRecord, image_size: int | None = None) -> Path | None:
    """Write ``record``'s session (hyperparameters, final figures) into
    ``trial_dir/logs``; return that folder, or None for a trial that never trained
    (infeasible), one paused at a rung (its session is written when it ends: TensorBoard
    keeps a session's first hyperparameters) or when it cannot be written: the HParams view
    is worth no trial."""
    if record.status == INFEASIBLE or not record.epochs_run or record.paused:
        return None
    try:
        return _write(Path(trial_dir) / LOGS, record, image_size)
    except Exception:  # noqa: BLE001 - a report, never a reason to fail a trained trial
        return None


def _write(log_dir: Path, record: TrialRecord, image_size: int | None) -> Path:
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import summary_v2
    from tensorboard.plugins.scalar import summary as scalar
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(log_dir), filename_suffix=".hparams")
    now = time.time()
    step = int(record.epochs_run)
    try:
        session = summary_v2.hparams_pb(hparams_of(record, image_size),
                                        trial_id=record.trial_id, start_time_secs=now)
        writer.add_event(event_pb2.Event(wall_time=now, step=0, summary=session))
        for tag, (name, _) in METRICS.items():
            v = getattr(record, name)
            if v is not None and math.isfinite(float(v)):
                writer.add_event(event_pb2.Event(wall_time=now, step=step,
                                                 summary=scalar.scalar_pb(tag, float(v))))
        writer.flush()
    finally:
        writer.close()
    return log_dir
