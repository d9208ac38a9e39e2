"""Tuner backends: the only code that imports keras_tuner or optuna.

Every backend takes the same inputs (a :class:`~search.space.Space`, the objective
``evaluate(trial_id, values) -> TrialRecord``, the run config) and returns the same
:class:`~search.records.TrialRecord` list, so pareto ranking and reports never know which
tuner ran.
"""

from __future__ import annotations

from collections.abc import Callable

from search.errors import UserError

#: --tuner choice -> (module, description)
TUNERS: dict[str, str] = {
    "random": "KerasTuner RandomSearch: uniform samples of the space",
    "bayesian": "KerasTuner BayesianOptimization: a Gaussian process on validation MAE",
}


def get(name: str) -> Callable:
    """The ``search(space, objective, cfg, run_dir)`` function of a backend."""
    if name not in TUNERS:
        raise UserError(f"unknown --tuner {name!r}; known: {', '.join(TUNERS)}")
    from search.backends import kerastuner

    return kerastuner.search
