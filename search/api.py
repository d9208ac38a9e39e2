"""The Python API: run a search, open a run folder, ask it what it found, export, predict.

::

    import search as agesearch

    run = agesearch.search(space="lite", trials=4, epochs=2, image_size=32)
    run.best()                 # Trial: lowest validation MAE on the Pareto front
    run.knee()                 # the best trade-off of accuracy against size
    run.pick(max_kib=100)      # lowest validation MAE whose float16 file is at most 100 KiB
    run.front()                # [Trial, ...]
    run.baseline["test_mae"]   # the median-age baseline, years
    exported = run.export("knee")[0]
    agesearch.predict_ages(exported.files["float16"], "photos/").ages

    run = agesearch.Run.open("results/lite-20260101-120000")   # finished or still running

Nothing here prints. Progress goes to the ``agesearch`` logger (``logging``; INFO for
progress and tables, WARNING for warnings), so a notebook shows it after
``logging.basicConfig(level=logging.INFO)``. The command line (:mod:`search.cli`) is a layer
over these functions that hands them a rich console instead and owns all console output.

Ranking is :mod:`search.board`'s, through the leaderboard (:mod:`search.report`): a
:class:`Run` is the leaderboard of one run folder, read again by :meth:`Run.refresh`. Bad
input raises :class:`~search.errors.UserError`, whose message names the value and what
was expected.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search import pareto
from search.budget import Budget
from search.config import RunConfig
from search.errors import UserError

__all__ = ["Exported", "Predictions", "Refit", "Run", "Trial", "export_run", "load_config",
           "predict_ages", "refit_run", "search"]

#: Where the library's progress goes; nothing in this module prints.
logger = logging.getLogger("agesearch")

# --- where output goes ------------------------------------------------------------------


class _LogLines(io.TextIOBase):
    """A text stream that sends each complete line to :data:`logger`: warnings (lines that
    start with "warning" or "note") at WARNING, the rest at INFO."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            line = line.rstrip()
            if line.strip():
                warn = line.lstrip().lower().startswith(("warning", "note:", "could not"))
                logger.log(logging.WARNING if warn else logging.INFO, line)
        return len(text)

    def flush(self) -> None:
        pass


def _log_console():
    """A rich console that logs instead of printing: plain lines, no live display."""
    from rich.console import Console

    return Console(file=_LogLines(), width=120, color_system=None, force_terminal=False,
                   force_interactive=False, highlight=False, soft_wrap=True)


# --- configs ----------------------------------------------------------------------------


def load_config(path: str | Path) -> RunConfig:
    """A run's ``config.json`` (``RUN_DIR/config.json``, or the run folder itself), ready to
    search again: ``overwrite`` is never replayed (it would delete the run). Raises
    :class:`UserError` when the file is missing or damaged."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    if not p.is_file():
        raise UserError(f"config file {str(path)!r} does not exist; expected a run's "
                        "config.json (results/<run>/config.json)")
    return RunConfig.load(p).replace(overwrite=False)


def _config(config: RunConfig | Mapping[str, Any] | str | Path | None,
            settings: Mapping[str, Any]) -> RunConfig:
    if config is None:
        base = RunConfig()
    elif isinstance(config, RunConfig):
        base = config
    elif isinstance(config, Mapping):
        base, settings = RunConfig(), {**config, **settings}
    elif isinstance(config, str | Path):
        base = load_config(config)
    else:
        raise UserError(f"config {config!r}: expected a RunConfig, a dict of settings or the "
                        "path of a run's config.json")
    known = [f.name for f in dataclasses.fields(RunConfig)]
    unknown = [k for k in settings if k not in known]
    if unknown:
        raise UserError(f"unknown setting {unknown[0]!r}; expected one of {', '.join(known)}")
    cfg = base.replace(**settings)
    from search import backends

    if cfg.tuner not in backends.TUNERS:
        raise UserError(f"--tuner {cfg.tuner!r}: expected one of {', '.join(backends.TUNERS)}")
    cfg.check()
    return cfg


# --- searching --------------------------------------------------------------------------


def search(config: RunConfig | Mapping[str, Any] | str | Path | None = None, /, *,
           console=None, **settings: Any) -> Run:
    """Run (or resume) a search and return its :class:`Run`.

    ``config``: a :class:`RunConfig`, a dict of its settings, or the path of a run's
    ``config.json`` to search again (the same run name resumes that run); keyword
    ``settings`` (``trials=10``, ``space="full"``, any :class:`RunConfig` field) override it.
    Every setting is the command line's flag of the same name: ``max_kib`` is ``--max-kib``.
    ``console``: a rich console to show the live display and tables on (the command line's);
    by default progress goes to the ``agesearch`` logger.

    Raises :class:`UserError` on bad input, before any folder is made where it can;
    :class:`~search.errors.SearchInterrupted` (a KeyboardInterrupt) on Ctrl-C, after ranking
    and writing what finished. A search in which no trial finished returns normally: see
    ``run.counts``.

    Trials train in worker processes (``multiprocessing``'s fork server): a script must call
    this under ``if __name__ == "__main__":``, or every worker runs the script again and
    every trial fails. Notebooks need nothing.
    """
    import sys

    from search import backends, pipeline
    from search.quiet import load_tensorflow

    if getattr(sys.modules.get("__mp_main__"), "__name__", None) == "__mp_main__":
        # a worker process re-running a script that calls search() at its top level
        raise UserError("agesearch.search() was called while a worker process started: in a "
                        "script, call it under if __name__ == \"__main__\": (docs/api.md)")
    cfg = _config(config, settings)
    if cfg.tuner not in backends.OPTUNA_TUNERS:
        load_tensorflow()  # KerasTuner imports it: quietly, once
    if console is not None:
        board = pipeline.run(cfg, console=console)
    else:  # what the libraries print (KerasTuner's "Reloading Tuner from ...") is logged too
        with contextlib.redirect_stdout(_LogLines()):
            board = pipeline.run(cfg, console=_log_console())
    run = Run.open(board["runs"][0]["path"])
    if console is None and not run.counts.get("complete"):  # the command line says it itself
        logger.warning("no trial finished in %s (%s)", run.path, ", ".join(
            f"{n} {status}" for status, n in run.counts.items() if n) or "none ran")
    return run


# --- a run and its trials ---------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One trial of a run as its leaderboard shows it (read-only). Units: MAE in years,
    sizes in KiB, latency in milliseconds (host CPU, 1 thread); None where not measured."""

    id: str
    status: str  # complete | pruned | infeasible | failed
    values: dict[str, Any] = field(repr=False, compare=False)  # hyperparameters it trained with
    val_mae: float | None
    test_mae: float | None
    params: int | None
    kib: float | None  # TFLite float16 file
    int8_kib: float | None
    macs: int | None  # multiply-accumulates per image
    latency_ms: float | None
    epochs: int
    pareto_rank: int | None  # 1: on the front; None: not ranked (not complete)
    on_front: bool
    is_best: bool
    is_knee: bool
    is_reference: bool  # the space's reference recipe, trained as trial "ref"
    architecture: str | None = field(repr=False)  # in words, at its own resolution
    reason: str | None  # why it failed, was pruned or is infeasible
    model_path: Path | None  # its trained Keras model (.keras), when complete
    row: dict[str, Any] = field(repr=False, compare=False)  # the whole leaderboard row

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], run_dir: Path) -> Trial:
        model = row.get("model_path")
        path = None if not model else (Path(model) if Path(model).is_absolute()
                                       else run_dir / model)
        return cls(id=row["trial_id"], status=row["status"], values=dict(row["values"]),
                   val_mae=row.get("val_mae"), test_mae=row.get("test_mae"),
                   params=row.get("params"), kib=row.get("tflite_float16_kib"),
                   int8_kib=row.get("tflite_int8_kib"), macs=row.get("macs"),
                   latency_ms=row.get("latency_ms"), epochs=row.get("epochs_run") or 0,
                   pareto_rank=row.get("pareto_rank"), on_front=bool(row.get("on_front")),
                   is_best=bool(row.get("is_best")), is_knee=bool(row.get("is_knee")),
                   is_reference=bool(row.get("is_reference")),
                   architecture=row.get("architecture"), reason=row.get("reason"),
                   model_path=path, row=dict(row))

    def to_dict(self) -> dict[str, Any]:
        """The leaderboard row (``leaderboard.json``'s ``trials`` entry; docs/run_folder.md)."""
        return dict(self.row)


class Run:
    """A run folder, finished or still searching, ranked as its leaderboard ranks it.

    Open one with :meth:`Run.open`; :func:`search` returns one. ``objectives`` (default
    validation MAE, parameters, float16 KiB; any of ``mae``, ``params``, ``kib``, ``macs``,
    ``latency``) are what the Pareto ranks minimise.
    """

    def __init__(self, path: str | Path,
                 objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES):
        self.path = Path(path)
        self.objectives = pareto.parse_objectives(objectives)
        self.refresh()

    @classmethod
    def open(cls, path: str | Path,
             objectives: str | Sequence[str] = pareto.DEFAULT_OBJECTIVES) -> Run:
        """Read ``path`` (``results/<run>``). Raises :class:`UserError` if it is not a run
        folder; a damaged file in it is left out and named in :attr:`problems`."""
        return cls(path, objectives)

    def refresh(self) -> Run:
        """Read the run folder again (a search may still be adding trials); returns self."""
        from search import report

        self._data = report.load_run(self.path)
        self._board = self.leaderboard()
        self._trials = [Trial._from_row(row, self.path) for row in self._board["trials"]]
        return self

    def __repr__(self) -> str:
        c = self.counts
        return (f"Run({str(self.path)!r}: {len(self._trials)} trials, "
                f"{c.get('complete', 0)} complete, best {self._best_text()})")

    def _best_text(self) -> str:
        b = self.best()
        return "none" if b is None else f"{b.id} at {b.val_mae:.2f} y"

    # -- what the run holds ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._data.name

    @property
    def config(self) -> RunConfig:
        """The run's settings (``config.json``); the defaults where it is missing."""
        return RunConfig.from_dict(self._data.config)

    @property
    def baseline(self) -> dict[str, float]:
        """Always predicting the training split's median age: ``median_age``, ``val_mae``,
        ``test_mae`` (years)."""
        return dict(self._data.baseline)

    @property
    def dataset(self) -> dict[str, Any]:
        """The data set's account (``dataset.json``): found, used, skipped, split sizes."""
        return dict(self._data.dataset)

    @property
    def space(self) -> dict[str, Any]:
        return dict(self._data.space)

    @property
    def problems(self) -> list[str]:
        """One line per damaged file left out when the run was read."""
        return list(self._data.problems)

    @property
    def counts(self) -> dict[str, int]:
        """Trials by status: complete, pruned, infeasible, failed."""
        return dict(self._board["counts"])

    @property
    def hypervolume(self) -> float | None:
        """Of the front, objectives normalised over the ranked trials (docs/reports.md)."""
        return self._board["pareto"]["hypervolume"]

    @property
    def trials(self) -> list[Trial]:
        """Every trial, in leaderboard order: Pareto rank, crowding, validation MAE."""
        return list(self._trials)

    def trial(self, trial_id: str) -> Trial:
        """The trial with this id (``"ref"``, ``"003"``); :class:`UserError` if none."""
        for t in self._trials:
            if t.id == trial_id:
                return t
        raise UserError(f"unknown trial {trial_id!r}; the run's trials: "
                        + (", ".join(t.id for t in self._trials) or "none"))

    def front(self) -> list[Trial]:
        """The Pareto front: complete trials no other trial beats on every objective."""
        return [t for t in self._trials if t.on_front]

    def best(self) -> Trial | None:
        """The lowest validation MAE on the front; None when no trial is ranked."""
        return next((t for t in self._trials if t.is_best), None)

    def knee(self) -> Trial | None:
        """The front's best trade-off of accuracy against cost (docs/reports.md)."""
        return next((t for t in self._trials if t.is_knee), None)

    def pick(self, *, max_kib: float | None = None, max_latency_ms: float | None = None,
             max_params: int | None = None) -> Trial | None:
        """The complete trial with the lowest validation MAE within a phone's budget: float16
        file at most ``max_kib`` KiB, recorded host latency at most ``max_latency_ms``, at
        most ``max_params`` parameters. None when nothing fits."""
        budget = Budget(max_kib=max_kib, max_latency_ms=max_latency_ms, max_params=max_params)
        if not budget.active:
            raise UserError("pick() needs a budget: max_kib, max_latency_ms or max_params")
        chosen = self.leaderboard(budget=budget)["budget"]["trial_id"]
        return None if chosen is None else self.trial(chosen)

    # -- reports and plain data ----------------------------------------------------------

    def leaderboard(self, *, sort: str = "pareto", budget: Budget | None = None
                    ) -> dict[str, Any]:
        """The leaderboard as plain data: what ``leaderboard.json`` holds
        (docs/run_folder.md)."""
        from search import report

        return report.board([self._data], self.objectives, sort=sort, budget=budget)

    def write_reports(self, out_dir: str | Path | None = None) -> dict[str, Path]:
        """Write leaderboard.json, .md, .csv, pareto.png and report.html into ``out_dir``
        (default: the run folder); return their paths."""
        from search import report
        from search.files import writable_folder

        out = writable_folder(out_dir if out_dir is not None else self.path, "out_dir")
        return report.write_all(self._board, out)

    def to_records(self) -> list[dict[str, Any]]:
        """Every trial as a plain dict (a leaderboard row), in leaderboard order."""
        return [t.to_dict() for t in self._trials]

    def to_dataframe(self):
        """The trials as a pandas DataFrame, one row a trial, indexed by trial id: every
        scalar field of :meth:`to_records` (lists and dicts, such as the per-epoch
        ``history``, are left out) and each hyperparameter as ``param_<name>``. Needs pandas
        (the optional ``agesearch[dataframe]`` extra)."""
        pd = _pandas("Run.to_dataframe()")
        rows = []
        for rec in self.to_records():
            row = {k: v for k, v in rec.items() if not isinstance(v, dict | list)}
            row.update({f"param_{k}": v for k, v in rec["values"].items()})
            rows.append(row)
        if not rows:  # a run that has just started
            return pd.DataFrame(index=pd.Index([], name="trial_id"))
        return pd.DataFrame(rows).set_index("trial_id")

    # -- shipping --------------------------------------------------------------------------

    def refit(self, trial: str | Trial | Sequence[str | Trial] = "best", *,
              epochs: int | None = None, teacher: str | Trial | None = None,
              augment: float | None = None, label_weight: float | None = None,
              seed: int | str | Sequence[int] | None = None, recentre: bool = True,
              console=None) -> list[Refit]:
        """Train chosen trials' architectures again to ship them: see :func:`refit_run`."""
        return refit_run(self.path, trial, epochs=epochs, teacher=teacher, augment=augment,
                         label_weight=label_weight, seed=seed, recentre=recentre,
                         console=console)

    def refits(self) -> list[Refit]:
        """The refits already in the run folder (``refits/``), complete or failed."""
        from search import refit as refit_mod

        return [Refit._from_record(r, self.path) for r in refit_mod.load_refits(self.path)]

    def export(self, trial: str | Trial | Sequence[str | Trial] | None = None, *,
               max_kib: float | None = None, max_latency_ms: float | None = None,
               **options: Any) -> list[Exported]:
        """Export trials as verified TFLite files: see :func:`export_run`. ``trial``: ``"best"``
        (the default), ``"knee"``, a trial id, a :class:`Trial`, or several."""
        return export_run(self.path, trial, max_kib=max_kib, max_latency_ms=max_latency_ms,
                      **options)


@dataclass(frozen=True)
class Refit:
    """A trial's architecture trained again on train + validation (:func:`refit_run`).
    Units: MAE in years, sizes in KiB. No validation MAE: the validation split was trained
    on; the test split was not."""

    id: str  # "003-refit", "003-refit-seed2", "003-refit-distilled-ref": export's trial=
    refit_of: str  # the trial whose architecture it trained
    teacher: str | None  # the trial or refit it was distilled from
    status: str  # complete | failed
    test_mae: float | None
    groups: dict[str, Any] | None = field(repr=False)  # test MAE by group (search.groups)
    epochs: int
    params: int | None
    kib: float | None  # TFLite float16 file (the trial's: the same architecture)
    settings: dict[str, Any] = field(repr=False)  # epochs, augment, label weight, schedule
    reason: str | None  # why it failed
    model_path: Path | None = field(repr=False)
    record: dict[str, Any] = field(repr=False, compare=False)  # its record.json

    @classmethod
    def _from_record(cls, r, run_dir: Path) -> Refit:
        return cls(id=r.trial_id, refit_of=r.refit_of or "", teacher=r.teacher,
                   status=r.status, test_mae=r.test_mae, groups=r.groups,
                   epochs=r.epochs_run, params=r.params, kib=r.tflite_float16_kib,
                   settings=dict(r.refit or {}), reason=r.reason,
                   model_path=Path(run_dir) / r.model_path if r.model_path else None,
                   record=r.to_dict())


def refit_run(run_dir: str | Path, trial: str | Trial | Sequence[str | Trial] = "best", *,
              epochs: int | None = None, teacher: str | Trial | None = None,
              augment: float | None = None, label_weight: float | None = None,
              seed: int | str | Sequence[int] | None = None, recentre: bool = True,
              console=None) -> list[Refit]:
    """Train the architecture of chosen trials again, from scratch, on the training and
    validation splits together, for longer and augmented (optionally distilled from a
    teacher), then test it on the test split (docs/refit.md).

    ``trial``: ``"best"`` (default), ``"knee"``, ``"front"``, an id, a :class:`Trial`, or
    several. ``epochs``: default 3 times the run's. ``teacher``: ``"best"``, a trial id, a
    refit id or a :class:`Trial`; the loss is then ``label_weight`` (default 0.5) times the
    MAE to the labels plus the rest times the MAE to the teacher's ages. ``augment``: 0
    (flips only) .. 1, default 0.25. ``seed``: one refit per seed (``[2, 3]`` or ``"2,3"``;
    default the run's): another seed than the run's gives ``<id>-refit-seed<N>``, a copy to
    measure the spread with or to average (:func:`export_run`'s ``ensemble``). ``recentre``:
    the refit's median error on its own training images, unaugmented, is taken out of its
    ages (the :class:`Refit`'s ``settings["recentred"]`` says by how much); a finished refit
    is re-centred, or its re-centring undone, to match, without training. Each refit is
    written to ``RUN_DIR/refits/<id>/``; a
    finished one with the same settings is returned as it is, an interrupted one resumes
    from its last epoch. Raises :class:`UserError` on bad input (an unknown trial, a teacher
    that is the trial itself), before TensorFlow loads. Loads TensorFlow.
    """
    from search import refit as refit_mod

    if not isinstance(trial, str):
        items = [trial] if isinstance(trial, Trial) else list(trial)
        trial = ",".join(t.id if isinstance(t, Trial) else str(t) for t in items)
    if isinstance(teacher, Trial):
        teacher = teacher.id
    records = refit_mod.refit(run_dir, trial, epochs=epochs, teacher=teacher, augment=augment,
                              label_weight=label_weight, seed=seed, recentre=recentre,
                              console=console if console is not None else _log_console())
    return [Refit._from_record(r, Path(run_dir)) for r in records]


def _pandas(what: str):
    try:
        import pandas
    except ImportError:
        raise ImportError(f"{what} needs pandas, an optional extra: "
                          "pip install 'agesearch[dataframe]' (or pip install pandas)") from None
    return pandas


# --- export and predict -------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    """One exported trial: its folder, its TFLite files by format, and its model card."""

    trial_id: str
    folder: Path  # <run>/export/trial_<id>/
    files: dict[str, Path]  # format (float32, float16, dynamic, int8) -> .tflite file
    verified: bool  # float32 and float16 matched the Keras model within their tolerance
    card: dict[str, Any] = field(repr=False)  # model_card.json (docs/run_folder.md)


def export_run(run_dir: str | Path, trial: str | Trial | Sequence[str | Trial] | None = None, *,
           quantize: str | Sequence[str] = ("float32", "float16"), samples: int | None = None,
           max_kib: float | None = None, max_latency_ms: float | None = None,
           calibration_images: int | None = None, latency_runs: int | None = None,
           out_dir: str | Path | None = None, flip: bool = False, ensemble: bool = False,
           equalize: bool = True, bias_correction: bool = True, console=None
           ) -> list[Exported]:
    """Convert trials of a run to TFLite, check each file against the Keras model on the
    run's test split, time it, and write it with its model card (docs/deploy.md).

    ``trial``: ``"best"`` (default), ``"knee"``, an id, a :class:`Trial`, or several; or
    leave it out and give a budget, ``max_kib`` (float16 file) or ``max_latency_ms`` (float16
    file, measured here, 1 thread). ``quantize``: formats (``"all"`` or any of float32,
    float16, dynamic, int8). ``samples``: test images to verify on (default all). ``flip``:
    each file averages the model's age of the face and of its mirror image (``<id>-flip``).
    ``ensemble``: the chosen models (two or more, one input size) as one file averaging
    their ages (``<id>+<id>...``). ``equalize``: int8 is also converted from a copy whose
    channel ranges are equalized (the same function) and the file closer to Keras on the
    calibration images is shipped (``False``: as trained only). ``bias_correction``: each
    int8 file's median error against Keras on the calibration images is taken out of its
    output (``False``: left in). Files go
    to ``out_dir/trial_<id>/`` (default ``RUN_DIR/export``). Loads TensorFlow.
    """
    from search import export as export_mod
    from search import interpreter

    if trial is not None and not isinstance(trial, str):
        items = [trial] if isinstance(trial, Trial) else list(trial)
        trial = ",".join(t.id if isinstance(t, Trial) else str(t) for t in items)
    formats = export_mod.parse_quantize(quantize if isinstance(quantize, str)
                                        else ",".join(quantize))
    cards = export_mod.export(
        run_dir, trial=trial, quantize=formats, samples=samples, max_kib=max_kib,
        max_latency_ms=max_latency_ms,
        calibration_images=(export_mod.DEFAULT_CALIBRATION_IMAGES if calibration_images is None
                            else calibration_images),
        latency_runs=interpreter.TIMED_RUNS if latency_runs is None else latency_runs,
        console=console if console is not None else _log_console(), out_dir=out_dir,
        flip=flip, ensemble=ensemble, equalize=equalize, bias_correction=bias_correction)
    root = Path(out_dir) if out_dir is not None else Path(run_dir) / "export"
    out = []
    for card in cards:
        folder = root / f"trial_{card['trial_id']}"
        out.append(Exported(trial_id=card["trial_id"], folder=folder,
                            files={q: folder / f["file"] for q, f in card["files"].items()},
                            verified=bool(card["verified"]), card=card))
    return out


@dataclass(frozen=True)
class Predictions:
    """Ages from an exported file, one entry per image, in the order found."""

    model: str
    image_size: int  # pixels per side the model takes
    mae: float | None  # years, over images whose file names carry UTKFace labels
    rows: list[dict[str, Any]] = field(repr=False)  # path, age, label, problem
    #: the labelled images' MAE by gender, ethnicity and age band, with counts (None: no
    #: labelled image); see :mod:`search.groups`
    groups: Any = field(default=None, repr=False)

    @property
    def ages(self) -> list[float | None]:
        """Years, one per image; None where the image could not be read."""
        return [r["age"] for r in self.rows]

    def to_records(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows]

    def to_dataframe(self):
        """The predictions as a pandas DataFrame (needs pandas)."""
        return _pandas("Predictions.to_dataframe()").DataFrame(self.to_records())


def predict_ages(model: str | Path, images: str | Path | Sequence[str | Path], *,
            threads: int = 1, console=None) -> Predictions:
    """Ages (years) for face images from an exported ``.tflite`` file of any format.

    ``images``: JPEG files or folders (searched at any depth), already cropped to the face,
    any size; read and resized as in training. Raises :class:`UserError` for a missing or
    unreadable model or image path, :class:`~search.errors.NothingDone` when no image could
    be read. Loads TensorFlow (to decode the JPEGs as training did).
    """
    from search import predict as predict_mod
    from search.quiet import load_tensorflow

    paths = [images] if isinstance(images, str | Path) else list(images)
    if not paths:
        raise UserError("no image given; expected JPEG files or folders of them")
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise UserError(f"threads {threads!r}: expected a whole number >= 1")
    load_tensorflow()
    out = predict_mod.predict(model, paths, threads=threads,
                              console=console if console is not None else _log_console())
    return Predictions(model=out["model"], image_size=out["image_size"], mae=out["mae_years"],
                       rows=out["predictions"], groups=out.get("groups"))
