"""Tuner backends: the only code that imports keras_tuner or optuna.

:mod:`search.backends.registry` maps a ``--tuner`` name to its backend. Every backend has the
same entry point, ``search(space, objective, cfg, run_dir) ->
list[TrialRecord]``: it proposes candidates from a :class:`~search.space.Space`, calls the
objective ``objective(trial_id, values, **train) -> TrialRecord`` for each (``train`` is
empty, or Hyperband's ``epochs``, ``initial_epoch`` and ``continues``), and returns every
trial record of the run, so Pareto ranking and reports never know which tuner ran. The
objective may carry ``deadline`` (``time.time()`` after which it starts no trial,
``--max-minutes``) for a backend that plans by the time left.

Shared rules, whatever the library:

- ``cfg.trials`` trials in total, a resumed run's earlier ones included. Complete, pruned
  and failed trials count; *infeasible* candidates (over the phone's budget, never trained)
  do not, and the backend proposes another in their place.
- :data:`MAX_INFEASIBLE_STREAK` infeasible candidates in a row end the search with
  :class:`~search.errors.BudgetTooTight` (:class:`InfeasibleStreak`), keeping what finished.
- A KeyboardInterrupt stops the search at once; the interrupted trial is re-run under the
  same trial id (so its folder and its epoch backup are found) when the run resumes.
"""

from __future__ import annotations

from collections.abc import Callable

from search.errors import BudgetTooTight
from search.records import INFEASIBLE, TrialRecord

#: --tuner choice -> description. Optuna's samplers are multi-objective (Pareto); KerasTuner's
#: oracles minimise validation MAE and the costs are ranked afterwards.
TUNERS: dict[str, str] = {
    "moasha": "multi-fidelity, multi-objective (MO-ASHA): many candidates for a few epochs, "
              "the Pareto-best trained on",
    "tpe": "Optuna TPE, multi-objective: val MAE, params, TFLite float16 bytes",
    "nsga2": "Optuna NSGA-II, multi-objective: val MAE, params, TFLite float16 bytes",
    "random": "KerasTuner RandomSearch: uniform samples of the space",
    "bayesian": "KerasTuner BayesianOptimization: a Gaussian process on validation MAE",
    "hyperband": "KerasTuner Hyperband: many short trials, the best trained longer",
}
OPTUNA_TUNERS = ("moasha", "tpe", "nsga2")
#: Tuners that pause trials at rungs (search.promotion); the within-trial pruner is off.
MULTI_FIDELITY = ("moasha",)

#: Over-budget candidates proposed in a row before the search gives up. They cost a build
#: and (for size or latency budgets) a few conversions each, never an epoch, and do not count
#: towards --trials. KerasTuner's own max_model_size gives up after 5.
MAX_INFEASIBLE_STREAK = 100

Objective = Callable[..., TrialRecord]


class InfeasibleStreak:
    """Counts infeasible candidates in a row; raises BudgetTooTight at the limit."""

    def __init__(self, limit: int | None = None):
        self.limit = limit
        self.count = 0

    def update(self, record: TrialRecord) -> None:
        if record.status != INFEASIBLE:
            self.count = 0
            return
        self.count += 1
        limit = MAX_INFEASIBLE_STREAK if self.limit is None else self.limit
        if self.count >= limit:
            raise BudgetTooTight(f"{self.count} candidates in a row were infeasible (last: "
                                 f"{record.reason}); loosen the budget or narrow the space")
