"""UTKFace as users have it: discovery, name parsing, validation, duplicate-aware split, tf.data.

UTKFace file names carry the labels: ``[age]_[gender]_[race]_[date&time].jpg`` (the aligned
"chip" files end in ``.jpg.chip.jpg``). The public set breaks its own convention now and then
(a missing field, a space before the extension); the parser takes what is safe to take (the
age is the first field and all the model needs) and skips what is not, never guessing.

The split is made from each file's *content* hash and the seed, so the same folder gives the
same test set on every machine whatever the order of files on disk, and identical images
(UTKFace holds several hundred, some under different ages) always land on the same side.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import UserError

#: Ages are parsed as whole years and must lie in this closed range (UTKFace's own).
AGE_MIN, AGE_MAX = 0, 116
IMAGE_SUFFIXES = (".jpg", ".jpeg")
SPLITS = ("train", "val", "test")

# age, then at least one more underscore-separated field; spaces before the extension are
# tolerated (the public set has them). Anything else is not a UTKFace name.
_NAME = re.compile(r"^(?P<age>\d{1,3})_(?P<rest>[0-9_]*?)\s*(?:\.jpe?g)+(?:\.chip\.jpe?g)?$", re.I)
_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Labels:
    age: int
    gender: int | None  # UTKFace: 0 male, 1 female; None when the field is missing
    race: int | None  # UTKFace: 0-4; None when the field is missing


@dataclass(frozen=True)
class FaceFile:
    path: str
    age: int
    gender: int | None
    race: int | None
    digest: str  # content hash (hex); identical images share it


@dataclass
class DatasetAccount:
    """What was found, used and skipped: printed, and saved with every run."""

    source: str
    found: int = 0
    used: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> file names
    duplicate_files: int = 0  # files whose content also appears under another name
    duplicate_groups: int = 0
    conflicting_groups: int = 0  # duplicate groups whose files disagree on the age
    unselected: int = 0  # usable files left out by --max-images
    splits: dict[str, int] = field(default_factory=dict)
    age_histogram: dict[str, int] = field(default_factory=dict)  # "0-9" -> count (used files)

    def skip(self, reason: str, name: str) -> None:
        self.skipped.setdefault(reason, []).append(name)

    @property
    def skipped_total(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def to_dict(self, examples: int = 5) -> dict[str, Any]:
        return {
            "source": self.source,
            "found": self.found,
            "used": self.used,
            "skipped_total": self.skipped_total,
            "skipped": {
                reason: {"count": len(names), "examples": sorted(names)[:examples]}
                for reason, names in sorted(self.skipped.items())
            },
            "duplicate_files": self.duplicate_files,
            "duplicate_groups": self.duplicate_groups,
            "conflicting_groups": self.conflicting_groups,
            "unselected": self.unselected,
            "splits": dict(self.splits),
            "age_histogram": dict(self.age_histogram),
        }


def parse_name(name: str) -> Labels | str:
    """Labels from a UTKFace file name, or the reason the name cannot be used.

    >>> parse_name("24_0_1_20170116220224657 .jpg.chip.jpg")
    Labels(age=24, gender=0, race=1)
    >>> parse_name("39_1_20170116174525125.jpg.chip.jpg")  # race field missing
    Labels(age=39, gender=1, race=None)
    """
    m = _NAME.match(name.strip())
    if not m:
        return "name is not [age]_[gender]_[race]_[date].jpg"
    age = int(m.group("age"))
    if not AGE_MIN <= age <= AGE_MAX:
        return f"age outside {AGE_MIN}-{AGE_MAX}"
    fields = [f for f in m.group("rest").split("_") if f]
    # Short fields are gender then race; a long one (8+ digits) is the date and ends them.
    short = []
    for f in fields:
        if len(f) >= 8:
            break
        short.append(f)
    if len(short) > 2:
        return "name has more label fields than [age]_[gender]_[race]"
    gender = int(short[0]) if len(short) >= 1 else None
    race = int(short[1]) if len(short) >= 2 else None
    if gender is not None and gender not in (0, 1):
        gender = None
    if race is not None and not 0 <= race <= 4:
        race = None
    return Labels(age=age, gender=gender, race=race)


def check_image_bytes(data: bytes) -> str | None:
    """None for a usable JPEG, else the reason it is not (cheap checks on the bytes)."""
    if not data:
        return "empty file"
    if data.startswith(_PNG_MAGIC):
        return "PNG data under a .jpg name"
    if not data.startswith(_JPEG_SOI):
        return "not a JPEG"
    # A truncated JPEG lacks its end-of-image marker (some writers pad after it).
    if _JPEG_EOI not in data[-4096:]:
        return "truncated JPEG"
    return None


def _iter_files(root: Path) -> Iterable[Path]:
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield p


def decode_problem(data: bytes) -> str | None:
    """None if the JPEG decodes to the end, else why not.

    Decodes at 1/8 scale (JPEG's DCT scaling), which reads every entropy-coded byte at a
    fraction of the cost of a full decode.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "JPEG":
                return "not a JPEG"
            im.draft("RGB", (max(1, im.width // 8), max(1, im.height // 8)))
            im.load()
    except Exception as e:  # PIL raises many kinds for broken files
        return f"corrupt JPEG ({type(e).__name__})"
    return None


def _inspect(path: Path) -> FaceFile | str:
    """A usable face file, or the reason it is skipped."""
    name = path.name
    if not name.lower().rstrip().endswith(IMAGE_SUFFIXES):
        return "not an image file"
    labels = parse_name(name)
    if isinstance(labels, str):
        return labels
    try:
        data = path.read_bytes()
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    problem = check_image_bytes(data) or decode_problem(data)
    if problem:
        return problem
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    return FaceFile(str(path), labels.age, labels.gender, labels.race, digest)


ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def unpack(archive: Path, cache_dir: Path | None = None) -> Path:
    """Unpack a UTKFace archive (``UTKFace.tar.gz``, ``crop_part1.tar.gz``, a ``.zip``) once.

    The folder is keyed by the archive's name, size and modification time and reused while
    they are unchanged; a marker file written last tells a finished unpack from a broken one.
    Members that would land outside the folder (absolute paths, ``..``) are refused.
    """
    import shutil
    import tarfile
    import zipfile

    from search.synthetic import default_cache_dir

    st = archive.stat()
    key = hashlib.blake2b(f"{archive.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode(),
                          digest_size=6).hexdigest()
    root = (cache_dir or default_cache_dir()) / "archives"
    folder = root / f"{archive.name.split('.')[0]}-{key}"
    done = folder / ".unpacked"
    if done.exists():
        return folder
    tmp = root / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    _check_member(archive, tmp, member)
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                members = _tar_members(archive, tmp, t)
                if hasattr(tarfile, "data_filter"):  # Python 3.10.12+, 3.11.4+: a second guard
                    t.extractall(tmp, members=members, filter="data")
                else:
                    t.extractall(tmp, members=members)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise UserError(f"--data-dir {str(archive)!r}: cannot unpack the archive ({e}); "
                        "expected a readable .tar.gz, .tgz, .tar or .zip") from None
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    done.write_text(str(archive) + "\n")
    return folder


def _check_member(archive: Path, folder: Path, name: str) -> Path:
    """Where archive member ``name`` lands inside ``folder``; a :class:`UserError` refusing
    the archive when it would land outside (an absolute path, ``..``)."""
    base = folder.resolve()
    target = (base / name).resolve()
    if not target.is_relative_to(base) or Path(name).is_absolute():
        raise UserError(f"--data-dir {str(archive)!r}: member {name!r} would unpack outside "
                        "its folder; refusing the archive")
    return target


def _tar_members(archive: Path, folder: Path, t) -> list:
    """The members of a tar archive to unpack, checked here whatever the Python version
    (``filter="data"`` is missing before 3.10.12): files and folders only, each inside
    ``folder``; links, devices and the like are left out (a face image is none of them)."""
    out = []
    for m in t.getmembers():
        _check_member(archive, folder, m.name)
        if m.isfile() or m.isdir():
            m.mode = (0o755 if m.isdir() else 0o644)  # no set-uid bits, always readable
            out.append(m)
    return out


def discover(root: str | Path, cache_dir: Path | None = None,
             workers: int | None = None) -> tuple[list[FaceFile], DatasetAccount]:
    """Every usable face image below ``root`` (a folder, any depth, or an archive), and the
    account of the rest. Files are checked in parallel threads (decoding releases the GIL).
    """
    from concurrent.futures import ThreadPoolExecutor

    root = Path(root).expanduser()
    source = str(root)
    if not root.exists():
        raise UserError(f"--data-dir {source!r} does not exist; expected a folder of "
                        "UTKFace images named [age]_[gender]_[race]_[date].jpg, or an archive "
                        "of them (.tar.gz, .zip)")
    if is_archive(root):
        root = unpack(root, cache_dir)
    elif not root.is_dir():
        raise UserError(f"--data-dir {source!r} is neither a folder nor an archive; expected "
                        "a folder of UTKFace images or a .tar.gz, .tgz, .tar or .zip of them")
    account = DatasetAccount(source=source)
    paths = [p for p in _iter_files(root) if p.name != ".unpacked"]
    account.found = len(paths)
    with ThreadPoolExecutor(max_workers=workers or min(8, (os.cpu_count() or 1) * 2)) as pool:
        results = list(pool.map(_inspect, paths, chunksize=64))
    files: list[FaceFile] = []
    for path, result in zip(paths, results, strict=True):
        if isinstance(result, str):
            account.skip(result, path.name)
        else:
            files.append(result)
    if not files:
        raise UserError(
            f"--data-dir {source!r} holds no usable UTKFace image "
            f"({account.found} files found, {account.skipped_total} skipped); expected JPEGs "
            "named [age]_[gender]_[race]_[date].jpg with an age of 0-116"
        )
    groups: dict[str, list[FaceFile]] = defaultdict(list)
    for f in files:
        groups[f.digest].append(f)
    dup = [g for g in groups.values() if len(g) > 1]
    account.duplicate_groups = len(dup)
    account.duplicate_files = sum(len(g) for g in dup)
    account.conflicting_groups = sum(1 for g in dup if len({f.age for f in g}) > 1)
    account.used = len(files)
    return files, account


def _unit(seed: int, salt: str, digest: str) -> float:
    """A number in [0, 1) fixed by (seed, salt, content): the split's only source of order."""
    h = hashlib.blake2b(f"{seed}:{salt}:{digest}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0**64


def split(
    files: Sequence[FaceFile],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    max_images: int | None = None,
) -> dict[str, list[FaceFile]]:
    """Deterministic train / val / test split by content, duplicates kept together.

    Groups of identical images are ordered by a hash of (seed, content) and cut by the
    fractions, so the result depends on neither file names nor their order on disk. Each
    split gets at least one group when there are three or more.
    """
    for name, frac in (("--val-fraction", val_fraction), ("--test-fraction", test_fraction)):
        if not 0.0 <= frac < 1.0:
            raise UserError(f"{name} must be in [0, 1), got {frac}")
    if val_fraction + test_fraction >= 1.0:
        raise UserError("--val-fraction + --test-fraction must be below 1 to leave training "
                        f"data, got {val_fraction} + {test_fraction}")
    groups: dict[str, list[FaceFile]] = defaultdict(list)
    for f in files:
        groups[f.digest].append(f)
    digests = sorted(groups)
    if max_images is not None:
        if max_images < 3:
            raise UserError(f"--max-images must be at least 3 (train, val, test), got {max_images}")
        digests.sort(key=lambda d: _unit(seed, "subset", d))
        kept, n = [], 0
        for d in digests:
            if n >= max_images:
                break
            kept.append(d)
            n += len(groups[d])
        digests = kept
    digests.sort(key=lambda d: _unit(seed, "split", d))
    g = len(digests)
    if g < 3:
        raise UserError(f"need at least 3 distinct images for a train/val/test split, got {g}")
    n_test = max(1 if test_fraction > 0 else 0, round(test_fraction * g))
    n_val = max(1 if val_fraction > 0 else 0, round(val_fraction * g))
    if n_test + n_val >= g:
        raise UserError(f"{g} distinct images leave none for training with --val-fraction "
                        f"{val_fraction} and --test-fraction {test_fraction}")
    parts = {
        "test": digests[:n_test],
        "val": digests[n_test : n_test + n_val],
        "train": digests[n_test + n_val :],
    }
    out = {}
    for k, ds in parts.items():
        out[k] = sorted((f for d in ds for f in groups[d]), key=lambda f: (f.digest, f.path))
    return out


def age_histogram(ages: Iterable[int]) -> dict[str, int]:
    """Counts by decade, ``"0-9"`` .. ``"110-116"``, every decade present."""
    counts = Counter(min(a // 10, AGE_MAX // 10) for a in ages)
    return {
        f"{d * 10}-{min(d * 10 + 9, AGE_MAX)}": counts.get(d, 0) for d in range(AGE_MAX // 10 + 1)
    }


# --------------------------------------------------------------------------- tf.data


_DCT_RATIOS = (1, 2, 4, 8)


def decode_and_resize(raw, image_size: int):
    """JPEG bytes -> uint8 [size, size, 3]. The one resize used in training and prediction.

    JPEG can decode straight to 1/2, 1/4 or 1/8 scale (DCT scaling), which skips most of the
    work. The largest such reduction that still leaves at least ``image_size`` pixels on the
    short side is taken, then an area resize brings the image to the exact size: 200 px
    UTKFace faces decode at 100 px for a 64 px model, more than twice as fast.
    """
    import tensorflow as tf

    shape = tf.io.extract_jpeg_shape(raw)
    short = tf.minimum(shape[0], shape[1])
    # index of the largest ratio r with short // r >= image_size (0 when none)
    fits = [tf.cast(short // r >= image_size, tf.int32) for r in _DCT_RATIOS[1:]]
    index = tf.add_n(fits) if fits else tf.constant(0)
    branches = [
        (lambda r=r: tf.io.decode_jpeg(raw, channels=3, ratio=r, dct_method="INTEGER_ACCURATE"))
        for r in _DCT_RATIOS
    ]
    img = tf.switch_case(index, branches)
    img = tf.image.resize(img, [image_size, image_size], method="area")
    return tf.cast(tf.round(tf.clip_by_value(img, 0.0, 255.0)), tf.uint8)


def decoded_dataset(files: Sequence[FaceFile], image_size: int, cache: bool = True):
    """(uint8 image, age) pairs: read -> decode -> resize in parallel -> cache in memory.

    Images are cached as uint8 at the training resolution (a quarter of a float32 cache).
    Reusing the returned dataset reuses its cache: files are decoded once per resolution.
    """
    import tensorflow as tf

    paths = [f.path for f in files]
    ages = np.array([f.age for f in files], dtype=np.float32)
    ds = tf.data.Dataset.from_tensor_slices((paths, ages))

    def load(path, age):
        return decode_and_resize(tf.io.read_file(path), image_size), age

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # A file that passed the checks at discovery but still fails to decode is dropped.
    ds = ds.ignore_errors()
    return ds.cache() if cache else ds


def augmenter(strength: float, seed: int):
    """Training-time augmentation of float pixel batches: flips, small shifts and rotations,
    brightness; ``strength`` 0 (off) .. 1 (shifts of 10%, rotations of 18 degrees, brightness
    +-20%). Each random layer has its own seed (see :func:`refit_augmenter`)."""
    import keras

    s = float(strength)
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomTranslation(0.1 * s, 0.1 * s, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomRotation(0.05 * s, fill_mode="reflect", seed=seed + 2),
        keras.layers.RandomBrightness(0.2 * s, value_range=(0.0, 255.0), seed=seed + 3),
    ], name="augment")


def refit_augmenter(strength: float, seed: int):
    """Augmentation for a refit (:mod:`search.refit`), which trains longer than a trial:
    horizontal flips, small shifts and scales, brightness and contrast, all label-preserving
    for a face's age; ``strength`` 0 (flips only) .. 1 (shifts of 10%, scales of +-10%,
    brightness and contrast +-20%). No rotation: UTKFace's crops are aligned upright.

    Each random layer has its own seed: layers given one seed draw the same numbers, so a
    flipped face was always also darker (a correlation of -0.76 between flip and brightness,
    measured before December 2026) and the augmentations spanned one dimension, not four."""
    import keras

    s = float(strength)
    layers = [keras.layers.RandomFlip("horizontal", seed=seed)]
    if s > 0:
        layers += [
            keras.layers.RandomTranslation(0.1 * s, 0.1 * s, fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomZoom(0.1 * s, fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomBrightness(0.2 * s, value_range=(0.0, 255.0), seed=seed + 3),
            keras.layers.RandomContrast(0.2 * s, value_range=(0.0, 255.0), seed=seed + 4),
        ]
    return keras.Sequential(layers, name="refit_augment")


def augmented(ds, layer):
    """``ds``'s float batches through the random ``layer``, one batch at a time: its seeded
    generators are drawn in batch order, so a seed gives the same augmentations every run.
    (Parallel calls draw in whatever order the threads run, and a refit of one seed differed
    from run to run by tenths of a year.) The work still overlaps training: the prefetch after
    it runs the map on a background thread."""
    return ds.map(lambda x, y: (layer(x, training=True), y))


def batched(decoded, n: int, batch_size: int, training: bool, seed: int, augment: float = 0.0):
    """decoded pairs -> (shuffle) -> batch -> float32 -> (augment) -> prefetch."""
    import tensorflow as tf

    ds = decoded
    if training:
        ds = ds.shuffle(max(1, n), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y),
                                  num_parallel_calls=tf.data.AUTOTUNE)
    if training and augment > 0:
        ds = augmented(ds, augmenter(augment, seed))
    return ds.prefetch(tf.data.AUTOTUNE)


def make_dataset(files: Sequence[FaceFile], image_size: int, batch_size: int, training: bool,
                 seed: int, cache: bool = True, augment: float = 0.0):
    """read -> decode -> resize (parallel) -> cache (uint8) -> shuffle -> batch -> prefetch.

    Batches are float32 pixels (0-255) and ages in years (float32).
    """
    return batched(decoded_dataset(files, image_size, cache), len(files), batch_size, training,
                   seed, augment)


@dataclass
class Data:
    """The files of each split, their account, and pipelines that decode each file once per
    resolution however many trials read it."""

    splits: dict[str, list[FaceFile]]
    account: DatasetAccount
    image_size: int
    batch_size: int
    seed: int
    _decoded: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, 3)

    def dataset(self, name: str, training: bool | None = None, image_size: int | None = None,
                batch_size: int | None = None, augment: float = 0.0):
        """Batches of split ``name``; a trial may ask for its own resolution and batch size."""
        if training is None:
            training = name == "train"
        size = image_size or self.image_size
        key = (name, size)
        if key not in self._decoded:
            self._decoded[key] = decoded_dataset(self.splits[name], size)
        return batched(self._decoded[key], len(self.splits[name]),
                       batch_size or self.batch_size, training, self.seed, augment)

    def ages(self, name: str) -> np.ndarray:
        return np.array([f.age for f in self.splits[name]], dtype=np.float32)

    def joined_dataset(self, names: Sequence[str], image_size: int | None = None,
                       batch_size: int | None = None, augmenter=None,
                       extra_target: np.ndarray | None = None, shuffle_seed: int | None = None):
        """Shuffled training batches of several splits together (a refit's train + val),
        read from the same per-split caches as :meth:`dataset`; ``augmenter``: a Keras layer
        applied to each float batch; ``shuffle_seed``: the shuffle's (default: the data's
        seed). ``extra_target``: one number per file of the splits, in
        their order (e.g. a teacher's ages); the targets are then ``[age, extra]`` pairs
        (shape ``[batch, 2]``). The caller must know no file was dropped at decoding
        (:meth:`predictions` returns None when one was), or the pairs would not match."""
        import tensorflow as tf

        size = image_size or self.image_size
        decoded = None
        for name in names:
            key = (name, size)
            if key not in self._decoded:
                self._decoded[key] = decoded_dataset(self.splits[name], size)
            decoded = self._decoded[key] if decoded is None else decoded.concatenate(
                self._decoded[key])
        n = sum(len(self.splits[name]) for name in names)
        if extra_target is not None:
            extra = np.asarray(extra_target, dtype=np.float32).reshape(-1)
            if len(extra) != n:
                raise ValueError(f"one extra target per file expected ({n}), got {len(extra)}")
            decoded = tf.data.Dataset.zip((decoded, tf.data.Dataset.from_tensor_slices(extra)))
            decoded = decoded.map(lambda xy, t: (xy[0], tf.stack([xy[1], t])))
        ds = decoded.shuffle(max(1, n), seed=self.seed if shuffle_seed is None else shuffle_seed,
                             reshuffle_each_iteration=True)
        ds = ds.batch(batch_size or self.batch_size).map(
            lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
        if augmenter is not None:
            ds = augmented(ds, augmenter)
        return ds.prefetch(tf.data.AUTOTUNE)

    def predictions(self, model, name: str, image_size: int | None = None,
                    batch_size: int | None = None) -> np.ndarray | None:
        """``model``'s ages (years) for split ``name``, one per file of ``splits[name]`` in
        its order; None when the pipeline dropped a file that failed to decode after the
        checks at discovery (it yields fewer images then, and which file went is unknown, so
        no prediction could be matched to its file's labels)."""
        ds = self.dataset(name, training=False, image_size=image_size, batch_size=batch_size)
        out, labels = [np.zeros(0)], [np.zeros(0, dtype=np.float32)]
        for x, y in ds.as_numpy_iterator():  # one pass: each image decoded once
            out.append(np.asarray(model.predict_on_batch(x), dtype=np.float64).reshape(-1))
            labels.append(np.asarray(y, dtype=np.float32).reshape(-1))
        predicted, ages = np.concatenate(out), np.concatenate(labels)
        if len(predicted) != len(self.splits[name]) or not np.array_equal(ages,
                                                                          self.ages(name)):
            return None
        return predicted

    def groups(self, model, name: str = "test", image_size: int | None = None,
               batch_size: int | None = None) -> dict[str, Any] | None:
        """``model``'s MAE by gender, ethnicity and age band on split ``name``
        (:func:`search.groups.breakdown`), or None when its images and labels cannot be
        matched (:meth:`predictions`)."""
        from search import groups

        predicted = self.predictions(model, name, image_size, batch_size)
        return None if predicted is None else groups.of_files(self.splits[name], predicted)

    def fingerprint(self) -> str:
        """A hash of the split (content and labels); a resumed run must see the same one."""
        h = hashlib.sha256()
        for name in SPLITS:
            for f in self.splits[name]:
                h.update(f"{name}:{f.digest}:{f.age};".encode())
        return h.hexdigest()[:16]


def load(cfg) -> Data:
    """The data of a run: ``cfg.data_dir`` or the embedded synthetic faces."""
    from search import synthetic
    from search.config import DEFAULT_IMAGE_SIZE, flag, int_problem

    image_size = cfg.image_size or DEFAULT_IMAGE_SIZE
    if image_size < 8:
        raise UserError(f"--image-size must be at least 8 pixels, got {image_size}")
    if cfg.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {cfg.batch_size}")
    for name in ("image_size", "batch_size", "seed", "synthetic_images", "max_images"):
        value = getattr(cfg, name)
        if value is not None and (problem := int_problem(name, value)):
            raise UserError(f"{flag(name)} {value!r}: {problem}")
    if cfg.data_dir:
        root = Path(cfg.data_dir)
    else:
        n = cfg.synthetic_images
        if cfg.max_images is not None:
            n = min(n, cfg.max_images)
        root = synthetic.generate(n, cfg.seed, Path(cfg.cache_dir) if cfg.cache_dir else None)
    files, account = discover(root, Path(cfg.cache_dir) if cfg.cache_dir else None)
    parts = split(files, cfg.val_fraction, cfg.test_fraction, cfg.seed, cfg.max_images)
    account.splits = {k: len(parts[k]) for k in SPLITS}
    account.used = sum(account.splits.values())
    account.unselected = len(files) - account.used
    account.age_histogram = age_histogram(f.age for k in SPLITS for f in parts[k])
    return Data(parts, account, image_size, cfg.batch_size, cfg.seed)
