"""``run_search.py predict MODEL.tflite IMAGE_OR_FOLDER ...``: ages from an exported file.

How a user checks an exported file without writing code. Images are cropped faces of any
size, read and resized exactly as in training (:func:`search.data.decode_and_resize`);
folders are searched at any depth for ``.jpg`` / ``.jpeg`` files. Any exported format works:
float files get float32 pixels, the int8 file uint8 pixels. When a file name carries a
UTKFace label (``[age]_[gender]_[race]_[date].jpg``), the table shows it and the error, the
MAE over the labelled images is printed, and so is a second table of that MAE by gender,
ethnicity and age band, with counts (:mod:`search.groups`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search import groups, interpreter
from search.data import IMAGE_SUFFIXES, Labels, check_image_bytes, parse_name
from search.errors import NothingDone, UserError


@dataclass
class Prediction:
    path: str
    age: float | None = None  # years; None when the image could not be read
    label: int | None = None  # years, from a UTKFace file name
    problem: str | None = None  # why the image was skipped

    @property
    def error(self) -> float | None:
        """Absolute error in years, when both the prediction and a label exist."""
        return None if self.age is None or self.label is None else abs(self.age - self.label)


def image_files(paths: Sequence[str | Path]) -> list[tuple[Path, str]]:
    """The files named, and the JPEGs inside the folders named (any depth, sorted), each with
    the name to show: as given for a file, relative to its folder for a folder's file."""
    missing = [str(p) for p in paths if not Path(p).exists()]
    if missing:
        raise UserError(f"no such image or folder: {missing[0]!r}"
                        + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                        + "; expected JPEG face images or folders of them")
    out: dict[Path, str] = {}
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*")
                           if f.is_file() and f.name.lower().rstrip().endswith(IMAGE_SUFFIXES))
            if not found:
                raise UserError(f"folder {str(p)!r} holds no .jpg or .jpeg file")
            for f in found:
                out.setdefault(f, str(f.relative_to(p)))
        else:
            out.setdefault(p, str(p))
    return list(out.items())


def read_image(path: Path, size: int) -> np.ndarray | str:
    """uint8 pixels ``[size, size, 3]`` as in training, or why the file cannot be used."""
    import tensorflow as tf

    from search.data import decode_and_resize

    try:
        raw = path.read_bytes()
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    problem = check_image_bytes(raw)
    if problem:
        return problem
    try:
        return decode_and_resize(tf.constant(raw), size).numpy()
    except Exception as e:  # a JPEG that passed the byte checks and still fails to decode
        return f"cannot decode ({type(e).__name__})"


def load_model(model: str | Path):
    """A LiteRT interpreter for an exported file, or a :class:`UserError`."""
    path = Path(model)
    if not path.is_file():
        raise UserError(f"model {str(path)!r} does not exist; expected a .tflite file written "
                        "by 'run_search.py export'")
    try:
        interp = interpreter.load(path)
    except Exception as e:
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        raise UserError(f"model {str(path)!r} is not a readable TFLite file ({reason})") from None
    shape = interpreter.input_spec(interp).shape
    if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3:
        raise UserError(f"model {str(path)!r} takes input {list(shape)}; expected square RGB "
                        "images [1, size, size, 3], as 'run_search.py export' writes")
    return interp


def predict(model: str | Path, paths: Sequence[str | Path], threads: int = 1,
            console=None) -> dict[str, Any]:
    """Ages (years) for every image, printed as a table; returns them and the MAE (years) over
    images whose names carry UTKFace labels (None when none does). Raises
    :class:`NothingDone` when no image could be read (the command's exit status 1)."""
    from rich.console import Console

    console = console or Console()
    interp = load_model(model)
    size = interpreter.input_spec(interp).shape[1]
    files = image_files(paths)
    rows = [Prediction(str(f)) for f, _ in files]
    pixels, readable, labels = [], [], []
    for row, (f, _) in zip(rows, files, strict=True):
        parsed = parse_name(f.name)
        labels.append(parsed if isinstance(parsed, Labels) else None)
        row.label = parsed.age if isinstance(parsed, Labels) else None
        img = read_image(f, size)
        if isinstance(img, str):
            row.problem = img
        else:
            pixels.append(img)
            readable.append(row)
    if pixels:
        ages = interpreter.predict(Path(model), np.stack(pixels), threads)
        for row, age in zip(readable, ages, strict=True):
            row.age = float(age)
    errors = [r.error for r in rows if r.error is not None]
    mae = float(np.mean(errors)) if errors else None
    by_group = groups.of_files(labels, [r.age for r in rows])
    _print(rows, [shown for _, shown in files], model, size, mae, console)
    if by_group is not None:
        _print_groups(by_group, console)
    if not readable:
        first = next(r for r in rows if r.problem)
        raise NothingDone(f"no image predicted: {len(rows)} file(s) skipped ({first.path}: "
                          f"{first.problem}); expected JPEG face images")
    return {"model": str(model), "image_size": size, "mae_years": mae,
            "labelled": len(errors), "groups": by_group,
            "predictions": [asdict(r) for r in rows]}


def _print(rows: Sequence[Prediction], names: Sequence[str], model: str | Path, size: int,
           mae: float | None, console) -> None:
    from rich.table import Table

    t = Table(title=f"Ages from {model} ({size} px)", title_justify="left",
              header_style="bold")
    for col in ("image", "age (y)", "label (y)", "error (y)"):
        t.add_column(col, justify="left" if col == "image" else "right", overflow="fold")
    for r, name in zip(rows, names, strict=True):
        t.add_row(name, "-" if r.age is None else f"{r.age:.1f}",
                  "-" if r.label is None else str(r.label),
                  r.problem if r.problem else ("-" if r.error is None else f"{r.error:.1f}"),
                  style="dim" if r.problem else None)
    console.print(t)
    done = sum(r.age is not None for r in rows)
    skipped = len(rows) - done
    line = f"{done} image(s) predicted" + (f", {skipped} skipped" if skipped else "")
    if mae is not None:
        n = sum(r.error is not None for r in rows)
        line += f"; MAE {mae:.2f} years over {n} image(s) with UTKFace labels"
    console.print(line, highlight=False, markup=False)


def _print_groups(by_group, console) -> None:
    """The labelled images' MAE by gender, ethnicity and age band, with counts."""
    from rich.table import Table

    t = Table(title="MAE by group (labelled images)", title_justify="left",
              header_style="bold")
    for col in ("breakdown", "group", "images", "MAE (y)"):
        t.add_column(col, justify="left" if col in ("breakdown", "group") else "right")
    last = None
    for kind, name, n, mae in groups.rows(by_group):
        t.add_row(kind if kind != last else "", name, str(n),
                  "-" if mae is None else f"{mae:.2f}", style="dim" if not n else None,
                  end_section=False)
        last = kind
    console.print(t)
