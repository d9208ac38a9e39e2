"""Export trials as TFLite files a phone app can ship, with proof and figures for each file.

What is exported (``python run_search.py export RUN_DIR``):

- ``--trial best`` (the default: lowest validation MAE on the Pareto front), ``knee`` (see
  :func:`search.board.knee_trial`), a trial id, a refit id (``003-refit``, trained by
  :mod:`search.refit`), or several separated by commas; or a budget:
  ``--max-kib`` (TFLite float16 file size) and ``--max-latency-ms`` (host latency of the
  float16 file, one thread, measured here by converting candidates in order of validation MAE
  until one fits). A budget picks the lowest validation MAE that meets it. Best, knee and the
  budget's pick are the leaderboard's (:mod:`search.board`), ties broken the same way.
- ``--quantize``: any of :data:`search.convert.QUANTIZATIONS`, or ``all``.
- ``--flip``: each file averages the model's age of the face and of its mirror image
  (test-time flip augmentation: the same weights, twice the inference work), in
  ``trial_<id>-flip/``.
- ``--ensemble``: the chosen models (two or more, one input size) become **one** file that
  averages their ages (with ``--flip``, of the face and its mirror image too), in
  ``trial_<id>+<id>[...][-flip]/``; its size is the members' together. Typically several
  refits of one trial with other seeds (``refit --seed 2,3``).

Files, in ``<run>/export/trial_<id>/``::

    model_<format>.tflite   one per format asked for
    model.keras, model.h5   the trained Keras model (inference only, no optimizer state)
    model_card.json         input and output of each file, hyperparameters, the dataset's
                            account, verification and latency figures, test MAE by
                            gender, ethnicity and age band, intended use and limitations

Every TFLite file takes raw RGB pixels (0-255) at the training resolution and returns the age
in years: float32 pixels for float32, float16 and dynamic, uint8 pixels (scale 1, zero point
0) for int8. Each file is run in the LiteRT interpreter on the run's test split and compared
with the Keras model: float32 and float16 must match it within :data:`TOLERANCE_YEARS` (else
the export is not verified and the command exits with 1); dynamic and int8 are flagged when
their MAE is more than :data:`FLAG_LOSS_YEARS` worse.

A trial's files are written in a hidden staging folder beside their final place and moved
there only once all are written, replacing an earlier export of the same trial whole: an
export that fails leaves nothing half-written, and a model card always describes the files
beside it. Model paths are read from the trial records, relative to the run folder, so a run
folder trained on another machine and copied here exports as is.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import shutil
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from search import board, groups, interpreter, runfiles
from search.budget import Budget
from search.candidate import Candidate
from search.config import DEFAULT_IMAGE_SIZE, RunConfig
from search.convert import QUANTIZATIONS, to_tflite, to_tflite_all
from search.errors import DamagedFile, UserError
from search.files import read_json, writable_folder, write_json_atomic
from search.quiet import load_tensorflow
from search.records import COMPLETE, TrialRecord, load_records, load_refits

#: |MAE(TFLite) - MAE(Keras)| allowed on the verification images, in years; else not verified.
TOLERANCE_YEARS = {"float32": 0.01, "float16": 0.05}
#: dynamic and int8 are flagged when MAE(TFLite) - MAE(Keras) exceeds this many years.
FLAG_LOSS_YEARS = 0.5
DEFAULT_QUANTIZE = ("float32", "float16")
DEFAULT_CALIBRATION_IMAGES = 200
THREADS = (1, 4)  # interpreter threads latency is measured with
CARD_SCHEMA_VERSION = 1


# --------------------------------------------------------------------------- choosing


def parse_quantize(text: str) -> list[str]:
    """``"float32,int8"`` -> ``["float32", "int8"]``; ``"all"`` -> every format."""
    names = [q.strip().lower() for q in text.split(",") if q.strip()]
    if names == ["all"]:
        return list(QUANTIZATIONS)
    bad = [q for q in names if q not in QUANTIZATIONS]
    if bad or not names:
        raise UserError(f"--quantize {text!r}: {'unknown ' + repr(bad[0]) if bad else 'empty'}; "
                        f"expected a comma-separated list of {', '.join(QUANTIZATIONS)} "
                        "(or 'all')")
    return list(dict.fromkeys(names))


def _ids(records: Sequence[TrialRecord]) -> str:
    return ", ".join(r.trial_id for r in records) or "none"


def _complete(records: Sequence[TrialRecord]) -> list[TrialRecord]:
    return [r for r in records if r.status == COMPLETE and r.model_path]


def choose(records: Sequence[TrialRecord], which: str,
           refits: Sequence[TrialRecord] = ()) -> list[TrialRecord]:
    """The trials ``which`` names: ``best``, ``knee``, a trial id, a refit id (of
    ``refits``: :func:`search.records.load_refits`), or several, comma-separated.

    Raises :class:`UserError` naming what was asked and the complete trials there are.
    """
    done = _complete(records)
    if not done:
        raise UserError("the run has no finished trial to export "
                        f"({len(records)} trial(s) recorded, none complete)")
    names = list(dict.fromkeys(w.strip() for w in which.split(",") if w.strip()))
    if not names:
        raise UserError(f"--trial {which!r} names no trial; expected 'best', 'knee' or trial "
                        f"ids ({_ids(done)})")
    out: list[TrialRecord] = []
    for name in names:
        if name == "best":
            record = board.best(done)
        elif name == "knee":
            record = board.knee_trial(done)
        else:
            record = next((r for r in [*records, *refits] if r.trial_id == name), None)
            if record is None:
                more = _complete(refits)
                raise UserError(f"unknown --trial {name!r}; complete trials: {_ids(done)} "
                                "(or 'best', 'knee')"
                                + (f"; complete refits: {_ids(more)}" if more else ""))
            if record not in done and record not in _complete(refits):
                raise UserError(f"trial {name!r} is {record.status}, not complete"
                                + (f" ({record.reason})" if record.reason else "")
                                + f"; complete trials: {_ids(done)}")
        assert record is not None  # complete trials always have a front
        if record not in out:
            out.append(record)
    return out


def choose_within_budget(records: Sequence[TrialRecord], max_kib: float | None,
                         max_latency_ms: float | None,
                         latency_ms: Callable[[TrialRecord], float] | None) -> TrialRecord:
    """Lowest validation MAE within the budgets (see :func:`search.board.within_budget`), or a
    :class:`UserError` saying what exists. ``latency_ms`` measures a trial's latency; without
    it, the recorded figure counts."""
    for flag, value in (("--max-kib", max_kib), ("--max-latency-ms", max_latency_ms)):
        if value is not None and not value > 0:
            raise UserError(f"{flag} must be a positive number, got {value}")
    done = _complete(records)
    if not done:
        raise UserError("the run has no finished trial to export "
                        f"({len(records)} trial(s) recorded, none complete)")
    measured: dict[str, float] = {}

    def timed(r: TrialRecord) -> float:
        assert latency_ms is not None
        measured[r.trial_id] = latency_ms(r)
        return measured[r.trial_id]

    chosen = board.within_budget(done, Budget(max_kib=max_kib, max_latency_ms=max_latency_ms),
                                 timed if latency_ms else None)
    if chosen is not None:
        return chosen
    asked = " and ".join(
        f"{flag} {v:g} ({what})" for flag, v, what in (
            ("--max-kib", max_kib, "TFLite float16 file size"),
            ("--max-latency-ms", max_latency_ms, "float16 file, host, 1 thread"))
        if v is not None)
    trials = "; ".join(
        f"{r.trial_id}: {(r.tflite_float16_bytes or 0) / 1024:.1f} KiB"
        + (f", {measured[r.trial_id]:.3f} ms" if r.trial_id in measured else "")
        + f", val MAE {r.val_mae:.2f} y"
        for r in sorted(done, key=lambda r: r.tflite_float16_bytes or 0))
    raise UserError(f"no complete trial meets {asked}; complete trials, smallest first: "
                    f"{trials}")


# --------------------------------------------------------------------------- loading


def model_file(run_dir: Path, record: TrialRecord) -> Path:
    """Where a trial's Keras model is: its record's path, relative to the run folder.

    A run folder copied from another machine keeps working: a relative path resolves inside
    the copy, and an absolute path that does not exist here falls back to the standard
    ``trials/<id>/model.keras``.
    """
    recorded = Path(record.model_path or "")
    path = recorded if recorded.is_absolute() else run_dir / recorded
    standard = (run_dir / ("refits" if record.refit_of else "trials") / record.trial_id
                / "model.keras")
    if not path.is_file() and standard.is_file():
        return standard
    if not path.is_file():
        raise UserError(f"trial {record.trial_id}: its model {str(path)!r} does not exist; "
                        "copy the run folder with its trials/ folder")
    return path


def load_model(run_dir: Path, record: TrialRecord, image_size: int):
    """The trial's trained Keras model, or a :class:`UserError` if it is missing or corrupt."""
    import keras

    path = model_file(run_dir, record)
    if not zipfile.is_zipfile(path):
        raise UserError(f"trial {record.trial_id}: {str(path)!r} is not a Keras model (not a "
                        f".keras zip archive, {path.stat().st_size} bytes); the checkpoint is "
                        "corrupt or truncated")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        raise UserError(f"trial {record.trial_id}: cannot load {str(path)!r} ({reason}); the "
                        "checkpoint is corrupt") from None
    want = (image_size, image_size, 3)
    if tuple(model.input_shape[1:]) != want:
        raise UserError(f"trial {record.trial_id}: {str(path)!r} takes input "
                        f"{list(model.input_shape[1:])}, expected {list(want)} as the run's "
                        "--image-size")
    return model


def trial_image_size(record: TrialRecord, cfg: RunConfig) -> int:
    """The trial's input resolution: its own if the space searched it, else the run's."""
    return Candidate(record.values, cfg.image_size or DEFAULT_IMAGE_SIZE).image_size


def matching_files(data, split: str, ages: np.ndarray) -> list[Any] | None:
    """The files of ``split`` that images read in order from it (:func:`split_images`) came
    from, or None when they cannot be matched: their ages are not the first files' ages (a
    file that failed to decode was dropped by the pipeline)."""
    files = data.splits[split][: len(ages)]
    same = len(files) == len(ages) and np.array_equal(
        np.asarray([f.age for f in files], dtype=np.float32), np.asarray(ages, np.float32))
    return files if same else None


def split_images(data, split: str, count: int | None,
                 image_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` images of a split (uint8 pixels, as in training) and their ages."""
    ds = data.dataset(split, training=False, image_size=image_size).unbatch()
    if count is not None:
        ds = ds.take(count)
    xs, ys = [], []
    for x, y in ds.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    if not xs:
        raise UserError(f"the run's {split} split holds no readable image")
    return np.stack(xs).astype(np.uint8), np.array(ys, dtype=np.float32)


# --------------------------------------------------------------------------- averaging


def averaged(models: Sequence[Any], flip: bool, name: str):
    """One Keras model whose age is the mean of ``models``' ages (same input shape), each
    also of the mirrored image when ``flip``: what ``--ensemble`` and ``--flip`` export.
    Built of the members themselves (shared weights) and Keras ops only, so it saves, loads
    and converts like any model. The face and its mirror image go through each member as
    one batch of two: one call of each member, so the converter keeps one copy of its
    weights (two calls gave the int8 file a second, differently quantized copy of some)."""
    import keras

    inp = keras.Input(shape=tuple(models[0].input_shape[1:]), name="pixels")
    x = keras.ops.concatenate([inp, keras.ops.flip(inp, axis=2)], axis=0) if flip else inp
    # each member under a name of its own (refits of one trial share theirs): its layers
    members = [keras.Model(m.input, m.output, name=f"member_{i}")
               for i, m in enumerate(models, 1)]
    ages = [m(x) for m in members]
    if flip:  # [face ages; mirror ages] -> their mean, one per face
        ages = [keras.ops.mean(keras.ops.reshape(a, (2, -1, 1)), axis=0) for a in ages]
    out = ages[0] if len(ages) == 1 else keras.layers.Average(name="mean_age")(ages)
    return keras.Model(inp, out, name=name)


def _check_ensemble(chosen: Sequence[TrialRecord], how: str, cfg: RunConfig) -> None:
    """--ensemble needs two or more models of one input size."""
    if len(chosen) < 2:
        raise UserError(f"--ensemble with --trial {how!r}: {len(chosen)} model chosen, "
                        "expected two or more to average (e.g. --trial 003-refit,"
                        "003-refit-seed2)")
    if len({trial_image_size(r, cfg) for r in chosen}) > 1:
        sizes = ", ".join(f"{r.trial_id} {trial_image_size(r, cfg)} px" for r in chosen)
        raise UserError(f"--ensemble: the models take different input sizes ({sizes}); "
                        "expected one size, the file's input")


def averaged_id(records: Sequence[TrialRecord], flip: bool) -> str:
    """The id (and export folder, ``trial_<id>``) of an averaged model: the members' ids
    joined by ``+``, then ``-flip`` with the mirror image."""
    return "+".join(r.trial_id for r in records) + ("-flip" if flip else "")


def averaged_record(records: Sequence[TrialRecord], flip: bool) -> TrialRecord:
    """The record a model card describes for an averaged model: one member's, renamed, with
    the members' parameters added up (an ensemble has no trial of its own: its ``averaging``
    entry lists the members)."""
    if len(records) == 1:  # its figures (MAE, groups) are the model's without the flip
        return replace(records[0], trial_id=averaged_id(records, flip), groups=None)
    params = [r.params for r in records]
    return TrialRecord(trial_id=averaged_id(records, flip), status=COMPLETE, values={},
                       params=sum(params) if all(p is not None for p in params) else None,
                       macs=None, model_path=None)


def averaging_card(records: Sequence[TrialRecord], flip: bool) -> dict[str, Any] | None:
    """The model card's ``averaging`` entry: None for one model as trained; else its
    members (id, refit of, test MAE, parameters, hyperparameters) and whether the mirror
    image is averaged too."""
    if len(records) == 1 and not flip:
        return None
    n = len(records)
    passes = n * (2 if flip else 1)
    what = (f"the mean of {n} models' ages" if n > 1 else "the model's age")
    return {
        "members": [{"id": r.trial_id, "refit_of": r.refit_of, "test_mae": r.test_mae,
                     "params": r.params, "hyperparameters": dict(r.values),
                     "refit": refit_card(r)} for r in records],
        "flip": flip,
        "note": (f"one file computing {what}"
                 + (" of the face and of its mirror image (test-time flip)" if flip else "")
                 + f": {passes} passes of the network(s) an image, so about {passes} times "
                 "the inference work of one"
                 + ("; its size is the members' together" if n > 1 else
                    "; the same weights and size; the card's trial figures are the model's "
                    "own, without the flip")),
    }


# --------------------------------------------------------------------------- converting


def convert(model, quantize: Sequence[str], calibration: np.ndarray | None = None
            ) -> dict[str, bytes]:
    """TFLite files (bytes) of ``model`` in each format, from one SavedModel export."""
    return to_tflite_all(model, tuple(quantize), calibration)


def int8_choice(model, members: Mapping[str, Any], flip: bool, calibration: np.ndarray,
                as_trained: bytes, *, equalize: bool = True, correct: bool = True
                ) -> tuple[bytes, dict[str, Any] | None, dict[str, float] | None]:
    """The int8 file to ship, and the card's account of the choice.

    ``as_trained`` is ``model`` converted as it is. With ``equalize`` the model is also
    converted from its equalized copy (:func:`equalized_copy`). With ``correct`` each file's
    median error against the Keras model on the calibration images is taken out of its
    output (:func:`bias_corrected`): the shift that brings it closest to the Keras model
    there, by the measure the choice uses. Of the files made, the one closer to the Keras model on the
    calibration images (mean absolute difference, years; no labels used) is shipped, the
    as-trained file on a tie. Returns the file, the equalizing account (None when off) and
    each file's correction in years (None when off)."""
    want = np.asarray(model.predict(calibration.astype(np.float32), verbose=0)).reshape(-1)
    candidates: dict[str, tuple[Any, bytes]] = {"as_trained": (model, as_trained)}
    done = None
    if equalize:
        twin, done = equalized_copy(members, flip, calibration)
        candidates["equalized"] = (twin, to_tflite(twin, "int8", calibration))
    files, bias = {}, {}
    for name, (m, blob) in candidates.items():
        files[name] = blob
        if correct:
            files[name], bias[name] = bias_corrected(m, blob, calibration, want)
    diff = {name: float(np.mean(np.abs(interpreter.predict(blob, calibration).reshape(-1)
                                       - want)))
            for name, blob in files.items()}
    chosen = min(diff, key=diff.__getitem__)  # the first, as trained, on a tie
    equalized = None if done is None else {
        # unrounded: the figures the choice was made on (after any bias correction)
        "kept": chosen == "equalized", "calibration_mean_abs_diff_years": diff,
        "members": done}
    return files[chosen], equalized, (bias if correct else None)


def bias_corrected(model, blob: bytes, calibration: np.ndarray, want: np.ndarray
                   ) -> tuple[bytes, float]:
    """``model``'s int8 file with its steady error on the calibration images taken out:
    ``b``, the median of (int8 file's age - Keras model's age ``want``) over them, is
    subtracted from the model's output before it is converted again (the same calibration,
    so every tensor keeps its range). Rounding to int8 shifts a network's output by a steady
    amount (up to 1.5 years either way on the wide refits of docs/refit.md): the bias
    correction of Nagel et al. 2019, done once, at the output. The median, not the mean:
    of all shifts it gives the least mean absolute difference from Keras, the measure
    :func:`int8_choice` ships by. Returns the new file and ``b``."""
    b = float(np.median(interpreter.predict(blob, calibration).reshape(-1) - want))
    return to_tflite(shifted(model, b), "int8", calibration), b


def shifted(model, years: float):
    """``model`` with ``years`` subtracted from its age: one Rescaling (scale 1, offset)
    on its output, the rest its own layers and weights."""
    import keras

    out = keras.layers.Rescaling(1.0, offset=-years, name="int8_bias_correction")(
        model.output)
    return keras.Model(model.input, out, name=model.name)


def equalized_copy(members: Mapping[str, Any], flip: bool, calibration: np.ndarray
                   ) -> tuple[Any, dict[str, Any]]:
    """The model to convert to int8: each member equalized (:mod:`search.equalize`) on the
    calibration images (and their mirror images with ``flip``), averaged as the exported
    model is; and what was done, per member id."""
    from search import equalize

    pixels = np.concatenate([calibration, calibration[:, :, ::-1]]) if flip else calibration
    copies, done = [], {}
    for member_id, m in members.items():
        twin, what = equalize.equalized(m, pixels)
        copies.append(twin)
        done[member_id] = what
    if len(copies) == 1 and not flip:
        return copies[0], done
    return averaged(copies, flip, name="averaged"), done


def verify(blob: bytes, quantize: str, images: np.ndarray, ages: np.ndarray,
           keras_pred: np.ndarray, latency_runs: int = interpreter.TIMED_RUNS,
           faces: Sequence[Any] | None = None) -> dict[str, Any]:
    """Run a TFLite file on ``images`` and time it: the figures a model card reports.

    MAE and differences are in years, latency in milliseconds (median per image, host CPU),
    sizes in bytes and KiB. ``faces``: the images' files (:class:`search.data.FaceFile`), in
    order, for the file's MAE by group (``groups``; None without them).
    """
    pred = interpreter.predict(blob, images)
    keras_mae = float(np.mean(np.abs(keras_pred - ages)))
    mae = float(np.mean(np.abs(pred - ages)))
    change = mae - keras_mae
    if quantize in TOLERANCE_YEARS:
        limit, gate = TOLERANCE_YEARS[quantize], "must match Keras"
        ok = abs(change) <= limit
    else:
        limit, gate = FLAG_LOSS_YEARS, "flagged if worse than Keras"
        ok = change <= limit
    return {
        "bytes": len(blob),
        "kib": len(blob) / 1024,
        "mae_years": mae,
        "keras_mae_years": keras_mae,
        "mae_change_years": change,
        "max_abs_diff_years": float(np.max(np.abs(pred - keras_pred))),
        "limit_years": limit,
        "gate": gate,
        "within_limit": bool(ok),
        "status": "ok" if ok else ("failed" if quantize in TOLERANCE_YEARS else "flagged"),
        "latency_ms": {f"threads_{t}": interpreter.latency_ms(blob, images[0], t, latency_runs)
                       for t in THREADS},
        "groups": None if faces is None else groups.of_files(faces, pred),
    }


def host() -> dict[str, Any]:
    """The machine latency was measured on."""
    from importlib import metadata

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {"system": platform.system(), "machine": platform.machine(),
            "processor": platform.processor() or None, "cpus": os.cpu_count(),
            "ai_edge_litert": version("ai-edge-litert"), "tensorflow": version("tensorflow")}


# --------------------------------------------------------------------------- writing


@contextlib.contextmanager
def staged_folder(final: Path) -> Iterator[Path]:
    """A hidden, empty staging folder beside ``final``.

    On success it replaces ``final`` whole (an earlier folder is renamed away first, then
    removed); on any failure it is removed and ``final`` is left as it was.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    shutil.rmtree(old, ignore_errors=True)


def save_keras(model, folder: Path) -> dict[str, str]:
    """``model.keras`` and, for the reference recipe's workflow, legacy ``model.h5`` (load it with
    ``compile=False``)."""
    import absl.logging

    model.save(folder / "model.keras")
    level = absl.logging.get_verbosity()
    absl.logging.set_verbosity(absl.logging.ERROR)  # the "HDF5 is legacy" warning: we know
    try:
        model.save(folder / "model.h5")
    finally:
        absl.logging.set_verbosity(level)
    return {"keras": "model.keras", "h5": "model.h5"}


@dataclass(frozen=True)
class Settings:
    """How an export runs (the command's flags, checked)."""

    quantize: tuple[str, ...] = DEFAULT_QUANTIZE
    samples: int | None = None  # test images used to verify; None = all
    calibration_images: int = DEFAULT_CALIBRATION_IMAGES
    latency_runs: int = interpreter.TIMED_RUNS
    equalize: bool = True  # int8: also try equalized channel ranges (search.equalize)
    bias_correction: bool = True  # int8: take each file's median error out (bias_corrected)

    def check(self) -> None:
        for flag, value in (("--samples", self.samples),
                            ("--calibration-images", self.calibration_images),
                            ("--latency-runs", self.latency_runs)):
            if value is not None and value < 1:
                raise UserError(f"{flag} must be at least 1, got {value}")
        parse_quantize(",".join(self.quantize))


def model_card(*, run: str, record: TrialRecord, selected_by: str, files: Mapping[str, Any],
               keras_files: Mapping[str, str], images: int, test_images: int,
               split_matches_run: bool, calibration_images: int | None, dataset: Mapping,
               settings: Settings, machine: Mapping[str, Any],
               by_group: Mapping[str, Any] | None = None,
               averaging: Mapping[str, Any] | None = None,
               equalized: Mapping[str, Any] | None = None,
               bias_correction: Mapping[str, float] | None = None) -> dict[str, Any]:
    """What ``model_card.json`` holds (plain data; no I/O). ``by_group``: the Keras model's
    MAE by group on the verification images (:mod:`search.groups`); without it, the trial's
    own on the test split (its record's), if it has one."""
    required = [f["within_limit"] for q, f in files.items() if q in TOLERANCE_YEARS]
    if by_group is not None:
        group_source = f"the Keras model on the {images} verification images of the test split"
    elif groups.is_breakdown(record.groups):
        by_group = record.groups
        group_source = "the trial's record: the Keras model on the run's test split"
    else:
        group_source = None
    return {
        "schema_version": CARD_SCHEMA_VERSION,
        "task": "age estimation from a cropped face photo",
        "run": run,
        "trial_id": record.trial_id,
        "selected_by": selected_by,
        "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "preprocessing": "crop the face, resize to the input's height x width (area "
                         "interpolation), RGB order, no normalisation: scaling to years and "
                         "from pixels happens inside the model",
        "output": {"shape": [1, 1], "dtype": "float32", "unit": "years"},
        "files": dict(files),
        "keras_files": dict(keras_files),
        "hyperparameters": dict(record.values),
        "trial": {k: getattr(record, k) for k in (
            "val_mae", "test_mae", "params", "epochs_run", "best_epoch", "is_reference",
            "model_path")},
        "refit": refit_card(record),
        # None, or the members averaged and whether the mirror image is (averaging_card)
        "averaging": None if averaging is None else dict(averaging),
        "verification": {
            "split": "test",
            "images": images,
            "split_images": test_images,
            "split_matches_run": split_matches_run,
            "calibration": (None if calibration_images is None else
                            {"split": "train", "images": calibration_images,
                             # int8 only: search.equalize, per member; None when off
                             "equalized": None if equalized is None else dict(equalized),
                             # int8 only: years taken out of each file's output; None: off
                             "bias_correction_years": (None if bias_correction is None
                                                       else dict(bias_correction))}),
            "tolerance_years": dict(TOLERANCE_YEARS),
            "flag_loss_years": FLAG_LOSS_YEARS,
            "latency": {"warmup_runs": interpreter.WARMUP_RUNS,
                        "timed_runs": settings.latency_runs, "statistic": "median",
                        "host": dict(machine)},
        },
        "dataset": dict(dataset),
        "verified": all(required),
        # MAE (years) and images of each gender, ethnicity and age band; each file's own
        # are in files.<format>.groups
        "groups": None if by_group is None else dict(by_group),
        "groups_source": group_source,
        "intended_use": INTENDED_USE,
        "limitations": limitations(by_group, dataset),
    }


def _recentred_note(record: TrialRecord) -> str:
    moved = (record.refit or {}).get("recentred") or {}
    if moved.get("years") is None:
        return ""
    return (f", with {moved['years']:+.2f} years taken out of its ages (its median error on "
            "its own training images, unaugmented: settings.recentred)")


def refit_card(record: TrialRecord) -> dict[str, Any] | None:
    """The model card's "refit" entry: None for a trial's own model; for a refit
    (:mod:`search.refit`), what it is and how it was trained."""
    if not record.refit_of:
        return None
    return {
        "refit_of": record.refit_of,
        "teacher": record.teacher,
        "trained_on": "the training and validation splits together",
        "test_mae": record.test_mae,
        "settings": dict(record.refit or {}),
        "note": (f"a refit of trial {record.refit_of}: its architecture and recipe trained "
                 "again from scratch on train + validation, longer and augmented"
                 + (f", distilled from {record.teacher}" if record.teacher else "")
                 + "; it has no validation MAE (the validation split was trained on) and "
                 "the last epoch's weights are the model"
                 + _recentred_note(record)
                 + "; the test split was held out, and its MAE and errors by group are "
                 "measured on it"),
    }


#: What the exported models are for, and not for (the model card's "intended_use").
INTENDED_USE = [
    "Estimating a person's apparent age in years from one cropped, roughly frontal face "
    "photo, on a phone, where an error of several years is acceptable: an approximate age "
    "shown to the person photographed, age-adapted defaults they can change, or counts by "
    "age over many people.",
    "Input: a face cropped and aligned like UTKFace's (the face filling the square image), "
    "RGB pixels 0-255 at the model's resolution; output: one age in years.",
    "Not for decisions about an individual: not to verify anyone's age (for alcohol, "
    "adult content, legal age or immigration), not for hiring, credit, insurance, health, "
    "policing or surveillance, and not to infer gender or ethnicity, which the model does "
    "not estimate.",
]


def limitations(by_group: Mapping[str, Any] | None, dataset: Mapping[str, Any]) -> list[str]:
    """The model card's "limitations": what is known of where the model is worse, from
    its errors by group and the data it was trained and tested on (plain data; no I/O)."""
    out = [
        "Trained and tested on UTKFace (or faces like it): web photos of mostly frontal "
        "faces, about 4 in 10 White and half aged 20-39, with few teenagers and few people "
        "over 80; its ages, genders and ethnicities are annotations, not verified facts, "
        "and some are wrong. Expect larger errors on faces unlike these: other cameras and "
        "light, profiles, occlusions, make-up, and groups rare in it.",
        "Gender (male, female) and ethnicity (White, Black, Asian, Indian, Others) are "
        "UTKFace's coarse codes from its file names: they cannot show errors for groups "
        "they do not name (people of mixed or other ethnicity, non-binary people), and "
        "'Others' mixes many groups.",
        "The MAE is an average over the test images: single predictions can be off by far "
        "more, and the figures of small groups are uncertain.",
    ]
    hist = (dataset or {}).get("age_histogram") or {}
    used = [k for k, n in hist.items() if isinstance(n, int) and n > 0]
    if used:
        out.append(f"Ages in the data, by decade: {used[0]} to {used[-1]} years; outside "
                   "them the model is untested.")
    if by_group:
        # among groups large enough to say something, if two such groups exist
        gap = groups.widest_gap(by_group, min_n=30) or groups.widest_gap(by_group, min_n=1)
        if gap is not None:
            worst = by_group[_kind_key(gap["breakdown"])][gap["worst"]]
            best = by_group[_kind_key(gap["breakdown"])][gap["best"]]
            out.append(
                f"Test MAE differs most by {gap['breakdown']}: {worst['mae']:.2f} years for "
                f"{gap['worst']} ({worst['n']} test image(s)) against {best['mae']:.2f} for "
                f"{gap['best']} ({best['n']}); see 'groups'.")
        small = [f"{name} ({cell['n']})" for kind in groups.KINDS
                 for name, cell in by_group[kind].items() if cell["n"] < 30]
        if small:
            out.append("Groups with fewer than 30 test images, whose MAE says little: "
                       + ", ".join(small) + ".")
    return out


def _kind_key(title: str) -> str:
    return next(k for k, t in groups.KINDS.items() if t == title)


def _file_entry(q: str, blob: bytes, figures: Mapping[str, Any], float32_bytes: int | None
                ) -> dict[str, Any]:
    io = interpreter.describe(interpreter.load(blob))
    io["input"].update(range=[0, 255], channels="RGB")
    io["output"]["unit"] = "years"
    return {"file": f"model_{q}.tflite", **io, **figures,
            "ratio_to_float32": None if not float32_bytes else len(blob) / float32_bytes}


def split_matches_run(run_dir: Path, data) -> bool | str:
    """Whether the data read now gives the run's split (``run.json``), or why that cannot be
    told (a missing or damaged run.json)."""
    try:
        return read_json(run_dir / "run.json").get("data") == data.fingerprint()
    except FileNotFoundError:
        return "run.json is missing"
    except DamagedFile as e:
        return f"run.json {e.problem}"


def check_damaged(damaged: Sequence[DamagedFile], trial: str | None) -> None:
    """Stop, with one line naming the file and the fix, when a damaged trial record could
    change what is exported: a trial named that cannot be read, or any damaged record when
    the choice is best, knee or a budget (``trial`` None). Trials named that are readable
    export whatever else is damaged."""
    if not damaged:
        return
    lines = {Path(e.path).parent.name: runfiles.record_line(e) for e in damaged}
    names = [w.strip() for w in (trial or "best").split(",") if w.strip()]
    named = [n for n in names if n in lines]
    if named:
        raise UserError(lines[named[0]])
    if trial is None or any(n in ("best", "knee") for n in names):
        more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
        raise UserError(f"{next(iter(lines.values()))}{more}; the trial chosen may depend on "
                        "it, or name readable trials with --trial")


# --------------------------------------------------------------------------- the command


def export(run_dir: str | Path, trial: str | None = None,
           quantize: Sequence[str] = DEFAULT_QUANTIZE, samples: int | None = None,
           max_kib: float | None = None, max_latency_ms: float | None = None,
           calibration_images: int = DEFAULT_CALIBRATION_IMAGES,
           latency_runs: int = interpreter.TIMED_RUNS, console=None,
           out_dir: str | Path | None = None, flip: bool = False, ensemble: bool = False,
           equalize: bool = True, bias_correction: bool = True) -> list[dict[str, Any]]:
    """Choose, convert, verify and write trials; return their model cards.

    ``trial``: ``best`` (default), ``knee``, an id or ids (comma-separated); or leave it out
    and give ``max_kib`` / ``max_latency_ms``. ``samples``: test images to verify on (None:
    all). ``out_dir``: where ``trial_<id>/`` folders go (default: ``RUN_DIR/export``).
    ``flip``: average each model's age of the face and of its mirror image; ``ensemble``:
    the chosen models (two or more) as one file that averages them (:func:`averaged`).
    ``equalize``: also convert to int8 from a copy whose channel ranges are equalized
    (:mod:`search.equalize`; the same function) and ship the closer file;
    ``bias_correction``: take each int8 file's median error against Keras on the calibration
    images out of its output (:func:`int8_choice`).
    Raises :class:`UserError` for bad input (a damaged run file among it) before anything is
    written, and before TensorFlow loads where it can.
    """
    from rich.console import Console

    from search import data as data_mod

    console = console or Console()
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists() and not (run_dir / "trials").is_dir():
        raise UserError(f"{str(run_dir)!r} is not a run folder (no config.json); expected "
                        "results/<run>, as printed at the end of a search")
    settings = Settings(tuple(quantize), samples, calibration_images, latency_runs, equalize,
                        bias_correction)
    settings.check()
    budget = max_kib is not None or max_latency_ms is not None
    if budget and trial is not None:
        raise UserError(f"--trial {trial!r} and a budget (--max-kib, --max-latency-ms) both "
                        "given; use one way of choosing")
    if ensemble and budget:
        given = " and ".join(f"{flag} {v:g}" for flag, v in (
            ("--max-kib", max_kib), ("--max-latency-ms", max_latency_ms)) if v is not None)
        raise UserError(f"--ensemble with {given}: an ensemble averages the models --trial "
                        "names (two or more), not a budget's single pick; give --trial A,B")
    cfg = runfiles.config(run_dir, "export")
    damaged: list[DamagedFile] = []
    records = load_records(run_dir, damaged)
    refits = load_refits(run_dir, damaged)
    check_damaged(damaged, trial)
    problems = [runfiles.record_line(e) for e in damaged]
    out_root = writable_folder(Path(out_dir) if out_dir else run_dir / "export",
                               "--out" if out_dir else "RUN_DIR/export (or give --out)")
    if not budget:  # chosen (and an ensemble refused) before TensorFlow loads
        chosen = choose(records, trial or "best", refits)
        how = trial or "best"
        if ensemble:
            _check_ensemble(chosen, how, cfg)
            # one id, folder and file whatever order --trial names the members in
            chosen.sort(key=lambda r: r.trial_id)
    load_tensorflow()
    models: dict[str, Any] = {}

    def model_of(r: TrialRecord):
        if r.trial_id not in models:
            models[r.trial_id] = load_model(run_dir, r, trial_image_size(r, cfg))
        return models[r.trial_id]

    if budget:
        def float16_latency(r: TrialRecord) -> float:
            size = trial_image_size(r, cfg)
            probe = np.full((size, size, 3), 128, np.uint8)
            model = averaged([model_of(r)], True, "averaged") if flip else model_of(r)
            return interpreter.latency_ms(to_tflite(model, "float16"), probe, 1,
                                          settings.latency_runs)

        chosen = [choose_within_budget(records, max_kib, max_latency_ms,
                                       float16_latency if max_latency_ms is not None else None)]
        how = " and ".join(f"{k} {v:g}" for k, v in (("max_kib", max_kib),
                           ("max_latency_ms", max_latency_ms)) if v is not None)
    for r in chosen:  # a missing or corrupt checkpoint stops the export before any write
        model_of(r)
    # what is written: each chosen model alone, or all of them as one (averaged)
    units = [chosen] if ensemble else [[r] for r in chosen]

    data = data_mod.load(cfg)
    dataset = runfiles.read_optional(run_dir, "dataset.json", problems)
    if not dataset:
        dataset = data.account.to_dict()  # rebuilt: the data as read now
    for line in problems:
        console.print(f"warning: {line}", style="yellow", markup=False, highlight=False)
    matches = split_matches_run(run_dir, data)
    if matches is not True:
        why = ("the data read now does not give the run's split (run.json)" if not matches
               else f"{matches}, so the run's split cannot be checked")
        console.print(f"warning: {why}; figures are on the test split of the data as it is "
                      "now", style="yellow", markup=False, highlight=False)
        matches = False
    machine = host()
    cards = []
    for members in units:
        averaging = averaging_card(members, flip)
        r = members[0] if averaging is None else averaged_record(members, flip)
        model = models[r.trial_id] if averaging is None else averaged(
            [models[m.trial_id] for m in members], flip, name="averaged")
        size = trial_image_size(members[0], cfg)
        images, ages = split_images(data, "test", settings.samples, size)
        faces = matching_files(data, "test", ages)
        calibration = equalized = bias = None
        if "int8" in settings.quantize:
            calibration, _ = split_images(data, "train", settings.calibration_images, size)
        keras_pred = np.asarray(model.predict(images.astype(np.float32), verbose=0),
                                dtype=np.float32).reshape(-1)
        final = out_root / f"trial_{r.trial_id}"
        with staged_folder(final) as folder:
            blobs = convert(model, settings.quantize, calibration)
            if "int8" in blobs and (settings.equalize or settings.bias_correction):
                blobs["int8"], equalized, bias = int8_choice(
                    model, {m.trial_id: models[m.trial_id] for m in members}, flip,
                    calibration, blobs["int8"], equalize=settings.equalize,
                    correct=settings.bias_correction)
            f32 = len(blobs["float32"]) if "float32" in blobs else None
            files = {}
            for q, blob in blobs.items():
                figures = verify(blob, q, images, ages, keras_pred, settings.latency_runs,
                                 faces)
                files[q] = _file_entry(q, blob, figures, f32)
                (folder / f"model_{q}.tflite").write_bytes(blob)
            card = model_card(
                run=run_dir.name, record=r, selected_by=how,
                files=files, keras_files=save_keras(model, folder), images=len(ages),
                test_images=data.account.splits.get("test", len(ages)), split_matches_run=matches,
                calibration_images=None if calibration is None else len(calibration),
                dataset=dataset, settings=settings, machine=machine,
                by_group=None if faces is None else groups.of_files(faces, keras_pred),
                averaging=averaging, equalized=equalized, bias_correction=bias)
            write_json_atomic(folder / "model_card.json", card)
        cards.append(card)
        print_card(card, final, console)
    return cards


def print_card(card: Mapping[str, Any], folder: Path, console) -> None:
    """The verification table of one exported trial."""
    from rich.table import Table

    files = card["files"]
    keras_mae = next(iter(files.values()))["keras_mae_years"]
    t = Table(title=f"Export of trial {card['trial_id']} ({card['selected_by']}): "
                    f"{card['verification']['images']} test images, Keras MAE "
                    f"{keras_mae:.3f} y", title_justify="left", header_style="bold")
    for col in ("file", "input", "KiB", "vs f32", "MAE (y)", "vs Keras (y)", "max diff (y)",
                "1 thr ms", "4 thr ms", "check"):
        t.add_column(col, justify="left" if col in ("file", "input", "check") else "right")
    for f in files.values():
        check = {"ok": "ok", "failed": f"FAIL (> {f['limit_years']} y)",
                 "flagged": f"flag: loses > {f['limit_years']} y"}[f["status"]]
        ratio = f["ratio_to_float32"]
        t.add_row(f["file"], f["input"]["dtype"], f"{f['kib']:.1f}",
                  "-" if ratio is None else f"{ratio:.0%}", f"{f['mae_years']:.3f}",
                  f"{f['mae_change_years']:+.4f}", f"{f['max_abs_diff_years']:.4f}",
                  f"{f['latency_ms']['threads_1']:.3f}", f"{f['latency_ms']['threads_4']:.3f}",
                  check, style=None if f["within_limit"] else "red")
    console.print(t)
    if card.get("refit"):
        console.print(card["refit"]["note"], markup=False, highlight=False)
    if card.get("averaging"):
        console.print(card["averaging"]["note"], markup=False, highlight=False)
    if card.get("groups"):
        print_groups(card, console)
    console.print(f"written to {folder} (model_card.json, model.keras, model.h5)",
                  highlight=False, markup=False)


def print_groups(card: Mapping[str, Any], console) -> None:
    """The card's MAE by gender, ethnicity and age band: Keras' and each file's."""
    from rich.table import Table

    files = {q: f["groups"] for q, f in card["files"].items() if f.get("groups")}
    t = Table(title=f"MAE by group (years): {card['groups_source']}", title_justify="left",
              header_style="bold")
    for col in ("breakdown", "group", "images", "Keras", *files):
        t.add_column(col, justify="left" if col in ("breakdown", "group") else "right")
    last = None
    for kind, name, n, mae in groups.rows(card["groups"]):
        key = next(k for k, title in groups.KINDS.items() if title == kind)
        each = [files[q][key][name]["mae"] for q in files]
        t.add_row(kind if kind != last else "", name, str(n),
                  *("-" if m is None else f"{m:.2f}" for m in (mae, *each)),
                  style="dim" if not n else None)
        last = kind
    console.print(t)
