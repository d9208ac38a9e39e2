"""The embedded default data set: synthetic faces written as UTKFace-named JPEGs.

No machine that runs this toolkit can be assumed to have UTKFace, so a search with no
``--data-dir`` runs on faces drawn here. They are written to disk as 200x200 JPEGs named
``[age]_[gender]_[race]_[17-digit date].jpg.chip.jpg`` and read back through the very loader
that reads real UTKFace, so the default run exercises every real code path.

Age is carried by several cues that change smoothly with age, as in real faces:

- proportions: children have rounder heads, eyes lower in the face, bigger eyes, a smaller
  mouth and nose; these settle by about 18;
- skin: wrinkle lines (forehead, eye corners, cheek folds) appear from the late twenties and
  deepen; skin texture roughens and age spots appear past 50;
- hair: greys from about 35, whitening past 70; men's hairline recedes with age.

Gender and race (the UTKFace fields) vary skin tone, hair colour, hair length and jaw width.
Nuisance variation that a model must learn to ignore: head position, scale and tilt,
lighting, background, JPEG quality. A little label noise, as in real data sets, keeps the
floor of the achievable error above zero.

The set is deterministic for a (count, seed) pair and cached on disk: a second run with the
same pair reuses the files (a manifest beside the folder is written last, so a half-written folder is
never taken for a finished one).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from search.config import int_problem
from search.errors import UserError

#: Bumped whenever the drawing changes, so old caches are not reused for new faces.
GENERATOR_VERSION = 2
IMAGE_SIZE = 200

# Age histogram shaped like UTKFace's: many faces aged 20-39, many under 10 (a spike of
# babies), a thin tail past 80. (low, high inclusive, weight)
AGE_BINS: tuple[tuple[int, int, float], ...] = (
    (0, 3, 0.085),
    (4, 9, 0.055),
    (10, 19, 0.065),
    (20, 29, 0.29),
    (30, 39, 0.185),
    (40, 49, 0.09),
    (50, 59, 0.10),
    (60, 69, 0.06),
    (70, 79, 0.038),
    (80, 89, 0.022),
    (90, 116, 0.01),
)
# UTKFace race field: 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others; shares of the data set.
RACE_WEIGHTS = (0.42, 0.19, 0.145, 0.17, 0.075)
# Base skin tones (RGB) per race field, varied per face.
SKIN_TONES = (
    (232, 196, 170),
    (120, 80, 58),
    (236, 200, 160),
    (176, 128, 92),
    (205, 160, 125),
)
# Base hair colours per race field (before greying).
HAIR_COLOURS = (
    ((90, 60, 30), (160, 120, 60), (40, 30, 20), (200, 170, 100)),
    ((25, 20, 18), (40, 30, 25)),
    ((20, 18, 18), (35, 28, 24)),
    ((25, 20, 18), (45, 35, 28)),
    ((30, 24, 20), (70, 50, 30)),
)
GREY = np.array([222.0, 222.0, 226.0])


@dataclass(frozen=True)
class FaceSpec:
    """What one synthetic face shows; ``age`` is the true (drawn) age in years."""

    age: float
    gender: int  # UTKFace: 0 male, 1 female
    race: int
    label_age: int  # the age written in the file name (true age plus a little label noise)


def default_cache_dir() -> Path:
    """``$AGESEARCH_CACHE`` if set, else ``~/.cache/agesearch``."""
    env = os.environ.get("AGESEARCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "agesearch"


def sample_spec(rng: np.random.Generator) -> FaceSpec:
    weights = np.array([w for _, _, w in AGE_BINS])
    lo, hi, _ = AGE_BINS[rng.choice(len(AGE_BINS), p=weights / weights.sum())]
    age = float(rng.uniform(lo, hi + 1))
    gender = int(rng.integers(0, 2))
    race = int(rng.choice(len(RACE_WEIGHTS), p=np.array(RACE_WEIGHTS) / sum(RACE_WEIGHTS)))
    label = age
    if rng.random() < 0.2:  # label noise: some faces are labelled a few years off
        label += rng.normal(0.0, 2.5 + 0.05 * age)
    label_age = int(min(116, max(0, math.floor(label))))
    return FaceSpec(age=age, gender=gender, race=race, label_age=label_age)


def _smooth(x: float, lo: float, hi: float) -> float:
    """0 below ``lo``, 1 above ``hi``, a smooth ramp between."""
    t = min(1.0, max(0.0, (x - lo) / (hi - lo)))
    return t * t * (3.0 - 2.0 * t)


def _rgb(c: np.ndarray | tuple[float, ...]) -> tuple[int, int, int]:
    a = np.clip(np.asarray(c, dtype=float), 0, 255)
    return int(a[0]), int(a[1]), int(a[2])


def draw_face(spec: FaceSpec, rng: np.random.Generator, size: int = IMAGE_SIZE) -> Image.Image:
    """Draw one face as an RGB image of ``size`` x ``size`` pixels."""
    age, S = spec.age, float(size)
    # Each cue moves steadily over its own age range, so every decade looks different.
    maturity = _smooth(age, 0.0, 20.0)  # 0 newborn .. 1 grown
    wrinkles = min(1.0, max(0.0, (age - 20.0) / 65.0))  # 0 smooth .. 1 deeply lined
    greying = min(1.0, max(0.0, (age - 28.0) / 52.0)) ** 1.2
    male = spec.gender == 0

    # Background: a random colour with a vertical gradient.
    bg_top = rng.uniform(40, 230, 3)
    bg_bottom = np.clip(bg_top + rng.normal(0, 35, 3), 0, 255)
    ramp = np.linspace(0.0, 1.0, size)[:, None, None]
    bg = bg_top[None, None, :] * (1 - ramp) + bg_bottom[None, None, :] * ramp
    img = Image.fromarray(np.broadcast_to(bg, (size, size, 3)).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)

    # Head geometry. Children: rounder and relatively larger head.
    scale = rng.uniform(0.88, 1.06)
    head_w = S * (0.50 + 0.07 * (1 - maturity)) * scale
    head_h = head_w * (1.02 + 0.26 * maturity)
    jaw = 1.0 + (0.10 if male else -0.04) * maturity
    cx = S / 2 + rng.normal(0, S * 0.03)
    cy = S / 2 + rng.normal(0, S * 0.03) + S * 0.03
    top, bottom = cy - head_h / 2, cy + head_h / 2
    left, right = cx - head_w / 2, cx + head_w / 2

    skin = np.array(SKIN_TONES[spec.race], dtype=float) * rng.uniform(0.9, 1.08)
    skin = np.clip(skin + rng.normal(0, 6, 3), 0, 255)
    base_hair = np.array(HAIR_COLOURS[spec.race][rng.integers(len(HAIR_COLOURS[spec.race]))])
    hair = base_hair * (1 - greying) + GREY * greying
    hair = np.clip(hair + rng.normal(0, 8, 3), 0, 255)
    if age < 2:  # babies: thin, light hair
        hair = hair * 0.5 + skin * 0.5

    # Long hair behind the head (mostly women), then neck and shoulders.
    long_hair = (not male and rng.random() < 0.85) or (male and rng.random() < 0.08)
    if long_hair and age > 3:
        length = head_h * rng.uniform(0.55, 0.95) * maturity
        d.rounded_rectangle(
            [left - head_w * 0.08, cy - head_h * 0.2, right + head_w * 0.08, bottom + length],
            radius=int(head_w * 0.3),
            fill=_rgb(hair),
        )
    neck_w = head_w * (0.42 + (0.06 if male else 0.0))
    d.rectangle([cx - neck_w / 2, bottom - head_h * 0.1, cx + neck_w / 2, S], fill=_rgb(skin * 0.9))
    shirt = rng.uniform(20, 235, 3)
    d.ellipse([cx - head_w * 1.1, bottom + head_h * 0.12, cx + head_w * 1.1, S * 1.6], fill=_rgb(shirt))

    # Hair cap: the hairline recedes with age, mostly for men.
    recede = (0.55 if male else 0.12) * _smooth(age, 28.0, 80.0) * rng.uniform(0.6, 1.2)
    if age >= 1:
        cap_bottom = top + head_h * (0.30 - 0.22 * recede)
        d.ellipse([left - head_w * 0.05, top - head_h * 0.07, right + head_w * 0.05,
                   cap_bottom + head_h * 0.22], fill=_rgb(hair))

    # Face: upper ellipse plus a jaw (wider for grown men).
    face_top = top + head_h * (0.16 - 0.12 * recede) if age >= 1 else top
    d.ellipse([left, face_top, right, bottom], fill=_rgb(skin))
    jaw_w = head_w * 0.5 * jaw
    d.polygon(
        [(cx - jaw_w, cy), (cx + jaw_w, cy), (cx + jaw_w * 0.55, bottom - head_h * 0.02),
         (cx - jaw_w * 0.55, bottom - head_h * 0.02)],
        fill=_rgb(skin),
    )
    d.ellipse([cx - jaw_w * 0.62, bottom - head_h * 0.16, cx + jaw_w * 0.62, bottom + head_h * 0.01],
              fill=_rgb(skin))

    # Features. Eyes sit lower and are larger in children.
    line = _rgb(skin * (0.72 - 0.18 * wrinkles))
    # Wrinkle lines fade in: faint at 25, deep at 80.
    crease = _rgb(skin * (1.0 - 0.5 * min(1.0, 1.6 * wrinkles)))
    crease_w = max(1, int(round(S * (0.008 + 0.012 * wrinkles))))
    eye_y = top + head_h * (0.47 + 0.10 * (1 - maturity))
    eye_dx = head_w * 0.21
    eye_r = head_w * (0.065 + 0.035 * (1 - maturity))
    sclera = _rgb(np.array([240, 240, 235]) - 25 * wrinkles)
    iris = _rgb(rng.uniform(20, 110, 3))
    for side in (-1, 1):
        ex = cx + side * eye_dx
        d.ellipse([ex - eye_r, eye_y - eye_r * 0.6, ex + eye_r, eye_y + eye_r * 0.6], fill=sclera)
        d.ellipse([ex - eye_r * 0.45, eye_y - eye_r * 0.45, ex + eye_r * 0.45, eye_y + eye_r * 0.45],
                  fill=iris)
        # eyebrows: thick dark in youth, thinner and greyer with age
        brow_y = eye_y - eye_r * (1.5 + 0.3 * maturity)
        brow = _rgb(hair * 0.7 + skin * 0.3 if age > 1 else skin * 0.85)
        d.line([ex - eye_r * 1.2, brow_y, ex + eye_r * 1.2, brow_y - side * 0.0],
               fill=brow, width=max(1, int(S * (0.012 + 0.01 * male * maturity))))
        # crow's feet and bags under the eyes
        n_feet = int(math.ceil(4 * wrinkles))
        for k in range(n_feet):
            ang = (k - (n_feet - 1) / 2) * 0.35
            x0 = ex + side * eye_r * 1.15
            d.line([x0, eye_y, x0 + side * eye_r * 0.9 * math.cos(ang),
                    eye_y + eye_r * 0.9 * math.sin(ang)], fill=crease, width=crease_w)
        if wrinkles > 0.05:
            d.arc([ex - eye_r, eye_y, ex + eye_r, eye_y + eye_r * (1.2 + wrinkles)], 20, 160,
                  fill=crease, width=crease_w)

    # Nose and mouth grow into adult proportions.
    nose_y = eye_y + head_h * (0.13 + 0.05 * maturity)
    nose_w = head_w * (0.07 + 0.04 * maturity)
    d.line([cx, eye_y + eye_r, cx - nose_w * 0.3, nose_y], fill=line, width=2)
    d.line([cx - nose_w, nose_y, cx + nose_w, nose_y], fill=line, width=2)
    mouth_y = nose_y + head_h * (0.09 + 0.03 * maturity)
    mouth_w = head_w * (0.14 + 0.10 * maturity) * (1 - 0.1 * wrinkles)
    lips = _rgb(skin * np.array([0.85, 0.55, 0.55]) * (1 - 0.15 * wrinkles) + 25 * (1 - wrinkles))
    d.chord([cx - mouth_w, mouth_y - mouth_w * 0.25, cx + mouth_w, mouth_y + mouth_w * 0.3],
            0, 180, fill=lips)

    # Wrinkles: forehead lines and cheek folds, more and deeper with age.
    n_forehead = int(math.ceil(5 * wrinkles))
    for k in range(n_forehead):
        y = face_top + (eye_y - face_top) * (0.35 + 0.1 * k)
        d.arc([cx - head_w * 0.3, y, cx + head_w * 0.3, y + head_h * 0.05], 200, 340,
              fill=crease, width=crease_w)
    if wrinkles > 0.05:
        for side in (-1, 1):
            d.line([cx + side * nose_w * 1.2, nose_y - head_h * 0.02,
                    cx + side * mouth_w * 1.15, mouth_y + head_h * 0.03 * (1 + wrinkles)],
                   fill=crease, width=crease_w)

    # Age spots past 50.
    n_spots = int(rng.poisson(12 * _smooth(age, 50.0, 95.0)))
    for _ in range(n_spots):
        sx = rng.uniform(left + head_w * 0.15, right - head_w * 0.15)
        sy = rng.uniform(face_top + head_h * 0.1, bottom - head_h * 0.15)
        r = rng.uniform(1.0, 2.5) * S / 200
        d.ellipse([sx - r, sy - r, sx + r, sy + r], fill=_rgb(skin * 0.7))

    # Pose: a small tilt. Then skin texture (roughens with age), lighting, blur.
    img = img.rotate(float(rng.normal(0, 6)), resample=Image.BILINEAR, fillcolor=_rgb(bg_top))
    arr = np.asarray(img, dtype=np.float32)
    texture = rng.normal(0.0, 3.0 + 9.0 * wrinkles, (size, size, 1))
    arr = arr + texture
    light = rng.uniform(0.8, 1.15)
    side_light = np.linspace(-1, 1, size)[None, :, None] * rng.normal(0, 0.12)
    arr = arr * (light + side_light)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.3:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return img


def utkface_name(spec: FaceSpec, index: int, rng: np.random.Generator) -> str:
    """A UTKFace file name; the 17-digit date is unique per index."""
    base = _dt.datetime(2017, 1, 1)
    when = base + _dt.timedelta(seconds=index * 53 + int(rng.integers(0, 53)))
    stamp = when.strftime("%Y%m%d%H%M%S") + f"{int(rng.integers(0, 1000)):03d}"
    return f"{spec.label_age}_{spec.gender}_{spec.race}_{stamp}.jpg.chip.jpg"


def _face_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index, GENERATOR_VERSION])


def cache_key(count: int, seed: int) -> str:
    return f"synthetic-v{GENERATOR_VERSION}-n{count}-seed{seed}"


def generate(count: int, seed: int, cache_dir: Path | None = None) -> Path:
    """Write ``count`` synthetic faces (or reuse them) and return their folder.

    Deterministic: the same ``(count, seed)`` gives byte-identical files on every run.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if problem := int_problem("seed", seed):  # before any folder is made
        raise UserError(f"--seed {seed!r}: {problem}")
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    folder = root / cache_key(count, seed)
    manifest = root / f"{cache_key(count, seed)}.manifest.json"
    if manifest.exists():
        try:
            info = json.loads(manifest.read_text())
            if info.get("count") == count and len(list(folder.glob("*.jpg"))) == count:
                return folder
        except (OSError, ValueError):
            pass
    tmp = root / f".{cache_key(count, seed)}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    digest = hashlib.sha256()
    try:
        tmp.mkdir(parents=True)
        for i in range(count):
            rng = _face_rng(seed, i)
            spec = sample_spec(rng)
            img = draw_face(spec, rng)
            name = utkface_name(spec, i, rng)
            path = tmp / name
            img.save(path, format="JPEG", quality=int(rng.integers(60, 96)))
            digest.update(name.encode())
    except BaseException as e:  # Ctrl-C, a full disk: no half-drawn folder stays behind
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise UserError(f"--cache-dir {str(root)!r}: cannot write the synthetic faces "
                            f"({e.strerror or e}); expected a writable folder with room for "
                            f"{count} small JPEGs") from None
        raise
    info = {"generator_version": GENERATOR_VERSION, "count": count, "seed": seed,
            "names_sha256": digest.hexdigest()}
    # Several workers may draw the same set at once: the files are identical, so the first
    # complete folder wins and a complete folder is never removed under a reader's feet.
    try:
        tmp.rename(folder)  # atomic; fails if the folder exists and is not empty
    except OSError:
        if len(list(folder.glob("*.jpg"))) != count:  # a half-written one, left by a crash
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    write_manifest = manifest.with_name(f".{manifest.name}.tmp-{os.getpid()}")
    write_manifest.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(write_manifest, manifest)
    return folder
