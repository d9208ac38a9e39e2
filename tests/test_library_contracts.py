"""What this project relies on in its libraries beyond their public APIs, checked so that an
upgrade that breaks it fails here, loudly, rather than quietly changing a search.

- KerasTuner has no public switch for the traceback it prints to stderr for every failed
  trial; search/backends/kerastuner.py turns it off through ``keras_tuner.src.config.DEBUG``
  (hence the upper bound on keras-tuner in pyproject.toml).
- Optuna: the accuracy band reaches TPE and NSGA-II through the public storage interface
  (search/backends/optuna.py); tests/test_accuracy_band.py checks that TPE still obeys it and
  that NSGA-II's writes still reach the study, and tests/test_workers.py that a dead worker's
  trial is failed once through ``Study.tell``.
- Keras' ``BackupAndRestore`` writes its weights to ``_weights_path``; search/trial.py copies
  that file as the best and last epochs' weights instead of saving them twice more.
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


def test_keras_backup_writes_its_weights_where_the_trial_copies_them_from(tmp_path):
    """The trial's EpochWeights copies BackupAndRestore's ``_weights_path`` right after each
    epoch's backup; the copy must load as the model's weights of that epoch."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mae")
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"), delete_checkpoint=False)
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[backup])
    path = tmp_path / "backup" / "latest.weights.h5"
    assert str(backup._weights_path) == str(path) and path.is_file()
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    other.load_weights(path)
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
