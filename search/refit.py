"""Refit: train a chosen trial's architecture again, from scratch, to ship it.

A search compares candidates on short trials: a few epochs on the training split, no
augmentation, early stopping on the validation split. That is the right way to rank them and
the wrong way to train the model that ships. A refit takes a trial's values (architecture,
learning rate, schedule, batch size) and trains them again:

- on the **training and validation splits together**: there is no validation split left, so
  no early stopping and no choice of the best epoch; the last epoch's weights are the model
  (re-centred: :func:`recentre`), and the record's ``val_mae`` stays None. The test split
  stays held out: its MAE and its MAE by gender, ethnicity and age band
  (:mod:`search.groups`) are measured once, at the end;
- for longer: :data:`EPOCHS_FACTOR` times the run's ``--epochs`` unless told, the trial's own
  learning-rate schedule stretched over them (the step schedule's quarters, the cosine
  decay);
- with augmentation suited to faces (:func:`search.data.refit_augmenter`: horizontal flips,
  small shifts and scales, brightness and contrast), strength :data:`DEFAULT_AUGMENT`;
- optionally **distilled** from a teacher (a complete trial or refit of the same run): the
  loss is ``w * |label - p| + (1 - w) * |teacher - p|`` (``w``: :data:`DEFAULT_LABEL_WEIGHT`)
  in years. The teacher's ages are computed once, on the un-augmented images at the
  teacher's own resolution, and ride along with each image's label through the shuffled,
  augmented pipeline. The augmentations keep a face's age, so the teacher's age of the clean
  image is the target the student should give every augmented copy; computing it once costs
  one teacher pass instead of one an epoch, and lets a teacher at 96 px teach a student at
  48 px without ever seeing a resized-up copy.

Each refit lives in ``RUN/refits/<refit id>/`` (``003-refit``, ``003-refit-distilled-ref``):
``record.json`` (a :class:`~search.records.TrialRecord` with ``refit_of``, ``teacher`` and
``refit`` set; never under ``trials/``, so it is never ranked as a trial) and ``model.keras``.
Like a trial it backs up every epoch (``backup/``): Ctrl-C or a kill, and the same command
goes on from the last finished epoch. A finished refit with the same settings is not trained
again; one with other settings (``--epochs``, ``--augment``, the teacher) is trained again
and replaces it.

Which trials are refit (``best``, ``knee``, ``front``, ids) is decided by
:mod:`search.board`, as for the leaderboard and export. This module trains in this process
(TensorFlow loaded), one refit after another.
"""

from __future__ import annotations

import json
import math
import numbers
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search import board, pareto
from search.errors import DamagedFile, UserError
from search.files import check_name, write_json_atomic
from search.records import COMPLETE, FAILED, REFITS_DIR, TrialRecord, load_records, load_refits

#: A refit trains this many times the run's ``--epochs`` unless told otherwise.
EPOCHS_FACTOR = 3
#: Augmentation strength of a refit (:func:`search.data.refit_augmenter`), 0 .. 1.
DEFAULT_AUGMENT = 0.25
#: With a teacher, the weight of the label in the loss (the teacher's age has 1 - this).
DEFAULT_LABEL_WEIGHT = 0.5
#: What a refit trains on.
SPLITS = ("train", "val")
#: Whole-run choices of ``--trial``, beside ids.
CHOICES = ("best", "knee", "front")
SETTINGS_FILE = "refit.json"  # in the backup folder: what the backup was trained with
#: The record's ``refit`` entry for the re-centring (:func:`recentre`): a step after
#: training, not a training setting, so left out when a record is matched against a plan;
#: ``--no-recentre`` or not, a finished refit is moved to match without training.
RECENTRED = "recentred"


class RefitInterrupted(KeyboardInterrupt):
    """Ctrl-C during a refit: its last finished epoch is backed up; the same command resumes
    it (a KeyboardInterrupt, so the command line exits with 130 and prints this one line)."""


@dataclass(frozen=True)
class Plan:
    """One refit to train: whose architecture, from which teacher, how."""

    trial: TrialRecord  # the trial whose values are trained again
    teacher: TrialRecord | None  # a complete trial or refit; None: labels only
    epochs: int
    augment: float
    label_weight: float | None  # None without a teacher
    seed: int | None = None  # None: the run's --seed
    recentre: bool = True  # take the median error on its own (clean) images out: recentre()

    @property
    def refit_id(self) -> str:
        return refit_id(self.trial.trial_id, self.teacher.trial_id if self.teacher else None,
                        self.seed)

    def settings(self, batch_size: int) -> dict[str, Any]:
        """How the refit trains (its record's ``refit`` field). ``seed`` only for a refit
        of another seed than the run's (records written before seeds existed still match)."""
        from search import builder

        v = builder.resolved(self.trial.values)
        out = {"epochs": self.epochs, "augment": self.augment,
               "label_weight": self.label_weight, "splits": list(SPLITS),
               "lr_schedule": v["lr_schedule"], "learning_rate": float(v["learning_rate"]),
               "batch_size": batch_size}
        if self.seed is not None:
            out["seed"] = self.seed
        return out


def refit_id(trial_id: str, teacher: str | None = None, seed: int | None = None) -> str:
    """The id (and folder name) of a trial's refit: ``003-refit``, ``003-refit-seed2`` (a
    copy trained with seed 2 instead of the run's), ``003-refit-distilled-ref``."""
    return (f"{trial_id}-refit" + (f"-seed{seed}" if seed is not None else "")
            + (f"-distilled-{teacher}" if teacher else ""))


def parse_seeds(text: str | int | Sequence[int] | None) -> list[int] | None:
    """``--seed`` of refit: one seed or several, comma-separated (``1,2,3``), or a list of
    them; None: the run's. :class:`UserError` for anything but whole numbers in the range
    of the run's ``--seed``."""
    from search.config import INT_LIMITS

    if text is None:
        return None
    low, high = INT_LIMITS["seed"]
    if isinstance(text, str):
        items: list[Any] = text.split(",")
    elif isinstance(text, (list, tuple)):
        items = list(text)
    else:
        items = [text]
    seeds: list[int] = []
    for item in items:
        if isinstance(item, bool):
            seed = None
        elif isinstance(item, numbers.Integral):
            seed = int(item)
        else:
            try:
                seed = int(str(item).strip())
            except ValueError:
                seed = None
        if seed is None or not low <= seed <= high:
            raise UserError(f"--seed {text!r}: expected a whole number from {low} to {high}, "
                            "or several separated by commas (1,2,3)")
        if seed not in seeds:
            seeds.append(seed)
    if not seeds:
        raise UserError(f"--seed {text!r}: names no seed; expected a whole number from {low} "
                        f"to {high}, or several separated by commas (1,2,3)")
    return seeds


def is_refit_id(name: str) -> bool:
    """Whether ``name`` reads as a refit's id rather than a trial's."""
    return "-refit" in name


# --- reading ------------------------------------------------------------------------------


def refits_of(run_dir: str | Path) -> dict[str, list[TrialRecord]]:
    """The refits of a run by the trial they refit: ``{"003": [<003-refit>, ...]}``. What
    the leaderboard shows beside each trial."""
    out: dict[str, list[TrialRecord]] = {}
    for r in load_refits(run_dir):
        out.setdefault(r.refit_of or "", []).append(r)
    return out


def leaderboard_entry(r: TrialRecord) -> dict[str, Any]:
    """What a leaderboard row's ``refits`` list holds for one refit (plain data)."""
    return {"refit_id": r.trial_id, "status": r.status, "teacher": r.teacher,
            "test_mae": r.test_mae, "epochs": r.epochs_run, "groups": r.groups,
            "settings": r.refit, "model_path": r.model_path, "reason": r.reason}


def row_fields(refits: Sequence[TrialRecord]) -> dict[str, Any]:
    """What a trial's leaderboard row gains from its refits: ``refits`` (each one's
    :func:`leaderboard_entry`) and ``refit_test_mae``, the test MAE (years) of its plain
    refit (``<id>-refit``, no teacher) when complete, else None. The plain one and not the
    lowest: choosing among refits by their test MAE would make it a validation figure."""
    plain = next((r for r in refits if r.teacher is None and r.status == COMPLETE
                  and (r.refit or {}).get("seed") is None), None)
    return {"refits": [leaderboard_entry(r) for r in refits],
            "refit_test_mae": None if plain is None else plain.test_mae}


# --- choosing -----------------------------------------------------------------------------


def _complete(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    return [r for r in records if r.status == COMPLETE and r.model_path]


def _ids(records: Sequence[TrialRecord]) -> str:
    return ", ".join(r.trial_id for r in records) or "none"


def choose(records: Sequence[TrialRecord], which: str,
           objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES) -> list[TrialRecord]:
    """The trials ``which`` names: ``best``, ``knee``, ``front`` (every member of the Pareto
    front, most accurate first), a trial id, or several, comma-separated. As the leaderboard
    ranks them (:mod:`search.board`). :class:`UserError` naming the complete trials there
    are otherwise."""
    done = _complete(records)
    if not done:
        raise UserError(f"the run has no complete trial to refit ({len(records)} trial(s) "
                        "recorded, none complete)")
    names = list(dict.fromkeys(w.strip() for w in str(which).split(",") if w.strip()))
    if not names:
        raise UserError(f"--trial {which!r} names no trial; expected "
                        f"{', '.join(CHOICES)} or a trial id ({_ids(done)})")
    b = board.build([done], objectives)
    out: list[TrialRecord] = []
    for name in names:
        if name == "best":
            picked = [b.best.record] if b.best else []
        elif name == "knee":
            picked = [b.knee.record] if b.knee else []
        elif name == "front":
            picked = [s.record for s in sorted(b.front, key=board.pareto_order)]
        else:
            record = next((r for r in records if r.trial_id == name), None)
            if record is None:
                raise UserError(f"unknown --trial {name!r}; complete trials: {_ids(done)} "
                                f"(or {', '.join(CHOICES)})")
            if record not in done:
                raise UserError(f"trial {name!r} is {record.status}, not complete"
                                + (f" ({record.reason})" if record.reason else "")
                                + f"; complete trials: {_ids(done)}")
            picked = [record]
        if not picked:
            raise UserError(f"--trial {name}: no trial is ranked (every complete trial lacks "
                            f"a measured objective); name an id: {_ids(done)}")
        out.extend(r for r in picked if r not in out)
    return out


def choose_teacher(records: Sequence[TrialRecord], refits: Sequence[TrialRecord],
                   which: str, objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES
                   ) -> TrialRecord:
    """The teacher ``which`` names: ``best`` (the best trial's own model), a trial id, or a
    refit id (``003-refit``: a refit makes a stronger teacher)."""
    name = str(which).strip()
    if name == "best":
        return choose(records, "best", objectives)[0]
    done = _complete(records) + _complete(refits)
    record = next((r for r in [*records, *refits] if r.trial_id == name), None)
    if record is None or record not in done:
        what = "unknown;" if record is None else f"{record.status}, not complete;"
        raise UserError(f"--teacher {name!r}: {what} expected 'best', a complete trial or "
                        f"a complete refit ({_ids(done)})")
    return record


def plan(run_dir: str | Path, trial: str = "best", *, epochs: int | None = None,
         teacher: str | None = None, augment: float | None = None,
         label_weight: float | None = None, log: Callable[[str], None] | None = None,
         seed: str | int | Sequence[int] | None = None, recentre: bool = True) -> list[Plan]:
    """The refits ``trial`` asks for, checked: :class:`UserError` for bad input, before
    TensorFlow loads. ``epochs`` default: :data:`EPOCHS_FACTOR` times the run's. ``seed``:
    one refit of each trial per seed (:func:`parse_seeds`); the run's seed gives the plain
    ``<id>-refit``, another ``<id>-refit-seed<N>``."""
    from search import runfiles
    from search.config import int_problem

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists() and not (run_dir / "trials").is_dir():
        raise UserError(f"{str(run_dir)!r} is not a run folder (no config.json); expected "
                        "results/<run>, as printed at the end of a search")
    if epochs is not None and (problem := int_problem("epochs", epochs)):
        raise UserError(f"--epochs {epochs!r}: {problem}")
    if augment is not None and not (_number(augment) and 0.0 <= float(augment) <= 1.0):
        raise UserError(f"--augment {augment!r}: expected a number from 0 (flips only) to 1")
    if label_weight is not None:
        if teacher is None:
            raise UserError(f"--label-weight {label_weight!r} weighs the labels against a "
                            "teacher's ages; give --teacher too")
        if not (_number(label_weight) and 0.0 <= float(label_weight) <= 1.0):
            raise UserError(f"--label-weight {label_weight!r}: expected a number from 0 "
                            "(the teacher's ages only) to 1 (the labels only)")
    seeds = parse_seeds(seed)
    cfg = runfiles.config(run_dir, "refit")
    damaged: list[DamagedFile] = []
    records = load_records(run_dir, damaged)
    if damaged:
        raise UserError(runfiles.record_line(damaged[0])
                        + ("" if len(damaged) == 1 else f" (and {len(damaged) - 1} more)")
                        + "; the trials chosen may depend on it")
    chosen = choose(records, trial)
    teach = None
    if teacher is not None:
        teach = choose_teacher(records, load_refits(run_dir), teacher)
        same = [r for r in chosen if r.trial_id == teach.trial_id]
        if same and len(chosen) == 1:
            raise UserError(f"--teacher {teacher!r} is trial {teach.trial_id}, the trial to "
                            "refit: a model cannot be distilled from itself; choose a larger "
                            "trial as teacher")
        if same and log is not None:
            log(f"trial {teach.trial_id} is the teacher: it is not distilled from itself "
                "(refit it without --teacher)")
        chosen = [r for r in chosen if r.trial_id != teach.trial_id]
    copies = [None if s == cfg.seed else s for s in seeds] if seeds else [None]
    for r in chosen:
        for s in copies:
            check_name(refit_id(r.trial_id, teach.trial_id if teach else None, s), "refit id")
    return [Plan(trial=r, teacher=teach,
                 epochs=epochs if epochs is not None else EPOCHS_FACTOR * cfg.epochs,
                 augment=DEFAULT_AUGMENT if augment is None else float(augment),
                 label_weight=(None if teach is None else DEFAULT_LABEL_WEIGHT
                               if label_weight is None else float(label_weight)), seed=s,
                 recentre=bool(recentre))
            for r in chosen for s in copies]


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


# --- training -----------------------------------------------------------------------------


def refit(run_dir: str | Path, trial: str = "best", *, epochs: int | None = None,
          teacher: str | None = None, augment: float | None = None,
          label_weight: float | None = None, console=None, verbose: int = 0,
          extra_callbacks: Sequence[Any] = (), seed: str | int | Sequence[int] | None = None,
          recentre: bool = True) -> list[TrialRecord]:
    """Refit the trials ``trial`` names (see :func:`plan`), one after another; return their
    records (complete, failed, or finished before and kept). Ctrl-C raises
    :class:`RefitInterrupted` after the last finished epoch's backup. ``extra_callbacks``:
    more Keras callbacks for every refit's training (after the backup's). ``recentre``:
    each refit's median error on its own training images is taken out of its ages
    (:func:`recentre`); a finished refit that is not as asked (re-centred, or not) is moved
    to match now, without training (:func:`shift_finished`)."""
    from search import data as data_mod
    from search import export, runfiles
    from search.quiet import load_tensorflow

    run_dir = Path(run_dir)

    def say(line: str) -> None:
        if console is not None:
            console.print(line, markup=False, highlight=False)

    plans = plan(run_dir, trial, epochs=epochs, teacher=teacher, augment=augment,
                 label_weight=label_weight, log=say, seed=seed, recentre=recentre)
    cfg = runfiles.config(run_dir, "refit")
    todo, late = [], []
    out: dict[str, TrialRecord] = {}
    for p in plans:
        done = finished(run_dir, p, cfg)
        if done is not None and p.recentre != is_recentred(done):
            late.append((p, done))
        elif done is not None:
            say(f"refit {p.refit_id}: done already (test MAE {done.test_mae:.2f} y); delete "
                f"{run_dir / REFITS_DIR / p.refit_id} to train it again")
            out[p.refit_id] = done
        else:
            todo.append(p)
    if todo or late:
        load_tensorflow()
        data = data_mod.load(cfg)
        matches = export.split_matches_run(run_dir, data)
        if matches is not True:
            say("warning: " + ("the data read now does not give the run's split (run.json)"
                               if not matches else f"{matches}, so the run's split cannot be "
                               "checked") + "; the refit trains and tests on the data as it "
                "is now")
        for p, done in late:
            out[p.refit_id] = shift_finished(run_dir, p, done, data, cfg, say)
        teachers: dict[str, np.ndarray] = {}
        for p in todo:
            if p.teacher is not None and p.teacher.trial_id not in teachers:
                teachers[p.teacher.trial_id] = teacher_ages(run_dir, p.teacher, data, cfg)
            rec = run_refit(run_dir, p, data, cfg, teachers.get(
                p.teacher.trial_id) if p.teacher else None, say, verbose, extra_callbacks)
            out[p.refit_id] = rec
    records = [out[p.refit_id] for p in plans]
    if console is not None:
        print_refits(records, {p.trial.trial_id: p.trial for p in plans}, console, run_dir)
    return records


def _batch_size(p: Plan, cfg) -> int:
    return int(p.trial.values.get("batch_size", cfg.batch_size))


def finished(run_dir: Path, p: Plan, cfg) -> TrialRecord | None:
    """The refit's record if it finished with these settings, else None."""
    try:
        r = TrialRecord.load(Path(run_dir) / REFITS_DIR / p.refit_id / "record.json")
    except (OSError, ValueError):
        return None
    settings = {k: v for k, v in (r.refit or {}).items() if k != RECENTRED}
    same = (r.status == COMPLETE and settings == p.settings(_batch_size(p, cfg))
            and _json(r.values) == _json(p.trial.values))
    return r if same else None


def _json(x: Any) -> Any:
    return json.loads(json.dumps(x))


def teacher_ages(run_dir: Path, teacher: TrialRecord, data, cfg) -> np.ndarray:
    """The teacher's ages (years) of every training and validation image, in the splits'
    order, un-augmented, at the teacher's own resolution."""
    from search import export

    size = export.trial_image_size(teacher, cfg)
    model = export.load_model(run_dir, teacher, size)
    parts = []
    for name in SPLITS:
        ages = data.predictions(model, name, image_size=size,
                                batch_size=int(teacher.values.get("batch_size", cfg.batch_size)))
        if ages is None:
            raise UserError(f"a file of the {name} split failed to decode, so the teacher's "
                            "ages cannot be matched to the images; fix or remove the file "
                            "(python run_search.py data names it)")
        parts.append(ages)
    return np.concatenate(parts)


def _distillation(label_weight: float):
    """The loss and the label MAE metric for targets ``[age, teacher's age]`` (years)."""
    import keras
    from keras import ops

    w = float(label_weight)

    def distillation_loss(y_true, y_pred):
        p = y_pred[:, 0]
        return (w * ops.abs(y_true[:, 0] - p) + (1.0 - w) * ops.abs(y_true[:, 1] - p))

    def label_mae(y_true, y_pred):
        return ops.abs(y_true[:, 0] - y_pred[:, 0])

    return distillation_loss, keras.metrics.MeanMetricWrapper(label_mae, name="mae")


def run_refit(run_dir: Path, p: Plan, data, cfg, teacher: np.ndarray | None,
              say: Callable[[str], None] = lambda line: None, verbose: int = 0,
              extra_callbacks: Sequence[Any] = ()) -> TrialRecord:
    """Train one refit, resuming from its backup; write and return its record. A failure of
    training is recorded (status failed, with its reason); Ctrl-C writes no record, keeps
    the backup and raises :class:`RefitInterrupted`."""
    import keras

    from search import builder, trial
    from search.trial import backup_epoch, callback_classes, clear_keras, prior_history

    folder = Path(run_dir) / REFITS_DIR / p.refit_id
    folder.mkdir(parents=True, exist_ok=True)
    batch = _batch_size(p, cfg)
    settings = p.settings(batch)
    t = p.trial
    rec = TrialRecord(trial_id=p.refit_id, status=FAILED, values=dict(t.values),
                      params=t.params, macs=t.macs, latency_ms=t.latency_ms,
                      tflite_float32_bytes=t.tflite_float32_bytes,
                      tflite_float16_bytes=t.tflite_float16_bytes,
                      tflite_int8_bytes=t.tflite_int8_bytes, target_epochs=p.epochs,
                      refit_of=t.trial_id, teacher=p.teacher.trial_id if p.teacher else None,
                      refit=settings)
    backup = folder / trial.BACKUP_DIR
    stamp = backup / SETTINGS_FILE
    try:
        kept = _json(json.loads(stamp.read_text())) == _json(settings)
    except (OSError, ValueError):
        kept = False
    if not kept:  # another refit's backup (other settings), or none: start afresh
        shutil.rmtree(backup, ignore_errors=True)
    resumed = backup_epoch(folder) if kept else None
    prior = prior_history(folder, resumed) if resumed else {}
    write_record = True
    t0 = time.perf_counter()
    try:
        clear_keras()
        seed = cfg.seed if p.seed is None else p.seed
        keras.utils.set_random_seed(seed)
        size = trial.input_shape(t.values, data)[0]
        model = builder.build_model(t.values, (size, size, 3), name=f"refit_{t.trial_id}")
        v = builder.resolved(t.values)
        base_lr = float(v["learning_rate"])
        if teacher is None:
            loss, metric = "mae", keras.metrics.MeanAbsoluteError(name="mae")
        else:
            loss, metric = _distillation(p.label_weight if p.label_weight is not None
                                         else DEFAULT_LABEL_WEIGHT)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=base_lr), loss=loss,
                      metrics=[metric])
        model.optimizer.build(model.trainable_variables)  # eagerly: see search.trial._fit
        backup.mkdir(parents=True, exist_ok=True)
        write_json_atomic(stamp, settings)
        if resumed:
            rec.resumed_from_epoch = resumed
            say(f"refit {p.refit_id}: resumed after epoch {resumed} of {p.epochs}")
        else:
            say(f"refit {p.refit_id}: trial {t.trial_id}'s architecture, {p.epochs} epochs on "
                f"train + val, augment {p.augment:g}"
                + (f", seed {p.seed}" if p.seed is not None else "")
                + (f", distilled from {p.teacher.trial_id} (label weight {p.label_weight:g})"
                   if p.teacher else ""))
        HistoryBackup = callback_classes()[0]
        schedule = v["lr_schedule"]
        callbacks: list = [
            HistoryBackup(backup / trial.HISTORY_FILE, prior, with_lr=schedule != "constant"),
            keras.callbacks.BackupAndRestore(str(backup), double_checkpoint=True),
            keras.callbacks.TerminateOnNaN(),
            _epoch_line(p, say),
            *extra_callbacks,
        ]
        if schedule != "constant":
            callbacks.append(keras.callbacks.LearningRateScheduler(
                lambda epoch, lr: trial.learning_rate(schedule, base_lr, epoch, p.epochs)))
        from search import data as data_mod

        train = data.joined_dataset(SPLITS, image_size=size, batch_size=batch,
                                    augmenter=data_mod.refit_augmenter(p.augment, seed),
                                    extra_target=teacher, shuffle_seed=seed)
        hist = model.fit(train, epochs=p.epochs, callbacks=callbacks, verbose=verbose)
        h = {k: list(vals) for k, vals in prior.items()}
        for k, vals in hist.history.items():
            h.setdefault(k, []).extend(float(x) for x in vals)
        rec.history = h
        rec.epochs_run = len(h.get("loss", []))
        last = h.get("loss", [math.nan])[-1] if h.get("loss") else math.nan
        if not math.isfinite(last) or rec.epochs_run < p.epochs:
            rec.reason = (f"training loss is not a finite number ({last}) after epoch "
                          f"{rec.epochs_run}")
            shutil.rmtree(backup, ignore_errors=True)
            return rec
        # The saved model is a plain one (MAE loss): it loads without this module.
        model.compile(loss="mae", metrics=[keras.metrics.MeanAbsoluteError(name="mae")])
        done = None
        if p.recentre:
            try:
                done = recentre(model, data, size, batch)
            except Exception as e:  # the trained model is kept; the next refit call retries
                say(f"refit {p.refit_id}: not re-centred: {_line(e)}")
        predicted = _test(rec, model, data, size, batch)
        if done is not None:  # the test ages before were these plus the years taken out
            before = (None if predicted is None or done["years"] is None else float(np.mean(
                np.abs(predicted + done["years"] - data.ages("test")))))
            rec.refit = {**settings, RECENTRED: {**done, "test_mae_before": before}}
        _save_model(model, folder)
        rec.model_path = str((folder / "model.keras").relative_to(run_dir))
        rec.status = COMPLETE
        return rec
    except KeyboardInterrupt:
        write_record = False  # not finished: no record; the backup resumes it
        epoch = backup_epoch(folder)
        raise RefitInterrupted(
            f"interrupted: refit {p.refit_id} stopped"
            + (f" after epoch {epoch} of {p.epochs} (backed up)" if epoch else "")
            + "; the same command resumes it") from None
    except Exception as e:
        rec.reason = f"{type(e).__name__}: {e}".splitlines()[0][:500]
        rec.traceback = traceback.format_exc()
        return rec
    finally:
        rec.train_seconds = time.perf_counter() - t0
        if write_record:
            rec.save(folder / "record.json")
            if rec.status == COMPLETE:
                say(f"refit {p.refit_id}: test MAE {rec.test_mae:.2f} y (trial "
                    f"{t.trial_id}: {_years(t.test_mae)}), {rec.train_seconds:.0f} s")
            else:
                say(f"refit {p.refit_id}: failed: {rec.reason}")
        clear_keras()


def _test(rec: TrialRecord, model, data, size: int, batch: int) -> np.ndarray | None:
    """The refit's test MAE (and by group, where images and labels match) into ``rec``;
    returns its test ages, or None when they cannot be matched to their labels."""
    predicted = data.predictions(model, "test", image_size=size, batch_size=batch)
    if predicted is None:
        test = data.dataset("test", image_size=size, batch_size=batch)
        rec.test_mae = float(model.evaluate(test, verbose=0, return_dict=True)["mae"])
    else:
        from search import groups

        rec.test_mae = float(np.mean(np.abs(predicted - data.ages("test"))))
        rec.groups = groups.of_files(data.splits["test"], predicted)
    return predicted


def _save_model(model, folder: Path) -> None:
    path = folder / "model.keras"
    tmp = folder / ".model.keras.tmp.keras"
    model.save(tmp)
    tmp.replace(path)


def recentre(model, data, size: int, batch: int) -> dict[str, Any] | None:
    """Take the model's median error on its own training images, unaugmented, out of its
    ages: ``years``, the median of (age predicted - label) over the refit's splits, is
    subtracted from the bias of the output layer (``age_fraction``, which
    ``Rescaling(AGE_SCALE)`` turns into years), so the model's weights and file size are
    unchanged. A refit learns on augmented faces (shifted, scaled, lighter, darker) and
    is then asked about plain ones; the wide refits answered 0.5-0.9 years high on them, on
    the images they trained on and on the test faces alike (docs/refit.md). Returns
    ``{"years", "images"}``; ``years`` None, with a ``reason``, where nothing could be done
    (a model without that output layer; no split whose images match their labels)."""
    try:
        model.get_layer("age_fraction")
        model.get_layer("age_years")
    except ValueError:
        return {"years": None, "images": 0,
                "reason": "no output layer age_fraction -> age_years to move"}
    errors = []
    for name in SPLITS:
        predicted = data.predictions(model, name, image_size=size, batch_size=batch)
        if predicted is not None:
            errors.append(predicted - data.ages(name))
    if not errors:
        return {"years": None, "images": 0,
                "reason": "no split's images could be matched to their labels"}
    err = np.concatenate(errors)
    years = float(np.median(err))
    _move(model, years)
    return {"years": years, "images": int(len(err))}


def _move(model, years: float) -> None:
    """Subtract ``years`` from every age ``model`` gives (its ``age_fraction`` bias)."""
    from search.builder import AGE_SCALE

    head = model.get_layer("age_fraction")
    head.bias.assign(head.bias - np.float32(years / AGE_SCALE))


def is_recentred(r: TrialRecord) -> bool:
    """Whether the refit went through :func:`recentre` (which may have found nothing to
    move: its ``years`` None, with the reason)."""
    return RECENTRED in (r.refit or {})


def _line(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def shift_finished(run_dir: Path, p: Plan, done: TrialRecord, data, cfg,
                   say: Callable[[str], None]) -> TrialRecord:
    """A finished refit made to match ``p.recentre`` without training: re-centred (one from
    before :func:`recentre` existed, or made with ``--no-recentre``), or its re-centring
    undone (asked for with ``--no-recentre``). Its model, test figures and record are
    rewritten; on an error the refit stays as it was, and is returned as it was."""
    import copy

    import keras

    from search import export
    from search.trial import clear_keras

    folder = Path(run_dir) / REFITS_DIR / p.refit_id
    batch = _batch_size(p, cfg)
    rec = copy.deepcopy(done)
    settings = {k: v for k, v in (rec.refit or {}).items() if k != RECENTRED}
    try:
        size = export.trial_image_size(rec, cfg)
        model = export.load_model(run_dir, rec, size)
        model.compile(loss="mae", metrics=[keras.metrics.MeanAbsoluteError(name="mae")])
        before = rec.test_mae
        if p.recentre:
            moved = recentre(model, data, size, batch)
            rec.refit = {**settings, RECENTRED: {**moved, "test_mae_before": before}}
        else:
            years = (rec.refit or {}).get(RECENTRED, {}).get("years")
            if years is not None:
                _move(model, -float(years))
            rec.refit = settings
        _test(rec, model, data, size, batch)
        # The model first: killed before the record is written, the next run re-centres
        # the saved model again, which moves it by its median error, now about 0.
        _save_model(model, folder)
        rec.save(folder / "record.json")
        if not p.recentre:
            what = "its re-centring undone (--no-recentre)"
        elif moved["years"] is None:
            what = f"not re-centred: {moved['reason']}"
        else:
            what = f"its ages re-centred on its training images ({-moved['years']:+.2f} y)"
        say(f"refit {p.refit_id}: done already; {what}: test MAE {_years(before)} -> "
            f"{_years(rec.test_mae)}")
        return rec
    except Exception as e:  # noqa: BLE001 - any failure leaves the finished refit usable
        say(f"refit {p.refit_id}: done already; left as it was: {_line(e)}")
        return done
    finally:
        clear_keras()


def _years(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.2f} y"


def _epoch_line(p: Plan, say: Callable[[str], None]):
    """A Keras callback that says one line per epoch: a refit has no live display."""
    import keras

    class EpochLine(keras.callbacks.Callback):
        """One line per epoch: the refit has no live display."""

        def __init__(self, p: Plan, say: Callable[[str], None]):
            super().__init__()
            self.p, self.say, self.t0 = p, say, time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.say(f"refit {self.p.refit_id}: epoch {epoch + 1}/{self.p.epochs}, train MAE "
                     f"{float(logs.get('mae', math.nan)):.2f} y, "
                     f"{time.perf_counter() - self.t0:.0f} s")

    return EpochLine(p, say)


# --- output -------------------------------------------------------------------------------


def print_refits(records: Sequence[TrialRecord], trials: dict[str, TrialRecord],
                 console, run_dir: str | Path = "RUN") -> None:
    """Each refit beside its trial: test MAE before and after, size, how it trained."""
    from rich.table import Table

    t = Table(title="Refits (trained on train + val; test split held out)",
              title_justify="left", header_style="bold")
    for col in ("refit", "trial", "teacher", "epochs", "trial test MAE", "refit test MAE",
                "change", "float16 KiB", "status"):
        t.add_column(col, justify="left" if col in ("refit", "trial", "teacher", "status")
                     else "right")
    for r in records:
        base = trials.get(r.refit_of or "")
        before = base.test_mae if base else None
        change = (r.test_mae - before if r.test_mae is not None and before is not None
                  else None)
        t.add_row(r.trial_id, r.refit_of or "-", r.teacher or "-", str(r.epochs_run),
                  _years(before), _years(r.test_mae),
                  "-" if change is None else f"{change:+.2f} y",
                  "-" if r.tflite_float16_kib is None else f"{r.tflite_float16_kib:.1f}",
                  r.status if r.status == COMPLETE else f"{r.status}: {r.reason}",
                  style=None if r.status == COMPLETE else "red")
    console.print(t)
    if any(r.status == COMPLETE for r in records):
        first = next(r for r in records if r.status == COMPLETE)
        console.print(f"ship one: python run_search.py export {run_dir} --trial "
                      f"{first.trial_id}",
                      markup=False, highlight=False)
