"""Fault injection on a real run folder: every kind of file a search writes, damaged in every
way (truncated, empty, garbage, the wrong JSON type, deleted), then the same search command
again (resume), the leaderboard and export. Each either finishes or stops with one line
naming the file and the fix (exit status 2); no traceback; no finished trial lost.

One tiny search (the reference and one TPE trial, 32 px, 48 synthetic faces, one epoch) is
copied for each case; search.runfiles says what each command does with each file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import DAMAGES, damage

from search import cli
from search.records import COMPLETE, load_records

NAME = "f"


def _search_args(results: Path, cache: Path) -> list[str]:
    return ["--trials", "2", "--epochs", "1", "--synthetic-images", "48", "--image-size", "32",
            "--batch-size", "16", "--seed", "7", "--run-name", NAME, "--results-dir",
            str(results), "--cache-dir", str(cache)]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, synth_cache):
    results = tmp_path_factory.mktemp("faults")
    assert cli.main(_search_args(results, synth_cache)) == 0
    run = results / NAME
    assert sorted(r.trial_id for r in load_records(run) if r.status == COMPLETE) == ["000",
                                                                                    "ref"]
    return run


def _copy(finished: Path, tmp_path: Path) -> Path:
    run = tmp_path / "results" / NAME
    shutil.copytree(finished, run, ignore=shutil.ignore_patterns("logs", "export"))
    return run


def _records(run: Path) -> dict[str, dict]:
    return {r.trial_id: r.to_dict() for r in load_records(run)}


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


#: Every kind of file in a run folder (the reports aside: nothing reads them back).
FILES = ("config.json", "run.json", "space.json", "dataset.json", "baseline.json",
         "leaderboard.json", "costs.json", "optuna.journal", "trials/000/record.json",
         "trials/ref/record.json", "trials/000/model.keras")
#: What the search says about each damaged file (a deleted one may say nothing).
NOTES = {"config.json": "this search rewrites it", "run.json": "rebuilt from config.json",
         "space.json": "this search rewrites it", "dataset.json": "this search rewrites it",
         "baseline.json": "this search rewrites it",
         "leaderboard.json": "this search rewrites it",
         "costs.json": "set aside as costs.json.damaged",
         "trials/000/record.json": "trial 000 is left out: restore the file, or delete",
         "trials/ref/record.json": "the reference trains again",
         "trials/000/model.keras": "cannot be exported: restore the file"}


@pytest.mark.parametrize("kind", DAMAGES)
@pytest.mark.parametrize("name", FILES)
def test_search_resumes_or_names_the_file_to_restore(finished, tmp_path, synth_cache, capsys,
                                                     name, kind):
    run = _copy(finished, tmp_path)
    before = _records(run)
    damage(run / name, kind)
    rc = cli.main(_search_args(run.parent, synth_cache))
    cap = capsys.readouterr()
    assert "Traceback" not in cap.out + cap.err
    after = _records(run)
    damaged_trial = name.split("/")[1] if name.endswith("record.json") else None
    for tid, rec in before.items():  # no finished trial lost, none changed
        if tid != damaged_trial:
            assert after.get(tid) == rec, tid
    if name == "optuna.journal" and kind != "truncated":
        # Nothing to rebuild the study from: one line naming the file and the fix.
        assert rc == 2, cap.err
        [line] = _lines(cap.err)
        assert line.startswith(f"error: {run / name}: ") and "--overwrite" in line, line
        return
    if name == "optuna.journal":  # a torn tail: set aside; what went with it may be needed
        assert "torn write" in cap.out and "optuna.journal.torn-1" in cap.out
        if rc == 2:
            [line] = _lines(cap.err)
            assert line.startswith("error: ") and str(run / name) in line, line
            assert "restore it, or start the run over with --overwrite" in line
        else:
            assert rc == 0 and set(after) == set(before), cap.err
        return
    assert rc == 0, cap.err
    assert cap.err == ""
    if kind != "deleted" or name == "run.json":
        notes = [line for line in _lines(cap.out) if line.startswith("note: ")]
        assert any(str(run / name) in n and NOTES[name] in n for n in notes), notes
    if name == "trials/ref/record.json":
        assert after["ref"]["status"] == COMPLETE  # trained again
    if name == "trials/000/record.json" and kind != "deleted":
        assert "000" not in after  # still damaged, left in place for the user to restore
        assert (run / name).exists()
    board = json.loads((run / "leaderboard.json").read_text())
    assert {t["trial_id"] for t in board["trials"]} == set(after)


@pytest.mark.parametrize("kind", DAMAGES)
@pytest.mark.parametrize("name", FILES)
def test_leaderboard_ranks_what_it_can_and_names_the_rest(finished, tmp_path, capsys, name,
                                                         kind):
    run = _copy(finished, tmp_path)
    before = _records(run)
    damage(run / name, kind)
    rc = cli.main(["leaderboard", str(run), "--format", "json"])
    cap = capsys.readouterr()
    assert rc == 0 and "Traceback" not in cap.err
    board = json.loads(cap.out)
    lost = {"trials/000/record.json": "000", "trials/ref/record.json": "ref"}.get(name)
    assert {t["trial_id"] for t in board["trials"]} == set(before) - {lost}
    reads = ("config.json", "space.json", "dataset.json", "baseline.json",
             "trials/000/record.json", "trials/ref/record.json")
    if name in reads and (kind != "deleted" or name == "config.json"):
        [line] = _lines(cap.err)
        assert line.startswith(f"warning: run {NAME}: {run / name}: "), line
    else:
        assert cap.err == ""


# --- export: one line where it must stop, an export where it need not ----------------------


@pytest.mark.parametrize("name, kind", [
    *[("config.json", k) for k in DAMAGES],
    *[("trials/000/record.json", k) for k in DAMAGES[:-1]],
    *[("trials/ref/record.json", k) for k in DAMAGES[:-1]],
])
def test_export_stops_with_one_line_naming_the_damaged_file(finished, tmp_path, capsys, name,
                                                            kind):
    run = _copy(finished, tmp_path)
    damage(run / name, kind)
    rc = cli.main(["export", str(run)])
    err = capsys.readouterr().err
    [line] = _lines(err)
    assert rc == 2 and line.startswith(f"error: {run / name}: "), err
    assert "restore" in line and not (run / "export").exists()


def _best(run: Path) -> str:
    return json.loads((run / "leaderboard.json").read_text())["best_trial"]


@pytest.mark.parametrize("kind", ["truncated", "garbage", "deleted"])
def test_export_names_a_damaged_model(finished, tmp_path, capsys, kind):
    run = _copy(finished, tmp_path)
    best = _best(run)
    damage(run / "trials" / best / "model.keras", kind)
    rc = cli.main(["export", str(run)])
    [line] = _lines(capsys.readouterr().err)
    assert rc == 2 and line.startswith(f"error: trial {best}: ") and "model.keras" in line
    assert not (run / "export").exists()


def test_export_does_without_the_files_it_can_rebuild_or_does_not_read(finished, tmp_path,
                                                                      capsys):
    """run.json and dataset.json damaged (said), and every file export never reads damaged:
    the export runs through, to a folder of the user's choosing."""
    run = _copy(finished, tmp_path)
    damage(run / "run.json", "truncated")
    damage(run / "dataset.json", "null")
    for name in ("space.json", "baseline.json", "leaderboard.json", "costs.json",
                 "optuna.journal"):
        damage(run / name, "garbage")
    out = tmp_path / "shipped"
    rc = cli.main(["export", str(run), "--trial", "000", "--quantize", "float32",
                   "--samples", "4", "--latency-runs", "2", "--out", str(out)])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    text = " ".join(cap.out.split())
    assert f"warning: {run / 'dataset.json'}: holds null" in text
    assert "warning: run.json is truncated" in text and "cannot be checked" in text
    card = json.loads((out / "trial_000" / "model_card.json").read_text())
    assert card["trial_id"] == "000" and card["dataset"]["used"] == 48  # rebuilt
    assert card["verification"]["split_matches_run"] is False
    assert not (run / "export").exists()


def test_a_search_whose_every_trial_failed_exits_1(tiny_cfg, tmp_path, capsys, monkeypatch):
    """Exit status 1: the input was good, the work failed (no trial finished)."""
    from search import pipeline

    monkeypatch.setattr(pipeline, "TRIAL_TARGET", "test_resume:nan_trial")
    args = ["--trials", "1", "--epochs", "1", "--no-reference", "--synthetic-images", "48",
            "--image-size", "32", "--batch-size", "16", "--seed", "7", "--run-name", "nan",
            "--results-dir", tiny_cfg.results_dir, "--cache-dir", tiny_cfg.cache_dir]
    assert cli.main(args) == 1
    [line] = _lines(capsys.readouterr().err)
    assert line == "error: no trial finished (1 failed); the leaderboard above gives each " \
                   "trial's reason"
