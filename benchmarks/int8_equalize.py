"""What cross-layer range equalization (search.equalize) does to int8 files: each model is
exported to int8 twice, as trained (``--no-equalize``) and by default (converted both as
trained and equalized, the file closer to Keras on the calibration images shipped), and the
test MAE of the Keras model and of both int8 files (as trained, and converted from the
equalized copy) is printed, with their int8 losses, the default's pick and whether that pick
had the lower test MAE (the pick uses the calibration images and no labels).

    python benchmarks/int8_equalize.py RUN_DIR --models 000,000-refit [--flip]
        [--ensemble 000-refit,000-refit-seed1]

``--models``: trials or refits exported one by one; ``--ensemble``: also these together as
one averaged file (``export --ensemble``); ``--flip``: every file averages the mirror image
too. Nothing is asserted: figures only. The files go to a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def equalized_mae(run_dir: str, ids: str, flip: bool) -> float:
    """Test MAE of the int8 file converted from the equalized copy, made as ``export`` makes it
    (same calibration images, same averaging), whether or not ``export`` shipped it."""
    import numpy as np

    from search import data as data_mod
    from search import export, interpreter, runfiles
    from search.convert import to_tflite
    from search.records import load_records, load_refits

    run = Path(run_dir)
    cfg = runfiles.config(run, "export")
    chosen = sorted(export.choose(load_records(run, []), ids, load_refits(run, [])),
                    key=lambda r: r.trial_id)
    size = export.trial_image_size(chosen[0], cfg)
    members = {r.trial_id: export.load_model(run, r, size) for r in chosen}
    data = data_mod.load(cfg)
    images, ages = export.split_images(data, "test", None, size)
    calibration, _ = export.split_images(data, "train", export.DEFAULT_CALIBRATION_IMAGES, size)
    twin, _ = export.equalized_copy(members, flip, calibration)
    pred = interpreter.predict(to_tflite(twin, "int8", calibration), images).reshape(-1)
    return float(np.mean(np.abs(pred - ages)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir")
    p.add_argument("--models", default="best", help="comma-separated trial or refit ids")
    p.add_argument("--ensemble", default=None, help="comma-separated ids averaged as one file")
    p.add_argument("--flip", action="store_true")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from search import api

    units = [(m, False) for m in args.models.split(",") if m]
    if args.ensemble:
        units.append((args.ensemble, True))
    print(f"{'model':36s} {'Keras':>7s} {'int8':>7s} {'loss':>6s} {'equal.':>7s} {'loss':>6s}"
          f" {'kept':>10s} {'lower?':>6s} {'KiB':>6s}")
    with tempfile.TemporaryDirectory(prefix="agesearch-int8eq-") as tmp:
        for trial, ensemble in units:
            row = {}
            for equalize in (False, True):
                [e] = api.export_run(args.run_dir, trial, quantize=("int8",), latency_runs=1,
                                     out_dir=Path(tmp) / str(equalize), flip=args.flip,
                                     ensemble=ensemble, equalize=equalize)
                f = e.card["files"]["int8"]
                eq = e.card["verification"]["calibration"]["equalized"]
                kept = "equalized" if eq and eq["kept"] else "as trained"
                row[equalize] = (f["keras_mae_years"], f["mae_years"], f["kib"], e.trial_id, kept)
            keras_mae, plain, kib, name, _ = row[False]
            shipped, kept = row[True][1], row[True][4]
            eq = shipped if kept == "equalized" else equalized_mae(args.run_dir, trial, args.flip)
            lower = "yes" if shipped == min(plain, eq) else "no"
            print(f"{name:36s} {keras_mae:7.3f} {plain:7.3f} {plain - keras_mae:+6.3f} "
                  f"{eq:7.3f} {eq - keras_mae:+6.3f} {kept:>10s} {lower:>6s} {kib:6.1f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
