"""What the int8 export's two corrections do: cross-layer range equalization
(search.equalize) and the output bias correction (export.bias_corrected). Each model is
converted to int8 four ways, as trained and from its equalized copy, each with and without
its mean error against Keras on the calibration images taken out, and the test MAE of the
Keras model and of each file is printed, with each file's mean signed difference from Keras
on the test faces (``bias``), then which file the default export ships (``export.int8_choice``,
which uses the calibration images and no labels) and whether it had the lowest test MAE.

    python benchmarks/int8_equalize.py RUN_DIR --models 000,000-refit [--flip]
        [--ensemble 000-refit,000-refit-seed1]

``--models``: trials or refits, one file each; ``--ensemble``: also these together as one
averaged file (``export --ensemble``); ``--flip``: every file averages the mirror image too.
The same calibration images as ``export`` (the first 200 of the training split). Nothing is
asserted: figures only; nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ("as_trained", "as_trained+bias", "equalized", "equalized+bias")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir")
    p.add_argument("--models", default="best", help="comma-separated trial or refit ids")
    p.add_argument("--ensemble", default=None, help="comma-separated ids averaged as one file")
    p.add_argument("--flip", action="store_true")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from search import data as data_mod
    from search import export, interpreter, runfiles
    from search.convert import to_tflite
    from search.quiet import load_tensorflow
    from search.records import load_records, load_refits

    load_tensorflow()
    run = Path(args.run_dir)
    cfg = runfiles.config(run, "export")
    data = data_mod.load(cfg)
    records, refits = load_records(run, []), load_refits(run, [])
    units = [m for m in args.models.split(",") if m]
    if args.ensemble:
        units.append(args.ensemble)
    print(f"{'model':40s} {'Keras':>7s} " + " ".join(f"{f:>15s}" for f in FILES)
          + f" {'shipped':>15s} {'lowest?':>7s} {'KiB':>6s}")
    for unit in units:
        chosen = sorted(export.choose(records, unit, refits), key=lambda r: r.trial_id)
        size = export.trial_image_size(chosen[0], cfg)
        members = {r.trial_id: export.load_model(run, r, size) for r in chosen}
        model = (export.averaged(list(members.values()), args.flip, name="averaged")
                 if args.flip or len(members) > 1 else next(iter(members.values())))
        images, ages = export.split_images(data, "test", None, size)
        calibration, _ = export.split_images(data, "train",
                                             export.DEFAULT_CALIBRATION_IMAGES, size)
        want = np.asarray(model.predict(calibration.astype(np.float32), verbose=0)).reshape(-1)
        keras_test = np.asarray(model.predict(images.astype(np.float32), verbose=0)).reshape(-1)
        twin, _ = export.equalized_copy(members, args.flip, calibration)
        files = {}
        for name, m in (("as_trained", model), ("equalized", twin)):
            files[name] = to_tflite(m, "int8", calibration)
            files[name + "+bias"], _ = export.bias_corrected(m, files[name], calibration, want)
        mae, bias = {}, {}
        for name, blob in files.items():
            pred = interpreter.predict(blob, images).reshape(-1)
            mae[name] = float(np.mean(np.abs(pred - ages)))
            bias[name] = float(np.mean(pred - keras_test))
        shipped, _, _ = export.int8_choice(model, members, args.flip, calibration,
                                           files["as_trained"])
        pick = next((n for n, b in files.items() if b == shipped), "?")
        lowest = "yes" if pick != "?" and mae[pick] == min(mae.values()) else "no"
        name = "+".join(members) + ("-flip" if args.flip else "")
        print(f"{name:40s} {np.mean(np.abs(keras_test - ages)):7.3f} "
              + " ".join(f"{mae[f]:7.3f} {bias[f]:+6.2f}y" for f in FILES)
              + f" {pick:>15s} {lowest:>7s} {len(shipped) / 1024:6.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
