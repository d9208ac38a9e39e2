"""The Python API on finished run folders (no training): a Run answers what the leaderboard
and export decide, through search.board, the one place that ranks."""

import json
import logging
import sys

import pytest
from conftest import sample_records

import search as agesearch
from search import board
from search.budget import Budget
from search.config import RunConfig
from search.errors import UserError


def test_the_package_exports_its_api():
    for name in agesearch.__all__:
        assert hasattr(agesearch, name), name
    assert {"search", "Run", "Trial", "predict_ages", "export_run", "RunConfig"} <= set(
        agesearch.__all__)


def test_a_run_answers_as_the_board_decides(make_run):
    records = sample_records()
    run = agesearch.Run.open(make_run("r", records))
    ranked = board.build([records])
    assert run.best().id == ranked.best.record.trial_id == "00"
    assert run.knee().id == ranked.knee.record.trial_id
    assert {t.id for t in run.front()} == {s.record.trial_id for s in ranked.front}
    assert all(t.on_front and t.pareto_rank == 1 for t in run.front())
    for kib in (10, 30, 100, 1000):
        want = board.within_budget(records, Budget(max_kib=kib))
        got = run.pick(max_kib=kib)
        assert (got and got.id) == (want and want.trial_id), kib
    assert run.pick(max_kib=1) is None
    assert run.pick(max_params=2_000).id == "01"
    assert run.counts == {"complete": 5, "pruned": 1, "infeasible": 1, "failed": 1}
    assert run.baseline == {"median_age": 30.0, "val_mae": 16.0, "test_mae": 16.6}
    assert isinstance(run.config, RunConfig) and run.config.run_name == "r"
    ref = run.trial("ref")
    assert ref.is_reference and ref.kib == pytest.approx(1_100_000 / 1024)
    assert ref.model_path == run.path / "trials" / "ref" / "model.keras"
    assert run.trial("04").status == "infeasible" and run.trial("04").reason
    assert "8 trials, 5 complete, best 00 at 5.10 y" in repr(run)
    assert len(set(run.trials)) == 8  # trials are values: hashable, comparable


def test_other_objectives_rank_other_fronts(make_run):
    records = sample_records()
    run = agesearch.Run.open(make_run("r", records), objectives="mae,kib")
    assert {t.id for t in run.front()} == {
        s.record.trial_id for s in board.build([records], "mae,kib").front}


def test_bad_questions_say_what_was_expected(make_run, tmp_path):
    run = agesearch.Run.open(make_run("r", sample_records()))
    with pytest.raises(UserError, match="unknown trial 'nope'; the run's trials: 00"):
        run.trial("nope")
    with pytest.raises(UserError, match="needs a budget"):
        run.pick()
    with pytest.raises(UserError, match="is not a run folder"):
        agesearch.Run.open(tmp_path / "nowhere")


def test_records_are_plain_data_in_leaderboard_order(make_run):
    run = agesearch.Run.open(make_run("r", sample_records()))
    records = run.to_records()
    assert [r["trial_id"] for r in records] == [t.id for t in run.trials]
    json.dumps(records)  # plain: no objects, no NaN
    assert records == run.leaderboard()["trials"]


def test_to_dataframe_has_a_row_per_trial_and_a_column_per_hyperparameter(make_run):
    pd = pytest.importorskip("pandas")
    run = agesearch.Run.open(make_run("r", sample_records()))
    df = run.to_dataframe()
    assert isinstance(df, pd.DataFrame) and list(df.index) == [t.id for t in run.trials]
    assert df.loc["00", "val_mae"] == pytest.approx(5.1)
    assert df.loc["00", "param_filters_1"] == 16 and "values" not in df.columns


def test_a_run_that_has_just_started_has_no_trials_yet(make_run):
    run = agesearch.Run.open(make_run("new", []))
    assert run.trials == [] and run.front() == [] and run.best() is None
    assert run.knee() is None and run.pick(max_kib=100) is None and run.to_records() == []
    assert "0 trials, 0 complete, best none" in repr(run)
    pytest.importorskip("pandas")
    assert run.to_dataframe().empty


def test_to_dataframe_without_pandas_says_what_to_install(make_run, monkeypatch):
    run = agesearch.Run.open(make_run("r", sample_records()))
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if it were not installed
    with pytest.raises(ImportError, match="pip install pandas"):
        run.to_dataframe()


def test_reports_are_written_where_asked(make_run, tmp_path):
    run = agesearch.Run.open(make_run("r", sample_records()))
    paths = run.write_reports(tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == sorted(
        ["leaderboard.json", "leaderboard.md", "leaderboard.csv", "pareto.png", "report.html"])
    assert json.loads(paths["leaderboard.json"].read_text())["best_trial"] == "00"


@pytest.mark.parametrize("settings, needle", [
    ({"trails": 3}, "unknown setting 'trails'; expected one of space, tuner, trials"),
    ({"tuner": "grid"}, "--tuner 'grid': expected one of moasha, tpe"),
    ({"trials": 0}, "--trials 0: expected a whole number from 1 to 100000"),
    ({"seed": -1}, "--seed -1: expected a whole number from 0"),
])
def test_search_refuses_bad_settings_before_making_anything(tmp_path, settings, needle):
    with pytest.raises(UserError, match=needle.replace("(", r"\(")):
        agesearch.search(results_dir=str(tmp_path / "results"), **settings)
    assert not (tmp_path / "results").exists()


def test_a_runs_config_replays_without_overwrite(tmp_path):
    saved = RunConfig(trials=9, seed=3, overwrite=True, run_name="x")
    saved.save(tmp_path / "config.json")
    assert agesearch.load_config(tmp_path) == saved.replace(overwrite=False)
    assert agesearch.load_config(tmp_path / "config.json").trials == 9
    with pytest.raises(UserError, match="does not exist"):
        agesearch.load_config(tmp_path / "nope.json")


def test_library_output_goes_to_the_agesearch_logger(caplog):
    from search.api import _log_console

    with caplog.at_level(logging.INFO, logger="agesearch"):
        console = _log_console()
        console.print("trial 001: complete, val MAE 7.12 y")
        console.print("warning: run.json is missing")
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("agesearch", "INFO", "trial 001: complete, val MAE 7.12 y"),
        ("agesearch", "WARNING", "warning: run.json is missing")]
