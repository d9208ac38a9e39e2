"""Where a trial's training time goes: images/s at each layer of a trial. Prints figures;
asserts nothing.

    python benchmarks/throughput.py [--data-dir DIR] [--models ref64,small48] [--epochs 3]
                                    [--batch-size 32] [--threads INTRA,INTER] [--jit]

For each model it trains, one after the other, in this process:

1. ``train_on_batch`` on one in-memory batch (the model's own speed; no input pipeline);
2. ``fit`` on an in-memory dataset (the training split decoded once, as a tensor);
3. ``fit`` on the project's pipeline (``search.data``: cached uint8, shuffle, batch, cast);
4. ``fit`` on the pipeline with validation every epoch;
5. ``fit`` with validation and the trial's callbacks (history, backup, best and last
   checkpoints, early stopping, TensorBoard, the learning-rate schedule);
6. a whole trial (``search.trial.run_trial``: costs from a warm cache, fit, the final
   evaluation of validation and test), timed from the outside.

Images/s counts training images only (epochs x training images / seconds), so layers 4-6
show what validation, callbacks and the trial's bookkeeping cost on top of the training
itself. Layers 2-5 time epochs 2..N (the first epoch traces the step and fills the cache;
layer 6 is what a trial really costs, first epoch included). It also prints the machine's
float32 matmul rate (2048 x 2048, TensorFlow, same threads) and each model's training work
as a share of it (6 FLOPs per multiply-accumulate an image: forward, and backward twice).

Models: ``ref64`` (the reference recipe at 64 px), ``small48`` (a small lite candidate at
48 px), ``mobile`` (the mobile space's reference, when spaces/mobile.toml exists), or
``SPACE:FIELD=VALUE/...`` to give values.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SMALL48 = {  # a small lite candidate: 3 separable blocks, global average pooling, 48 px
    "image_size": 48, "blocks": 3, "filters_1": 16, "filters_2": 32, "filters_3": 48,
    "kernel_size": 3, "pool": "max", "head": "gap", "dense_layers": 1, "dense_units_1": 64,
}


def model_values(name: str) -> tuple[str, dict]:
    from search import space

    if name == "ref64":
        return "lite", {**space.load("lite").reference, "image_size": 64}
    if name == "small48":
        return "lite", {**space.load("lite").reference, **SMALL48}
    if name == "mobile":
        return "mobile", {**space.load("mobile").reference}
    sp, _, rest = name.partition(":")
    values = dict(space.load(sp).reference)
    for item in filter(None, rest.split("/")):
        k, _, v = item.partition("=")
        values[k] = json.loads(v) if v[:1].isdigit() or v[:1] in "-[{" else v
    return sp, values


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    tf.linalg.matmul(a, b).numpy()
    t0 = time.perf_counter()
    for _ in range(reps):
        c = tf.linalg.matmul(a, b)
    c.numpy()
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


class EpochTimer:
    """Keras callback factory: wall time of each epoch (train + validation + callbacks that
    ran before it in the list)."""

    def __new__(cls):
        import keras

        class _T(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.times, self.t = [], None

            def on_epoch_begin(self, epoch, logs=None):
                self.t = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self.t)

        return _T()


def compiled(values: dict, shape, seed: int, jit: bool):
    import keras

    from search import builder

    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(seed)
    model = builder.build_model(values, shape)
    v = builder.resolved(values)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(v["learning_rate"])),
                  loss="mae", metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
                  jit_compile=jit)
    model.optimizer.build(model.trainable_variables)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--images", type=int, default=2400, help="synthetic images when no --data-dir")
    ap.add_argument("--models", default="ref64,small48")
    ap.add_argument("--epochs", type=int, default=3, help="epochs a layer trains (>= 2)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="default: the model's own batch_size value, else 32")
    ap.add_argument("--steps", type=int, default=40, help="train_on_batch steps timed")
    ap.add_argument("--threads", default=None, help="INTRA,INTER TensorFlow op threads")
    ap.add_argument("--jit", action="store_true", help="compile with XLA (jit_compile=True)")
    ap.add_argument("--layers", default="1,2,3,4,5,6")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--against", default=None, metavar="REV",
                    help="instead of the layers: whole trials of this git revision's "
                         "search/trial.py and of the working tree's, alternately, "
                         "--repeats times each (e.g. --against 932ec15)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.against:
        return side_by_side(args)

    from search.quiet import load_tensorflow

    load_tensorflow()
    import numpy as np
    import tensorflow as tf

    if args.threads:
        intra, inter = (int(x) for x in args.threads.split(","))
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)

    from search import costs, trial
    from search import data as data_mod
    from search.candidate import Candidate
    from search.config import RunConfig

    layers = {int(x) for x in args.layers.split(",")}
    cfg = RunConfig(data_dir=args.data_dir, synthetic_images=args.images, seed=args.seed)
    data = data_mod.load(cfg)
    n_train = len(data.splits["train"])
    trial.freeze_startup_objects()  # as a trial's worker process does (gc of TensorFlow: 1 s)
    gflops = matmul_gflops()
    print(f"data: {data.account.source}: {n_train} training, {len(data.splits['val'])} "
          f"validation images; threads intra/inter "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'auto'}/"
          f"{tf.config.threading.get_inter_op_parallelism_threads() or 'auto'}; "
          f"{'XLA' if args.jit else 'no XLA'}; matmul {gflops:.1f} GFLOP/s")
    rows = []
    for name in args.models.split(","):
        space_name, values = model_values(name)
        shape = Candidate(values, data.image_size).input_shape
        size = shape[0]
        batch = int(args.batch_size or values.get("batch_size", 32))
        values = {**values, "batch_size": batch}
        model = compiled(values, shape, args.seed, args.jit)
        macs = costs.count_macs(model)
        params = model.count_params()
        print(f"\n{name} ({space_name}): {size} px, batch {batch}, {params:,} parameters, "
              f"{macs / 1e6:.2f} M MACs an image")
        res: dict[str, float] = {}
        train = data.dataset("train", image_size=size, batch_size=batch)
        val = data.dataset("val", image_size=size, batch_size=batch)

        def fit_ips(ds, values=values, shape=shape, **kw) -> float:
            m = compiled(values, shape, args.seed, args.jit)
            timer = EpochTimer()
            m.fit(ds, epochs=args.epochs, verbose=0, callbacks=[*kw.pop("callbacks", []), timer],
                  **kw)
            return n_train / float(np.median(timer.times[1:]))

        if 1 in layers:
            x, y = next(iter(train))
            model.train_on_batch(x, y)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            res["1 train_on_batch, one batch"] = args.steps * batch / (time.perf_counter() - t0)
        if 2 in layers:
            xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in train], strict=True)
            mem = tf.data.Dataset.from_tensor_slices(
                (np.concatenate(xs), np.concatenate(ys))).batch(batch).prefetch(2)
            res["2 fit, in-memory dataset"] = fit_ips(mem)
        if 3 in layers:
            res["3 fit, the pipeline"] = fit_ips(train)
        if 4 in layers:
            res["4 fit + validation"] = fit_ips(train, validation_data=val)
        if 5 in layers:
            with tempfile.TemporaryDirectory() as tmp:
                timer = EpochTimer()
                ctx = trial.TrialContext(data=data, epochs=args.epochs, patience=args.epochs,
                                         seed=args.seed, run_dir=Path(tmp),
                                         extra_callbacks=lambda r, e, t=timer: [t])
                m = compiled(values, shape, args.seed, args.jit)
                rec = trial.TrialRecord(trial_id="x", status="failed", values=values)
                (Path(tmp) / "x").mkdir()
                trial._fit(m, values, ctx, Path(tmp) / "x", rec, args.epochs)
                res["5 fit + validation + trial callbacks"] = n_train / float(
                    np.median(timer.times[1:]))
        if 6 in layers:
            with tempfile.TemporaryDirectory() as tmp:
                ctx = trial.TrialContext(data=data, epochs=args.epochs, patience=args.epochs,
                                         seed=args.seed, run_dir=Path(tmp),
                                         cost_cache=costs.CostCache(Path(tmp) / "costs.json"))
                costs.measure(model, values, shape, ctx.cost_cache)  # a warm cost cache
                t0 = time.perf_counter()
                rec = trial.run_trial("timed", values, ctx)
                wall = time.perf_counter() - t0
                res["6 whole trial (run_trial)"] = args.epochs * n_train / wall
                print(f"  whole trial: {rec.status}, {rec.epochs_run} epochs, val MAE "
                      f"{rec.val_mae:.2f} y, {wall:.1f} s")
        top = max(res.values())
        for k, ips in res.items():
            share = 6 * macs * ips / 1e9 / gflops
            print(f"  {k:40} {ips:8.0f} images/s  {ips / top:5.2f} of the fastest  "
                  f"{6 * macs * ips / 1e9:6.2f} GFLOP/s = {share:6.1%} of matmul")
        rows.append({"model": name, "macs": macs, "params": params, "batch": batch,
                     "size": size, "threads": args.threads, "jit": args.jit,
                     "matmul_gflops": round(gflops, 2), "images_per_s": res})
    print("\njson: " + json.dumps(rows))


def trial_module(rev: str):
    """``search/trial.py`` as it was at git revision ``rev``, imported as its own module
    (it imports the rest of ``search`` from the working tree)."""
    import importlib.util
    import subprocess

    root = Path(__file__).resolve().parent.parent
    source = subprocess.run(["git", "show", f"{rev}:search/trial.py"], cwd=root, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "trial_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"trial_{rev}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def side_by_side(args) -> None:
    """Whole trials, the revision's code and the working tree's in turn: images/s and the
    validation MAE of every epoch (the same seed trains the same weights, so the curves must
    match: the speed-up changes no result)."""
    from search.quiet import load_tensorflow

    load_tensorflow()
    import numpy as np

    from search import costs, trial
    from search import data as data_mod
    from search.candidate import Candidate
    from search.config import RunConfig

    contenders = {args.against: trial_module(args.against), "now": trial}
    cfg = RunConfig(data_dir=args.data_dir, synthetic_images=args.images, seed=args.seed)
    data = data_mod.load(cfg)
    n_train = len(data.splits["train"])
    trial.freeze_startup_objects()
    print(f"data: {data.account.source}: {n_train} training images; whole trials of "
          f"{args.epochs} epochs, {args.against} vs the working tree, {args.repeats} each")
    rows = []
    for name in args.models.split(","):
        space_name, values = model_values(name)
        shape = Candidate(values, data.image_size).input_shape
        if args.batch_size:
            values = {**values, "batch_size": args.batch_size}
        ips: dict[str, list[float]] = {k: [] for k in contenders}
        curves: dict[str, list[float]] = {}
        tests: dict[str, float | None] = {}
        with tempfile.TemporaryDirectory() as tmp:
            cache = costs.CostCache(Path(tmp) / "costs.json")
            for i in range(args.repeats):
                for label, module in contenders.items():
                    ctx = module.TrialContext(data=data, epochs=args.epochs,
                                              patience=args.epochs, seed=args.seed,
                                              run_dir=Path(tmp) / f"{label}-{i}",
                                              cost_cache=cache)
                    t0 = time.perf_counter()
                    rec = module.run_trial("t", values, ctx)
                    wall = time.perf_counter() - t0
                    if rec.status != "complete":
                        sys.exit(f"{name} ({label}): {rec.status}: {rec.reason}")
                    if rec.cost_seconds:  # the first trial measured the costs: not training
                        wall -= rec.cost_seconds
                    ips[label].append(args.epochs * n_train / wall)
                    curves[label] = [round(x, 3) for x in rec.history["val_mae"]]
                    tests[label] = rec.test_mae
        med = {k: float(np.median(v)) for k, v in ips.items()}
        print(f"\n{name} ({space_name}, {shape[0]} px):")
        for k, v in ips.items():
            print(f"  {k:10} {med[k]:7.0f} images/s (runs: {', '.join(f'{x:.0f}' for x in v)})"
                  f"  test MAE {tests[k]:.3f} y")
        print(f"  speed-up {med['now'] / med[args.against]:.2f}x; validation MAE per epoch "
              f"{'identical' if curves['now'] == curves[args.against] else 'DIFFERENT'}: "
              f"{curves['now']}")
        rows.append({"model": name, "images_per_s": ips, "speedup": med["now"] / med[args.against],
                     "val_curves": curves})
    print("\njson: " + json.dumps(rows))


if __name__ == "__main__":
    main()
