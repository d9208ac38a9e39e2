"""``TrialRecord``: one trial as reports read it (plain data, no Keras, no tuner)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from search.errors import DamagedFile, UserError
from search.files import check_name, field_problem, read_json, show, write_json_atomic

COMPLETE, FAILED, INFEASIBLE, PRUNED = "complete", "failed", "infeasible", "pruned"
REFERENCE_ID = "ref"  # the trial id (and folder) of the space's reference
STATUSES = (COMPLETE, PRUNED, INFEASIBLE, FAILED)


@dataclass
class TrialRecord:
    trial_id: str
    status: str  # complete | pruned | infeasible | failed
    values: dict[str, Any] = field(default_factory=dict)  # active hyperparameter values
    val_mae: float | None = None  # years, best epoch on the validation split
    test_mae: float | None = None  # years, on the test split, with the best epoch's weights
    params: int | None = None  # trainable + non-trainable parameters
    tflite_float32_bytes: int | None = None  # measured by converting (size is weight-independent)
    tflite_float16_bytes: int | None = None
    # Measured by other code, or not yet: None means "not measured" and reports show '-'.
    tflite_int8_bytes: int | None = None  # full-integer quantised file
    macs: int | None = None  # multiply-accumulates for one image
    latency_ms: float | None = None  # host CPU latency for one image, milliseconds
    epochs_run: int = 0
    best_epoch: int | None = None  # 1-based
    train_seconds: float = 0.0  # fit + evaluate
    cost_seconds: float = 0.0  # measuring the costs (conversions, latency); 0 from the cache
    # of which the trial waited for: all of it, as costs are measured before training (older
    # runs measured them in a second process while the trial trained, and waited less)
    cost_wait_seconds: float = 0.0
    is_reference: bool = False  # the reference recipe, trained as a reference point
    model_path: str | None = None  # trained Keras model (.keras), relative to the run folder
    reason: str | None = None  # why a trial failed or is infeasible (one line)
    traceback: str | None = None
    history: dict[str, list[float]] = field(default_factory=dict)  # per-epoch metrics
    # Where training started and stopped, as 1-based epochs of the whole trial:
    initial_epoch: int = 0  # epochs already trained before this trial (Hyperband's later rounds)
    continues_trial: str | None = None  # the trial whose weights it started from (Hyperband)
    resumed_from_epoch: int | None = None  # an interrupted run's backup restored after this epoch
    pruned_at_epoch: int | None = None  # the epoch after which the pruner stopped it
    # The epoch this run of the trial was asked to train up to, when not the run's --epochs
    # (a rung of a multi-fidelity search, a Hyperband round); None: the whole trial.
    target_epochs: int | None = None
    # Paused at a rung of a multi-fidelity search (search.promotion): status "pruned" unless
    # promoted later, its epoch backup kept so that it goes on from where it stopped.
    paused: bool = False
    # Test MAE by gender, ethnicity and age band, with counts (search.groups.breakdown):
    # {"gender": {"male": {"n": 12, "mae": 5.1}, ...}, "ethnicity": {...}, "age_band": {...}};
    # None where not measured (not complete, or a run before it was).
    groups: dict[str, Any] | None = None
    # A refit (search.refit; refits/<id>/record.json, never among trials/): the trial whose
    # architecture it trained again from scratch on train + validation, longer and augmented
    # (no validation MAE then: val_mae stays None), the teacher it was distilled from (a trial
    # or refit id; None: labels only), and how it trained ("epochs", "augment",
    # "label_weight", "splits", "lr_schedule", "learning_rate", "batch_size").
    refit_of: str | None = None
    teacher: str | None = None
    refit: dict[str, Any] | None = None

    @property
    def tflite_float16_kib(self) -> float | None:
        return None if self.tflite_float16_bytes is None else self.tflite_float16_bytes / 1024

    @property
    def tflite_int8_kib(self) -> float | None:
        return None if self.tflite_int8_bytes is None else self.tflite_int8_bytes / 1024

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        """Unknown keys are dropped and missing ones take their defaults, so records written
        by older or newer versions still load."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: Path) -> None:
        """Atomic write: a reader never sees half a record."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> TrialRecord:
        """The record in ``path``; a damaged one (empty, truncated, not a JSON object, a field
        of the wrong type, an unknown status) raises :class:`DamagedFile`, a ValueError."""
        data = read_json(path)
        problem = field_problem(cls, data)
        if problem is None and data.get("status") not in STATUSES:
            problem = (f"'status' is {show(data.get('status'), 40)}, expected one of "
                       + ", ".join(STATUSES))
        if problem is None:
            try:
                check_name(data.get("trial_id"), "'trial_id'")
            except UserError as e:
                problem = str(e)
        if problem is not None:
            raise DamagedFile(path, f"not a trial record: {problem}")
        return cls.from_dict(data)


def trial_order(trial_id: str) -> tuple[int, str]:
    """Sort key of trial ids: numbers by value ("9" before "10", "007" as 7), then names."""
    return (int(trial_id), trial_id) if trial_id.isdigit() else (10**18, trial_id)


def load_records(run_dir: Path, damaged: list[DamagedFile] | None = None) -> list[TrialRecord]:
    """Every trial record of a run folder, the reference first, then in trial order.

    A damaged record is left out, so one bad file never hides the others, and added to
    ``damaged`` when given (:mod:`search.runfiles` says what each command does about it)."""
    out = []
    for p in sorted(Path(run_dir).glob("trials/*/record.json")):
        try:
            out.append(TrialRecord.load(p))
        except FileNotFoundError:  # removed since the listing
            continue
        except DamagedFile as e:
            if damaged is not None:
                damaged.append(e)
    return sorted(out, key=lambda r: (not r.is_reference, trial_order(r.trial_id)))


#: Where refits live in a run folder (search.refit): refits/<refit id>/record.json.
REFITS_DIR = "refits"


def load_refits(run_dir: Path, damaged: list[DamagedFile] | None = None) -> list[TrialRecord]:
    """Every refit record of a run folder (:mod:`search.refit`), in the order of the trials
    they refit; a damaged one is left out and added to ``damaged`` when given."""
    out = []
    for p in sorted(Path(run_dir).glob(f"{REFITS_DIR}/*/record.json")):
        try:
            out.append(TrialRecord.load(p))
        except FileNotFoundError:
            continue
        except DamagedFile as e:
            if damaged is not None:
                damaged.append(e)
    return sorted(out, key=lambda r: (trial_order(r.refit_of or r.trial_id), r.trial_id))


def finished_record(run_dir: Path, trial_id: str, values: dict[str, Any],
                    train: dict[str, Any]) -> TrialRecord | None:
    """The record of trial ``trial_id`` if it finished with these values and training
    arguments (``initial_epoch``, ``continues``, ``epochs``), else None: a process killed after the
    record was written and before its tuner heard re-runs the trial, and finds it here."""
    try:
        r = TrialRecord.load(Path(run_dir) / "trials" / trial_id / "record.json")
    except (OSError, ValueError, TypeError):
        return None
    same = (json.loads(json.dumps(r.values))
            == json.loads(json.dumps(dict(values)))
            and r.initial_epoch == train.get("initial_epoch", 0)
            and r.continues_trial == train.get("continues")
            and r.target_epochs == train.get("epochs")
            # a trial paused at a rung is not finished for a call that ends it there
            and not (r.paused and not train.get("pause")))
    return r if same else None


def other_candidate(run_dir: Path, trial_id: str, values: dict[str, Any]) -> TrialRecord | None:
    """The record in trial ``trial_id``'s folder if it holds other values, else None. A trial
    id names one candidate: a tuner proposing another under it does not match the run folder
    (its state was lost or damaged), and training it would write over a finished trial."""
    try:
        r = TrialRecord.load(Path(run_dir) / "trials" / trial_id / "record.json")
    except (OSError, ValueError):
        return None
    same = json.loads(json.dumps(r.values)) == json.loads(json.dumps(dict(values)))
    return None if same else r
