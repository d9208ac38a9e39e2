"""What this project relies on in its libraries beyond their public APIs, checked so that an
upgrade that breaks it fails here, loudly, rather than quietly changing a search.

- KerasTuner has no public switch for the traceback it prints to stderr for every failed
  trial; search/backends/kerastuner.py turns it off through ``keras_tuner.src.config.DEBUG``
  (hence the upper bound on keras-tuner in pyproject.toml).
- Optuna: the accuracy band reaches TPE and NSGA-II through the public storage interface
  (search/backends/optuna.py); tests/test_accuracy_band.py checks that TPE still obeys it and
  that NSGA-II's writes still reach the study, and tests/test_workers.py that a dead worker's
  trial is failed once through ``Study.tell``.
"""

from __future__ import annotations

import keras_tuner as kt
import pytest


def _failing_search(tmp_path) -> None:
    """One KerasTuner trial that fails, as the backend fails a trial it has recorded."""

    class Failing(kt.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            raise kt.errors.FailedTrialError("recorded elsewhere")

    hp = kt.HyperParameters()
    hp.Int("blocks", 2, 5)
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("val_mae", direction="min"),
                                           max_trials=1, hyperparameters=hp, seed=0)
    Failing(oracle=oracle, directory=str(tmp_path), project_name="t").search(verbose=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # KerasTuner's threading calls
@pytest.mark.parametrize("debug", [True, False])
def test_keras_tuner_debug_switch_governs_the_failed_trial_traceback(tmp_path, capsys,
                                                                     monkeypatch, debug):
    from keras_tuner.src import config as kt_config

    assert isinstance(kt_config.DEBUG, bool), "keras_tuner.src.config.DEBUG is gone"
    monkeypatch.setattr(kt_config, "DEBUG", debug)
    _failing_search(tmp_path)
    printed = "FailedTrialError" in capsys.readouterr().err
    assert printed == debug, ("keras_tuner.src.config.DEBUG no longer decides whether a failed "
                              "trial's traceback is printed; see search/backends/kerastuner.py")
