"""The board: ranks, front, best, knee, hypervolume and budget pick from trial records alone."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import sample_records

from search import board, pareto
from search.budget import Budget
from search.errors import UserError
from search.records import COMPLETE, FAILED, TrialRecord

ROOT = Path(__file__).resolve().parent.parent


def rec(tid, mae, params, f16, **kw):
    return TrialRecord(tid, COMPLETE, val_mae=mae, params=params, tflite_float16_bytes=f16, **kw)


def test_the_board_and_its_modules_never_load_tensorflow():
    code = ("import sys; import search.board, search.candidate, search.budget, search.files, "
            "search.report; "
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; "
            "assert not bad, bad")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-2000:]


def test_rank_skips_unfinished_trials_and_best_is_lowest_mae_on_front():
    recs = [rec("a", 5.0, 1000, 4000), rec("b", 7.0, 100, 400), rec("c", 8.0, 2000, 9000),
            TrialRecord("d", FAILED, reason="NaN")]
    assert board.rank(recs) == {"a": 1, "b": 1, "c": 2}
    assert board.best(recs).trial_id == "a"
    assert board.best([recs[3]]) is None and board.knee_trial([recs[3]]) is None


def test_rank_on_any_objectives_leaves_unmeasured_trials_unranked():
    recs = [rec("a", 5.0, 10, 4096, latency_ms=3.0), rec("b", 6.0, 5, 2048, latency_ms=1.0),
            rec("c", 4.0, 50, 9000)]
    assert board.rank(recs, ("mae", "latency")) == {"a": 1, "b": 1}
    assert board.rank(recs, ("mae",)) == {"c": 1, "a": 2, "b": 3}
    assert pareto.OBJECTIVES["kib"].value(recs[0]) == 4.0
    with pytest.raises(UserError, match="unknown objective 'speed'"):
        board.build([recs], "mae,speed")


def test_build_marks_front_best_knee_crowding_and_counts():
    b = board.build([sample_records()])
    by_id = {s.record.trial_id: s for s in b.trials}
    assert [s.record.trial_id for s in b.front] == ["00", "01", "02"]
    assert (b.best.record.trial_id, b.knee.record.trial_id) == ("00", "02")
    assert by_id["03"].rank == 2 and by_id["ref"].rank == 3 and by_id["06"].rank is None
    assert by_id["00"].crowding == float("inf")  # an extreme of its front
    assert (b.ranked, b.unranked_complete) == (5, 0)
    assert b.budget_pick is None and all(s.fits is None for s in b.trials)
    assert b.hypervolume.maximum == pytest.approx(1.1 ** 3) and 0 < b.hypervolume.value < 1.331
    assert "weighs 1 and the costs" in b.knee_definition


def test_each_run_keeps_its_own_front_and_hypervolume_on_one_normalisation():
    b = board.build([sample_records(), sample_records(shift=-0.7)[:4]],
                    baselines=[{"test_mae": 16.6}, {}])
    assert {(s.run, s.record.trial_id) for s in b.front} == {(1, "00"), (1, "01"), (1, "02")}
    assert (b.best.run, b.best.record.trial_id) == (1, "00")
    a, c = b.runs
    assert [s.record.trial_id for s in a.front] == ["00", "01", "02"]
    assert a.front[0].rank == 2  # behind run 1's front on the merged board
    assert c.hypervolume > a.hypervolume and b.hypervolume.value == pytest.approx(c.hypervolume)
    assert a.baseline_ratio == pytest.approx(5.3 / 16.6) and c.baseline_ratio is None


def test_too_many_objectives_or_none_ranked_has_no_hypervolume():
    recs = sample_records()
    for r in recs:
        r.macs = r.params
    b = board.build([recs], ("mae", "params", "kib", "macs"))
    assert b.hypervolume.value is None and "2 or 3 objectives; 4 chosen" in b.hypervolume.note
    b = board.build([recs], ("mae", "latency"))  # nobody measured latency
    assert b.ranked == 0 and b.best is None and b.hypervolume.note.startswith("no ranked trial")


def test_ties_go_to_fewer_parameters_then_the_earlier_run_then_the_trial_id():
    recs = [rec("b", 5.0, 100, 9000), rec("a", 5.0, 100, 9000), rec("c", 5.0, 50, 20_000)]
    assert board.best(recs).trial_id == "c"  # fewer parameters, though a bigger file
    assert board.within_budget(recs, Budget(max_kib=10)).trial_id == "a"
    two = board.build([recs[:2], [rec("a", 5.0, 100, 9000)]], budget=Budget(max_kib=10))
    assert (two.budget_pick.run, two.budget_pick.record.trial_id) == (0, "a")
    assert (two.best.run, two.best.record.trial_id) == (0, "a")


def test_budget_pick_is_the_lowest_mae_that_fits_and_unmeasured_trials_do_not_count():
    recs = sample_records()
    b = board.build([recs], budget=Budget(max_kib=50))
    assert b.budget_pick.record.trial_id == "02"
    assert {s.record.trial_id: s.fits for s in b.trials}["00"] is False
    b = board.build([recs], budget=Budget(max_latency_ms=10))  # nobody measured latency
    assert b.budget_pick is None and {s.fits for s in b.trials} == {None}
    for r, ms in zip(recs[:4], (3.0, 0.5, 1.0, 9.0), strict=True):
        r.latency_ms = ms
    assert board.build([recs], budget=Budget(max_latency_ms=2)).budget_pick.record.trial_id == "02"
    # A measuring function replaces the recorded figure, and is asked only until one fits.
    asked = []

    def measure(r):
        asked.append(r.trial_id)
        return 5.0 if r.trial_id == "00" else 0.1

    got = board.within_budget(recs, Budget(max_latency_ms=2), measure)
    assert got.trial_id == "03" and asked == ["00", "03"]


def test_budget_limits_must_be_above_zero_and_say_which_flag():
    with pytest.raises(UserError, match="--max-kib must be a number above 0, got -1"):
        Budget(max_kib=-1)
    with pytest.raises(UserError, match="--max-macs must be a number above 0, got 0"):
        Budget(max_macs=0)
    assert not Budget().active and Budget(max_macs=5).active
    assert Budget(max_kib=50, max_params=2000).describe() == (
        "50 KiB (float16 TFLite), 2,000 parameters")


def test_pareto_order_is_rank_then_mae_never_crowding():
    """The issue's case: a 13.25 y extreme of the front (largest crowding) is listed last of
    its rank, not second."""
    recs = [rec("acc", 5.0, 90_000, 400_000), rec("mid", 6.5, 9_000, 40_000),
            rec("tiny", 13.25, 300, 2_000), rec("behind", 7.0, 95_000, 410_000),
            TrialRecord("nan", FAILED, reason="NaN")]
    b = board.build([recs])
    order = sorted(b.trials, key=board.pareto_order)
    assert [s.record.trial_id for s in order] == ["acc", "mid", "tiny", "behind", "nan"]
    assert {s.record.trial_id: s.crowding for s in b.trials}["tiny"] == float("inf")
