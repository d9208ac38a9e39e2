"""The search display: rich on a terminal, plain lines in a log."""

import io

from rich.console import Console

from search.progress import SearchProgress, clock, eta, scan
from search.records import COMPLETE, INFEASIBLE, TrialRecord


def _record(tid, status=COMPLETE, mae=7.5):
    return TrialRecord(tid, status, val_mae=mae if status == COMPLETE else None, params=1234,
                       tflite_float16_bytes=4096, epochs_run=3, train_seconds=2.0)


def test_clock_and_eta():
    assert clock(83) == "1:23" and clock(3725) == "1:02:05" and clock(None) == "?"
    assert eta([], 3, 1) is None and eta([10.0, 20.0], 0, 1) == 0.0
    assert eta([10.0, 20.0], 4, 2) == 30.0  # 15 s a trial, 4 left, 2 workers


def test_scan_counts_done_running_and_best(tmp_path):
    _record("0", mae=8.0).save(tmp_path / "trials/0/record.json")
    _record("1", mae=6.0).save(tmp_path / "trials/1/record.json")
    _record("2", INFEASIBLE).save(tmp_path / "trials/2/record.json")
    (tmp_path / "trials/3").mkdir()
    assert scan(tmp_path) == (2, 1, 6.0)


def _drive(progress, run_dir, refresh=lambda: None):
    """One trial as the search process sees it: the worker's progress calls (the Keras
    callback that sends them is tested with a real worker in test_trial_process)."""
    with progress:
        progress.trial_started("0", {"blocks": 2, "filters_1": 8, "filters_2": 16})
        rec = _record("0")
        progress.on_event("train_begin", rec, 3)
        for e in range(3):
            progress.on_event("epoch_begin", rec, e, 3)
            progress.on_event("batch_end", e, 0.5)
            progress.on_event("epoch_end", rec, e, 3,
                              {"loss": 9.0 - e, "mae": 9.0 - e, "val_mae": 8.5 - e})
        refresh()  # the display redraws 10 times a second: draw this moment now
        rec.save(run_dir / "trials/0/record.json")
        progress.trial_finished(rec)


def test_plain_lines_when_not_a_terminal(tmp_path):
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    p = SearchProgress(console, total=3, epochs=3, run_dir=tmp_path)
    assert not p.live
    _drive(p, tmp_path)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("trial 0: {")
    assert lines[1].startswith("trial 0: complete, val MAE 7.50 y, 1,234 params, 4.0 KiB")
    assert "[1/3 done, 0 running, 2 left, best 7.50 y, 0:00 elapsed, ~0:00 left, " in lines[1]
    assert lines[1].endswith(" MiB]")
    assert len(lines) == 2  # no bars, no escape codes
    assert "\x1b" not in out.getvalue()


def test_live_display_on_a_terminal(tmp_path):
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=True)
    p = SearchProgress(console, total=3, epochs=3, run_dir=tmp_path)
    assert p.live
    _drive(p, tmp_path, refresh=lambda: p._progress.refresh())
    text = out.getvalue()
    assert "trial 0: complete" in text
    assert "trial 0" in text and "epoch 3/3, loss 7.00, MAE 7.00, val MAE 6.50" in text
    assert "0/3 done, 1 running, 2 left, best -" in text
    assert "1/3 done, 0 running, 2 left, best 7.50 y" in text


def test_a_resumed_trial_says_where_it_resumed(tmp_path):
    out = io.StringIO()
    p = SearchProgress(Console(file=out, width=200), total=2, epochs=12, run_dir=tmp_path)
    rec = _record("4")
    rec.resumed_from_epoch = 5
    p.on_event("train_begin", rec, 12)
    assert "trial 4: resumed after epoch 5 of 12 from its backup" in out.getvalue()
