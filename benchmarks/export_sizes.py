"""TFLite size and host latency of the reference architecture in every export format.

Builds the ``[reference]`` model of a space (the reference recipe; ``lite`` by default), trains
it briefly on synthetic faces (sizes and latency hardly depend on training; ``--epochs 0``
skips it), converts it to float32, float16, dynamic-range and int8 exactly as
``run_search.py export`` does, and prints for each file its size, its ratio to float32, its
MAE next to the Keras model's on the test split, and the median host latency with 1 and 4
interpreter threads:

    python benchmarks/export_sizes.py [--image-size 64] [--epochs 1] [--latency-runs 200]

The export targets (issue 7): float16 at most 52% of float32, int8 at most 30%, int8 host
latency no worse than float32's. They are printed as met or missed; nothing is asserted
about time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.quiet import load_tensorflow  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="lite", help="space whose [reference] is measured")
    ap.add_argument("--image-size", type=int, default=64, help="pixels per side")
    ap.add_argument("--images", type=int, default=600, help="synthetic faces to draw")
    ap.add_argument("--epochs", type=int, default=1, help="training epochs (0: untrained)")
    ap.add_argument("--calibration-images", type=int, default=200)
    ap.add_argument("--latency-runs", type=int, default=200,
                    help="timed runs per latency figure (median reported)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    load_tensorflow()
    import keras

    from search import builder, convert, costs, export, interpreter
    from search import data as data_mod
    from search import space as space_mod
    from search.config import RunConfig
    from search.trial import TrialContext, run_trial

    space = space_mod.load(args.space)
    if not space.reference:
        sys.exit(f"space {space.name!r} has no [reference] table")
    cfg = RunConfig(space=args.space, synthetic_images=args.images, image_size=args.image_size,
                    seed=args.seed, epochs=max(1, args.epochs))
    data = data_mod.load(cfg)
    print(f"reference of space {space.name!r} at {args.image_size} px; data "
          f"{data.account.splits}; host: {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        if args.epochs > 0:
            t0 = time.perf_counter()
            ctx = TrialContext(data=data, epochs=args.epochs, patience=args.epochs,
                               seed=args.seed, run_dir=Path(tmp))
            record = run_trial("reference", dict(space.reference), ctx, is_reference=True)
            if record.model_path is None:
                sys.exit(f"training failed: {record.reason}")
            model = keras.models.load_model(Path(tmp) / record.model_path, compile=False)
            print(f"trained {record.epochs_run} epoch(s) in {time.perf_counter() - t0:.0f} s, "
                  f"test MAE {record.test_mae:.2f} y")
        else:
            keras.utils.set_random_seed(args.seed)
            model = builder.build_model(space.reference, data.input_shape)
            costs._distinct_weights(model)  # untrained, but sized like a trained model
            print("untrained (constant weights made distinct, as the search's cost does)")
    print(f"parameters: {model.count_params():,}")

    images, ages = export.split_images(data, "test", None)
    calibration, _ = export.split_images(data, "train", args.calibration_images)
    keras_pred = model.predict(images.astype("float32"), verbose=0).reshape(-1)
    blobs = export.convert(model, convert.QUANTIZATIONS, calibration)
    rows = {q: export.verify(b, q, images, ages, keras_pred, args.latency_runs)
            for q, b in blobs.items()}

    f32 = rows["float32"]
    print(f"\n{len(ages)} test images; Keras MAE {f32['keras_mae_years']:.3f} y; latency: "
          f"median of {args.latency_runs} runs after {interpreter.WARMUP_RUNS} warm-up runs")
    print(f"{'format':8} {'bytes':>9} {'KiB':>8} {'of f32':>7} {'MAE y':>7} {'vs Keras':>9} "
          f"{'1 thr ms':>9} {'4 thr ms':>9}")
    for q, r in rows.items():
        print(f"{q:8} {r['bytes']:>9,} {r['kib']:>8.1f} {r['bytes'] / f32['bytes']:>7.1%} "
              f"{r['mae_years']:>7.3f} {r['mae_change_years']:>+9.4f} "
              f"{r['latency_ms']['threads_1']:>9.4f} {r['latency_ms']['threads_4']:>9.4f}")

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    f16_ratio = rows["float16"]["bytes"] / f32["bytes"]
    int8_ratio = rows["int8"]["bytes"] / f32["bytes"]
    lat = {q: rows[q]["latency_ms"] for q in ("float32", "int8")}
    print("\ntargets (issue 7):")
    print(f"  float16 <= 52% of float32: {f16_ratio:.1%} - {verdict(f16_ratio <= 0.52)}")
    print(f"  int8    <= 30% of float32: {int8_ratio:.1%} - {verdict(int8_ratio <= 0.30)}")
    for t in ("threads_1", "threads_4"):
        print(f"  int8 latency <= float32 ({t.replace('_', ' ')}): {lat['int8'][t]:.4f} vs "
              f"{lat['float32'][t]:.4f} ms - {verdict(lat['int8'][t] <= lat['float32'][t])}")


if __name__ == "__main__":
    main()
