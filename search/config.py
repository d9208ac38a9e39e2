"""The run configuration: every default in one commented block.

``run_search.py`` turns flags into a frozen :class:`RunConfig`; every other module reads it
and none writes it. The config is saved beside each run's results, so any result can be
rebuilt (``config.json`` in the run folder).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.errors import DamagedFile, UserError
from search.pruning import DEFAULT_MARGIN

DEFAULT_IMAGE_SIZE = 64

#: Whole-number settings and the values they may take, inclusive: the flags' limits (and a
#: space's ``image_size`` and ``batch_size``), wide enough for any real run and narrow enough
#: that a typo fails at once instead of costing minutes or gigabytes. A 512 px image is 2.5
#: times a UTKFace file; 4096 images of 512 px are 12 GiB as float32 pixels alone.
INT_LIMITS: dict[str, tuple[int, int]] = {
    "trials": (1, 100_000),
    "epochs": (1, 10_000),
    "min_epochs": (1, 10_000),
    "brackets": (1, 100),
    "patience": (1, 10_000),
    "prune_after": (1, 10_000),
    "synthetic_images": (3, 100_000),
    "max_images": (3, 10_000_000),
    "image_size": (8, 512),
    "batch_size": (1, 4096),
    "seed": (0, 2**32 - 1),  # numpy's and TensorFlow's seeds are 32-bit
    "max_params": (1, 10**12),
    "max_macs": (1, 10**15),
}
DEPLOY_DTYPES = ("float32", "float16", "int8")


def flag(name: str) -> str:
    """The command-line flag of a RunConfig field: ``image_size`` -> ``--image-size``."""
    return "--" + name.replace("_", "-")


def int_problem(name: str, value: object) -> str | None:
    """Why ``value`` is not a valid setting ``name`` of :data:`INT_LIMITS`, or None."""
    low, high = INT_LIMITS[name]
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return None
    return f"expected a whole number from {low} to {high}"


@dataclass(frozen=True)
class RunConfig:
    # --- what to search ---------------------------------------------------------------
    space: str = "lite"  # a shipped space name (spaces/<name>.toml) or a path to a .toml file
    # Optuna, multi-objective (val MAE, params, float16 bytes): tpe | nsga2; KerasTuner, val MAE
    # only: random | bayesian | hyperband. TPE until the search-efficiency benchmark says else.
    tuner: str = "tpe"
    trials: int = 6  # candidate models trained in the search, in total (reference included)
    reference: bool = True  # train the space's [reference] (the reference recipe) as trial "ref"
    # Wall-clock budget: start no trial after this many minutes of the search (one running
    # then finishes); None: no limit. The search stops at whichever of this and --trials
    # comes first.
    max_minutes: float | None = None
    # Compute budget: start no trial (nor rung) once the trials have trained this many
    # G MAC-images: forward multiply-accumulates per image x training images, summed over
    # every epoch trained (the reference's included). The same work on any machine, however
    # fast or busy; None: no limit.
    max_compute: float | None = None
    # --- data --------------------------------------------------------------------------
    data_dir: str | None = None  # a UTKFace folder; None = the embedded synthetic faces
    synthetic_images: int = 2400  # size of the embedded synthetic set
    max_images: int | None = None  # use at most this many images (a deterministic subset)
    # Pixels per side at training time (UTKFace files are 200x200). None: the space's own
    # image_size choices, or DEFAULT_IMAGE_SIZE for a space that does not search it. A value
    # fixes the resolution of every candidate (and of the reference).
    image_size: int | None = None
    val_fraction: float = 0.15  # fraction of distinct images held out for validation
    test_fraction: float = 0.15  # fraction of distinct images held out for the final test
    # --- training ----------------------------------------------------------------------
    epochs: int = 12  # epochs per trial (at most; early stopping may end sooner)
    # moasha: epochs of the first rung; the next rungs are 3 times longer, up to --epochs
    min_epochs: int = 1
    # moasha: new candidates start at one of the first N rungs (asynchronous Hyperband);
    # 1: all at the first rung (successive halving alone)
    brackets: int = 1
    batch_size: int = 32
    patience: int = 4  # early stopping: epochs without a better validation MAE
    # Stop a trial at an epoch's end when a finished trial that is no larger (params, float16
    # bytes) and no slower had a validation MAE lower by this fraction at the same epoch.
    prune: bool = True
    prune_margin: float = DEFAULT_MARGIN
    # No pruning before the end of this epoch; None: a quarter of --epochs (rounded up), the
    # seed schedule's full-rate phase, so a deeper network that starts slowly gets to learn.
    prune_after: int | None = None
    # Optuna tuners: a finished trial that gained less than this share of the best finished
    # trial's gain over the median-age baseline (val MAE, years) counts to the sampler as
    # infeasible (it stays on the leaderboard), so the sampler stops proposing networks far
    # from useful accuracy however small; 0 = off.
    accuracy_band: float = 0.75
    seed: int = 42  # one seed for data generation, split, sampling and weight init
    # --- the target phone's budget (None = no limit); checked before any training --------
    max_params: int | None = None
    max_kib: float | None = None  # size of the deploy_dtype TFLite file, KiB
    max_latency_ms: float | None = None  # host latency, LiteRT interpreter, 1 thread
    max_macs: int | None = None  # multiply-accumulates per image
    deploy_dtype: str = "float16"  # float32 | float16 | int8: the file --max-kib and latency refer to
    # --- where results go --------------------------------------------------------------
    run_name: str | None = None  # None = "<space>-<date>-<time>"
    results_dir: str = "results"
    overwrite: bool = False  # start a run of the same name over
    # Optuna storage shared by workers: None = a journal file in the run folder; an RDB URL
    # (postgresql://..., sqlite:///...) or a path to a journal file.
    storage: str | None = None
    # Trials train in a worker process (search.trial_process), replaced by a fresh one when
    # one more trial would take it more than this fraction above its memory after its second
    # trial, and after trial_process.RECYCLE_AFTER trials in any case; 0 = only the latter.
    max_memory_growth: float = 0.1
    cache_dir: str | None = None  # synthetic faces cache; None = $AGESEARCH_CACHE or ~/.cache

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Raise :class:`UserError` naming the first setting out of its range (the flags check
        the same when they are parsed; this is for configs built in code), before any file
        or folder is made."""
        from search.files import check_name, show

        for name in INT_LIMITS:
            value = getattr(self, name)
            if value is not None or self.__dataclass_fields__[name].default is not None:
                problem = int_problem(name, value)
                if problem:
                    raise UserError(f"{flag(name)} {show(value)}: {problem}")
        for name, low, high in (("val_fraction", 0.0, 1.0), ("test_fraction", 0.0, 1.0),
                                ("accuracy_band", 0.0, 1.0)):
            value = getattr(self, name)
            if not (_number(value) and low <= value < high):
                raise UserError(f"{flag(name)} {show(value)}: expected a number in [{low:g}, "
                                f"{high:g})")
        for name in ("prune_margin", "max_memory_growth"):
            value = getattr(self, name)
            if not (_number(value) and 0 <= value < math.inf):
                raise UserError(f"{flag(name)} {show(value)}: expected a number >= 0")
        for name in ("max_minutes", "max_compute", "max_kib", "max_latency_ms"):
            value = getattr(self, name)
            if value is not None and not (_number(value) and 0 < value < math.inf):
                raise UserError(f"{flag(name)} {show(value)}: expected a number above 0")
        self._check_rungs()
        if self.deploy_dtype not in DEPLOY_DTYPES:
            raise UserError(f"--deploy-dtype {show(self.deploy_dtype)}: expected one of "
                            + ", ".join(DEPLOY_DTYPES))
        if self.run_name is not None:
            check_name(self.run_name, "--run-name")

    def _check_rungs(self) -> None:
        """--min-epochs and --brackets shape moasha's rungs: refused for another tuner (it
        would ignore them) and out of the rungs' range (they would be capped in silence)."""
        from search.promotion import rungs

        changed = [n for n in ("min_epochs", "brackets") if getattr(self, n) != 1]
        if self.tuner != "moasha" and changed:
            name = changed[0]
            raise UserError(f"{flag(name)} {getattr(self, name)}: expected 1 (the default) "
                            f"unless --tuner moasha, the only tuner that uses it; this run's "
                            f"tuner is {self.tuner}")
        if self.min_epochs > self.epochs:
            raise UserError(f"--min-epochs {self.min_epochs}: expected at most --epochs "
                            f"({self.epochs})")
        schedule = rungs(self.epochs, first=self.min_epochs)
        if self.brackets > len(schedule):
            raise UserError(
                f"--brackets {self.brackets}: expected at most {len(schedule)}, the number of "
                f"rungs (epochs {', '.join(map(str, schedule))}) for --epochs {self.epochs} "
                f"and --min-epochs {self.min_epochs}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def prune_start(self) -> int:
        """The first epoch at whose end a trial may be pruned."""
        return self.prune_after if self.prune_after is not None else max(1, -(-self.epochs // 4))

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def save(self, path: Path) -> None:
        """Atomic: a second worker starting at the same moment never reads half a file."""
        from search.files import write_json_atomic

        write_json_atomic(path, json.loads(json.dumps(self.to_dict(), sort_keys=True)))

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        """The config in ``path``; a damaged one (empty, truncated, not a JSON object, a
        setting of the wrong type) raises :class:`DamagedFile`, a ValueError."""
        from search.files import field_problem, read_json

        data = read_json(path)
        problem = field_problem(cls, data)
        if problem is not None:
            raise DamagedFile(path, f"not a run config: {problem}")
        return cls.from_dict(data)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and not math.isnan(x)
