"""The accuracy band: the Optuna samplers see a complete trial that kept too little of the best
trial's gain over the median-age baseline as infeasible, so a multi-objective search stops
proposing tiny networks of no use."""

from __future__ import annotations

import optuna
import pytest

from search.backends import optuna as ob
from search.cli import search_parser

BASELINE = 15.0  # years: the median-age guess


def _study(band: float, seed: int = 0, baseline: float | None = BASELINE,
           tuner: str = "tpe", trials: int = 100):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    return optuna.create_study(storage=storage, directions=["minimize"] * 3,
                               sampler=ob.make_sampler(tuner, seed, trials, startup=4, band=band,
                                                       baseline=baseline, storage=storage))


def _view(study, band: float, baseline: float = BASELINE):
    """The study as the band shows it to the samplers (its storage: the sampler's)."""
    return ob.banded_view(study, study.sampler.storage, band, baseline)


KINDS = optuna.distributions.CategoricalDistribution(["tiny", "big"])


def _tell(study, kind: str) -> None:
    study.add_trial(optuna.trial.create_trial(
        params={"kind": kind}, distributions={"kind": KINDS},
        values={"tiny": [12.0, 1_000.0, 4_000.0], "big": [5.0, 90_000.0, 200_000.0]}[kind]))


def test_trials_outside_the_band_are_infeasible_to_the_sampler_only():
    study = _study(0.75)
    _tell(study, "tiny")  # 12 y: gained 3 y
    assert _view(study, 0.75).get_trials()[0].constraints == {
        "agesearch_accuracy_band": -0.75}  # the best so far is inside: limit 15 - 0.75 x 3
    _tell(study, "big")  # 5 y: gained 10 y; 75% of it is 7.5 y, so the limit is 7.5 y
    view = _view(study, 0.75)
    storage = study.sampler.storage
    banded = ob.SamplerView(storage, study.study_name, 0.75, BASELINE)
    one_by_one = [banded.get_trial(storage.get_trial_id_from_study_id_trial_number(
        banded.study_id, n)) for n in (0, 1)]
    for seen in (view.get_trials(deepcopy=False), view.get_trials(), one_by_one):
        assert [t.constraints for t in seen] == [{"agesearch_accuracy_band": 12.0 - 7.5},
                                                 {"agesearch_accuracy_band": 5.0 - 7.5}]
    assert [t.number for t in view.best_trials] == [1]  # the view's front: the feasible one
    assert all(t.constraints == {} for t in study.get_trials())  # nothing stored
    assert len(study.best_trials) == 2  # the study's own front still has both
    # a looser band: the first trial is inside again (judged against the best now)
    assert _view(study, 0.2).get_trials()[0].constraints["agesearch_accuracy_band"] < 0
    # nothing beat the baseline: no gain to keep a share of, nothing is marked
    assert ob.SamplerView(study.sampler.storage, study.study_name, 0.75, 4.0).limit is None
    assert _view(study, 0.75, baseline=4.0).get_trials()[0].constraints == {}


def test_what_the_sampler_writes_through_the_band_reaches_the_study():
    """NSGA-II keeps each trial's generation on the trial and each generation's parents on
    the study: written through the banded view, they must land in the real storage."""
    study = _study(0.75, tuner="nsga2", trials=12)  # a population of 4: gen. 1 at trial 4
    for _ in range(10):
        t = study.ask()
        kind = t.suggest_categorical("kind", ["tiny", "big"])
        study.tell(t, {"tiny": [12.0, 1_000.0, 4_000.0], "big": [5.0, 90_000.0, 200_000.0]}[kind])
    generations = [[v for k, v in t.system_attrs.items() if k.endswith("generation")]
                   for t in study.get_trials()]  # NSGAIISampler:generation in Optuna 5.0
    assert all(len(g) == 1 for g in generations) and generations[-1][0] >= 1, generations
    storage = study.sampler.storage
    cached = storage.get_study_system_attrs(storage.get_study_id_from_name(study.study_name))
    assert any("parent" in k for k in cached), cached  # NSGAIISampler:parent:1
    assert all(t.constraints == {} for t in study.get_trials())  # still nothing stored


def test_the_band_needs_the_storage():
    with pytest.raises(ValueError, match="storage"):
        ob.make_sampler("tpe", 0, 10, band=0.75, baseline=BASELINE)
    ob.make_sampler("tpe", 0, 10, band=0.75, baseline=None)  # no baseline: no band to apply


def _proposals(band: float, baseline: float | None = BASELINE) -> list[str]:
    """20 trials, half tiny and inaccurate, half big and accurate (both on the front); what
    TPE proposes next, 20 times."""
    study = _study(band, baseline=baseline)
    for i in range(20):
        _tell(study, ("tiny", "big")[i % 2])
    out = []
    for _ in range(20):
        t = study.ask()
        out.append(t.suggest_categorical("kind", ["tiny", "big"]))
        study.tell(t, state=optuna.trial.TrialState.FAIL)
    return out


def test_tpe_leaves_the_inaccurate_end_under_the_band():
    banded = _proposals(0.75)
    assert banded.count("big") >= 16, banded
    # without the band, the tiny trials are on the front too and TPE keeps proposing them
    off = _proposals(0.0)
    assert off.count("tiny") > banded.count("tiny")
    assert _proposals(0.75, baseline=None) == off  # no baseline known: no band


def test_the_study_gets_the_band_only_with_a_baseline(tmp_path):
    from search.config import RunConfig

    for name in ("run", "bare"):
        (tmp_path / name).mkdir()
    study = ob.open_study(RunConfig(results_dir=str(tmp_path), run_name="run"),
                          tmp_path / "run", baseline_mae=14.5)
    assert study.sampler.baseline == 14.5 and study.sampler.band == 0.75
    bare = ob.open_study(RunConfig(results_dir=str(tmp_path), run_name="bare"), tmp_path / "bare")
    assert bare.sampler.band == 0.0  # no baseline: no band


def test_a_search_bands_against_its_own_median_age_baseline(tiny_cfg, monkeypatch):
    """The pipeline hands the backend the baseline it wrote to baseline.json (a real
    one-trial search; make_sampler is only watched)."""
    import json
    from pathlib import Path

    from search import pipeline

    seen = []
    real = ob.make_sampler

    def watched(*args, **kwargs):
        seen.append((kwargs.get("band"), kwargs.get("baseline")))
        return real(*args, **kwargs)

    monkeypatch.setattr(ob, "make_sampler", watched)
    cfg = tiny_cfg.replace(trials=1, epochs=1, reference=False, run_name="band")
    pipeline.run(cfg)
    run_dir = Path(cfg.results_dir) / cfg.run_name
    written = json.loads((run_dir / "baseline.json").read_text())["val_mae"]
    assert seen and all(s == (0.75, written) for s in seen), seen


@pytest.mark.parametrize("value", ["1", "1.5", "-0.1", "x"])
def test_the_band_is_a_fraction(value, capsys):
    with pytest.raises(SystemExit):
        search_parser().parse_args(["--accuracy-band", value])
    assert "--accuracy-band" in capsys.readouterr().err


def _tell_infeasible(study, kind: str) -> None:
    """A candidate told as the backend tells one rejected before training."""
    study.add_trial(optuna.trial.create_trial(
        params={"kind": kind}, distributions={"kind": KINDS},
        state=optuna.trial.TrialState.FAIL, user_attrs={ob.STATUS: "infeasible"}))


@pytest.mark.parametrize("band", [0.75, 0.0])
def test_infeasible_candidates_are_bad_trials_to_the_sampler_only(band):
    study = _study(band)
    _tell(study, "big")
    _tell_infeasible(study, "tiny")
    study.add_trial(optuna.trial.create_trial(  # a failed trial is not an infeasible one
        params={"kind": "tiny"}, distributions={"kind": KINDS},
        state=optuna.trial.TrialState.FAIL, user_attrs={ob.STATUS: "failed"}))
    view = _view(study, band)
    Complete, Fail = optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL
    for seen in (view.get_trials(), view.get_trials(deepcopy=False)):
        assert [t.state for t in seen] == [Complete, Complete, Fail]
        assert seen[1].constraints == {ob.INFEASIBLE_CONSTRAINT: 1e9}
    assert len(view.get_trials(states=(Complete,))) == 2
    storage = study.sampler.storage
    one = ob.SamplerView(storage, study.study_name, band, BASELINE).get_trial(
        storage.get_trial_id_from_study_id_trial_number(study._study_id, 1))
    assert one.state == Complete and one.constraints == {ob.INFEASIBLE_CONSTRAINT: 1e9}
    assert [t.state for t in study.get_trials()] == [Complete, Fail, Fail]  # nothing stored
    assert all(t.constraints == {} for t in study.get_trials())


def _infeasible_share(storage_known: bool) -> float:
    """TPE over {tiny, big} where every tiny candidate is infeasible: the share of tiny
    proposals after the random start-up, told as the backend tells them."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        storage=storage, directions=["minimize"] * 3,
        sampler=ob.make_sampler("tpe", 3, 100, startup=4, band=0.0,
                                storage=storage if storage_known else None))
    kinds = []
    for i in range(40):
        t = study.ask()
        kind = t.suggest_categorical("kind", ["tiny", "big"])
        if kind == "tiny":
            t.set_user_attr(ob.STATUS, "infeasible")
            study.tell(t, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(t, [5.0 + (i % 7) / 10, 90_000.0 + i, 200_000.0])
        kinds.append(kind)
    late = kinds[10:]
    return late.count("tiny") / len(late)


def test_tpe_learns_to_avoid_infeasible_candidates():
    # told FAIL alone, the sampler learns nothing from them: here it drew nothing else
    assert _infeasible_share(storage_known=True) <= 0.25
    assert _infeasible_share(storage_known=False) >= 0.75


@pytest.mark.parametrize("band", [0.75, 0.0])
def test_tpe_samples_after_pruned_trials_with_per_epoch_values(band):
    """The study stores each trial's per-epoch validation MAE (intermediate values), pruned
    trials' too; Optuna's TPE ranks pruned trials by theirs through ``study.direction``,
    which a three-objective study refuses. Through the view it samples, past its start-up."""
    study = _study(band)
    for i in range(8):
        t = study.ask()
        kind = t.suggest_categorical("kind", ["tiny", "big"])
        for epoch in range(3):  # as the backend stores them (Trial.report refuses: 3 objectives)
            study._storage.set_trial_intermediate_value(t._trial_id, epoch,
                                                        12.0 - epoch - i / 10)
        if i % 3 == 2:
            study.tell(t, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(t, {"tiny": [12.0, 1_000.0, 4_000.0],
                           "big": [5.0, 90_000.0, 200_000.0]}[kind])
    pruned = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all(len(t.intermediate_values) == 3 for t in pruned)  # stored as told
    for _ in range(4):  # after the 4 start-up trials: TPE's own proposals
        t = study.ask()
        assert t.suggest_categorical("kind", ["tiny", "big"]) in ("tiny", "big")
        study.tell(t, [5.0, 90_000.0, 200_000.0])
    seen = [t for t in _view(study, band).get_trials()
            if t.state == optuna.trial.TrialState.PRUNED]
    assert len(seen) == len(pruned) and all(t.intermediate_values == {} for t in seen)
    assert all(len(t.intermediate_values) == 3 for t in study.get_trials()
               if t.state == optuna.trial.TrialState.PRUNED)  # nothing written back
