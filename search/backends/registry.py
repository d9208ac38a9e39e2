"""``--tuner`` name -> backend: the one place that imports a backend module by name.

Kept apart from the package's shared rules (:mod:`search.backends`), which the backends
themselves import, so that no module imports one that imports it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from search.backends import OPTUNA_TUNERS, TUNERS
from search.errors import UserError
from search.records import TrialRecord


def get(name: str) -> Callable[..., list[TrialRecord]]:
    """The ``search(space, objective, cfg, run_dir)`` function of a backend."""
    if name not in TUNERS:
        raise UserError(f"unknown --tuner {name!r}; known: {', '.join(TUNERS)}")
    if name == "moasha":
        from search.backends import moasha

        return moasha.search
    if name in OPTUNA_TUNERS:
        from search.backends import optuna as optuna_backend

        return optuna_backend.search
    from search.backends import kerastuner

    return kerastuner.search


def sample_values(name: str, space: Any, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` candidates the backend of tuner ``name`` proposes from ``space`` with nothing
    learnt yet (its random start), without training: which values it can reach."""
    if name in OPTUNA_TUNERS:
        from search.backends import optuna as optuna_backend

        return optuna_backend.sample_values(space, n, seed)
    from search.backends import kerastuner

    return kerastuner.sample_values(space, n, seed)
