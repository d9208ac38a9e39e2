"""Export that ships, for real and small: one tiny search, exported in every format, checked.

No mocks: the files are converted by TensorFlow and run by the LiteRT interpreter.
"""

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_of_search
from PIL import Image
from rich.console import Console

from search import cli, convert, export, groups, interpreter, pipeline, predict, runfiles
from search import data as data_mod
from search.config import RunConfig
from search.records import TrialRecord, load_records


def quiet_console():
    return Console(file=io.StringIO(), width=200)


@pytest.fixture(scope="module")
def cfg(tiny_search, tmp_path_factory):
    """This module's copy of the session's tiny search (its exports and refits are its own)."""
    return copy_of_search(tiny_search, tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def run_dir(cfg):
    return Path(cfg.results_dir) / cfg.run_name


@pytest.fixture(scope="module")
def card(run_dir):
    [card] = export.export(run_dir, quantize=convert.QUANTIZATIONS, latency_runs=3,
                           console=quiet_console())
    return card


@pytest.fixture(scope="module")
def out_dir(run_dir, card):
    return run_dir / "export" / f"trial_{card['trial_id']}"


def leftovers(folder: Path):
    return [p for p in folder.rglob("*") if ".tmp" in p.name or ".old" in p.name]


def test_every_format_converts_and_verifies(card, out_dir):
    files = card["files"]
    assert list(files) == ["float32", "float16", "dynamic", "int8"]
    for q, f in files.items():
        path = out_dir / f"model_{q}.tflite"
        assert path.stat().st_size == f["bytes"] and f["file"] == path.name
        assert f["latency_ms"]["threads_1"] > 0 and f["latency_ms"]["threads_4"] > 0
        assert np.isfinite(f["mae_years"]) and f["max_abs_diff_years"] >= 0
    assert files["float32"]["status"] == "ok" and files["float32"]["limit_years"] == 0.01
    assert files["float16"]["status"] == "ok" and files["float16"]["limit_years"] == 0.05
    for q in ("dynamic", "int8"):
        assert files[q]["status"] in ("ok", "flagged") and files[q]["limit_years"] == 0.5
    # (ratios of a tiny model are dominated by the file's fixed overhead: the 52% and 30%
    # targets are for the reference model, benchmarks/export_sizes.py)
    assert files["float16"]["ratio_to_float32"] < 0.85 and files["int8"]["ratio_to_float32"] < 0.85
    assert card["verified"]
    assert not leftovers(out_dir.parent)


def test_int8_takes_uint8_pixels_and_returns_float32_years(card, out_dir):
    io_ = interpreter.describe(interpreter.load(out_dir / "model_int8.tflite"))
    assert io_["input"]["dtype"] == "uint8" and io_["input"]["shape"] == [1, 32, 32, 3]
    assert abs(io_["input"]["scale"] - 1.0) < 1e-3 and io_["input"]["zero_point"] == 0
    assert io_["output"]["dtype"] == "float32"
    for q in ("float32", "float16", "dynamic"):
        assert card["files"][q]["input"]["dtype"] == "float32"
    assert card["files"]["int8"]["input"]["range"] == [0, 255]


def test_int8_ships_the_closer_of_as_trained_and_equalized_unless_told_not_to(
        run_dir, card, out_dir, tmp_path):
    eq = card["verification"]["calibration"]["equalized"]
    members = eq["members"]
    assert list(members) == [card["trial_id"]] and members[card["trial_id"]]["pairs"] >= 1
    for d in members[card["trial_id"]]["layers"]:
        assert d["spread_after"] <= d["spread_before"]
    diff = eq["calibration_mean_abs_diff_years"]
    assert eq["kept"] == (diff["equalized"] < diff["as_trained"])
    [plain] = export.export(run_dir, trial=card["trial_id"], quantize=("int8",),
                            latency_runs=1, out_dir=tmp_path, equalize=False,
                            console=quiet_console())
    assert plain["verification"]["calibration"]["equalized"] is None and plain["verified"]
    other = (tmp_path / f"trial_{card['trial_id']}" / "model_int8.tflite").read_bytes()
    shipped = (out_dir / "model_int8.tflite").read_bytes()
    assert (other != shipped) == eq["kept"]  # as trained unless the equalized file was closer
    assert abs(len(other) - len(shipped)) < 64


def test_int8_bias_correction_takes_the_files_steady_error_on_calibration_out(run_dir, card):
    """bias_corrected measures b, the int8 file's median error against Keras on the
    calibration images, and converts the model with b subtracted from its output: every
    tensor keeps its range, so each age moves by b (to the output's int8 step) and the
    steady error goes."""
    r = next(r for r in load_records(run_dir) if r.trial_id == card["trial_id"])
    model = export.load_model(run_dir, r, 32)
    data = data_mod.load(runfiles.config(run_dir, "test"))
    calibration, _ = export.split_images(data, "train", export.DEFAULT_CALIBRATION_IMAGES, 32)
    want = np.asarray(model.predict(calibration.astype(np.float32), verbose=0)).reshape(-1)
    plain = convert.to_tflite(model, "int8", calibration)
    before = interpreter.predict(plain, calibration)
    fixed, b = export.bias_corrected(model, plain, calibration, want)
    assert b == pytest.approx(float(np.median(before - want)), abs=1e-6)
    # A tiny model's own b may be under the output's int8 step: a reference 3 years lower
    # than the model makes one the check can see.
    lower = want - 3.0
    moved, b3 = export.bias_corrected(model, plain, calibration, lower)
    assert b3 == pytest.approx(b + 3.0, abs=1e-4)
    after = interpreter.predict(moved, calibration)
    step = (max(float(want.max()), 0.0) - min(float(lower.min()), 0.0)) / 255
    assert np.max(np.abs(after - (before - b3))) <= 1.5 * step + 1e-3
    assert abs(float(np.median(after - lower))) <= step < 1.0
    # the shifted Keras model is the model minus its argument, exactly; the file one op more
    got = np.asarray(export.shifted(model, 2.5).predict(calibration[:4].astype(np.float32),
                                                         verbose=0))
    np.testing.assert_allclose(got.reshape(-1), want[:4] - 2.5, rtol=0, atol=1e-4)
    assert 0 < len(fixed) - len(plain) < 1024
    # what the card says: each file's b (both files made by default), the as-trained one
    # the same figure as here
    v = card["verification"]["calibration"]["bias_correction_years"]
    assert set(v) == {"as_trained", "equalized"}
    assert v["as_trained"] == pytest.approx(b, abs=1e-6)


def test_no_bias_correction_ships_the_file_as_converted(run_dir, card, tmp_path):
    [plain] = export.export(run_dir, trial=card["trial_id"], quantize=("int8",),
                            latency_runs=1, out_dir=tmp_path, equalize=False,
                            bias_correction=False, console=quiet_console())
    assert plain["verification"]["calibration"]["bias_correction_years"] is None
    assert plain["verification"]["calibration"]["equalized"] is None
    r = next(r for r in load_records(run_dir) if r.trial_id == card["trial_id"])
    model = export.load_model(run_dir, r, 32)
    data = data_mod.load(runfiles.config(run_dir, "test"))
    calibration, _ = export.split_images(data, "train", export.DEFAULT_CALIBRATION_IMAGES, 32)
    shipped = (tmp_path / f"trial_{card['trial_id']}" / "model_int8.tflite").read_bytes()
    assert shipped == convert.to_tflite(model, "int8", calibration)


def test_model_card_describes_the_files_trial_and_data(run_dir, card, out_dir):
    on_disk = json.loads((out_dir / "model_card.json").read_text())
    assert on_disk == json.loads(json.dumps(card))
    record = next(r for r in load_records(run_dir) if r.trial_id == card["trial_id"])
    assert card["hyperparameters"] == record.values and card["selected_by"] == "best"
    assert card["output"] == {"shape": [1, 1], "dtype": "float32", "unit": "years"}
    assert card["dataset"] == json.loads((run_dir / "dataset.json").read_text())
    v = card["verification"]
    assert v["images"] == v["split_images"] == card["dataset"]["splits"]["test"]  # all by default
    assert v["split_matches_run"] and v["calibration"]["split"] == "train"
    assert v["latency"]["timed_runs"] == 3 and v["latency"]["host"]["cpus"] >= 1


def test_keras_and_h5_copies_load_and_predict_alike(out_dir):
    import keras

    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    a = keras.models.load_model(out_dir / "model.keras").predict(x, verbose=0)
    b = keras.models.load_model(out_dir / "model.h5", compile=False).predict(x, verbose=0)
    np.testing.assert_allclose(a, b, atol=1e-4)
    tflite = interpreter.predict(out_dir / "model_float32.tflite", x)
    np.testing.assert_allclose(tflite, a.reshape(-1), atol=1e-3)


def test_predict_reads_images_as_training_does(cfg, run_dir, card, out_dir):
    """predict on the test split's files gives the ages the export verified (same resize)."""
    import keras

    from search import data as data_mod

    data = data_mod.load(cfg)
    files = [Path(f.path) for f in data.splits["test"]]
    images, ages = export.split_images(data, "test", None)
    model = keras.models.load_model(out_dir / "model.keras")
    want = model.predict(images.astype(np.float32), verbose=0).reshape(-1)
    got = predict.predict(out_dir / "model_float32.tflite", files, console=quiet_console())
    np.testing.assert_allclose([p["age"] for p in got["predictions"]], want, atol=1e-3)
    assert got["labelled"] == len(files)
    assert got["mae_years"] == pytest.approx(card["files"]["float32"]["mae_years"], abs=1e-3)


def test_predict_command_on_a_folder_prints_ages_and_mae(out_dir, faces, tmp_path, capsys):
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    for src in sorted(faces.glob("*.jpg"))[:3]:
        shutil.copy(src, folder / src.name)
    big = Image.open(sorted(faces.glob("*.jpg"))[3]).resize((90, 120))  # any size
    big.save(folder / "more" / "41_1_0_20170109150557335.jpg.chip.jpg")
    Image.new("RGB", (50, 50), (120, 90, 60)).save(folder / "someone.jpg")  # no label
    (folder / "7_0_0_20170109150557335.jpg").write_bytes(b"not a jpeg")
    for q in ("int8", "float16"):
        rc = cli.main(["predict", str(out_dir / f"model_{q}.tflite"), str(folder)])
        out = capsys.readouterr().out
        assert rc == 0
        assert "someone.jpg" in out and "41_1_0_20170109150557335.jpg.chip.jpg" in out
        assert "not a JPEG" in out
        assert "5 image(s) predicted, 1 skipped; MAE" in out and "over 4 image(s)" in out
        assert "MAE by group (labelled images)" in out and "60+" in out and "Others" in out
    res = predict.predict(out_dir / "model_int8.tflite", [folder], console=quiet_console())
    ages = [p["age"] for p in res["predictions"] if p["age"] is not None]
    assert len(ages) == 5 and all(0 < a < 120 for a in ages)
    # the 4 labelled images by group: the one labelled 41, female, White is among them
    g = res["groups"]
    assert sum(c["n"] for c in g["age_band"].values()) == 4 == res["labelled"]
    assert g["age_band"]["40-59"]["n"] >= 1 and g["gender"]["female"]["n"] >= 1
    big = next(p for p in res["predictions"] if p["path"].endswith("41_1_0_20170109150557335"
                                                                  ".jpg.chip.jpg"))
    if g["age_band"]["40-59"]["n"] == 1:
        assert g["age_band"]["40-59"]["mae"] == pytest.approx(abs(big["age"] - 41))


def test_predict_without_labels_prints_no_group_table(out_dir, tmp_path, capsys):
    Image.new("RGB", (50, 50), (120, 90, 60)).save(tmp_path / "someone.jpg")
    assert cli.main(["predict", str(out_dir / "model_float16.tflite"), str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 image(s) predicted" in out and "MAE by group" not in out
    res = predict.predict(out_dir / "model_float16.tflite", [tmp_path], console=quiet_console())
    assert res["groups"] is None and res["mae_years"] is None


def copy_run(run_dir: Path, dest: Path) -> Path:
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("export", "logs", "tuner"))
    return dest


def export_cli(*args):
    return cli.main(["export", *map(str, args), "--latency-runs", "2"])


@pytest.mark.parametrize("args, needle", [
    (["--trial", "99"], "unknown --trial '99'; complete trials: "),
    (["--max-kib", "0.01"], "no complete trial meets --max-kib 0.01 (TFLite float16 file size)"),
    (["--quantize", "float32,int4"], "--quantize 'float32,int4': unknown 'int4'"),
    (["--trial", "0", "--max-kib", "50"], "both given"),
])
def test_bad_export_requests_end_with_one_line_and_status_2(run_dir, card, capsys, args,
                                                            needle):
    before = sorted(p.relative_to(run_dir) for p in (run_dir / "export").rglob("*"))
    rc = export_cli(run_dir, *args)
    err = capsys.readouterr().err
    assert rc == 2 and needle in err, err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert sorted(p.relative_to(run_dir) for p in (run_dir / "export").rglob("*")) == before


def test_corrupt_checkpoint_is_named_and_nothing_is_written(run_dir, tmp_path, capsys):
    copy = copy_run(run_dir, tmp_path / "copy")
    best = export.choose(load_records(copy), "best")[0]
    (copy / best.model_path).write_bytes(b"PK\x03\x04 truncated")
    rc = export_cli(copy)
    err = capsys.readouterr().err
    assert rc == 2 and f"trial {best.trial_id}: " in err and "model.keras" in err
    assert "corrupt" in err and err.count("\n") == 1
    assert not (copy / "export").exists()


def test_run_without_finished_trial(run_dir, tmp_path, capsys):
    copy = copy_run(run_dir, tmp_path / "copy")
    for path in copy.glob("trials/*/record.json"):
        r = TrialRecord.load(path)
        r.status, r.model_path = "failed", None
        r.save(path)
    assert export_cli(copy) == 2
    assert "no finished trial to export (2 trial(s) recorded, none complete)" in \
        capsys.readouterr().err


def test_predict_bad_paths(out_dir, tmp_path, capsys):
    assert cli.main(["predict", str(out_dir / "model_int8.tflite"), str(tmp_path / "x.jpg")]) == 2
    assert f"no such image or folder: '{tmp_path / 'x.jpg'}'" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path / "m.tflite"), str(tmp_path)]) == 2
    assert f"model '{tmp_path / 'm.tflite'}' does not exist" in capsys.readouterr().err
    assert cli.main(["predict", str(out_dir / "model.h5"), str(tmp_path)]) == 2
    assert "is not a readable TFLite file" in capsys.readouterr().err


def test_predict_on_files_that_are_no_images_exits_1(out_dir, tmp_path, capsys):
    """Good input, nothing done: no image could be read, so nothing was predicted."""
    (tmp_path / "notes.txt").write_text("not a face")
    (tmp_path / "30_0_0_20170109150557335.jpg").write_bytes(b"\x89PNG\r\n\x1a\n not a jpeg")
    rc = cli.main(["predict", str(out_dir / "model_float32.tflite"), str(tmp_path / "notes.txt"),
                   str(tmp_path / "30_0_0_20170109150557335.jpg")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: no image predicted: 2 file(s) skipped ({tmp_path / 'notes.txt'}"
                          ": not a JPEG); expected JPEG face images")


def test_run_trained_elsewhere_exports_from_where_it_is_now(run_dir, tmp_path, capsys):
    """Records written by another worker: the folder moved, absolute paths no longer valid."""
    copy = copy_run(run_dir, tmp_path / "moved")
    for path in copy.glob("trials/*/record.json"):
        r = TrialRecord.load(path)
        r.model_path = f"/elsewhere/worker-3/results/ship/trials/{r.trial_id}/model.keras"
        r.save(path)
    rc = export_cli(copy, "--max-latency-ms", "1000", "--quantize", "float32", "--samples", "2")
    assert rc == 0, capsys.readouterr().err
    best = min((r for r in load_records(copy) if r.val_mae is not None), key=lambda r: r.val_mae)
    card = json.loads((copy / "export" / f"trial_{best.trial_id}" / "model_card.json")
                      .read_text())
    assert card["selected_by"] == "max_latency_ms 1000" and list(card["files"]) == ["float32"]
    assert card["verification"]["images"] == 2
    assert not leftovers(copy)


def test_a_model_needing_ops_outside_the_builtins_fails_with_one_clear_line():
    import keras
    import tensorflow as tf

    from search.errors import ConversionError

    inp = keras.Input((8, 8, 3))
    x = keras.layers.Lambda(lambda t: tf.math.bessel_i1e(t))(inp)
    model = keras.Model(inp, keras.layers.Dense(1)(keras.layers.Flatten()(x)))
    with pytest.raises(ConversionError) as e:
        convert.to_tflite(model, "float16")
    msg = str(e.value)
    assert msg.startswith("conversion to float16 failed: the model needs ops outside TFLite's "
                          "builtins (Custom ops: BesselI1e)")
    assert msg.endswith("only TFLite builtin ops are allowed") and "\n" not in msg


def test_complete_trials_record_their_test_errors_by_group(cfg, run_dir):
    """Each complete trial's test MAE by gender, ethnicity and age band, in its record and
    in leaderboard.json's rows; the groups add up to the test split and to its MAE."""
    from search import data as data_mod

    test = data_mod.load(cfg).splits["test"]
    board = json.loads((run_dir / "leaderboard.json").read_text())
    rows = {t["trial_id"]: t for t in board["trials"]}
    done = [r for r in load_records(run_dir) if r.status == "complete"]
    assert done
    for r in done:
        g = r.groups
        assert groups.is_breakdown(g), r.trial_id
        assert sum(c["n"] for c in g["age_band"].values()) == len(test)
        assert {k: c["n"] for k, c in g["gender"].items()} == {
            "male": sum(f.gender == 0 for f in test), "female": sum(f.gender == 1 for f in test)}
        total = sum(c["n"] * c["mae"] for c in g["age_band"].values() if c["n"])
        assert total / len(test) == pytest.approx(r.test_mae, rel=1e-4)
        assert rows[r.trial_id]["groups"] == json.loads(json.dumps(g))


def test_model_card_has_errors_by_group_intended_use_and_limitations(run_dir, card):
    record = next(r for r in load_records(run_dir) if r.trial_id == card["trial_id"])
    g = card["groups"]
    assert groups.is_breakdown(g) and "verification images" in card["groups_source"]
    # every test image verified (no --samples): the same figures as the trial's record
    for kind in groups.KINDS:
        for name, cell in g[kind].items():
            assert cell["n"] == record.groups[kind][name]["n"]
            if cell["n"]:
                assert cell["mae"] == pytest.approx(record.groups[kind][name]["mae"], abs=1e-3)
    for q, f in card["files"].items():
        assert groups.is_breakdown(f["groups"]), q
        assert f["groups"]["age_band"]["20-39"]["n"] == g["age_band"]["20-39"]["n"]
    assert any("Not for decisions about an individual" in line for line in card["intended_use"])
    text = " ".join(card["limitations"])
    assert "UTKFace" in text and "Test MAE differs most by" in text
    assert "Ages in the data, by decade: " in text


# --- the mobile space exports and verifies like the others ----------------------------------


@pytest.fixture(scope="module")
def mobile_card(tmp_path_factory, synth_cache):
    cfg = RunConfig(space="mobile", trials=1, epochs=1, patience=1, synthetic_images=48,
                    image_size=32, batch_size=16, seed=7, run_name="mobile",
                    results_dir=str(tmp_path_factory.mktemp("results")),
                    cache_dir=str(synth_cache))
    pipeline.run(cfg, console=quiet_console())
    run = Path(cfg.results_dir) / cfg.run_name
    [card] = export.export(run, trial="ref", quantize=convert.QUANTIZATIONS, latency_runs=2,
                           console=quiet_console())
    return run, card


def test_mobile_reference_exports_in_every_format_and_verifies(mobile_card):
    run, card = mobile_card
    [ref] = [r for r in load_records(run) if r.trial_id == "ref"]
    assert ref.is_reference and ref.status == "complete" and ref.values["conv"] == "inverted"
    assert groups.is_breakdown(ref.groups)
    files = card["files"]
    assert list(files) == ["float32", "float16", "dynamic", "int8"]
    assert files["float32"]["status"] == "ok" and files["float16"]["status"] == "ok"
    assert files["int8"]["status"] in ("ok", "flagged") and card["verified"]
    io_ = interpreter.describe(interpreter.load(run / "export" / "trial_ref" /
                                                "model_int8.tflite"))
    assert io_["input"]["dtype"] == "uint8" and io_["input"]["shape"] == [1, 32, 32, 3]
    # the sizes measured before training are the exported files' (weights do not change them)
    assert files["float16"]["bytes"] == ref.tflite_float16_bytes
    assert files["int8"]["bytes"] == pytest.approx(ref.tflite_int8_bytes, rel=0.02)
