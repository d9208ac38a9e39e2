"""The real thing, small: synthetic JPEGs -> search (TPE) -> leaderboard -> TFLite export."""

import json
from pathlib import Path

import numpy as np
import pytest

from search import cli, pipeline
from search.records import COMPLETE, load_records


@pytest.fixture
def finished_run(tiny_cfg):
    board = pipeline.run(tiny_cfg)
    return Path(tiny_cfg.results_dir) / tiny_cfg.run_name, board


def test_search_trains_candidates_and_writes_a_ranked_leaderboard(finished_run, tiny_cfg):
    run_dir, board = finished_run
    saved = json.loads((run_dir / "leaderboard.json").read_text())
    assert saved["schema_version"] == 1 and saved["run"] == "tiny"
    assert len(saved["trials"]) == tiny_cfg.trials
    assert saved["dataset"]["used"] == 48
    assert saved["baseline"]["test_mae"] > 0
    done = [t for t in saved["trials"] if t["status"] == COMPLETE]
    assert done, [t.get("reason") for t in saved["trials"]]
    for t in done:
        assert t["val_mae"] > 0 and t["params"] > 0
        assert t["tflite_float16_bytes"] < t["tflite_float32_bytes"]
        assert t["pareto_rank"] >= 1 and 1 <= t["epochs_run"] <= tiny_cfg.epochs
        assert (run_dir / t["model_path"]).is_file()
        assert (run_dir / "trials" / t["trial_id"] / "logs").is_dir()  # TensorBoard
    assert min(t["pareto_rank"] for t in done) == 1
    best = next(t for t in saved["trials"] if t["trial_id"] == saved["best_trial"])
    assert best["val_mae"] == min(t["val_mae"] for t in done)
    for name in ("config.json", "dataset.json", "space.json", "baseline.json",
                 "optuna.journal", "leaderboard.md", "leaderboard.csv", "pareto.png",
                 "report.html"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "report.html").read_text().count('<tr class="') == tiny_cfg.trials
    assert f"export {run_dir} --trial {saved['best_trial']}" in (
        run_dir / "leaderboard.md").read_text()


def test_tflite_size_measured_before_training_equals_the_trained_file(finished_run):
    run_dir, board = finished_run
    from search import export

    [result] = export.export(run_dir, samples=8, latency_runs=3)
    rec = next(r for r in load_records(run_dir) if r.trial_id == result["trial_id"])
    assert result["files"]["float32"]["bytes"] == rec.tflite_float32_bytes
    assert result["files"]["float16"]["bytes"] == rec.tflite_float16_bytes
    assert result["verified"]
    out = run_dir / "export" / f"trial_{rec.trial_id}"
    for q in ("float32", "float16"):
        assert (out / f"model_{q}.tflite").stat().st_size == result["files"][q]["bytes"]
        assert result["files"][q]["max_abs_diff_years"] < 0.5
    assert not list(out.glob(".*tmp*"))  # nothing half-written


def test_tflite_file_predicts_what_keras_predicts(finished_run):
    import keras

    from search import convert, interpreter

    run_dir, board = finished_run
    rec = next(r for r in load_records(run_dir) if r.trial_id == board["best_trial"])
    model = keras.models.load_model(run_dir / rec.model_path)
    x = np.random.default_rng(0).uniform(0, 255, (4, *model.input_shape[1:])).astype(np.float32)
    want = model.predict(x, verbose=0).reshape(-1)
    got = interpreter.predict(convert.to_tflite(model, "float32"), x)
    np.testing.assert_allclose(got, want, atol=1e-3)


def test_resume_keeps_finished_trials(finished_run, tiny_cfg):
    run_dir, _ = finished_run
    before = {r.trial_id: r.val_mae for r in load_records(run_dir)}
    board = pipeline.run(tiny_cfg.replace(trials=3))
    after = {r["trial_id"]: r["val_mae"] for r in board["trials"]}
    assert len(after) == 3
    assert all(after[k] == v for k, v in before.items())


def test_changed_setup_under_same_run_name_is_refused(finished_run, tiny_cfg):
    from search.errors import UserError

    with pytest.raises(UserError,
                       match="exists with a different setup .image_size: was 32, now 48"):
        pipeline.run(tiny_cfg.replace(image_size=48))


def test_cli_search_then_export(tmp_path, synth_cache, capsys):
    results = tmp_path / "r"
    rc = cli.main(["--trials", "1", "--epochs", "1", "--synthetic-images", "30",
                   "--image-size", "32", "--run-name", "cli", "--results-dir", str(results),
                   "--cache-dir", str(synth_cache), "--seed", "3"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "Leaderboard: cli" in out and "median-age baseline" in out
    rc = cli.main(["export", str(results / "cli"), "--samples", "4"])
    out = capsys.readouterr().out
    assert rc == 0 and "model_float16.tflite" in out
