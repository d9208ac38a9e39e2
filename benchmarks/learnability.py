"""Is age learnable from the embedded synthetic faces? Prints figures; asserts nothing.

Trains a few fixed architectures of growing size on the default synthetic set and prints,
for each, its test MAE in years next to the median-age baseline on the same split:

    python benchmarks/learnability.py [--images 2400] [--image-size 64] [--epochs 15]

The toolkit's targets (issue 3): the best model reaches at most 40% of the baseline's MAE,
and a model with a tenth of its parameters is clearly worse (at least 15% higher MAE).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.quiet import load_tensorflow  # noqa: E402

MODELS = {
    "tiny": {"blocks": 3, "filters_1": 4, "filters_2": 8, "filters_3": 8,
             "dense_layers": 1, "dense_units_1": 8},
    "small": {"blocks": 4, "filters_1": 8, "filters_2": 16, "filters_3": 24, "filters_4": 32,
              "dense_layers": 1, "dense_units_1": 32},
    "medium": {"blocks": 4, "filters_1": 16, "filters_2": 32, "filters_3": 64, "filters_4": 96,
               "dense_layers": 2, "dense_units_1": 64, "dense_units_2": 32},
    # about a tenth of "large"'s parameters, same family (full convolutions)
    "tenth": {"blocks": 4, "filters_1": 16, "filters_2": 32, "filters_3": 48, "filters_4": 64,
              "dense_layers": 2, "dense_units_1": 64, "dense_units_2": 32, "conv": "full",
              "head": "gap"},
    "large": {"blocks": 5, "filters_1": 32, "filters_2": 64, "filters_3": 96, "filters_4": 128,
              "filters_5": 192, "dense_layers": 2, "dense_units_1": 128, "dense_units_2": 64,
              "conv": "full"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2400)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data-dir", default=None, help="real UTKFace folder instead of synthetic")
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    load_tensorflow()
    import numpy as np

    from search import data as data_mod
    from search.config import RunConfig
    from search.pipeline import median_baseline
    from search.trial import TrialContext, run_trial

    cfg = RunConfig(synthetic_images=args.images, image_size=args.image_size, seed=args.seed,
                    epochs=args.epochs, data_dir=args.data_dir)
    data = data_mod.load(cfg)
    base = median_baseline(data.ages("train"), data.ages("val"), data.ages("test"))
    print(f"data: {data.account.source}, splits {data.account.splits}, {args.image_size} px")
    print(f"median-age baseline: test MAE {base['test_mae']:.2f} y")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        ctx = TrialContext(data=data, epochs=args.epochs, patience=max(3, args.epochs // 3),
                           seed=args.seed, run_dir=Path(tmp))
        print(f"{'model':8} {'params':>9} {'test MAE':>9} {'/baseline':>9} {'epochs':>6} {'s':>6}")
        results = []
        for name in args.models.split(","):
            values = {"learning_rate": 2e-3, "dropout": 0.1, **MODELS[name]}
            t0 = time.perf_counter()
            r = run_trial(name, values, ctx)
            print(f"{name:8} {r.params or 0:>9,} {r.test_mae or np.nan:>9.2f} "
                  f"{(r.test_mae or np.nan) / base['test_mae']:>9.2f} {r.epochs_run:>6} "
                  f"{time.perf_counter() - t0:>6.0f}  {r.status} {r.reason or ''}")
            if r.test_mae is not None:
                results.append((r.test_mae, r.params, name))
    if results:
        best_mae, best_params, best_name = min(results)
        print(f"best: {best_name}, test MAE {best_mae:.2f} y = {best_mae / base['test_mae']:.2f} "
              "of the baseline (target <= 0.40)")
        small = [x for x in results if x[1] <= best_params / 8]
        if small:
            mae, params, name = min(small)
            print(f"best model with <= 1/8 of its parameters: {name} ({params:,} params, "
                  f"{params / best_params:.2f}x), test MAE {mae:.2f} y = {mae / best_mae - 1:+.0%} "
                  "vs the best (target >= +15%)")


if __name__ == "__main__":
    main()
