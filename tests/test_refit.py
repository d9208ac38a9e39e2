"""Refit: a chosen trial's architecture trained again on train + val, tested, recorded beside
the run's trials, resumed after Ctrl-C, distilled from a teacher, exported like a trial.

No mocks: tiny real trainings on synthetic JPEGs (32 px, 48 faces, 1-3 epochs)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_of_search
from rich.console import Console

from search import api, cli, export, groups, interpreter, refit, trial
from search import data as data_mod
from search.records import COMPLETE, TrialRecord, load_records


def quiet_console():
    return Console(file=io.StringIO(), width=200)


@pytest.fixture(scope="module")
def cfg(tiny_search, tmp_path_factory):
    """This module's copy of the session's tiny search (its exports and refits are its own)."""
    return copy_of_search(tiny_search, tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def run_dir(cfg):
    run = Path(cfg.results_dir) / cfg.run_name
    assert sorted(r.trial_id for r in load_records(run) if r.status == COMPLETE) == ["000", "ref"]
    return run


def test_refit_of_best_and_of_an_id_records_test_mae_and_groups(run_dir):
    run = api.Run.open(run_dir)
    refits = run.refit([run.best(), "best", "000"], epochs=2)
    # each trial once, in the order asked
    assert [r.id for r in refits] == list(dict.fromkeys([f"{run.best().id}-refit",
                                                         "000-refit"]))
    trials = {r.trial_id: r for r in load_records(run_dir)}
    for r in refits:
        folder = run_dir / "refits" / r.id
        rec = TrialRecord.load(folder / "record.json")
        assert rec.status == COMPLETE and r.status == COMPLETE, rec.reason
        assert rec.refit_of == r.refit_of and rec.teacher is None
        assert rec.val_mae is None  # the validation split was trained on
        assert rec.test_mae is not None and rec.test_mae > 0
        assert groups.is_breakdown(rec.groups)
        assert sum(c["n"] for c in rec.groups["age_band"].values()) == \
            run.dataset["splits"]["test"]
        assert rec.epochs_run == 2 and len(rec.history["loss"]) == 2
        assert rec.refit["splits"] == ["train", "val"] and rec.refit["epochs"] == 2
        assert rec.refit["augment"] == refit.DEFAULT_AUGMENT
        assert rec.values == trials[rec.refit_of].values  # the same architecture and recipe
        assert rec.tflite_float16_bytes == trials[rec.refit_of].tflite_float16_bytes
        assert rec.model_path == f"refits/{r.id}/model.keras" and (folder / "model.keras").is_file()
        assert not (folder / "backup").exists()
    # the refits are not trials: the leaderboard's trials are unchanged; refits_of links them
    assert sorted(t.id for t in api.Run.open(run_dir).trials) == ["000", "ref"]
    linked = refit.refits_of(run_dir)
    assert all(r.id in [x.trial_id for x in linked[r.refit_of]] for r in refits)
    assert sorted(r.id for r in run.refits()) == sorted(r.id for r in refits)

    # the same command again trains nothing: the record is kept as it is
    record = run_dir / "refits" / "000-refit" / "record.json"
    before = record.read_bytes()
    again = refit.refit(run_dir, "000", epochs=2)
    assert record.read_bytes() == before and again[0].test_mae == json.loads(before)["test_mae"]


def test_an_interrupted_refit_resumes_from_its_backup(run_dir):
    import keras

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:  # after the first epoch's backup
                raise KeyboardInterrupt

    folder = run_dir / "refits" / "ref-refit"
    [one] = refit.refit(run_dir, "ref", epochs=1)
    assert one.status == COMPLETE and one.epochs_run == 1, one.reason
    # other settings train again from scratch; interrupted, the finished refit stays as it was
    with pytest.raises(refit.RefitInterrupted, match="after epoch 1 of 3"):
        refit.refit(run_dir, "ref", epochs=3, extra_callbacks=[CtrlC()])
    assert TrialRecord.load(folder / "record.json").to_dict() == one.to_dict()
    assert trial.backup_epoch(folder) == 1

    [rec] = refit.refit(run_dir, "ref", epochs=3)
    assert rec.status == COMPLETE, rec.reason
    assert rec.resumed_from_epoch == 1 and rec.epochs_run == 3
    assert [len(v) for v in rec.history.values()] == [3] * len(rec.history)
    assert TrialRecord.load(folder / "record.json").refit["epochs"] == 3
    assert not (folder / "backup").exists()


def test_distillation_records_its_teacher_and_trains_on_matched_targets(run_dir, cfg):
    [rec] = refit.refit(run_dir, "000", epochs=1, teacher="ref", label_weight=0.25)
    assert rec.trial_id == "000-refit-distilled-ref" and rec.status == COMPLETE, rec.reason
    assert rec.teacher == "ref" and rec.refit_of == "000"
    assert rec.refit["label_weight"] == 0.25 and rec.test_mae > 0
    assert groups.is_breakdown(rec.groups)
    # the metric is the MAE to the labels, the loss the weighted mix
    assert "mae" in rec.history and "loss" in rec.history

    # each image's teacher age travels with its label through the shuffled, augmented batches
    data = data_mod.load(cfg)
    ages = np.concatenate([data.ages(s) for s in refit.SPLITS])
    ds = data.joined_dataset(refit.SPLITS, batch_size=8,
                             augmenter=data_mod.refit_augmenter(1.0, 7),
                             extra_target=ages + 0.5)
    pairs = np.concatenate([y for _, y in ds.as_numpy_iterator()])
    assert pairs.shape == (len(ages), 2)
    assert np.allclose(pairs[:, 1] - pairs[:, 0], 0.5)
    assert sorted(pairs[:, 0]) == sorted(ages)
    assert not np.array_equal(pairs[:, 0], ages)  # shuffled

    loss, metric = refit._distillation(0.25)
    y_true, y_pred = np.array([[10.0, 20.0]]), np.array([[12.0]])
    assert float(loss(y_true, y_pred)[0]) == pytest.approx(0.25 * 2 + 0.75 * 8)


def test_export_ships_a_refit_verified_with_its_card(run_dir):
    refit.refit(run_dir, "000", epochs=1)
    [card] = export.export(run_dir, trial="000-refit", samples=8, latency_runs=2,
                           console=quiet_console())
    assert card["verified"] and card["trial_id"] == "000-refit"
    assert card["refit"]["refit_of"] == "000" and card["refit"]["teacher"] is None
    assert card["refit"]["trained_on"] == "the training and validation splits together"
    assert card["refit"]["test_mae"] == TrialRecord.load(
        run_dir / "refits" / "000-refit" / "record.json").test_mae
    assert card["trial"]["val_mae"] is None and groups.is_breakdown(card["groups"])
    folder = run_dir / "export" / "trial_000-refit"
    assert (folder / "model_float16.tflite").is_file()
    assert json.loads((folder / "model_card.json").read_text())["refit"]["refit_of"] == "000"


def test_seeded_copies_are_other_models_and_export_as_one_averaged_file(run_dir, cfg):
    import keras

    # the run's seed (7) is the plain refit; another seed is a copy with its own id
    made = api.Run.open(run_dir).refit("000", epochs=1, seed=[7, 3])
    assert [r.id for r in made] == ["000-refit", "000-refit-seed3"]
    plain, copy = (TrialRecord.load(run_dir / "refits" / r.id / "record.json") for r in made)
    assert plain.status == copy.status == COMPLETE, (plain.reason, copy.reason)
    assert "seed" not in plain.refit and copy.refit["seed"] == 3
    assert copy.refit_of == "000" and copy.values == plain.values
    # the leaderboard's refit figure stays the plain refit's, whatever the copies score
    assert refit.row_fields([copy, plain])["refit_test_mae"] == plain.test_mae

    data = data_mod.load(cfg)
    images, _ = export.split_images(data, "test", 8, 32)
    x = images.astype(np.float32)
    members = [keras.models.load_model(run_dir / r.model_path, compile=False)
               for r in (plain, copy)]
    ages = [np.asarray(m(x)).reshape(-1) for m in members]
    mirrored = [np.asarray(m(x[:, :, ::-1])).reshape(-1) for m in members]
    assert not np.allclose(ages[0], ages[1], atol=1e-3)  # other weights, not the same model

    # one file: the mean of both members' ages of the face and of its mirror image
    # named in either order: one id, folder and file
    [card] = export.export(run_dir, trial="000-refit-seed3,000-refit", ensemble=True,
                           flip=True, quantize=("float32", "int8"), samples=8, latency_runs=2,
                           console=quiet_console())
    assert card["trial_id"] == "000-refit+000-refit-seed3-flip" and card["verified"]
    avg = card["averaging"]
    assert [m["id"] for m in avg["members"]] == ["000-refit", "000-refit-seed3"] and avg["flip"]
    # int8 also tried from equalized copies of each member, averaged the same way (the
    # float32 file below is the mean of the members as trained: the copies change nothing else)
    assert list(card["verification"]["calibration"]["equalized"]["members"]) == [
        "000-refit", "000-refit-seed3"]
    assert card["trial"]["params"] == plain.params + copy.params
    folder = run_dir / "export" / "trial_000-refit+000-refit-seed3-flip"
    want = (ages[0] + ages[1] + mirrored[0] + mirrored[1]) / 4
    got = interpreter.predict(folder / "model_float32.tflite", images).reshape(-1)
    assert np.allclose(got, want, atol=1e-3), (got, want)
    int8 = interpreter.predict(folder / "model_int8.tflite", images).reshape(-1)
    assert np.abs(int8 - want).max() < 5  # years: quantized, but the same function
    assert (folder / "model.keras").is_file()
    reloaded = keras.models.load_model(folder / "model.keras", compile=False)
    assert np.allclose(np.asarray(reloaded(x)).reshape(-1), want, atol=1e-4)
    assert [len(layer._inbound_nodes) for layer in reloaded.layers
            if isinstance(layer, keras.Model)] == [1, 1]  # each member called once

    # --flip alone: the same model, averaged with its mirror image
    [card] = export.export(run_dir, trial="000-refit", flip=True, quantize=("float32", "int8"),
                           samples=8, latency_runs=2, console=quiet_console())
    assert card["trial_id"] == "000-refit-flip" and card["refit"]["refit_of"] == "000"
    # one call of the model, both images as one batch: a second call would give the int8
    # file a second, differently quantized copy of weights (on real models: 39.1 -> 53.3 KiB)
    folder = run_dir / "export" / "trial_000-refit-flip"
    flipped = keras.models.load_model(folder / "model.keras", compile=False)
    calls = [len(layer._inbound_nodes) for layer in flipped.layers
             if isinstance(layer, keras.Model)]
    assert calls == [1], calls
    assert [m["id"] for m in card["averaging"]["members"]] == ["000-refit"]
    got = interpreter.predict(folder / "model_float32.tflite", images).reshape(-1)
    assert np.allclose(got, (ages[0] + mirrored[0]) / 2, atol=1e-3)


@pytest.mark.parametrize("flags, says", [
    (["--trial", "999"], "unknown --trial '999'"),
    (["--epochs", "0"], "--epochs: expected a whole number from 1"),
    (["--trial", "ref", "--teacher", "ref"], "cannot be distilled from itself"),
    (["--teacher", "nope"], "--teacher 'nope': unknown"),
    (["--label-weight", "0.3"], "give --teacher too"),
    (["--augment", "1.5"], "--augment: expected a number from 0 to 1"),
    (["--seed", "2,x"], "--seed '2,x': expected a whole number from 0"),
    (["--seed", "-1"], "--seed '-1': expected a whole number from 0"),
    (["--seed", "4294967296"], "expected a whole number from 0 to 4294967295"),
    (["--seed", ","], "--seed ',': expected a whole number"),
])
def test_bad_values_say_one_line_and_exit_2(run_dir, flags, says, capsys):
    assert cli.main(["refit", str(run_dir), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err


def test_export_names_the_refits_when_the_id_is_unknown(run_dir, capsys):
    refit.refit(run_dir, "000", epochs=1)
    assert cli.main(["export", str(run_dir), "--trial", "001-refit"]) == 2
    err = capsys.readouterr().err
    assert "unknown --trial '001-refit'" in err and "complete refits: 000-refit" in err


@pytest.mark.parametrize("flags, says", [
    (["--trial", "000", "--ensemble"], "expected two or more to average"),
    (["--max-kib", "500", "--ensemble"], "--ensemble with --max-kib 500: an ensemble averages"),
])
def test_bad_ensembles_say_one_line_and_exit_2(run_dir, flags, says, capsys):
    assert cli.main(["export", str(run_dir), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err, err


def test_a_seed_gives_the_same_refit_on_every_run(run_dir):
    """Shuffles, augmentations (drawn in batch order) and starting weights all follow the
    seed: the same refit trained twice is the same model, to the bit."""
    import shutil

    import keras

    folder = run_dir / "refits" / "000-refit-seed11"
    runs = []
    for _ in range(2):
        [rec] = refit.refit(run_dir, "000", epochs=2, seed=[11], augment=1.0)
        assert rec.status == COMPLETE, rec.reason
        weights = keras.models.load_model(folder / "model.keras", compile=False).get_weights()
        runs.append((rec.test_mae, rec.history["loss"], weights))
        shutil.rmtree(folder)  # or the second call would keep the first's record
    (mae_a, loss_a, w_a), (mae_b, loss_b, w_b) = runs
    assert mae_a == mae_b and loss_a == loss_b
    assert all(np.array_equal(a, b) for a, b in zip(w_a, w_b, strict=True))


def _median_error(run_dir: Path, rec: TrialRecord) -> tuple[float, int]:
    """The refit's median error (years) on its own splits, unaugmented, and their images."""
    from search import runfiles

    cfg = runfiles.config(run_dir, "test")
    data = data_mod.load(cfg)
    size = export.trial_image_size(rec, cfg)
    model = export.load_model(run_dir, rec, size)
    err = np.concatenate([data.predictions(model, s, image_size=size) - data.ages(s)
                          for s in refit.SPLITS])
    return float(np.median(err)), len(err)


def test_a_refit_made_without_recentring_is_recentred_later_without_training(run_dir):
    # as trained, without the re-centring: the record says so and nothing moved; a refit
    # from before the re-centring existed has the same record
    [plain] = refit.refit(run_dir, "000", epochs=2, seed=[13], augment=1.0, recentre=False)
    assert plain.status == COMPLETE, plain.reason
    assert refit.RECENTRED not in plain.refit and "recentre" not in plain.refit
    folder = run_dir / "refits" / "000-refit-seed13"
    median, images = _median_error(run_dir, plain)
    history, seconds = plain.history, plain.train_seconds
    # the default re-centres it, without training: the model moves by its median error
    [rec] = refit.refit(run_dir, "000", epochs=2, seed=[13], augment=1.0)
    assert rec.status == COMPLETE and rec.history == history
    assert rec.train_seconds == seconds
    moved = rec.refit[refit.RECENTRED]
    assert moved["years"] == pytest.approx(median, abs=1e-3) and moved["images"] == images
    assert moved["test_mae_before"] == plain.test_mae
    after, _ = _median_error(run_dir, rec)
    assert abs(after) < 0.01 <= abs(median)  # the tiny model is off by more than that
    on_disk = TrialRecord.load(folder / "record.json")
    assert on_disk.refit == rec.refit and on_disk.test_mae == rec.test_mae
    # and the next call finds it done: nothing is re-centred twice
    before = (folder / "record.json").read_bytes()
    [again] = refit.refit(run_dir, "000", epochs=2, seed=[13], augment=1.0)
    assert (folder / "record.json").read_bytes() == before
    assert again.refit == rec.refit


def test_a_new_refit_is_trained_then_recentred_and_no_recentre_undoes_it(run_dir):
    [rec] = refit.refit(run_dir, "000", epochs=2, seed=[14], augment=1.0)
    assert rec.status == COMPLETE, rec.reason
    moved = rec.refit[refit.RECENTRED]
    after, images = _median_error(run_dir, rec)
    assert abs(after) < 0.01 <= abs(moved["years"]) and moved["images"] == images
    # --no-recentre on the finished refit gives back the model as trained, without
    # training: its median error and its test MAE are those the record had before
    [undone] = refit.refit(run_dir, "000", epochs=2, seed=[14], augment=1.0, recentre=False)
    assert undone.history == rec.history and refit.RECENTRED not in undone.refit
    assert undone.test_mae == pytest.approx(moved["test_mae_before"], abs=1e-3)
    back, _ = _median_error(run_dir, undone)
    assert back == pytest.approx(moved["years"], abs=1e-3)
