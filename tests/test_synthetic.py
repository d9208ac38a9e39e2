import hashlib

import numpy as np

from search import data, synthetic


def _digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.glob("*.jpg")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def test_files_are_utkface_named_200px_jpegs(faces):
    from PIL import Image

    files = sorted(faces.glob("*"))
    assert len(files) == 48
    for p in files:
        labels = data.parse_name(p.name)
        assert isinstance(labels, data.Labels), p.name
        assert labels.gender in (0, 1) and labels.race in range(5)
        stamp = p.name.split("_")[3].split(".")[0]
        assert len(stamp) == 17 and stamp.isdigit()
        with Image.open(p) as im:
            assert im.format == "JPEG" and im.size == (200, 200) and im.mode == "RGB"


def test_deterministic_for_a_seed(tmp_path, faces):
    again = synthetic.generate(48, seed=7, cache_dir=tmp_path)
    assert _digest(again) == _digest(faces)
    other = synthetic.generate(48, seed=8, cache_dir=tmp_path)
    assert _digest(other) != _digest(faces)


def test_cache_is_reused_not_rewritten(tmp_path):
    folder = synthetic.generate(6, seed=1, cache_dir=tmp_path)
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert synthetic.generate(6, seed=1, cache_dir=tmp_path) == folder
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes


def test_half_written_cache_is_regenerated(tmp_path):
    folder = synthetic.generate(6, seed=1, cache_dir=tmp_path)
    next(folder.glob("*.jpg")).unlink()  # a damaged cache
    again = synthetic.generate(6, seed=1, cache_dir=tmp_path)
    assert len(list(again.glob("*.jpg"))) == 6


def test_age_distribution_follows_utkface():
    rng = np.random.default_rng(0)
    ages = np.array([synthetic.sample_spec(rng).label_age for _ in range(4000)])
    share = lambda lo, hi: np.mean((ages >= lo) & (ages <= hi))  # noqa: E731
    assert share(20, 39) > 0.4  # many faces aged 20-39
    assert share(0, 9) > 0.1  # many under 10
    assert 0.01 < share(80, 116) < 0.06  # a thin tail past 80
    assert ages.min() >= 0 and ages.max() <= 116


def test_age_cues_change_pixels_smoothly():
    """Same face drawn at growing ages: images drift further apart the larger the age gap."""
    spec = lambda a: synthetic.FaceSpec(age=a, gender=0, race=0, label_age=int(a))  # noqa: E731

    def draw(a):
        return np.asarray(synthetic.draw_face(spec(a), np.random.default_rng(3)), dtype=float)

    base = draw(30)
    near, far = np.abs(draw(34) - base).mean(), np.abs(draw(75) - base).mean()
    assert far > 2 * near > 0
