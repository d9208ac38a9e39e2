import shutil

import numpy as np
import pytest

from search import data
from search.errors import UserError


@pytest.mark.parametrize(
    "name, expected",
    [
        ("25_0_2_20170116174525125.jpg.chip.jpg", data.Labels(25, 0, 2)),
        ("1_1_4_20170103200950879.jpg", data.Labels(1, 1, 4)),
        ("116_1_0_20170120134725990.jpg.chip.jpg", data.Labels(116, 1, 0)),
        # the public set's own irregularities
        ("39_1_20170116174525125.jpg.chip.jpg", data.Labels(39, 1, None)),
        ("24_0_1_20170116220224657 .jpg.chip.jpg", data.Labels(24, 0, 1)),
        ("61_3_20170109150557335.jpg.chip.jpg", data.Labels(61, None, None)),
    ],
)
def test_parse_name_takes_what_is_safe(name, expected):
    assert data.parse_name(name) == expected


@pytest.mark.parametrize(
    "name, reason",
    [
        ("117_0_0_20170116174525125.jpg", "age outside"),
        ("abc_0_0_20170116174525125.jpg", "name is not"),
        ("face.jpg", "name is not"),
        ("25.jpg", "name is not"),
        ("-3_0_0_20170116174525125.jpg", "name is not"),
        ("2017_0_0_20170116174525125.jpg", "name is not"),
        ("25_0_1_2_20170116174525125.jpg", "more label fields"),
    ],
)
def test_parse_name_never_guesses(name, reason):
    result = data.parse_name(name)
    assert isinstance(result, str) and reason in result


def _mess(folder, faces):
    """A folder as users have it: nested, with broken, odd and duplicated files."""
    src = sorted(faces.glob("*.jpg"))
    nested = folder / "UTKFace" / "part1"
    nested.mkdir(parents=True)
    for p in src[:20]:
        shutil.copy(p, folder / "UTKFace" / p.name)
    for p in src[20:30]:
        shutil.copy(p, nested / p.name)
    raw = src[0].read_bytes()
    (folder / "UTKFace" / "30_0_0_20170101000000001.jpg.chip.jpg").write_bytes(raw[: len(raw) // 2])
    (folder / "UTKFace" / "31_0_0_20170101000000002.jpg.chip.jpg").write_bytes(b"")
    (folder / "UTKFace" / "32_0_0_20170101000000003.jpg.chip.jpg").write_bytes(
        b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (folder / "UTKFace" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "UTKFace" / "README.txt").write_text("UTKFace")
    (folder / "UTKFace" / "200_0_0_20170101000000004.jpg").write_bytes(raw)
    # duplicates: the same content under another name, once with another age
    (folder / "UTKFace" / "33_0_0_20170101000000005.jpg").write_bytes(src[1].read_bytes())
    (folder / "UTKFace" / "dup_copy_20170101000000006.jpg").write_bytes(src[2].read_bytes())
    shutil.copy(src[3], nested / ("70" + src[3].name[src[3].name.index("_"):]))
    return src


def test_discover_accounts_for_every_file(tmp_path, faces):
    _mess(tmp_path, faces)
    files, acc = data.discover(tmp_path)
    assert acc.found == 39
    assert acc.used == len(files) == 32
    reasons = {k: len(v) for k, v in acc.skipped.items()}
    assert reasons == {
        "truncated JPEG": 1,
        "empty file": 1,
        "PNG data under a .jpg name": 1,
        "not an image file": 2,
        "age outside 0-116": 1,
        "name is not [age]_[gender]_[race]_[date].jpg": 1,
    }
    assert acc.duplicate_groups == 2 and acc.duplicate_files == 4
    assert acc.conflicting_groups >= 1
    assert all(data.AGE_MIN <= f.age <= data.AGE_MAX for f in files)


def test_split_keeps_duplicates_together_and_ignores_file_order(tmp_path, faces):
    _mess(tmp_path, faces)
    files, _ = data.discover(tmp_path)
    parts = data.split(files, 0.2, 0.2, seed=3)
    side = {}
    for name, fs in parts.items():
        for f in fs:
            assert side.setdefault(f.digest, name) == name  # identical images: one side
    assert sum(len(v) for v in parts.values()) == len(files)
    assert all(parts[k] for k in data.SPLITS)
    again = data.split(list(reversed(files)), 0.2, 0.2, seed=3)
    assert {k: [f.path for f in v] for k, v in again.items()} == \
           {k: [f.path for f in v] for k, v in parts.items()}
    other_seed = data.split(files, 0.2, 0.2, seed=4)
    assert [f.digest for f in other_seed["test"]] != [f.digest for f in parts["test"]]


def test_split_rejects_impossible_fractions(faces):
    files, _ = data.discover(faces)
    with pytest.raises(UserError, match="must be below 1"):
        data.split(files, 0.6, 0.5, seed=0)
    with pytest.raises(UserError, match="--max-images must be at least 3"):
        data.split(files, 0.1, 0.1, seed=0, max_images=2)


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        data.discover(tmp_path / "nope")
    (tmp_path / "junk.txt").write_text("x")
    with pytest.raises(UserError, match="no usable UTKFace image"):
        data.discover(tmp_path)


def test_pipeline_yields_uint8_cached_pixels_as_float_batches(faces):
    files, _ = data.discover(faces)
    ds = data.make_dataset(files[:10], image_size=32, batch_size=4, training=True, seed=0)
    batches = list(ds.as_numpy_iterator())
    assert [len(y) for _, y in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.shape == (4, 32, 32, 3) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 255 and np.all(x == np.round(x))
    ages = sorted(float(a) for _, ys in batches for a in ys)
    assert ages == sorted(float(f.age) for f in files[:10])


def test_load_uses_the_same_loader_for_synthetic_data(tiny_cfg):
    d = data.load(tiny_cfg)
    assert d.account.used == 48 and d.account.skipped_total == 0
    assert sum(d.account.splits.values()) == 48
    assert d.input_shape == (32, 32, 3)
    assert sum(d.account.age_histogram.values()) == 48
    assert d.fingerprint() == data.load(tiny_cfg).fingerprint()


def test_corrupt_jpeg_body_is_skipped(tmp_path, faces):
    raw = sorted(faces.glob("*.jpg"))[0].read_bytes()
    (tmp_path / "40_0_0_20170101000000001.jpg").write_bytes(raw[:600] + b"\xff\xd9")
    (tmp_path / "41_0_0_20170101000000002.jpg").write_bytes(raw)
    files, acc = data.discover(tmp_path)
    assert [f.age for f in files] == [41]
    assert list(acc.skipped) == ["corrupt JPEG (OSError)"]


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_archives_are_unpacked_once(tmp_path, faces, kind):
    import tarfile
    import zipfile

    src = sorted(faces.glob("*.jpg"))[:12]
    archive = tmp_path / f"UTKFace.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as z:
            for p in src:
                z.write(p, f"UTKFace/{p.name}")
    else:
        with tarfile.open(archive, "w:gz") as t:
            for p in src:
                t.add(p, f"UTKFace/{p.name}")
    cache = tmp_path / "cache"
    files, acc = data.discover(archive, cache_dir=cache)
    assert acc.used == 12 and acc.found == 12 and acc.source == str(archive)
    folder = data.unpack(archive, cache)
    stamp = (folder / ".unpacked").stat().st_mtime_ns
    files2, _ = data.discover(archive, cache_dir=cache)
    assert (folder / ".unpacked").stat().st_mtime_ns == stamp  # reused, not unpacked again
    assert [f.digest for f in files2] == [f.digest for f in files]


def test_broken_archive_is_a_clear_error(tmp_path):
    bad = tmp_path / "UTKFace.tar.gz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(UserError, match="cannot unpack the archive"):
        data.discover(bad, cache_dir=tmp_path / "cache")


def test_zip_members_outside_the_folder_are_refused(tmp_path, faces):
    import zipfile

    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../../escape_25_0_0.jpg", b"x")
    with pytest.raises(UserError, match="outside its folder"):
        data.discover(archive, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "escape_25_0_0.jpg").exists()


def test_data_command_prints_the_account(tmp_path, faces, capsys):
    from search import cli

    _mess(tmp_path / "d", faces)
    assert cli.main(["data", "--data-dir", str(tmp_path / "d"), "--val-fraction", "0.2"]) == 0
    out = capsys.readouterr().out
    for needle in ("files found", "39", "truncated JPEG", "PNG data under a .jpg name",
                   "duplicates with conflicting ages", "Ages of the images used", "20-29"):
        assert needle in out, needle
    assert cli.main(["data", "--data-dir", str(tmp_path / "d"), "--json"]) == 0
    import json

    account = json.loads(capsys.readouterr().out)
    assert account["used"] == 32 and sum(account["splits"].values()) == 32


def test_histogram_bars_scale_to_the_largest_decade():
    from search.data_report import bars

    rows = bars({"0-9": 10, "10-19": 0, "20-29": 40, "30-39": 1}, width=20)
    assert [len(b) for _, _, b in rows] == [5, 0, 20, 1]


def test_test_split_errors_by_group_pair_each_prediction_with_its_files_labels(tiny_cfg):
    """Data.groups: the model's ages on the test split, each matched to its own file's age,
    gender and race, as search.groups counts them."""
    from search import builder, groups

    d = data.load(tiny_cfg)
    values = {"blocks": 2, "filters_1": 4, "filters_2": 4, "dense_layers": 1,
              "dense_units_1": 4, "conv": "full"}
    model = builder.build_model(values, (32, 32, 3))
    # a model whose age depends on the image, so a mismatched order would show
    model.get_layer("age_fraction").set_weights([np.full((4, 1), 0.5, np.float32),
                                                  np.zeros(1, np.float32)])
    files = d.splits["test"]
    predicted = d.predictions(model, "test", batch_size=3)
    assert predicted is not None and len(predicted) == len(files)
    one_by_one = [float(model.predict(d.dataset("test", batch_size=1).skip(i).take(1),
                                      verbose=0)[0, 0]) for i in range(len(files))]
    np.testing.assert_allclose(predicted, one_by_one, rtol=1e-5)
    g = d.groups(model, "test", batch_size=3)
    assert g == groups.of_files(files, predicted)
    assert sum(c["n"] for c in g["age_band"].values()) == len(files)
    races = [f.race for f in files]
    assert {k: c["n"] for k, c in g["ethnicity"].items()} == {
        name: races.count(code) for code, name in groups.ETHNICITIES.items()}
    mean = np.mean(np.abs(predicted - d.ages("test")))
    model.compile(loss="mae", metrics=["mae"])
    assert mean == pytest.approx(model.evaluate(d.dataset("test"), verbose=0,
                                                return_dict=True)["mae"], rel=1e-4)


def test_groups_are_not_guessed_when_a_test_image_fails_to_decode(tmp_path, tiny_cfg, faces):
    """A file that passed the checks and fails to decode later is dropped by the pipeline;
    which prediction belongs to which file is then unknown, so no groups."""
    import dataclasses

    from search import builder

    shutil.copytree(faces, tmp_path / "faces")
    d = data.load(dataclasses.replace(tiny_cfg, data_dir=str(tmp_path / "faces")))
    model = builder.build_model({"blocks": 1, "filters_1": 4, "dense_layers": 0}, (32, 32, 3))
    assert d.groups(model) is not None
    victim = d.splits["test"][0].path
    raw = open(victim, "rb").read()
    with open(victim, "wb") as f:  # a JPEG header and end, garbage between: fails to decode
        f.write(raw[:20] + b"\x00" * 200 + raw[-2:])
    d._decoded.clear()
    assert d.predictions(model, "test") is None and d.groups(model) is None


@pytest.mark.parametrize("make", [data.augmenter, data.refit_augmenter])
def test_each_augmentation_draws_its_own_numbers(make):
    """Random layers given one seed draw the same numbers: a flipped face was then always
    darker (correlation -0.76). Each layer now has its own seed."""
    import tensorflow as tf

    x = np.full((512, 32, 32, 3), 60.0, np.float32)
    x[:, :, 16:, :] = 180.0  # the left half dark: a flip shows
    out = make(1.0, 42)(tf.constant(x), training=True).numpy()
    flipped = out[:, 16, 4, 0] > out[:, 16, 27, 0]
    brightness = out.mean(axis=(1, 2, 3))
    assert 0.4 < flipped.mean() < 0.6
    assert abs(np.corrcoef(flipped, brightness)[0, 1]) < 0.25


def test_a_seed_gives_the_same_augmented_batches_on_every_build(tiny_cfg):
    d = data.load(tiny_cfg)

    def epochs(ds, n=2):
        return [np.concatenate([x for x, _ in ds.as_numpy_iterator()]) for _ in range(n)]

    def joined():
        return epochs(d.joined_dataset(("train", "val"), batch_size=4,
                                       augmenter=data.refit_augmenter(1.0, 5)))

    first, again = joined(), joined()
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], first[1])  # each epoch its own draws
    trial = [epochs(d.dataset("train", batch_size=4, augment=0.5)) for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(*trial, strict=True))
