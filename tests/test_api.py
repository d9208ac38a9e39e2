"""The Python API end to end: docs/api.md's tour, run block after block as a notebook runs
it (a real search on tiny data, a real export, real predictions), then its result objects
checked; and nothing printed on the way (library code logs)."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import search as agesearch

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def tour_blocks() -> list[str]:
    """The ```python blocks of docs/api.md (```py blocks are snippets, not run)."""
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_the_docs_tour_runs_and_its_results_hold(tmp_path, monkeypatch, synth_cache, capfd,
                                                  caplog):
    monkeypatch.chdir(tmp_path)  # the tour writes results/api-tour/ where it runs
    monkeypatch.setenv("AGESEARCH_CACHE", str(synth_cache))
    blocks = tour_blocks()
    assert len(blocks) >= 4, "the tour lost its blocks"
    ns: dict = {"__name__": "tour"}
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the tour's basicConfig, undone after
    try:
        with caplog.at_level(logging.INFO, logger="agesearch"):
            for block in blocks:
                exec(compile(block, str(DOC), "exec"), ns)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

    # nothing printed: not by the library, not by its trial worker processes
    out = capfd.readouterr().out
    assert out == "", out[:500]
    logged = [r.getMessage() for r in caplog.records if r.name == "agesearch"]
    assert any(re.match(r"trial \w+: complete", line) for line in logged), logged[:20]

    run = ns["run"]
    assert isinstance(run, agesearch.Run) and run.path == Path("results/api-tour")
    assert run.config.trials == 3 and run.config.image_size == 32
    assert sum(run.counts.values()) == len(run.trials) == 3 and run.counts["complete"] >= 1
    best, knee, front = ns["best"], ns["knee"], ns["front"]
    assert best.is_best and best.on_front and best.status == "complete"
    assert best.val_mae == min(t.val_mae for t in front) and math.isfinite(best.val_mae)
    assert knee.is_knee and knee in front
    assert [t.id for t in front] == [t.id for t in run.trials if t.pareto_rank == 1]
    small = ns["small"]
    assert small is None or small.kib <= 100
    assert set(run.baseline) == {"median_age", "val_mae", "test_mae"}
    assert [r["trial_id"] for r in ns["records"]] == [t.id for t in run.trials]
    df = ns["df"]
    assert list(df.index) == [t.id for t in run.trials] and "param_blocks" in df.columns

    exported = ns["exported"]
    assert exported.trial_id == best.id and exported.verified
    assert sorted(exported.files) == ["float16", "float32"]
    assert all(f.is_file() for f in exported.files.values())
    assert (exported.folder / "model_card.json").is_file()
    assert exported.card["files"]["float16"]["input"]["shape"] == [1, 32, 32, 3]

    predictions = ns["predictions"]
    assert len(predictions.ages) == run.dataset["found"] == 120
    assert all(a is not None and 0 < a < 120 for a in predictions.ages)
    assert predictions.mae is not None and predictions.image_size == 32

    # docs/deploy.md's LiteRT snippet, on the exported file and one of the faces
    deploy = (DOC.parent / "deploy.md").read_text()
    [snippet] = [b for b in re.findall(r"^```py\n(.*?)^```", deploy, flags=re.S | re.M)
                 if "Interpreter(model_path" in b]
    row = next(r for r in predictions.rows if r["age"] is not None)
    snippet = snippet.replace("results/<run>/export/trial_<id>/model_float16.tflite",
                              str(exported.files["float16"])).replace("face.jpg", row["path"])
    here: dict = {}
    exec(compile(snippet, str(DOC.parent / "deploy.md"), "exec"), here)
    assert abs(here["age"] - row["age"]) < 2.0  # the same model; only the resize differs

    # reading the folder again gives the same answers
    again = agesearch.Run.open(run.path)
    assert again.best().id == best.id and again.knee().id == knee.id


def test_a_library_search_prints_nothing_even_when_kerastuner_does(tiny_cfg, capfd, caplog):
    """KerasTuner prints "Reloading Tuner from ..." when a run resumes: logged, not printed."""
    cfg = tiny_cfg.replace(tuner="random", trials=1, epochs=1, reference=False, run_name="kt")
    with caplog.at_level(logging.INFO, logger="agesearch"):
        first = agesearch.search(cfg)
        again = agesearch.search(cfg)  # resumes: the tuner reloads its oracle, trains nothing
    assert capfd.readouterr().out == ""
    logged = [r.getMessage() for r in caplog.records if r.name == "agesearch"]
    assert any(line.startswith("Reloading Tuner from") for line in logged), logged[-10:]
    assert [t.id for t in again.trials] == [t.id for t in first.trials]
    assert first.counts["complete"] == 1


def test_a_script_without_the_main_guard_is_told_why(tmp_path, synth_cache):
    """Worker processes re-run a script's top level; search() there says what to do."""
    import subprocess
    import sys

    script = tmp_path / "tour.py"
    script.write_text(
        "import search as agesearch\n"
        "run = agesearch.search(trials=1, epochs=1, synthetic_images=48, image_size=32,\n"
        f"                       reference=False, results_dir={str(tmp_path)!r}, run_name='g',\n"
        f"                       cache_dir={str(synth_cache)!r})\n"
        "print(run.counts)\n")
    p = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=300)
    assert "call it under if __name__ == \"__main__\"" in p.stderr, p.stderr[-2000:]
    assert "'failed': 1" in p.stdout
