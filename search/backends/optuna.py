"""Optuna backend: multi-objective TPE or NSGA-II, one study shared by any number of workers.

The study minimises three objectives, as the leaderboard ranks them: validation MAE (years),
parameters, and TFLite float16 bytes. Its name is the run's name and it lives in a storage
that every worker opens (``--storage``):

- default: a journal file, ``<run>/optuna.journal`` (``JournalStorage`` +
  ``JournalFileBackend``), for several processes on one machine or a shared file system;
  Optuna's FAQ advises against SQLite for parallel workers;
- an RDB URL, ``postgresql://user:password@host/db`` for many machines (or
  ``sqlite:///file.db`` for one process);
- a path to another journal file.

The same command started N times shares one search: each worker asks the study for a
trial, so no trial is run twice; trial folders are keyed by Optuna's trial number
(``trials/007/``), which the storage hands out once, so workers never collide.

Counting (``--trials N`` in total): complete, pruned and failed trials count, and so do the
trials running or waiting in any worker. Infeasible candidates are told as FAIL with
user attribute ``agesearch_status = "infeasible"`` and do not count (the samplers learn
nothing from them; :data:`~search.backends.MAX_INFEASIBLE_STREAK` in a row stop the search).
When two workers take the last slot at the same moment, the one with the higher trial number
gives its trial up (told FAIL as ``surplus``) and stops.

The study is the leaderboard's search, so that optuna-dashboard shows what report.html
shows: one Optuna trial per trial folder, its number the folder's name (trial 7 is
``trials/007``), the reference included (trial ``ref``, trained by the pipeline before the
search and added with its values and costs when the search ends: :func:`add_reference`; a
seed gives the same trials as without it; a run extended later with a larger ``--trials``
goes on numbering after it), each trial's validation MAE per epoch as its
intermediate values (step = epoch, 1-based) and its costs and status as user attributes
(:func:`record_attrs`).

Interruptions leave no failed trial behind. On Ctrl-C (or a spent budget) the running trial
stays RUNNING, marked ``interrupted``; a worker killed outright (``kill -9``, power loss)
leaves its trial RUNNING too. Whichever worker looks next on this host adopts it (its
worker process is gone: :func:`orphans`): the same Optuna trial, number, values and folder,
resumed from its epoch backup. On an RDB storage (PostgreSQL) a worker that died on another
machine is found through Optuna's heartbeat (each running trial beats every
``$AGESEARCH_HEARTBEAT`` seconds, 20 by default, 0 = off; one silent for
:data:`STALE_BEATS` beats is stale, ``optuna.storages.fail_stale_trials``): Optuna fails it,
and its values are enqueued again for its folder (:func:`recover_stale`), the one case that
leaves a FAIL trial. A worker whose budget is spent waits while other workers' trials that
it could recover still run (any trial with a heartbeat; this host's otherwise), so a search
ends with none left behind; the journal has no heartbeat, so a worker that died on another
machine sharing a journal is recovered only by a worker started again on that machine.

Samplers: one fresh sampler per trial, seeded from (``--seed``, trial number), so one worker
is reproducible and parallel workers do not propose the same random candidates; the
sampler's state is the study in storage. TPE uses ``constant_liar`` (running trials count
as bad guesses, so parallel workers spread out) and starts with max(4, min(10, N // 3))
random trials, N being the trials the search will run: ``--trials``, or under
``--max-minutes`` the trials finished plus those that fit in the time left at their mean
duration, estimated anew before each trial; NSGA-II's population is
max(4, min(50, --trials // 3)).

The accuracy band (``--accuracy-band``, default 0.75): the samplers see a complete trial
that gained less than that share of the best complete trial's gain over the median-age
baseline (the objective's ``baseline_mae``, set by the pipeline) as infeasible
(:class:`SamplerView`; nothing is stored, reports rank every trial), so the search leaves
the tiny, inaccurate end of the front once it has found much better networks.

How the band reaches the samplers, through public interfaces only. Optuna's own constraint
mechanisms do not fit: ``constraints_func`` (TPE, NSGA-II; deprecated in Optuna 5.0) and
``Trial.set_constraint`` store a value once, when a trial finishes, while the band's limit
moves with the best trial *now*, so stored values go stale (a trial that was the best among
the random start-up would stay feasible for good); and stored constraints would change
``study.best_trials``, the Pareto front the reports rank. Nor can a sampler be handed a
filtered study through a public call: the samplers read trials with ``Study._get_trials``,
a private method. What every read of theirs goes through is the study's *storage*, a public
interface (``optuna.storages.BaseStorage``, whose abstract methods RDB, journal and
in-memory storages all implement). So, for each trial, :class:`_PerTrialSeed` hands its
inner sampler the same study loaded (``optuna.load_study``) from a :class:`SamplerView`:
a view of the run's storage whose complete trials carry the band's constraint
(``FrozenTrial.set_constraint`` on copies) and through which every write (NSGA-II's
generations and parent cache, TPE's shared relative parameters) reaches the real storage.
TPE and NSGA-II honour ``FrozenTrial.constraints``, as they document; tests/
test_accuracy_band.py fails if they stop seeing the band.
"""

from __future__ import annotations

import abc
import copy
import functools
import math
import os
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from search import backends, workers
from search.errors import BudgetTooTight, TimeBudgetSpent, UserError
from search.records import (
    COMPLETE,
    FAILED,
    INFEASIBLE,
    PRUNED,
    REFERENCE_ID,
    TrialRecord,
    load_records,
)
from search.space import Param, Space

#: The study's objectives, all minimised, in order.
METRICS = ("val_mae", "params", "tflite_float16_bytes")
STATUS = "agesearch_status"  # user attribute: the record's status, set when told
TRIAL_ID = "agesearch_trial_id"  # user attribute: the trial's folder under trials/
WORKER = "agesearch_worker"  # user attribute: host:pid of the worker running it
RETRY_OF = "agesearch_retry_of"  # user attribute: the stale trial's number (RDB heartbeat)
IS_REFERENCE = "agesearch_reference"  # user attribute: the space's reference (trial 'ref')
INTERRUPTED = "interrupted"  # STATUS of a RUNNING trial left for the next worker to adopt
JOURNAL = "optuna.journal"
#: User attributes of a told trial: its figures (record field -> attribute), beside
#: STATUS; what optuna-dashboard shows in its trial table.
COST_ATTRS = {"params": "agesearch_params", "tflite_float16_bytes": "agesearch_float16_bytes",
              "tflite_int8_bytes": "agesearch_int8_bytes", "macs": "agesearch_macs",
              "latency_ms": "agesearch_latency_ms", "test_mae": "agesearch_test_mae",
              "epochs_run": "agesearch_epochs", "train_seconds": "agesearch_train_seconds"}


def folder_name(number: int) -> str:
    """Trial folder of Optuna trial ``number``: ``7`` -> ``"007"``."""
    return f"{number:03d}"


# --- storage ----------------------------------------------------------------------------


def storage_for(url: str | None, run_dir: Path):
    """The Optuna storage of ``--storage`` (None: the run folder's journal file)."""
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    from search.journal import repaired
    if not url:
        return JournalStorage(JournalFileBackend(repaired(Path(run_dir) / JOURNAL)))
    if "://" not in url:
        path = Path(url)
        if not path.parent.is_dir():
            raise UserError(f"--storage {url!r}: folder {str(path.parent)!r} does not exist; "
                            "expected a journal file path or an RDB URL (postgresql://...)")
        return JournalStorage(JournalFileBackend(str(path)))
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    if scheme not in ("postgresql", "mysql", "sqlite"):
        raise UserError(f"--storage {url!r}: unknown scheme {scheme!r}; expected "
                        "postgresql://, mysql://, sqlite:/// or a journal file path")
    beat = heartbeat_seconds()
    kwargs = {} if not beat else dict(heartbeat_interval=beat, grace_period=STALE_BEATS * beat,
                                      heartbeat_stale_trial_callback=_retry_stale)
    try:
        return _open_rdb(RDBStorage, _with_driver(url), kwargs)
    except ImportError:
        driver = {"postgresql": "'agesearch[postgres]' (psycopg2-binary)",
                  "mysql": "PyMySQL"}.get(scheme, "its SQLAlchemy driver")
        raise UserError(f"--storage {url!r} needs a database driver that is not installed; "
                        f"install it (pip install {driver})") from None
    except Exception as e:  # sqlalchemy's OperationalError and friends: a bad URL or server
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise UserError(f"--storage {url!r}: cannot open it ({first})") from None


def _open_rdb(rdb_storage, url: str, kwargs: dict[str, Any], tries: int = 5):
    """``RDBStorage(url, **kwargs)``, tried again a moment later when it fails on a duplicate:
    workers that open an empty database at the same moment race to create Optuna's tables
    (PostgreSQL: ``duplicate key value violates unique constraint "pg_type_typname_nsp_index"``
    for all but one of 4 workers started at once; tests/test_postgres.py). The loser finds the
    tables made on its next try."""
    import sqlalchemy.exc

    for attempt in range(tries):
        try:
            with warnings.catch_warnings():  # the heartbeat is marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return rdb_storage(url, **kwargs)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == tries - 1:
                raise
            time.sleep(0.2 * (attempt + 1) + (os.getpid() % 10) / 50)  # spread the workers


def _with_driver(url: str) -> str:
    """``postgresql://...`` with the driver that is installed: SQLAlchemy 2.0 reads a bare
    ``postgresql://`` as psycopg2, 2.1 as psycopg 3; the ``postgres`` extra installs
    psycopg2. Any other URL, or one that names its driver, is kept."""
    import importlib.util

    head, sep, rest = url.partition("://")
    if head != "postgresql" or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2{sep}{rest}"
    return url


#: Seconds between two heartbeats of a running trial on an RDB storage, unless
#: ``$AGESEARCH_HEARTBEAT`` says otherwise (0: no heartbeat).
HEARTBEAT_ENV = "AGESEARCH_HEARTBEAT"
HEARTBEAT_SECONDS = 20
#: A running trial whose worker missed this many heartbeats is stale (Optuna's grace period):
#: one minute by default, so a slow database or a busy host does not fail a live trial.
STALE_BEATS = 3


def heartbeat_seconds() -> int:
    """The heartbeat interval of RDB storages (seconds; 0: none): ``$AGESEARCH_HEARTBEAT``."""
    text = os.environ.get(HEARTBEAT_ENV, "").strip()
    if not text:
        return HEARTBEAT_SECONDS
    if not text.isdigit():
        raise UserError(f"${HEARTBEAT_ENV}={text!r}: expected whole seconds (0: no heartbeat)")
    return int(text)


# --- samplers ---------------------------------------------------------------------------


def _seed_for(seed: int, number: int) -> int:
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, number]).generate_state(1)[0])


def startup_trials(expected: int) -> int:
    """TPE's random start-up for a search expected to run ``expected`` trials: a third of
    them, at least 4 (TPE needs a few to split good from bad), at most 10."""
    return max(4, min(10, expected // 3))


def expected_trials(trials: int, durations: list[float], seconds_left: float | None) -> int:
    """How many trials a search will run in all: ``trials`` (``--trials``), or fewer when
    ``--max-minutes`` runs out first, at the mean duration of the ``durations`` finished
    so far (unknown before the first: ``trials``)."""
    if seconds_left is None or not durations:
        return trials
    mean = max(1e-3, sum(durations) / len(durations))
    return min(trials, len(durations) + math.ceil(max(0.0, seconds_left) / mean))


def make_sampler(name: str, seed: int, trials: int | Callable[[Any], int],
                 startup: int | None = None, band: float = 0.0,
                 baseline: float | None = None, storage=None):
    """The sampler of ``--tuner name``, reseeded per trial (see the module docstring).

    ``trials``: the trials the search will run, or a function of the study (None before
    the first trial) that says it anew before each trial (a ``--max-minutes`` search learns
    it from the trials' durations): TPE's random start-up follows it. NSGA-II's population
    is fixed when the sampler is made (a generation cannot change size).

    ``band``: the accuracy band (``--accuracy-band``; 0 = off), with ``baseline`` the
    median-age baseline's validation MAE (None: off): the sampler sees a complete trial that
    gained less than ``band`` of the best trial's gain over the baseline as infeasible (see
    :class:`SamplerView`). The band reads the study through ``storage``, the storage the
    study is created on, which it needs whenever it is on."""
    expected = trials if callable(trials) else (lambda study: trials)
    population = max(4, min(50, expected(None) // 3))
    if baseline is None:
        band = 0.0
    if band > 0 and storage is None:
        raise ValueError("the accuracy band needs the storage its study is created on")

    def make(s: int, study=None):
        n = startup_trials(expected(study)) if startup is None else startup
        with warnings.catch_warnings():  # constant_liar is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if name == "tpe":
                return optuna.samplers.TPESampler(seed=s, n_startup_trials=n,
                                                  constant_liar=True), n
            if name == "nsga2":
                return optuna.samplers.NSGAIISampler(seed=s, population_size=population), None
            if name == "moasha":  # new candidates are drawn at random (search.backends.moasha)
                return optuna.samplers.RandomSampler(seed=s), None
        raise UserError(f"unknown Optuna --tuner {name!r}; known: "
                        f"{', '.join(backends.OPTUNA_TUNERS)}")

    return _PerTrialSeed(make, seed, band, baseline, storage)


class _PerTrialSeed(optuna.samplers.BaseSampler):
    """Delegates each trial to a fresh sampler seeded from (seed, trial number).

    Two workers with one ``--seed`` would otherwise draw the same random candidates; and a
    single worker stays reproducible, as a trial's draws depend on its number only.

    ``startup``: the random start-up of the current trial's TPE sampler (None: NSGA-II).
    ``band``, ``baseline``: the accuracy band, 0 and None when it is off; ``storage``: the
    storage of the study, which the band reads it through.
    """

    def __init__(self, make, seed: int, band: float = 0.0, baseline: float | None = None,
                 storage=None):
        self._make, self._seed, self.storage = make, seed, storage
        self.band, self.baseline = band, baseline
        self._view: tuple[Any, optuna.Study] | None = None  # (study, its banded view)
        self._inner, self.startup = make(seed)

    def _seen(self, study):
        """What the inner sampler sees: this trial's view of the study (:class:`SamplerView`:
        infeasible candidates as constraint-violating trials, and the accuracy band when it is
        on), made once per trial so that its limit is computed once, not per parameter; the
        study itself when its storage is unknown."""
        if self.storage is None:
            return study
        if self._view is None or self._view[0] is not study:
            self._view = (study, banded_view(study, self.storage, self.band, self.baseline,
                                             sampler=self._inner))
        return self._view[1]

    def before_trial(self, study, trial) -> None:
        self._view = None  # the finished trials may have changed: a new view
        self._inner, self.startup = self._make(_seed_for(self._seed, trial.number), study)
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._inner.infer_relative_search_space(self._seen(study), trial)

    def sample_relative(self, study, trial, search_space):
        return self._inner.sample_relative(self._seen(study), trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._inner.sample_independent(self._seen(study), trial, param_name,
                                              param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


#: The name of the constraint the accuracy band sets on the trials a sampler sees (never
#: stored): ``FrozenTrial.constraints[BAND_CONSTRAINT]``.
BAND_CONSTRAINT = "agesearch_accuracy_band"
#: The constraint an infeasible candidate carries as the samplers see it (never stored).
INFEASIBLE_CONSTRAINT = "agesearch_infeasible"


def banded_view(study, storage, band: float, baseline: float, sampler=None) -> optuna.Study:
    """``study`` as the samplers see it under the accuracy band: the same study, loaded
    (``optuna.load_study``) from a :class:`SamplerView` over ``storage``, the storage it
    lives in. Its trials carry the band's constraint; what a sampler writes reaches
    ``storage``."""
    return optuna.load_study(study_name=study.study_name,
                             storage=SamplerView(storage, study.study_name, band, baseline),
                             sampler=sampler or optuna.samplers.RandomSampler())


class SamplerView(optuna.storages.BaseStorage):
    """A storage as a sampler sees it: ``storage`` itself, except for three kinds of trials of
    study ``study_name``.

    Infeasible candidates (told FAIL, ``agesearch_status = "infeasible"``: over a budget, a
    flatten head too large; known before any training) read back as complete trials that
    violate a constraint (:data:`INFEASIBLE_CONSTRAINT`), so TPE puts them with the bad
    trials and samples less of what they share, and NSGA-II ranks them last. Told as FAIL
    alone, the samplers learnt nothing from them: on all 10,283 real faces, a tpe search
    extended from 6 to 40 trials drew 100 infeasible 2-block flatten candidates in a row and
    stopped (:data:`~search.backends.MAX_INFEASIBLE_STREAK`) without training one more.

    Under the accuracy band (``band`` > 0), the complete trials carry one more
    constraint (:data:`BAND_CONSTRAINT`): the gain they miss (years) to keep ``band`` of the
    best complete trial's gain over the median-age baseline (gain = baseline val MAE - val
    MAE). A value <= 0 is inside the band; a positive one makes the trial infeasible, so TPE
    puts it with the bad trials and NSGA-II ranks it after the feasible ones, however small
    it is. Pruned trials read back without their per-epoch validation MAE (Optuna's TPE
    cannot rank those in a multi-objective study). Every other call, writes included, goes
    to ``storage`` unchanged.

    Why: with three objectives, the smallest networks are on the front however inaccurate,
    and multi-objective TPE's few "good" trials (10% of those finished) were picked among
    them by hypervolume; on the synthetic faces it spent 12 of 20 trials on 2-3-block networks
    at 9.7-14.3 y while the best were 4.4-4.7 y. Gains, not ratios of MAE: on real faces the
    baseline (15 y) is under twice the best trials' MAE (9 y), so any ratio that spares
    useful networks there spares everything. The band is judged against the best *now*, when
    each trial is sampled, so a trial that was the best early on drops out once much better
    ones exist. Nothing is written to storage: the leaderboard and the Pareto front
    (``study.best_trials``) still rank every trial.
    """

    def __init__(self, storage, study_name: str, band: float, baseline: float):
        self.storage, self.study_name, self.band, self.baseline = (storage, study_name,
                                                                   band, baseline)
        # A view lives for one trial's sampling, during which TPE reads every trial once per
        # parameter: finished trials (which no write can change) are read once and kept.
        self._finished: dict[int, Any] | None = None
        self._seen = 0  # trials in the last read

    @functools.cached_property
    def study_id(self) -> int:
        return self.storage.get_study_id_from_name(self.study_name)

    @functools.cached_property
    def limit(self) -> float | None:
        """The worst validation MAE inside the band (years), as the finished trials stood
        when first asked (once per view); None: no trial beat the baseline yet, so there is
        no gain to keep a share of."""
        done = [t.values[0] for t in self.storage.get_all_trials(
                    self.study_id, deepcopy=False, states=(TrialState.COMPLETE,))
                if t.values and math.isfinite(t.values[0])]
        best = min(done, default=math.inf)
        if best >= self.baseline:
            return None
        return self.baseline - self.band * (self.baseline - best)

    def _mark(self, trial, copied: bool):
        """``trial`` with the band's constraint (a copy unless ``copied`` already)."""
        if (trial.state == TrialState.FAIL
                and trial.user_attrs.get(STATUS) == INFEASIBLE):
            trial = trial if copied else copy.deepcopy(trial)
            trial.state = TrialState.COMPLETE
            trial.values = [1e12] * len(METRICS)  # never read: infeasible trials rank last
            trial.set_constraint(INFEASIBLE_CONSTRAINT, 1e9)
            return trial
        if trial.state == TrialState.PRUNED and trial.intermediate_values:
            # Optuna's TPE ranks pruned trials by their last intermediate value through
            # ``study.direction``, which a multi-objective study refuses (RuntimeError): a
            # search on real faces stopped at its first pruned trial once the study held
            # per-epoch values. Without them, it treats them as it did before they were stored.
            trial = trial if copied else copy.deepcopy(trial)
            trial.intermediate_values = {}
            return trial
        limit = self.limit if self.band > 0 else None
        if limit is None or trial.state != TrialState.COMPLETE or not trial.values:
            return trial
        trial = trial if copied else copy.deepcopy(trial)
        excess = trial.values[0] - limit
        trial.set_constraint(BAND_CONSTRAINT, excess if math.isfinite(excess) else 1e9)
        return trial

    def _trials_now(self) -> list:
        """Every trial of the study, as in storage now (not copied): the finished ones from
        the first read, the others read again. If a trial finished since (it is in neither),
        everything is read again."""
        if self._finished is not None:
            live = self.storage.get_all_trials(self.study_id, deepcopy=False,
                                               states=(TrialState.RUNNING, TrialState.WAITING))
            if len(self._finished) + len(live) >= self._seen:
                self._seen = len(self._finished) + len(live)
                return sorted([*self._finished.values(), *live], key=lambda t: t.number)
        trials = self.storage.get_all_trials(self.study_id, deepcopy=False)
        self._finished = {t.number: t for t in trials if t.state.is_finished()}
        self._seen = len(trials)
        return trials

    def get_all_trials(self, study_id: int, deepcopy: bool = True, states=None):
        if study_id != self.study_id:
            return self.storage.get_all_trials(study_id, deepcopy=deepcopy, states=states)
        trials = self._trials_now()
        if deepcopy:
            trials = [copy.deepcopy(t) for t in trials]
        seen = (self._mark(t, copied=deepcopy) for t in trials)  # states as the sampler sees
        return [t for t in seen if states is None or t.state in states]

    def get_trial(self, trial_id: int):
        trial = self.storage.get_trial(trial_id)
        if trial.state not in (TrialState.COMPLETE, TrialState.FAIL):
            return trial
        ours = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
        return self._mark(trial, copied=False) if ours == trial_id else trial


def _delegate(name: str):
    def method(self, *args, **kwargs):
        return getattr(self.storage, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


# The rest of the storage interface (its abstract methods) is the storage's own; the methods
# BaseStorage implements on top of them read trials through the two above.
for _name in optuna.storages.BaseStorage.__abstractmethods__:
    if _name not in vars(SamplerView):
        setattr(SamplerView, _name, _delegate(_name))
abc.update_abstractmethods(SamplerView)


# --- the space as suggest_* calls -------------------------------------------------------


def suggest(trial, p: Param) -> Any:
    """One parameter's value from an Optuna trial, with the same domain as KerasTuner's."""
    if p.type == "int":
        step = int(p.step or 1)
        if p.log and step != 1:  # Optuna has no stepped log ints: the grid as a choice
            return trial.suggest_categorical(p.name, list(p.domain()))
        return trial.suggest_int(p.name, int(p.low), int(p.high), step=step, log=p.log)
    if p.type == "float":
        if p.log and p.step:
            raise UserError(f"params.{p.name}: a float with both 'step' and 'log' is not "
                            "supported by the Optuna tuners; drop one")
        return float(trial.suggest_float(p.name, float(p.low), float(p.high), step=p.step,
                                         log=p.log))
    if p.type == "choice":
        return trial.suggest_categorical(p.name, list(p.values))
    if p.type == "bool":
        return bool(trial.suggest_categorical(p.name, [False, True]))
    raise ValueError(p.type)  # pragma: no cover - the space loader rejects other types


def values_of(space: Space, trial) -> dict[str, Any]:
    """Complete candidate values; parameters whose ``when`` fails are never suggested."""
    return space.active_values(lambda p: suggest(trial, p))


def sample_values(space: Space, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` candidates as the TPE sampler's random start draws them (no training)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize"] * len(METRICS),
                                sampler=make_sampler("tpe", seed, n, startup=n))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(values_of(space, trial))
        study.tell(trial, state=TrialState.FAIL)
    return out


# --- counting and recovery ---------------------------------------------------------------


def counts(t) -> bool:
    """Whether a trial counts towards --trials (running and waiting ones do, for now)."""
    if t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING,
                   TrialState.WAITING):
        return True
    return t.state == TrialState.FAIL and t.user_attrs.get(STATUS) == FAILED


def is_reference(t) -> bool:
    """Whether study trial ``t`` is the space's reference (trial ``ref``)."""
    return bool(t.user_attrs.get(IS_REFERENCE)) or t.user_attrs.get(TRIAL_ID) == REFERENCE_ID


def _surplus(study, number: int, limit: int) -> bool:
    """Whether trial ``number`` is beyond the first ``limit`` counted trials."""
    counted = sorted(t.number for t in study.get_trials(deepcopy=False) if counts(t))
    return number not in counted[:limit]


def _requeue(study, params: dict[str, Any], trial_id: str, number: int) -> None:
    """Enqueue trial ``number``'s values again, to run in its folder ``trial_id`` (whose epoch
    backup the next worker to ask resumes from, wherever it runs)."""
    study.enqueue_trial(params, user_attrs={TRIAL_ID: trial_id, RETRY_OF: number})


_recovering = threading.local()  # .folders: where _retry_stale reports to recover_stale


def _retry_stale(study, trial) -> None:
    """Optuna's heartbeat-stale callback (RDB storages, see :func:`storage_for`): called once
    per stale trial, by the one worker whose ``fail_stale_trials`` failed it."""
    folder = trial.user_attrs.get(TRIAL_ID, folder_name(trial.number))
    _requeue(study, trial.params, folder, trial.number)
    folders = getattr(_recovering, "folders", None)
    if folders is not None:
        folders.append(folder)


def recover_stale(study) -> list[str]:
    """On an RDB storage with a heartbeat: fail the RUNNING trials that missed
    :data:`STALE_BEATS` heartbeats, wherever their worker ran, and enqueue their values again
    (same trial folder); return their trial folders. Exactly one worker fails and enqueues
    each (``optuna.storages.fail_stale_trials``, which calls :func:`_retry_stale`). A no-op
    without a heartbeat: the trials of dead workers on this host are adopted instead
    (:func:`orphans`), with no failed trial left behind."""
    out: list[str] = []
    _recovering.folders = out
    try:
        with warnings.catch_warnings():  # fail_stale_trials is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # a no-op without a heartbeat
    finally:
        _recovering.folders = None
    return out


def orphans(study) -> list:
    """RUNNING trials that no live worker runs: their worker ran on this host and its process
    is gone (killed, or it stopped after Ctrl-C or a spent budget, leaving the trial
    ``interrupted``), oldest first. Any worker may adopt one (:func:`search`)."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get(WORKER)
        if worker is not None and not is_reference(t) and workers.is_dead(worker):
            out.append(t)
    return out


def _adopt(study, storage, study_id: int, run_dir: Path):
    """Claim an orphaned trial (:func:`orphans`) for this worker: (the trial as a live
    ``optuna.trial.Trial``, its claim file), or (None, None) when there is none. The claim
    file keeps two workers from adopting one trial; it is released when the trial is told."""
    for t in orphans(study):
        claim = Path(run_dir) / "trials" / ".claims" / f"optuna-{t.number}"
        if not workers.claim(claim):
            continue  # another worker adopted it
        tid = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        fresh = storage.get_trial(tid)  # as it is now that the claim is ours
        worker = fresh.user_attrs.get(WORKER)
        if fresh.state != TrialState.RUNNING or worker is None or not workers.is_dead(worker):
            workers.release(claim)
            continue
        trial = optuna.trial.Trial(study, tid)
        trial.set_user_attr(WORKER, workers.worker_id())
        return trial, claim
    return None, None


# --- the study holds what the leaderboard holds --------------------------------------------


def record_attrs(record: TrialRecord) -> dict[str, Any]:
    """A trial's status, reason and figures as the study's user attributes (measured ones)."""
    out: dict[str, Any] = {STATUS: record.status}
    if record.reason:
        out["agesearch_reason"] = record.reason[:300]
    for name, attr in COST_ATTRS.items():
        v = getattr(record, name)
        if v is not None and (not isinstance(v, float) or math.isfinite(v)):
            out[attr] = v
    return out


def epoch_values(record: TrialRecord) -> dict[int, float]:
    """Validation MAE (years) after each epoch, by 1-based epoch: the intermediate values."""
    curve = record.history.get("val_mae", []) if record.history else []
    return {i: float(v) for i, v in enumerate(curve, start=1) if math.isfinite(v)}


def outcome(record: TrialRecord) -> tuple[TrialState, list[float] | None]:
    """The study state and objective values of a finished record."""
    if record.status == COMPLETE:
        return TrialState.COMPLETE, [float(record.val_mae), float(record.params),
                                     float(record.tflite_float16_bytes)]
    if record.status == PRUNED:
        return TrialState.PRUNED, None
    return TrialState.FAIL, None  # failed (counts) or infeasible (does not): see STATUS


def record_in_study(storage, study_id: int, number: int, record: TrialRecord) -> None:
    """Write a running trial's record into the study: figures and status as user attributes,
    the validation MAE of each epoch as intermediate values (through the storage:
    ``Trial.report`` refuses multi-objective studies)."""
    tid = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    for key, value in record_attrs(record).items():
        storage.set_trial_user_attr(tid, key, value)
    for step, value in epoch_values(record).items():
        storage.set_trial_intermediate_value(tid, step, value)


def _tell(study, trial, record: TrialRecord, storage=None, study_id: int | None = None) -> None:
    """Tell ``trial`` its record (:func:`record_in_study`), then its state and values."""
    if storage is not None and study_id is not None:
        record_in_study(storage, study_id, trial.number, record)
    else:
        for key, value in record_attrs(record).items():
            trial.set_user_attr(key, value)
    state, values = outcome(record)
    study.tell(trial, values, state=state)


def distributions(space: Space) -> dict[str, Any]:
    """Every parameter's Optuna distribution, as :func:`suggest` makes it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = probe.ask()
    for p in space.params:
        suggest(trial, p)
    return dict(trial.distributions)


def _contains(dist, value: Any) -> bool:
    """Whether ``value`` is one of ``dist``'s (a reference may lie outside the space)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return any(type(value) is type(c) and value == c for c in dist.choices)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if not dist.low <= value <= dist.high:
        return False
    if isinstance(dist, IntDistribution):
        return float(value).is_integer() and (int(value) - dist.low) % dist.step == 0
    if dist.step is None:
        return True
    k = (value - dist.low) / dist.step
    return abs(k - round(k)) < 1e-8


def reference_trial(space: Space, record: TrialRecord, finished: float | None = None):
    """The reference's record as a finished Optuna trial: its parameters (those the space's
    distributions contain), values, costs, epochs; ``finished``: when it ended (epoch
    seconds; default now), its start that less its training and measuring time."""
    import datetime as dt

    from optuna.distributions import IntDistribution

    dists = distributions(space)
    params = {k: (int(v) if isinstance(dists[k], IntDistribution) else v)
              for k, v in record.values.items() if k in dists and _contains(dists[k], v)}
    end = dt.datetime.fromtimestamp(finished if finished is not None else time.time())
    state, values = outcome(record)
    return optuna.trial.FrozenTrial(
        number=0, trial_id=0, state=state, value=None, values=values,
        datetime_start=end - dt.timedelta(seconds=record.train_seconds + record.cost_seconds),
        datetime_complete=end, params=params, distributions={k: dists[k] for k in params},
        user_attrs={TRIAL_ID: REFERENCE_ID, IS_REFERENCE: True, **record_attrs(record)},
        system_attrs={}, intermediate_values=epoch_values(record))


def add_reference(study, space: Space, run_dir: Path) -> bool:
    """Add the finished reference (``trials/ref``, trained by the pipeline before the search)
    to the study, once; False: nothing to add (not finished, or in the study already)."""
    path = Path(run_dir) / "trials" / REFERENCE_ID / "record.json"
    try:
        record = TrialRecord.load(path)
        finished = path.stat().st_mtime
    except (OSError, ValueError):
        return False
    if record.paused or any(is_reference(t) for t in study.get_trials(deepcopy=False)):
        return False
    claim = Path(run_dir) / "trials" / ".claims" / "optuna-ref"
    if not workers.claim(claim):
        return False  # another worker is adding it
    try:
        if any(is_reference(t) for t in study.get_trials(deepcopy=False)):
            return False
        study.add_trial(reference_trial(space, record, finished))
    finally:
        workers.release(claim)
    return True


def _heartbeat_storage(study):
    """The study's storage if it has a heartbeat (an RDB storage, see :func:`storage_for`),
    else None. Read from the sampler (:class:`_PerTrialSeed` keeps the storage the study
    was opened on; Optuna's ``Study`` exposes none)."""
    storage = getattr(study.sampler, "storage", None)
    interval = getattr(storage, "get_heartbeat_interval", lambda: None)()
    return storage if interval and hasattr(storage, "record_heartbeat") else None


class _Heartbeat:
    """Beats for one running trial while it runs: ``record_heartbeat`` (Optuna's, as
    ``Study.optimize`` does) at once, then every interval from a thread; nothing without a
    heartbeat storage. A failed beat (the database away for a moment) is tried again at the
    next one: only :data:`STALE_BEATS` missed in a row make the trial stale."""

    def __init__(self, study, trial, study_id: int | None = None):
        self.storage = _heartbeat_storage(study)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.storage is None:
            return
        if study_id is None:  # the study's id in its storage (the same for every trial)
            study_id = self.storage.get_study_id_from_name(study.study_name)
        self.trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id,
                                                                             trial.number)

    def _beat(self) -> None:
        try:
            self.storage.record_heartbeat(self.trial_id)
        except Exception:  # noqa: BLE001 - the next beat tries again
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.storage.get_heartbeat_interval()):
            self._beat()

    def __enter__(self):
        if self.storage is not None:
            self._beat()
            self._thread = threading.Thread(target=self._run, name="agesearch-heartbeat",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _recoverable(t, heartbeat: bool) -> bool:
    """Whether RUNNING trial ``t`` of another worker could still be left behind for this one
    to recover: with a heartbeat, any that names its worker (a worker names itself after its
    first beat, so one that died before that would never turn stale: not waited for);
    without, one whose worker runs on this host."""
    worker = t.user_attrs.get(WORKER)
    if worker is None:
        return False
    return heartbeat or worker.rpartition(":")[0] == workers.host()


def _check_storage_matches(study, run_dir: Path) -> None:
    """A run folder with trials but an empty study: the storage is not the run's."""
    if study.get_trials(deepcopy=False):
        return
    done = [r.trial_id for r in load_records(run_dir) if not r.is_reference]
    if done:
        raise UserError(f"run {run_dir.name!r} has {len(done)} trial(s) but its --storage "
                        f"holds no study {run_dir.name!r} with trials; pass the --storage the "
                        "run was started with, or --overwrite to start over")


# --- the search ---------------------------------------------------------------------------


def _durations(study) -> list[float]:
    """Seconds each complete or pruned trial of the study took."""
    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if t.datetime_start is not None and t.datetime_complete is not None:
            out.append((t.datetime_complete - t.datetime_start).total_seconds())
    return out


def open_study(cfg, run_dir: Path, deadline: float | None = None,
               baseline_mae: float | None = None, storage=None):
    """The run's study (created on first use; every worker loads the same one).

    ``deadline``: ``time.time()`` after which no trial starts (``--max-minutes``); the
    sampler's random start-up then follows the trials that fit before it.
    ``baseline_mae``: the median-age baseline's validation MAE (years), which the accuracy
    band measures gains from (None: no band). ``storage``: the run's storage if already
    opened (:func:`storage_for`)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def expected(study) -> int:
        if study is None or deadline is None:
            return cfg.trials
        return expected_trials(cfg.trials, _durations(study), deadline - time.time())

    storage = storage if storage is not None else storage_for(cfg.storage, run_dir)
    study = optuna.create_study(storage=storage, study_name=run_dir.name,
                                sampler=make_sampler(cfg.tuner, cfg.seed, expected,
                                                     band=cfg.accuracy_band,
                                                     baseline=baseline_mae, storage=storage),
                                directions=["minimize"] * len(METRICS), load_if_exists=True)
    if len(study.directions) != len(METRICS):
        raise UserError(f"--storage holds a study {run_dir.name!r} with "
                        f"{len(study.directions)} objective(s), not this run's "
                        f"{len(METRICS)}; use another --run-name or --storage")
    if not study.metric_names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(METRICS))
    return study


def search(space: Space, objective: backends.Objective, cfg,
           run_dir: Path) -> list[TrialRecord]:
    """Run (or join, or resume) the search; return every trial record of the run.

    ``cfg.trials`` counts the search's trials; the reference, which the pipeline trains
    before and counts itself, is added to the study when the search ends
    (:func:`add_reference`) and not counted here."""
    storage = storage_for(cfg.storage, run_dir)
    study = open_study(cfg, run_dir, getattr(objective, "deadline", None),
                       getattr(objective, "baseline_mae", None), storage=storage)
    _check_storage_matches(study, run_dir)
    study_id = storage.get_study_id_from_name(study.study_name)
    heartbeat = _heartbeat_storage(study)
    # While waiting for other workers' trials: often enough to recover a dead one soon
    # after it turns stale, seldom enough to leave the storage alone.
    poll = min(5.0, heartbeat.get_heartbeat_interval()) if heartbeat is not None else 2.0
    spent = getattr(objective, "spent", None)
    # The reference goes in when the search ends (its trials, or a budget, spent), after the
    # searched trials: their numbers are those they would have without it (the same seed,
    # the same trials; the first is trial 000), and a run interrupted by Ctrl-C and resumed
    # numbers its trials as one that never was.
    try:
        _loop(study, storage, study_id, space, objective, cfg, run_dir, heartbeat, poll, spent)
    except (TimeBudgetSpent, BudgetTooTight):
        add_reference(study, space, run_dir)
        raise
    add_reference(study, space, run_dir)
    return load_records(run_dir)


def _loop(study, storage, study_id: int, space: Space, objective: backends.Objective, cfg,
          run_dir: Path, heartbeat, poll: float, spent) -> None:
    """Ask, adopt and run trials until ``cfg.trials`` count (see :func:`search`)."""
    streak = backends.InfeasibleStreak()
    me = workers.worker_id()
    while True:
        recover_stale(study)  # (heartbeat) dead workers' trials anywhere
        trial, claim = _adopt(study, storage, study_id, run_dir)  # dead ones of this host
        if trial is None:
            trials = study.get_trials(deepcopy=False)
            limit = cfg.trials + sum(1 for t in trials if is_reference(t) and counts(t))
            waiting = any(t.state == TrialState.WAITING for t in trials)
            if not waiting and sum(counts(t) for t in trials) >= limit:
                # The budget is spent, but another worker's trial may still die: wait for
                # those this worker could recover, then stop.
                if not any(t.state == TrialState.RUNNING
                           and _recoverable(t, heartbeat is not None) for t in trials):
                    break
                time.sleep(poll)
                continue
            why = spent() if spent is not None else None
            if why:  # before asking: a spent budget leaves no trial behind
                raise TimeBudgetSpent(why)
            with warnings.catch_warnings():  # "heartbeat ... supposed to be used with optimize"
                warnings.simplefilter("ignore", UserWarning)
                trial = study.ask()  # a waiting trial first, if any
            trial.set_user_attr(WORKER, me)  # at once: if this worker dies, another adopts it
            if _surplus(study, trial.number, limit):  # another worker took the last slot
                trial.set_user_attr(STATUS, "surplus")
                study.tell(trial, state=TrialState.FAIL)
                continue  # and wait above for the others' trials, if need be
        try:
            record = _run(study, storage, study_id, space, objective, trial)
        finally:
            if claim is not None:
                workers.release(claim)
        if record is not None:
            streak.update(record)


def _run(study, storage, study_id: int, space: Space, objective: backends.Objective,
         trial) -> TrialRecord | None:
    """Run one study trial through the objective and tell it; None if it was failed as stale
    meanwhile (the worker that runs it again finds its record)."""
    trial_id = trial.user_attrs.get(TRIAL_ID) or folder_name(trial.number)
    with _Heartbeat(study, trial, study_id):
        trial.set_user_attr(TRIAL_ID, trial_id)
        trial.set_user_attr(STATUS, "running")
        try:
            values = values_of(space, trial)
            record = objective(trial_id, values)
        except (KeyboardInterrupt, TimeBudgetSpent):
            # Left RUNNING, this worker's: the next worker to look adopts it (orphans) and
            # resumes it in its folder from its backup, under its own number.
            trial.set_user_attr(STATUS, INTERRUPTED)
            raise
        except BaseException:
            trial.set_user_attr(STATUS, "error")
            study.tell(trial, state=TrialState.FAIL)
            raise
        try:
            _tell(study, trial, record, storage, study_id)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            # Failed as stale meanwhile (its heartbeats did not reach the database for a
            # minute): enqueued again, and the worker that runs it finds this record.
            return None
    return record
