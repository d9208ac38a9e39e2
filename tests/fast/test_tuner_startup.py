"""TPE's random start-up follows the trials the search will run: ``--trials``, or those that
fit in ``--max-minutes`` at the finished trials' mean duration."""

from __future__ import annotations

import time

from search.backends import optuna as ob
from search.config import RunConfig


def test_expected_trials_follow_the_time_left():
    assert ob.expected_trials(100, [], 60.0) == 100  # nothing finished: --trials
    assert ob.expected_trials(100, [10.0, 20.0], None) == 100  # no --max-minutes
    assert ob.expected_trials(100, [10.0, 20.0], 60.0) == 2 + 4  # 15 s each, 60 s left
    assert ob.expected_trials(100, [10.0, 20.0], 61.0) == 2 + 5  # one more starts in time
    assert ob.expected_trials(5, [10.0], 1000.0) == 5  # --trials comes first
    assert ob.expected_trials(100, [10.0, 20.0], -5.0) == 2  # spent: no more


def test_startup_is_a_third_of_the_trials_between_4_and_10():
    assert [ob.startup_trials(n) for n in (1, 12, 15, 30, 1000)] == [4, 4, 5, 10, 10]


def _startup(tmp_path, name: str, deadline: float | None) -> int:
    """The TPE start-up of the 4th trial of a study with 3 finished ones."""
    cfg = RunConfig(tuner="tpe", trials=1000, results_dir=str(tmp_path), run_name=name)
    run_dir = tmp_path / name
    run_dir.mkdir()
    study = ob.open_study(cfg, run_dir, deadline)
    for _ in range(3):
        t = study.ask()
        t.suggest_float("x", 0.0, 1.0)
        study.tell(t, [1.0, 1.0, 1.0])
    study.ask()  # the sampler of this trial is made now, with this start-up
    return study.sampler.startup


def test_a_max_minutes_search_starts_tpe_sooner_when_few_trials_fit(tmp_path):
    assert _startup(tmp_path, "no-limit", None) == 10  # 1000 trials: 10 random first
    assert _startup(tmp_path, "lots-of-time", time.time() + 1e6) == 10
    # time spent: the 3 finished trials are all the search will run
    assert _startup(tmp_path, "spent", time.time() - 1.0) == 4
