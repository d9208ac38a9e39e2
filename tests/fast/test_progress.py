"""The search display: rich on a terminal, plain lines in a log."""

import io
import json
import time

import pytest
from rich.console import Console

from search import progress
from search.progress import SearchProgress, clock, eta, scan, union_seconds
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


def test_the_run_clock_adds_earlier_sessions_and_skips_damaged_lines(tmp_path):
    now = time.time()
    (tmp_path / progress.CLOCK_FILE).write_text(
        json.dumps({"session": "a", "start": now - 1000, "seen": now - 900}) + "\n"
        + json.dumps({"session": "a", "start": now - 1000, "seen": now - 880}) + "\n"
        + '{"session": "b", "start": ' + "\n"  # a write cut short by a power cut
        + json.dumps({"session": "c", "start": now - 890, "seen": now - 860}) + "\n")
    clock_ = progress.RunClock(tmp_path)
    # a: 120 s, c overlaps it for 10 s and adds 20; this session: about 0 s so far
    assert clock_.elapsed() == pytest.approx(140, abs=2)
    assert union_seconds([(0, 10), (5, 20), (30, 31)]) == 21


def test_a_long_runs_clock_file_is_compacted_to_a_line_a_session(tmp_path, monkeypatch):
    monkeypatch.setattr(progress.RunClock, "COMPACT", 5)
    now = time.time()
    path = tmp_path / progress.CLOCK_FILE
    path.write_text("".join(json.dumps({"session": s, "start": now - 100 * k,
                                        "seen": now - 100 * k + t}) + "\n"
                            for k, s in ((3, "a"), (2, "b")) for t in range(0, 40, 5)))
    first = progress.RunClock(tmp_path).elapsed()
    assert len(path.read_text().splitlines()) == 2
    assert progress.RunClock(tmp_path).elapsed() == pytest.approx(first, abs=1)
    assert first == pytest.approx(70, abs=1)


def test_elapsed_survives_a_restart_and_ticks_between_events(tmp_path):
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True)
    now = time.time()
    (tmp_path / progress.CLOCK_FILE).write_text(  # a first session that ran 2 minutes
        json.dumps({"session": "first", "start": now - 900, "seen": now - 780}) + "\n")
    with SearchProgress(console, total=3, epochs=3, run_dir=tmp_path) as p:
        info = p._progress.columns[2]
        task = p._progress.tasks[0]
        first = str(info.render(task))
        assert "2:00 elapsed" in first
        time.sleep(1.05)  # no event in between: the figures are computed at each redraw
        assert "2:01 elapsed" in str(info.render(task))
    # this session is in the file too: a third one starts from both
    with SearchProgress(console, total=3, epochs=3, run_dir=tmp_path) as again:
        assert again.elapsed() == pytest.approx(121, abs=2)


def test_the_estimate_starts_from_the_runs_records_and_counts_down(tmp_path):
    for tid in ("000", "001"):
        rec = _record(tid)
        rec.train_seconds, rec.cost_seconds = 100.0, 20.0
        rec.save(tmp_path / f"trials/{tid}/record.json")
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    with SearchProgress(console, total=4, epochs=3, run_dir=tmp_path) as p:
        assert "2/4 done" in p.summary() and "~4:00 left" in p.summary()  # 2 x 120 s
        p.trial_started("002", {})
        p._trial_t0 -= 30  # the trial has run 30 s
        assert "~3:30 left" in p.summary()
    assert eta([120.0], 2, 1, current=500.0) == 120.0  # a slow trial: one mean at most


def test_a_log_gets_an_epoch_line_only_after_a_silence(tmp_path, monkeypatch):
    def lines(every):
        monkeypatch.setattr(progress, "LOG_EVERY", every)
        out = io.StringIO()
        p = SearchProgress(Console(file=out, width=300, force_terminal=False), total=3,
                           epochs=3, run_dir=tmp_path / str(every))
        _drive(p, tmp_path / str(every))
        return out.getvalue().splitlines()

    assert len(lines(30.0)) == 2  # fast epochs: the trial's two lines only
    got = lines(0.0)  # every epoch ends a "silence": one line each
    epochs = [line for line in got if ": epoch " in line]
    assert len(epochs) == 3 and epochs[0].startswith("trial 0: epoch 1/3, loss 9.00, MAE 9.00,"
                                                     " val MAE 8.50, 0:00 in the trial [")
    assert epochs[-1].endswith(" MiB]")
