"""``--tuner moasha``: multi-fidelity, multi-objective search (MO-ASHA) on an Optuna study.

Every candidate first trains for a few epochs (the first rung of
:func:`search.promotion.rungs`: ``--min-epochs``, 1 of 12 by default); a worker that is free
promotes a paused trial that is among the Pareto-best third of its rung
(:func:`search.promotion.promotable`) and otherwise starts a new candidate. A promoted trial
goes on from its epoch backup (weights, optimizer state, learning-rate schedule of the whole
trial), in the same trial folder: no epoch is trained twice. KerasTuner's ``Hyperband`` and
Optuna's pruners rank on one objective; this ranks on validation MAE, parameters and TFLite
float16 bytes at once.

The space's reference (the reference recipe) is the first candidate, trial ``ref``, through
the rungs like any other: a small budget does not spend a whole trial on it, and it is in
the study with the searched trials.

New candidates: drawn at random (MO-ASHA's proposer), :data:`DRAWS` at a time; each draw's
parameters and multiply-accumulates are counted by arithmetic
(:func:`search.candidate.counted`, no TensorFlow), so a draw over ``--max-params`` /
``--max-macs``, one the shapes rule out (``max_flatten`` included), or one that repeats a
candidate already tried never reaches a worker; of the rest, one is trained at random with
chances in inverse proportion to its multiply-accumulates (:data:`PICK`): the same compute
buys more candidates, and the small end of the front, where most of its hypervolume lies,
is explored more.

State, all in the study (``--storage``), so workers on several machines share it and a
search resumes after ``kill -9``: one Optuna trial per candidate, its folder named by its
number (``trials/007``; the reference's is ``trials/ref``). A paused trial stays RUNNING
with user attributes :data:`DONE` (epochs at its last rung), :data:`TARGET` (None while
paused; the rung it trains to while it trains), ``agesearch_mae_at_<epochs>`` (best
validation MAE up to each rung reached) and its costs. When the search ends (``--trials``
candidates, or a budget, spent), each trial still paused becomes a model as it stands at
its rung: tested, saved, told COMPLETE with its values, so every candidate trained is on the
leaderboard and can be exported, with the epochs it had (the ``ep`` column); this trains
nothing. A worker claims a trial's next rung with a claim file (:func:`search.workers.claim`,
under ``trials/.claims/``), so no two train it; a rung left by a dead or interrupted worker
is taken up again from its backup: at once when the worker ran on this host; a worker that
died on another machine is not detected yet (moasha records no heartbeat for its trials,
whose paused ones stay RUNNING by design; one of its own is still to do).

Brackets (``--brackets N``, asynchronous Hyperband): with N > 1 a new candidate starts at
one of the first N rungs, drawn with Hyperband's shares (:func:`search.promotion.bracket_weights`;
for rungs 1, 3 and 12 and N = 3: 9 in 17 at 1 epoch, 5 at 3, 3 trained whole at once). Each
bracket promotes among its own candidates, so some networks are always trained whole
without first having to win a 1-epoch race, which favours the networks that start fast.
A trial's bracket is the user attribute :data:`BRACKET`.

``--trials N`` counts candidates (the reference included); with rungs 1, 3 and 12 a
candidate costs 2 to 3 epochs on average, so a ``moasha`` search wants a larger N than the
other tuners, or a budget (``--max-compute``, ``--max-minutes``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from search import backends, candidate, promotion, workers
from search.backends import optuna as ob
from search.config import DEFAULT_IMAGE_SIZE
from search.errors import InfeasibleCandidate, TimeBudgetSpent
from search.records import COMPLETE, PRUNED, REFERENCE_ID, TrialRecord, load_records
from search.space import Space

DONE = "agesearch_rung"  # epochs trained at the last rung the trial reached (0: none yet)
TARGET = "agesearch_target"  # the rung (epochs) being trained to; None while paused
PARAMS = "agesearch_params"
FLOAT16 = "agesearch_float16_bytes"
PAUSED = "paused"  # STATUS of a trial waiting at a rung
IS_REFERENCE = "agesearch_reference"  # the space's reference, a candidate like the others
BRACKET = "agesearch_bracket"  # the rung (index in the schedule) the candidate started at

#: Random draws per new candidate, of which one is trained (see :data:`PICK`).
DRAWS = 4
#: How the trained draw is chosen: "spread", the one farthest in log parameters from the
#: candidates tried; "cheap", at random with chances in inverse proportion to its
#: multiply-accumulates (training compute); "random", the first.
PICK = "cheap"
#: The pick for a candidate of the last bracket (trained whole from the start: with
#: ``--brackets`` as many as the rungs); None: :data:`PICK`. The cheap pick suits 1-epoch
#: rungs, where a small network that starts well is promoted; a whole trial of a tiny
#: network mostly adds a poor point to the front. With several workers, a worker may train
#: another's queued draw (``study.ask``), picked for that worker's bracket.
WHOLE_PICK: str | None = None
#: Seconds a worker with nothing to do waits for another worker's rung to finish.
POLL = 1.0


def mae_key(epochs: int) -> str:
    return f"agesearch_mae_at_{epochs}"


def _values(space: Space, params: dict[str, Any]) -> dict[str, Any]:
    """A candidate's complete values from its Optuna parameters."""
    return space.active_values(lambda p: params[p.name])


class Search:
    """One worker's part of a MO-ASHA search (see the module docstring)."""

    def __init__(self, space: Space, objective: backends.Objective, cfg, run_dir: Path):
        self.space, self.objective, self.cfg, self.run_dir = space, objective, cfg, run_dir
        self.schedule = promotion.rungs(cfg.epochs, first=min(cfg.min_epochs, cfg.epochs))
        self.storage = ob.storage_for(cfg.storage, run_dir)
        self.study = ob.open_study(cfg, run_dir, getattr(objective, "deadline", None),
                                   storage=self.storage)
        self.study_id = self.storage.get_study_id_from_name(self.study.study_name)
        self.baseline = getattr(objective, "baseline_mae", None)
        self.me = workers.worker_id()
        self.streak = backends.InfeasibleStreak()
        self.rng = np.random.default_rng([cfg.seed & 0xFFFFFFFF, 0xA5A])
        self.weights = promotion.bracket_weights(len(self.schedule), cfg.brackets)
        self.bracket_rng = np.random.default_rng([cfg.seed & 0xFFFFFFFF, 0xB7A])

    # --- reading the study ---------------------------------------------------------------

    def trials(self):
        return self.study.get_trials(deepcopy=False)

    def _set(self, number: int, key: str, value: Any) -> None:
        tid = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        self.storage.set_trial_user_attr(tid, key, value)

    def rung_results(self, trials, rung: int, bracket: int = 0) -> list[promotion.RungResult]:
        """The trials of ``bracket`` that reached ``rung``, as the promotion rule reads
        them."""
        out = []
        for t in trials:
            a = t.user_attrs
            if int(a.get(BRACKET) or 0) != bracket:
                continue
            mae = a.get(mae_key(rung))
            if mae is None or a.get(PARAMS) is None or a.get(FLOAT16) is None:
                continue
            waiting = (t.state == TrialState.RUNNING and a.get(DONE) == rung
                       and a.get(TARGET) is None)
            out.append(promotion.RungResult(str(t.number), float(mae), int(a[PARAMS]),
                                            int(a[FLOAT16]), promotable=waiting))
        return out

    def _can_start(self, trials) -> bool:
        return sum(ob.counts(t) for t in trials) < self.cfg.trials

    def _orphaned(self, t) -> bool:
        """A rung that a worker began and left (interrupted, or the worker died)."""
        a = t.user_attrs
        if t.state != TrialState.RUNNING or a.get(TARGET) is None:
            return False
        w = a.get(ob.WORKER)
        return w is None or workers.is_dead(w)

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> list[TrialRecord]:
        ob._check_storage_matches(self.study, self.run_dir)
        try:
            self._loop()
        except TimeBudgetSpent:  # a budget is spent: the search ends here, as after N trials
            self._finish()
            raise
        self._finish()
        return load_records(self.run_dir)

    def _loop(self) -> None:
        spent = getattr(self.objective, "spent", lambda: None)
        while True:
            why = spent()
            if why:
                raise TimeBudgetSpent(why)
            trials = self.trials()
            job = self._resume(trials) or self._promotion(trials)
            if job is not None:
                self._train(*job)
                continue
            if self._can_start(trials):
                if not self._reference(trials):
                    self._new()
                continue
            if any(t.state == TrialState.RUNNING and t.user_attrs.get(TARGET) is not None
                   for t in trials):  # another worker's rung may make a promotion due
                time.sleep(POLL)
                continue
            return

    def _claim_path(self, name: str) -> Path:
        return self.run_dir / "trials" / ".claims" / name

    def _claim(self, number: int, target: int) -> bool:
        return workers.claim(self._claim_path(f"{number}-{target}"))

    def _release(self, number: int, target: int) -> None:
        workers.release(self._claim_path(f"{number}-{target}"))

    def _resume(self, trials):
        for t in trials:
            if self._orphaned(t) and self._claim(t.number, t.user_attrs[TARGET]):
                return t.number, int(t.user_attrs[TARGET])
        return None

    def _promotion(self, trials):
        last_call = not self._can_start(trials)
        steps = [(lo, hi, b) for b in range(len(self.weights))
                 for lo, hi in zip(self.schedule[b:-1], self.schedule[b + 1:], strict=True)]
        for lo, hi, b in sorted(steps, key=lambda s: (-s[0], s[2])):  # highest rung first
            chosen = promotion.promotable(self.rung_results(trials, lo, b),
                                          band=self.cfg.accuracy_band, baseline=self.baseline,
                                          last_call=last_call)
            for number in map(int, chosen):
                if not self._claim(number, hi):
                    continue
                fresh = self._trial(number)  # as it is now that the claim is ours
                if (fresh.state == TrialState.RUNNING and fresh.user_attrs.get(DONE) == lo
                        and fresh.user_attrs.get(TARGET) is None):
                    return number, hi
                self._release(number, hi)
        return None

    def _reference(self, trials) -> bool:
        """Start the space's reference (the reference recipe) as the first candidate, once:
        it goes through the rungs like any other, so a small budget does not spend a
        whole trial on it. False: nothing to start (off, none, or started already)."""
        if not self.cfg.reference or self.space.reference is None:
            return False
        if any(t.user_attrs.get(IS_REFERENCE) for t in trials):
            return False
        if not workers.claim(self._claim_path("reference")):
            return False  # another worker is starting it
        if any(t.user_attrs.get(IS_REFERENCE) for t in self.trials()):
            return False
        trial = self.study.ask()  # no parameters: its values are the space's [reference]
        trial.set_user_attr(ob.WORKER, self.me)
        trial.set_user_attr(TARGET, self.schedule[0])
        trial.set_user_attr(ob.TRIAL_ID, REFERENCE_ID)
        trial.set_user_attr(IS_REFERENCE, True)
        trial.set_user_attr(BRACKET, 0)
        trial.set_user_attr(DONE, 0)
        self._claim(trial.number, self.schedule[0])
        self._train(trial.number, self.schedule[0])
        return True


    def _trial(self, number: int):
        return next(t for t in self.trials() if t.number == number)

    def _new(self) -> None:
        bracket = promotion.bracket_for(float(self.bracket_rng.random()), self.weights)
        whole = len(self.schedule) > 1 and bracket == len(self.schedule) - 1
        params = self._propose((WHOLE_PICK or PICK) if whole else PICK)
        if params is not None:
            self.study.enqueue_trial(params)
        trial = self.study.ask()  # ours, or another worker's queued draw: any will do
        if ob._surplus(self.study, trial.number, self.cfg.trials):
            trial.set_user_attr(ob.STATUS, "surplus")
            self.study.tell(trial, state=TrialState.FAIL)
            return
        # Marked as this worker's rung at once: if it dies before training, another takes it.
        start = self.schedule[bracket]
        trial.set_user_attr(ob.WORKER, self.me)
        trial.set_user_attr(TARGET, start)
        trial.set_user_attr(ob.TRIAL_ID, ob.folder_name(trial.number))
        trial.set_user_attr(BRACKET, bracket)
        trial.set_user_attr(DONE, 0)
        values = ob.values_of(self.space, trial)  # the parameters, stored in the trial
        self._claim(trial.number, start)
        self._train(trial.number, start, values=values)

    def _propose(self, pick: str | None = None) -> dict[str, Any] | None:
        """Parameters of the next candidate, the draw ``pick`` chooses (see :data:`PICK` and
        the module docstring); None: leave it to the sampler (no draw passed the checks)."""
        pick = pick or PICK
        trials = self.trials()
        tried_sizes = [math.log(t.user_attrs[PARAMS]) for t in trials
                       if t.user_attrs.get(PARAMS)]
        seen = [t.params for t in trials]
        names = {p.name for p in self.space.params}
        best: tuple[float, dict[str, Any]] | None = None
        seed = int(self.rng.integers(2**31))
        draws = ob.sample_values(self.space, DRAWS * 4, seed)
        kept = 0
        for values in draws:
            size = candidate.Candidate(values, DEFAULT_IMAGE_SIZE).image_size
            try:
                counted = candidate.counted(values, size)
            except InfeasibleCandidate:
                continue
            if (self.cfg.max_params is not None and counted.params > self.cfg.max_params) or (
                    self.cfg.max_macs is not None and counted.macs > self.cfg.max_macs):
                continue
            if {k: v for k, v in values.items() if k in names} in seen:
                continue
            if pick == "spread":
                score = min((abs(math.log(counted.params) - s) for s in tried_sizes),
                            default=0.0)
            elif pick == "cheap":  # Efraimidis-Spirakis keys: weighted sampling by 1 / MACs
                score = float(self.rng.random()) ** max(1, counted.macs)
            else:
                score = -kept
            if best is None or score > best[0]:
                best = (score, values)
            kept += 1
            if kept >= DRAWS:
                break
        if best is None:
            return None
        return {k: v for k, v in best[1].items() if k in names}

    def _train(self, number: int, target: int, values: dict[str, Any] | None = None,
               finishing: bool = False) -> None:
        t = self._trial(number)
        reference = bool(t.user_attrs.get(IS_REFERENCE))
        if values is None:
            values = (dict(self.space.reference) if reference
                      else _values(self.space, t.params))
        trial_id = t.user_attrs.get(ob.TRIAL_ID) or ob.folder_name(number)
        self._set(number, ob.WORKER, self.me)
        self._set(number, TARGET, target)
        self._set(number, ob.STATUS, "running")
        final = target >= self.cfg.epochs or finishing
        train: dict[str, Any] = {"epochs": target, "pause": not final}
        if finishing:
            train["finishing"] = True
        try:
            record = self.objective(trial_id, values, is_reference=reference, **train)
        except KeyboardInterrupt:
            # Left as a rung to take up again: the next run (or worker) resumes its backup.
            self._set(number, ob.WORKER, None)
            self._release(number, target)
            raise
        except BaseException:
            self._set(number, ob.STATUS, "error")
            self.study.tell(number, state=TrialState.FAIL)
            self._release(number, target)
            raise
        ob.record_in_study(self.storage, self.study_id, number, record)  # figures, epochs
        if record.params is not None and record.tflite_float16_bytes is not None:
            self._set(number, PARAMS, int(record.params))
            self._set(number, FLOAT16, int(record.tflite_float16_bytes))
        if record.val_mae is not None and math.isfinite(record.val_mae):
            self._set(number, mae_key(target), float(record.val_mae))
        self._set(number, DONE, target)
        self._set(number, TARGET, None)
        self._set(number, ob.WORKER, None)
        if record.paused:
            self._set(number, ob.STATUS, PAUSED)
        else:
            self._tell(number, record)
        self._release(number, target)
        self.streak.update(record)

    def _tell(self, number: int, record: TrialRecord) -> None:
        self._set(number, ob.STATUS, record.status)
        if record.reason:
            self._set(number, "agesearch_reason", record.reason[:300])
        if record.status == COMPLETE:
            self.study.tell(number, [float(record.val_mae), float(record.params),
                                     float(record.tflite_float16_bytes)])
        elif record.status == PRUNED:
            self.study.tell(number, state=TrialState.PRUNED)
        else:
            self.study.tell(number, state=TrialState.FAIL)

    def _finish(self) -> None:
        """The search is over (its trials, or a budget, spent): each trial still paused at a
        rung becomes a model as it stands there (its best epoch's weights tested, saved and
        ranked: no epoch trained), so every candidate trained is on the leaderboard with
        the epochs it had. The last worker does it; a worker still training leaves it."""
        if any(t.state == TrialState.RUNNING and t.user_attrs.get(TARGET) is not None
               and not self._orphaned(t) for t in self.trials()):
            return  # another worker is training: the last one to stop finishes
        for t in self.trials():
            a = t.user_attrs
            if t.state != TrialState.RUNNING:
                continue
            if not (a.get(TARGET) is None or self._orphaned(t)):
                continue
            if not a.get(DONE):  # asked, never trained: nothing to keep
                if self._claim(t.number, 0):
                    self._set(t.number, ob.STATUS, "unstarted")
                    self._tell_state(t.number, TrialState.FAIL)
                continue
            done = int(a[DONE])
            if not self._claim(t.number, done):
                continue
            if self._trial(t.number).state != TrialState.RUNNING:
                continue  # another worker finished it meanwhile
            self._set(t.number, TARGET, done)
            self._set(t.number, ob.WORKER, self.me)
            self._train(t.number, done, finishing=True)

    def _tell_state(self, number: int, state) -> None:
        try:
            self.study.tell(number, state=state)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            pass  # another worker told it first


def search(space: Space, objective: backends.Objective, cfg,
           run_dir: Path) -> list[TrialRecord]:
    """Run (or join, or resume) a MO-ASHA search; return every trial record of the run."""
    return Search(space, objective, cfg, run_dir).run()
