"""Choosing what to export, as pure functions on TrialRecord lists: best, knee, ids, budgets."""

import pytest

from search import board, export, pareto
from search.budget import Budget
from search.errors import UserError
from search.records import COMPLETE, FAILED, TrialRecord

KIB = 1024


def rec(tid, mae, kib, status=COMPLETE, params=None):
    return TrialRecord(tid, status, val_mae=mae, params=params if params is not None else kib,
                       tflite_float16_bytes=int(kib * KIB), model_path=f"trials/{tid}/model.keras")


# A convex front of MAE (years) against size (KiB): "c" is where accuracy stops buying size.
FRONT = [rec("a", 4.0, 900), rec("b", 4.3, 400), rec("c", 4.6, 120), rec("d", 6.0, 90),
         rec("e", 8.0, 80)]


def test_knee_is_the_front_point_farthest_below_the_line_joining_the_extremes():
    assert board.knee_trial(FRONT).trial_id == "c"
    # Dominated and unfinished trials play no part.
    more = [*FRONT, rec("x", 7.0, 500), rec("y", 1.0, 10, status=FAILED)]
    assert board.knee_trial(more).trial_id == "c"


def test_knee_weighs_accuracy_as_much_as_the_two_size_objectives_together():
    # A front from a real run (synthetic faces, baseline 16.49 y). With parameters and float16
    # size each weighing as much as MAE, size counted twice and the knee was "cheap" at 8.61 y;
    # accuracy against cost, evenly, gives "mid": 3 y better at 3.5x the size.
    run = [rec("ref", 4.43, 698.5, params=351_356), rec("tiny", 10.00, 63.2, params=26_932),
           rec("mid", 5.44, 431.9, params=215_492), rec("cheap", 8.61, 122.5, params=57_180)]
    assert board.knee_trial(run).trial_id == "mid"
    assert board.knee_trial(run, ("mae", "kib")).trial_id == "mid"
    points = [pareto.objective_vector(r, pareto.DEFAULT_OBJECTIVES) for r in run]
    assert pareto.knee(points) == 3  # unweighted: size twice over
    assert pareto.knee_weights(("mae", "params", "kib")) == (1.0, 0.5, 0.5)
    assert pareto.knee_weights(("latency", "mae")) == (1.0, 1.0)
    assert pareto.knee_weights(("params", "kib")) == (1.0, 1.0)


def test_knee_ignores_the_order_of_records():
    assert board.knee_trial(list(reversed(FRONT))).trial_id == "c"


def test_no_knee_on_short_or_concave_fronts_means_the_lowest_mae():
    assert board.knee_trial(FRONT[:2], ("mae", "kib")).trial_id == "a"
    assert board.knee_trial(FRONT[:1]).trial_id == "a"
    assert board.knee_trial([]) is None
    concave = [rec("p", 4.0, 100), rec("q", 5.9, 95), rec("r", 6.0, 10)]
    assert board.knee_trial(concave, ("mae", "kib")).trial_id == "p"


def test_budget_picks_the_lowest_mae_that_fits():
    assert board.within_budget(FRONT, Budget(max_kib=400)).trial_id == "b"
    assert board.within_budget(FRONT, Budget(max_kib=399.9)).trial_id == "c"
    assert board.within_budget(FRONT, Budget(max_kib=10_000)).trial_id == "a"
    assert board.within_budget(FRONT, Budget(max_kib=79)) is None


def test_latency_budget_measures_in_mae_order_and_stops_at_the_first_fit():
    latency = {"a": 3.0, "b": 2.0, "c": 0.9, "d": 0.5, "e": 0.4}
    asked = []

    def measure(r):
        asked.append(r.trial_id)
        return latency[r.trial_id]

    assert board.within_budget(FRONT, Budget(max_latency_ms=1.0), measure).trial_id == "c"
    assert asked == ["a", "b", "c"]
    # Both budgets: size is checked first, so "a" (900 KiB) is never measured.
    asked.clear()
    got = board.within_budget(FRONT, Budget(max_kib=500, max_latency_ms=0.6), measure)
    assert got.trial_id == "d" and asked == ["b", "c", "d"]


def test_choose_by_name_and_by_ids():
    recs = [*FRONT, rec("z", None, 10, status=FAILED)]
    assert [r.trial_id for r in export.choose(recs, "best")] == ["a"]
    assert [r.trial_id for r in export.choose(recs, "knee")] == ["c"]
    assert [r.trial_id for r in export.choose(recs, "d, b,d")] == ["d", "b"]
    assert [r.trial_id for r in export.choose(recs, "best,a,knee")] == ["a", "c"]


@pytest.mark.parametrize("which, needle", [
    ("q", "unknown --trial 'q'; complete trials: a, b, c, d, e (or 'best', 'knee')"),
    ("z", "trial 'z' is failed, not complete (NaN); complete trials: a, b, c, d, e"),
    (" , ", "names no trial"),
])
def test_choose_names_what_was_asked_and_what_exists(which, needle):
    recs = [*FRONT, TrialRecord("z", FAILED, reason="NaN")]
    with pytest.raises(UserError) as e:
        export.choose(recs, which)
    assert needle in str(e.value)


def test_a_run_without_a_finished_trial_says_so():
    with pytest.raises(UserError, match=r"no finished trial to export \(1 trial\(s\) recorded"):
        export.choose([TrialRecord("0", FAILED)], "best")
    with pytest.raises(UserError, match="no finished trial"):
        export.choose_within_budget([], 100, None, None)


def test_budget_nothing_meets_lists_the_trials_smallest_first():
    with pytest.raises(UserError) as e:
        export.choose_within_budget(FRONT, 50, None, None)
    msg = str(e.value)
    assert msg.startswith("no complete trial meets --max-kib 50 (TFLite float16 file size)")
    assert msg.index("e: 80.0 KiB") < msg.index("a: 900.0 KiB")
    with pytest.raises(UserError, match="--max-kib must be a positive number, got -1"):
        export.choose_within_budget(FRONT, -1, None, None)


def test_latency_budget_error_shows_what_was_measured():
    with pytest.raises(UserError) as e:
        export.choose_within_budget(FRONT[:2], None, 0.1, lambda r: 0.25)
    assert "--max-latency-ms 0.1" in str(e.value) and "0.250 ms" in str(e.value)


def test_quantize_lists():
    assert export.parse_quantize("all") == ["float32", "float16", "dynamic", "int8"]
    assert export.parse_quantize(" INT8,float32,int8 ") == ["int8", "float32"]
    with pytest.raises(UserError, match="--quantize 'float32,int4': unknown 'int4'; expected"):
        export.parse_quantize("float32,int4")
    with pytest.raises(UserError, match="empty"):
        export.parse_quantize(",")


def test_staged_folder_leaves_nothing_behind_when_an_export_fails(tmp_path):
    final = tmp_path / "export" / "trial_3"
    final.mkdir(parents=True)
    (final / "model_card.json").write_text("earlier")
    with pytest.raises(RuntimeError), export.staged_folder(final) as folder:
        (folder / "model_float32.tflite").write_bytes(b"half")
        raise RuntimeError("conversion died")
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["trial_3"]
    assert (final / "model_card.json").read_text() == "earlier"
    with export.staged_folder(final) as folder:
        (folder / "model_card.json").write_text("new")
    assert [p.name for p in final.iterdir()] == ["model_card.json"]
    assert (final / "model_card.json").read_text() == "new"
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["trial_3"]


def test_export_and_the_leaderboard_choose_the_same_trials_and_break_ties_alike():
    from search import report

    # Same MAE: fewer parameters wins (not the smaller file), as on the leaderboard.
    recs = [rec("A", 5.0, 9, params=100), rec("B", 5.0, 5, params=200), rec("C", 6.0, 1, params=50)]
    assert export.choose_within_budget(recs, 100, None, None).trial_id == "A"
    assert export.choose_within_budget(recs, 8, None, None).trial_id == "B"
    for kib in (100, 8, 1.5):
        b = report.leaderboard("run", recs, budget=Budget(max_kib=kib))
        assert b["budget"]["trial_id"] == export.choose_within_budget(recs, kib, None, None).trial_id
    for run in (FRONT, recs, [*FRONT, rec("x", 7.0, 500)]):
        b = report.leaderboard("run", run)
        assert [b["best_trial"], b["knee_trial"]] == [
            r.trial_id for r in export.choose(run, "best")
            + export.choose(run, "knee")]


def test_a_trial_takes_its_own_resolution_else_the_runs():
    from search.config import RunConfig

    searched = TrialRecord("s", COMPLETE, values={"image_size": 96})
    plain = TrialRecord("p", COMPLETE, values={"blocks": 2})
    assert export.trial_image_size(searched, RunConfig(image_size=64)) == 96
    assert export.trial_image_size(plain, RunConfig(image_size=48)) == 48
    assert export.trial_image_size(plain, RunConfig(image_size=None)) == 64


def test_an_ensemble_needs_two_models_of_one_size_and_is_refused_before_tensorflow_loads(
        make_run, tmp_path):
    import sys

    from conftest import sample_records

    # (run with the slow tests in one process, TensorFlow may be loaded already)
    loaded = {m for m in ("tensorflow", "keras") if m in sys.modules}
    records = {r.trial_id: r for r in sample_records()}
    records["02"].values["image_size"] = 96  # the run's size is 64 px
    run_dir = make_run("ens", list(records.values()))
    for trial, needle in (
            ("00", "--ensemble with --trial '00': 1 model chosen, expected two or more"),
            ("00,02", r"different input sizes \(00 64 px, 02 96 px\)"),
            ("02,00", r"different input sizes \(02 96 px, 00 64 px\)")):
        with pytest.raises(UserError, match=needle):
            export.export(run_dir, trial=trial, ensemble=True, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert {m for m in ("tensorflow", "keras") if m in sys.modules} == loaded
