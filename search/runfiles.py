"""The files of a run folder, read by every command: what a damaged one means, and what each
command then does about it.

A file is *damaged* when it cannot be read as what it holds: empty, truncated, not UTF-8, not
JSON, the wrong JSON type, a field of the wrong type (:func:`search.files.read_json`). Each
damaged file is named in one line with what happens about it:

==========================  ==========================  ===================  =================
file                        search (resume)             leaderboard          export
==========================  ==========================  ===================  =================
``config.json``             rewritten from the flags    left out, said       stops: restore it
``run.json`` (the setup     rebuilt when config.json    not read             the split check
check)                      and space.json show this                         warns
                            command's setup, else stops
``space.json``,             rewritten                   left out, said       dataset: taken
``dataset.json``,                                                            from the data
``baseline.json``,
``leaderboard.json``
``trials/<id>/record.json`` left out, said (the tuner   left out, said       stops, unless
                            keeps the trial as done);                        ``--trial`` names
                            the reference's is set                           other trials
                            aside and trains again
``trials/<id>/model.keras`` said (cannot be exported)   not read             stops when it is
                                                                             the one chosen
``optuna.journal``          a torn last line is set     not read             not read
                            aside (:mod:`search.journal`);
                            other damage stops
``costs.json`` (a cache)    set aside, measured again   not read             not read
``tuner/**.json``           stops: restore it           not read             not read
(KerasTuner)
==========================  ==========================  ===================  =================

"Stops" is one line naming the file and the fix (exit status 2); "said" is a line beside the
result. A missing file is treated as damaged where the run cannot do without it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search.config import RunConfig
from search.errors import DamagedFile
from search.files import field_problem, read_json
from search.records import COMPLETE, TrialRecord, load_records

#: Files a search rewrites from what it knows, whatever state they are in.
REWRITTEN = ("config.json", "space.json", "dataset.json", "baseline.json", "leaderboard.json")
#: What the leaderboard reads besides the records, and the fields it relies on.
SCHEMAS: dict[str, Mapping[str, str] | type] = {
    "config.json": RunConfig,
    "space.json": {"name": "str", "description": "str", "fixed": "dict", "params": "dict",
                   "reference": "dict | None"},
    "dataset.json": {"source": "str", "found": "int", "used": "int", "skipped_total": "int",
                     "skipped": "dict", "splits": "dict", "age_histogram": "dict"},
    "baseline.json": {"median_age": "float", "val_mae": "float", "test_mae": "float"},
    "leaderboard.json": {"baseline": "dict | None"},
}
#: The setting a resumed run must share with the run it resumes, besides the space.
SETUP_KEYS = ("space", "tuner", "seed", "image_size", "data_dir", "synthetic_images",
              "max_images", "val_fraction", "test_fraction")
COSTS = "costs.json"


def read(run_dir: Path, name: str) -> dict[str, Any]:
    """The JSON object ``name`` of a run folder, checked against its :data:`SCHEMAS` entry;
    FileNotFoundError when absent, :class:`DamagedFile` when damaged."""
    path = Path(run_dir) / name
    data = read_json(path)
    schema = SCHEMAS.get(name)
    problem = field_problem(schema, data) if schema is not None else None
    if problem is not None:
        raise DamagedFile(path, problem)
    return data


def read_optional(run_dir: Path, name: str, problems: list[str]) -> dict[str, Any]:
    """For reports: the file's object, or {} when absent or damaged (a damaged one is said
    in ``problems``, one line)."""
    try:
        return read(run_dir, name)
    except FileNotFoundError:
        return {}
    except DamagedFile as e:
        problems.append(f"{e.path}: {e.problem}; left out (the run's search command "
                        "rewrites it)")
        return {}


def record_line(e: DamagedFile) -> str:
    """One line on a damaged trial record: which, what is wrong, what to do."""
    folder = Path(e.path).parent
    return (f"{e.path}: {e.problem}; trial {folder.name} is left out: restore the file, or "
            f"delete the folder {folder} to drop the trial")


def records(run_dir: Path, problems: list[str]) -> list[TrialRecord]:
    """Every readable trial record; each damaged one is said in ``problems``."""
    damaged: list[DamagedFile] = []
    out = load_records(run_dir, damaged)
    problems.extend(record_line(e) for e in damaged)
    return out


def config(run_dir: Path, command: str) -> RunConfig:
    """The run's config, which ``command`` cannot do without: one line naming the file and
    the fix when it is missing or damaged."""
    path = Path(run_dir) / "config.json"
    fix = (f"{command} needs the run's settings: restore it, or run the run's search command "
           "again (it rewrites config.json and trains nothing it has)")
    try:
        return RunConfig.load(path)
    except FileNotFoundError:
        raise DamagedFile(path, "is missing", fix) from None
    except DamagedFile as e:
        raise DamagedFile(path, e.problem, fix) from None


# --- what a search does about damaged files ---------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def _confirms(run_dir: Path, cfg: RunConfig, fingerprint: Mapping[str, Any]) -> bool:
    """Whether config.json and space.json show that the run searched what ``cfg`` does."""
    try:
        old = RunConfig.load(run_dir / "config.json")
        space = read(run_dir, "space.json")
    except (OSError, ValueError):
        return False
    space = {k: v for k, v in space.items() if k != "source"}
    return _same(space, fingerprint["space"]) and all(
        getattr(old, k) == getattr(cfg, k) for k in SETUP_KEYS)


def previous_setup(run_dir: Path, cfg: RunConfig, fingerprint: Mapping[str, Any]
                   ) -> tuple[dict[str, Any] | None, list[str]]:
    """What the run in ``run_dir`` searched (``run.json``), for the resume check, and lines
    on what was mended: (None, []) for a new run.

    A damaged or missing ``run.json`` in a folder with trials is rebuilt when config.json
    and space.json show this command's setup; otherwise the search stops with one line.
    """
    path = Path(run_dir) / "run.json"
    try:
        return read_json(path), []
    except FileNotFoundError:
        damage = "is missing"
        if not any(Path(run_dir).glob("trials/*/record.json")):
            return None, []  # a new run, or one killed before its first trial finished
    except DamagedFile as e:
        damage = e.problem
    if _confirms(Path(run_dir), cfg, fingerprint):
        return dict(fingerprint), [f"{path}: {damage}; rebuilt from config.json and "
                                   "space.json, which show this command's setup"]
    raise DamagedFile(path, damage, "it records what the run searches, and config.json and "
                      "space.json do not show this command's setup: restore it, or start the "
                      "run over with --overwrite")


def _set_aside(path: Path) -> Path:
    n = 0
    aside = path.with_name(f"{path.name}.damaged")
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{n}")
    path.rename(aside)
    return aside


def _journal(run_dir: Path, cfg: RunConfig) -> Path | None:
    """The Optuna journal file this search appends to, or None (another storage or tuner)."""
    from search.backends import OPTUNA_TUNERS

    if cfg.tuner not in OPTUNA_TUNERS:
        return None
    if cfg.storage:
        return None if "://" in cfg.storage else Path(cfg.storage)
    from search.backends.optuna import JOURNAL

    return run_dir / JOURNAL


def tuner_state(run_dir: Path, cfg: RunConfig) -> str:
    """Where the tuner keeps its state of the run: the journal file, the --storage URL, or
    KerasTuner's folder; for messages."""
    path = _journal(Path(run_dir), cfg)
    if path is not None:
        return str(path)
    return cfg.storage if cfg.storage else str(Path(run_dir) / "tuner")


def mend_for_search(run_dir: Path, cfg: RunConfig, reference_id: str) -> list[str]:
    """Before a search resumes in ``run_dir``: mend what it can (rewritten files are left to
    be rewritten; a damaged cache or reference record is set aside; a torn journal line is
    set aside) and return one line on each damaged file and what this search does about it.
    Raises :class:`DamagedFile` where the user must act."""
    from search import journal

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    notes: list[str] = []
    for name in REWRITTEN:
        try:
            read(run_dir, name)
        except FileNotFoundError:
            pass
        except DamagedFile as e:
            notes.append(f"{e.path}: {e.problem}; this search rewrites it")
    try:
        read_json(run_dir / COSTS)
    except FileNotFoundError:
        pass
    except DamagedFile as e:
        aside = _set_aside(run_dir / COSTS)
        notes.append(f"{e.path}: {e.problem}; set aside as {aside.name}, costs are measured "
                     "again")
    for path in sorted((run_dir / "tuner").glob("**/*.json")):
        try:
            read_json(path, expect=object)
        except FileNotFoundError:
            continue
        except DamagedFile as e:
            raise DamagedFile(path, e.problem, "KerasTuner's state of the search: restore it, "
                              "or start the run over with --overwrite") from None
    damaged: list[DamagedFile] = []
    for r in load_records(run_dir, damaged):
        note = _model_problem(run_dir, r)
        if note:
            notes.append(note)
    for e in damaged:
        if Path(e.path).parent.name == reference_id:
            aside = _set_aside(Path(e.path))
            notes.append(f"{e.path}: {e.problem}; set aside as {aside.name}, the reference "
                         "trains again")
        else:
            notes.append(record_line(e))
    path = _journal(run_dir, cfg)
    if path is not None:
        note = journal.repair(path)
        if note:
            notes.append(note)
        tuned = [p for p in run_dir.glob("trials/*/record.json")
                 if p.parent.name != reference_id]
        problem = _study_problem(path, run_dir.name) if tuned else None
        if problem:
            raise DamagedFile(path, problem, f"it holds the tuner's study of the run's "
                              f"{len(tuned)} trial(s): restore it, or start the run over with "
                              "--overwrite")
    return notes


def _study_problem(path: Path, study: str) -> str | None:
    """Why the journal at ``path`` holds no trial of study ``study``, or None."""
    if not path.is_file():
        return "is missing"
    if path.stat().st_size == 0:
        return "is empty"
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(path)))
    try:
        trials = optuna.load_study(study_name=study, storage=storage).get_trials(deepcopy=False)
    except KeyError:
        return f"holds no study {study!r}"
    return None if trials else f"holds no trial of study {study!r}"


def _model_problem(run_dir: Path, r: TrialRecord) -> str | None:
    """A line on a complete trial whose Keras model is missing or is no Keras file."""
    import zipfile

    if r.status != COMPLETE or not r.model_path or Path(r.model_path).is_absolute():
        return None  # an absolute path: trained elsewhere, export looks in trials/<id>/
    path = run_dir / r.model_path
    if path.is_file() and zipfile.is_zipfile(path):
        return None
    what = "is missing" if not path.exists() else "is not a Keras model (a zip archive)"
    return (f"{path}: {what}; trial {r.trial_id} stays on the leaderboard but cannot be "
            "exported: restore the file")
