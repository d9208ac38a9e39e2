"""The one reader of run folders (search.runfiles) on hand-made runs: every run file damaged in
every way; the leaderboard leaves the file out and names it, export stops with one line where
the damage could change what it exports. No training, no TensorFlow (export stops before it
loads any); tests/test_faults.py does the same to a real search, and resumes it."""

from __future__ import annotations

import json

import pytest
from conftest import DAMAGES, damage, sample_records

from search import cli, runfiles
from search.errors import DamagedFile
from search.records import TrialRecord, load_records

RUN_FILES = ("config.json", "space.json", "dataset.json", "baseline.json",
             "trials/02/record.json", "trials/ref/record.json")


def _leaderboard(capsys, run, *args):
    rc = cli.main(["leaderboard", str(run), "--format", "json", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("kind", DAMAGES)
@pytest.mark.parametrize("name", RUN_FILES)
def test_leaderboard_leaves_a_damaged_file_out_and_names_it(make_run, capsys, name, kind):
    run = make_run("lite-a", sample_records())
    damage(run / name, kind)
    rc, out, err = _leaderboard(capsys, run)
    assert rc == 0 and "Traceback" not in err
    board = json.loads(out)
    ids = {t["trial_id"] for t in board["trials"]}
    lost = {"trials/02/record.json": "02", "trials/ref/record.json": "ref"}.get(name)
    assert ids == {r.trial_id for r in sample_records()} - {lost}  # nothing else lost
    problems = board["runs"][0]["problems"]
    if kind == "deleted" and name != "config.json":
        assert problems == [] and err == ""  # a missing file is not a damaged one
        return
    assert len(problems) == 1 and str(run / name) in problems[0], problems
    assert err.count("\n") == 1 and err.startswith(f"warning: run lite-a: {run / name}")
    if name.startswith("trials/"):
        assert f"restore the file, or delete the folder {(run / name).parent}" in err


def test_a_record_of_the_wrong_shape_is_damaged_not_a_crash(tmp_path):
    path = tmp_path / "trials" / "7" / "record.json"
    path.parent.mkdir(parents=True)
    cases = {
        '{"trial_id": "7", "status": "complete", "values": [1]}':
            "not a trial record: 'values' is [1] (a list), expected a JSON object",
        '{"trial_id": "7", "status": "done"}':
            "not a trial record: 'status' is 'done', expected one of complete, pruned",
        '{"trial_id": 7, "status": "complete"}':
            "not a trial record: 'trial_id' is 7 (a number), expected a string",
        '{"trial_id": "../x", "status": "complete"}':
            "not a trial record: 'trial_id' '../x': use letters, digits",
        '{"trial_id": "7", "status": "complete", "val_mae": "low"}':
            "'val_mae' is 'low' (a string), expected a number or null",
        '{"trial_id": "7", "status": "complete", "params": 1.5}':
            "'params' is 1.5 (a number), expected a whole number or null",
        '{"trial_id": "7", "sta': "is truncated (its JSON stops before the end)",
        "\ufeff{}": "is not valid JSON",
    }
    for text, needle in cases.items():
        path.write_text(text)
        with pytest.raises(DamagedFile) as e:
            TrialRecord.load(path)
        assert str(e.value).startswith(f"{path}: ") and needle in str(e.value), str(e.value)
        damaged: list[DamagedFile] = []
        assert load_records(tmp_path, damaged) == [] and len(damaged) == 1


def test_a_run_whose_config_is_missing_still_ranks_its_trials(make_run, capsys):
    run = make_run("lite-a", sample_records())
    (run / "config.json").unlink()
    rc, out, err = _leaderboard(capsys, run)
    assert rc == 0 and len(json.loads(out)["trials"]) == len(sample_records())
    assert "config.json: is missing" in err


@pytest.mark.parametrize("kind", DAMAGES)
def test_export_stops_on_a_damaged_config_before_loading_anything(make_run, capsys, kind):
    run = make_run("lite-a", sample_records())
    damage(run / "config.json", kind)
    rc = cli.main(["export", str(run)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {run / 'config.json'}: ")
    assert "export needs the run's settings: restore it, or run the run's search command " \
           "again" in err
    assert not (run / "export").exists()


@pytest.mark.parametrize("kind", DAMAGES[:-1])  # a deleted record is a trial not yet recorded
@pytest.mark.parametrize("which", [[], ["--trial", "knee"], ["--trial", "02"],
                                   ["--max-kib", "100"]])
def test_export_stops_when_a_damaged_record_could_change_the_choice(make_run, capsys, kind,
                                                                    which):
    run = make_run("lite-a", sample_records())
    damage(run / "trials" / "02" / "record.json", kind)
    rc = cli.main(["export", str(run), *which])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: {run / 'trials' / '02' / 'record.json'}: ")
    assert f"trial 02 is left out: restore the file, or delete the folder {run / 'trials'}" in err
    assert not (run / "export").exists()


def test_export_and_leaderboard_refuse_an_out_that_is_a_file(make_run, tmp_path, capsys):
    run = make_run("lite-a", sample_records())
    plain = tmp_path / "plain"
    plain.write_text("x")
    for args in (["export", str(run), "--out", str(plain)],
                 ["export", str(run), "--out", str(plain / "sub")],
                 ["leaderboard", str(run), "--out", str(plain)]):
        assert cli.main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --out ") and "expected a folder" in err
        assert err.count("\n") == 1
    assert plain.read_text() == "x" and not (run / "export").exists()


def test_a_damaged_run_json_is_rebuilt_only_when_config_and_space_agree(make_run, tmp_path):
    from search.config import RunConfig

    run = make_run("lite-a", sample_records())
    cfg = RunConfig.load(run / "config.json")
    space = json.loads((run / "space.json").read_text())
    fingerprint = {"space": space, "data": "abc", "image_size": cfg.image_size,
                   "tuner": cfg.tuner, "seed": cfg.seed}
    (run / "run.json").write_text('{"space": {"na')
    old, notes = runfiles.previous_setup(run, cfg, fingerprint)
    assert old == fingerprint and "run.json: is truncated" in notes[0]
    assert "rebuilt from config.json and space.json" in notes[0]
    with pytest.raises(DamagedFile, match="run.json: is truncated .*; it records what the run "
                                          "searches.*--overwrite"):
        runfiles.previous_setup(run, cfg.replace(seed=8), fingerprint)
    assert runfiles.previous_setup(tmp_path / "new", cfg, fingerprint) == (None, [])


@pytest.mark.parametrize("kind", DAMAGES[:3])
def test_damaged_kerastuner_state_stops_a_resume_with_one_line(make_run, kind):
    from search.config import RunConfig

    run = make_run("lite-a", sample_records())
    oracle = run / "tuner" / "lite-a" / "oracle.json"
    oracle.parent.mkdir(parents=True)
    oracle.write_text(json.dumps({"ongoing_trials": {}, "tried_so_far": []}))
    cfg = RunConfig(tuner="random")
    notes = runfiles.mend_for_search(run, cfg, "ref")  # whole: nothing said about it
    assert notes and not any("oracle.json" in n for n in notes)  # (hand-made: no models)
    damage(oracle, kind)
    with pytest.raises(DamagedFile) as e:
        runfiles.mend_for_search(run, cfg, "ref")
    assert str(e.value).startswith(f"{oracle}: ")
    assert "KerasTuner's state of the search: restore it, or start the run over with " \
           "--overwrite" in str(e.value)
