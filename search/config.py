"""The run configuration: every default in one commented block.

``run_search.py`` turns flags into a frozen :class:`RunConfig`; every other module reads it
and none writes it. The config is saved beside each run's results, so any result can be
rebuilt (``config.json`` in the run folder).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.pruning import DEFAULT_MARGIN

DEFAULT_IMAGE_SIZE = 64


@dataclass(frozen=True)
class RunConfig:
    # --- what to search ---------------------------------------------------------------
    space: str = "lite"  # a shipped space name (spaces/<name>.toml) or a path to a .toml file
    # Optuna, multi-objective (val MAE, params, float16 bytes): tpe | nsga2; KerasTuner, val MAE
    # only: random | bayesian | hyperband. TPE until the search-efficiency benchmark says else.
    tuner: str = "tpe"
    trials: int = 6  # candidate models trained in the search, in total (reference included)
    reference: bool = True  # train the space's [reference] (the seed's recipe) as trial "ref"
    # Wall-clock budget: start no trial after this many minutes of the search (one running
    # then finishes); None: no limit. The search stops at whichever of this and --trials
    # comes first.
    max_minutes: float | None = None
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
        return cls.from_dict(json.loads(path.read_text()))
