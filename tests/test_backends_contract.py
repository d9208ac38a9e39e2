"""One contract, every tuner backend (as Optuna tests its samplers): the same tests run
against each --tuner choice.

The fast half drives each backend with a fake objective that trains nothing (records are
written as trial.run_trial writes them); the slow half runs each for real, tiny (32 px, 48
faces, 1 epoch).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from search import backends, pipeline
from search import space as space_mod
from search.backends import registry
from search.config import RunConfig
from search.errors import BudgetTooTight
from search.records import COMPLETE, FAILED, INFEASIBLE, PRUNED, TrialRecord, load_records

_NO_SKLEARN = importlib.util.find_spec("sklearn") is None or importlib.util.find_spec(
    "scipy") is None


def _tuner(name: str):
    if name == "bayesian":
        return pytest.param(name, marks=pytest.mark.skipif(
            _NO_SKLEARN, reason="--tuner bayesian needs scipy and scikit-learn "
                                "(pip install 'keras-tuner[bayesian]')"))
    return name


TUNERS = [_tuner(name) for name in backends.TUNERS]


class Fake:
    """An objective that trains nothing: ``status(n, values)`` decides each trial's fate
    (``"interrupt"`` raises KeyboardInterrupt); metrics follow from the values."""

    def __init__(self, run_dir: Path, status=lambda n, values: COMPLETE):
        self.run_dir, self.status = run_dir, status
        self.calls: list[tuple[str, dict, dict]] = []

    def __call__(self, trial_id, values, **train):
        n = len(self.calls)
        self.calls.append((trial_id, dict(values), train))
        status = self.status(n, values)
        if status == "interrupt":
            raise KeyboardInterrupt
        rec = TrialRecord(trial_id, status, values=dict(values),
                          target_epochs=train.get("epochs"))
        if status == COMPLETE and train.get("pause"):  # a rung of a multi-fidelity search
            rec.status, rec.paused = PRUNED, True
        if status in (COMPLETE, PRUNED):
            rec.params = 1000 * values["blocks"] + values["dense_units_1"]
            rec.tflite_float16_bytes = 2 * rec.params
            rec.val_mae = 4.0 + 10.0 / values["blocks"] + values["learning_rate"]
            rec.history = {"val_mae": [rec.val_mae + 1.0, rec.val_mae]}
            rec.epochs_run = 2
        else:
            rec.reason = f"fake {status}"
        rec.save(self.run_dir / "trials" / trial_id / "record.json")
        return rec


@pytest.fixture
def lite():
    return space_mod.load("lite")


def _cfg(tmp_path, tuner, **kw) -> RunConfig:
    # reference=False: a multi-fidelity backend trains the reference itself, the others
    # leave it to the pipeline (tests/test_moasha.py tests it there)
    kw = {"tuner": tuner, "trials": 3, "epochs": 2, "seed": 3, "run_name": "c",
          "reference": False,
          "results_dir": str(tmp_path), **kw}
    return RunConfig(**kw)


def _search(space, fake, cfg):
    run_dir = Path(cfg.results_dir) / cfg.run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    return registry.get(cfg.tuner)(space, fake, cfg, run_dir)


def _run_dir(cfg) -> Path:
    return Path(cfg.results_dir) / cfg.run_name


@pytest.mark.parametrize("tuner", TUNERS)
def test_runs_exactly_the_trials_asked_with_values_of_the_space(tmp_path, lite, tuner):
    cfg = _cfg(tmp_path, tuner)
    fake = Fake(_run_dir(cfg))
    records = _search(lite, fake, cfg)
    assert len(records) == 3 == len({trial_id for trial_id, _, _ in fake.calls})
    assert len({r.trial_id for r in records}) == 3
    for _, values, train in fake.calls:
        for p in lite.params:
            assert (p.name in values) == lite.is_active(p, values), p.name
            if p.name in values:
                assert p.contains(values[p.name]), (p.name, values[p.name])
        assert set(train) <= {"epochs", "initial_epoch", "continues", "pause", "finishing",
                              "is_reference"}
        assert not train.get("is_reference")
        assert train.get("epochs", cfg.epochs) <= cfg.epochs
    if tuner not in backends.MULTI_FIDELITY:
        assert len(fake.calls) == 3  # one call a trial (moasha: one a rung)


@pytest.mark.parametrize("tuner", TUNERS)
def test_infeasible_candidates_do_not_count_failed_and_pruned_ones_do(tmp_path, lite, tuner,
                                                                     capsys):
    fates = [INFEASIBLE, FAILED, INFEASIBLE, PRUNED, COMPLETE]
    cfg = _cfg(tmp_path, tuner)
    fake = Fake(_run_dir(cfg), status=lambda n, v: fates[n] if n < len(fates) else COMPLETE)
    records = _search(lite, fake, cfg)
    assert [r.status for r in records if r.status != INFEASIBLE] == [FAILED, PRUNED, COMPLETE]
    assert sum(r.status == INFEASIBLE for r in records) == 2
    # the records say why; no library prints a traceback for them (KerasTuner would)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("tuner", TUNERS)
def test_infeasible_streak_ends_the_search(tmp_path, lite, tuner, monkeypatch):
    monkeypatch.setattr(backends, "MAX_INFEASIBLE_STREAK", 3)
    cfg = _cfg(tmp_path, tuner)
    fake = Fake(_run_dir(cfg), status=lambda n, v: INFEASIBLE)
    with pytest.raises(BudgetTooTight, match="3 candidates in a row were infeasible"):
        _search(lite, fake, cfg)
    assert len(load_records(_run_dir(cfg))) == 3


@pytest.mark.parametrize("tuner", TUNERS)
def test_resume_counts_the_earlier_trials(tmp_path, lite, tuner):
    cfg = _cfg(tmp_path, tuner, trials=2)
    before = {r.trial_id: r.values for r in _search(lite, Fake(_run_dir(cfg)), cfg)}
    again = Fake(_run_dir(cfg))
    after = {r.trial_id: r.values for r in _search(lite, again, cfg.replace(trials=3))}
    new = {trial_id for trial_id, _, _ in again.calls} - set(before)
    assert len(new) == 1 and len(after) == 3
    if tuner not in backends.MULTI_FIDELITY:
        assert len(again.calls) == 1
    assert all(after[k] == v for k, v in before.items())


@pytest.mark.parametrize("tuner", TUNERS)
def test_an_interrupted_trial_is_run_again_under_its_id_with_its_values(tmp_path, lite, tuner):
    cfg = _cfg(tmp_path, tuner, trials=2)  # the last trial: resuming must still run it
    first = Fake(_run_dir(cfg), status=lambda n, v: "interrupt" if n == 1 else COMPLETE)
    with pytest.raises(KeyboardInterrupt):
        _search(lite, first, cfg)
    interrupted_id, interrupted_values, _ = first.calls[1]
    again = Fake(_run_dir(cfg))
    records = _search(lite, again, cfg)
    assert again.calls[0][:2] == (interrupted_id, interrupted_values)
    assert {c[0] for c in again.calls} <= {first.calls[0][0], interrupted_id}
    if tuner not in backends.MULTI_FIDELITY:  # moasha: then a rung or a finishing, maybe
        assert len(again.calls) == 1
    assert sorted(r.trial_id for r in records) == sorted([first.calls[0][0], interrupted_id])


def test_one_space_reaches_the_same_candidates_under_kerastuner_and_optuna(lite):
    """Same active-parameter sets, same discrete values, continuous values in range."""
    n = 400
    kt = registry.sample_values("random", lite, n, seed=1)
    op = registry.sample_values("tpe", lite, n, seed=1)
    assert len(kt) == len(op) == n

    def shape(samples):
        return {frozenset(v) for v in samples}

    assert shape(kt) == shape(op)
    assert len(shape(kt)) == 4 * 3  # blocks 2-5 x dense_layers 1-3
    for p in lite.params:
        seen_kt = [v[p.name] for v in kt if p.name in v]
        seen_op = [v[p.name] for v in op if p.name in v]
        dom = p.domain()
        if dom is not None:
            assert set(seen_kt) == set(seen_op) == set(dom), p.name
        else:
            for seen in (seen_kt, seen_op):
                assert p.low <= min(seen) and max(seen) <= p.high, p.name
                spread = (math.log(max(seen) / min(seen)) / math.log(p.high / p.low) if p.log
                          else (max(seen) - min(seen)) / (p.high - p.low))
                assert spread > 0.8, (p.name, spread)


# --- the real thing, tiny ------------------------------------------------------------------


@pytest.mark.parametrize("tuner", TUNERS)
def test_real_tiny_search_gives_complete_records(tiny_cfg, tuner):
    """Resuming for real is tested once (test_search_e2e); its counting for every backend
    above, with the fake objective."""
    cfg = tiny_cfg.replace(tuner=tuner, trials=2, epochs=1, reference=False, run_name=tuner)
    board = pipeline.run(cfg)
    run_dir = _run_dir(cfg)
    records = load_records(run_dir)
    assert len(records) == 2 == len(board["trials"])
    for r in records:
        assert r.status == COMPLETE, r.reason
        assert r.val_mae > 0 and r.test_mae > 0 and r.params > 0 and r.tflite_float16_kib > 0
        assert r.epochs_run == 1 and (run_dir / r.model_path).is_file()
        assert (run_dir / "trials" / r.trial_id / "checkpoint.weights.h5").is_file()
        assert not (run_dir / "trials" / r.trial_id / "backup").exists()  # removed when done
    if tuner in backends.OPTUNA_TUNERS:  # our Pareto front is Optuna's
        from search.backends import optuna as ob

        study = ob.open_study(cfg, run_dir)
        front = {t["trial_id"] for t in board["trials"] if t["pareto_rank"] == 1}
        assert {t.user_attrs[ob.TRIAL_ID] for t in study.best_trials} == front
