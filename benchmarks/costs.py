"""What measuring a candidate's costs takes, next to training it. Prints figures; asserts
nothing about time.

    python benchmarks/costs.py [--candidates 5] [--space lite] [--epochs 3] [--repeats 2]

For a few candidates sampled from a space (and the space's reference), at the default
synthetic set's size and resolution, prints:

- ``first s``: the time to measure every cost in the search process before training
  (parameters, MACs, TFLite float32 / float16 / int8 sizes by conversion, host latency), as
  ``--costs-first`` and the ``--max-kib`` / ``--max-latency-ms`` budgets do; next to the time
  of one steady training epoch (``epoch s``: after a first epoch that traced and cached);
- ``added s``: what the default costs a trial. The cost worker converts the candidate in a
  second process while it trains, so the trial pays only for training beside the
  conversion and for any wait for the figures after it (then the latency measurement).
  Each candidate is trained as a whole trial (``search.train.evaluate``, ``--epochs``
  epochs, fresh model, first epoch's tracing included) with its costs measured first and
  with them measured aside, ``--repeats`` times in alternating order; ``added`` is the
  median of (aside trial's training + wait) - (costs-first trial's training). Target:
  under 15% of an epoch. It can be negative: two trials' training times differ by noise.
- the spread (max / min) of five repeated latency measurements of the same file (target:
  under 1.3 on an idle machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.quiet import load_tensorflow  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="lite")
    ap.add_argument("--candidates", type=int, default=5)
    ap.add_argument("--images", type=int, default=2400)
    ap.add_argument("--epochs", type=int, default=3, help="epochs of each timed trial")
    ap.add_argument("--repeats", type=int, default=2, help="trial pairs per candidate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    load_tensorflow()
    import keras
    import numpy as np

    from search import builder, cost_worker, costs, space
    from search import data as data_mod
    from search.config import RunConfig
    from search.interpreter import latency_ms
    from search.train import TrialContext, evaluate, input_shape

    s = space.load(args.space)
    rng = np.random.default_rng(args.seed)
    cands = [("reference", dict(s.reference))] + [
        (f"sample {i}", s.sample(rng)) for i in range(args.candidates)]
    data = data_mod.load(RunConfig(synthetic_images=args.images))
    print(f"space {s.name!r}; data {data.account.source} (train {data.account.splits['train']} "
          f"images); one epoch = one pass over the training split; trials of {args.epochs} "
          f"epochs, {args.repeats} pair(s) each")
    print(f"{'candidate':11} {'px':>3} {'params':>9} {'MACs':>11} {'f16 KiB':>8} {'int8 KiB':>8} "
          f"{'first s':>8} {'epoch s':>8} {'ratio':>6} {'added s':>8} {'ratio':>6} "
          f"{'lat ms':>7} {'spread':>6}")
    first_ratios, aside_ratios, spreads = [], [], []
    with cost_worker.CostWorker() as worker, tempfile.TemporaryDirectory() as tmp:
        worker.submit(dict(s.reference), (64, 64, 3), "warm", "float16").result()  # TF is in
        for n, (name, values) in enumerate(cands):
            shape = input_shape(values, data)
            keras.backend.clear_session()
            model = builder.build_model(values, shape)
            t0 = time.perf_counter()
            c = costs.measure(model, values, shape)  # no cache: every figure measured
            first_s = time.perf_counter() - t0
            probe = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
            blob = costs.to_tflite(model, "float16")
            lat = [latency_ms(blob, probe, threads=1, runs=30) for _ in range(5)]
            spreads.append(max(lat) / min(lat))
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
            train = data.dataset("train", image_size=shape[0],
                                 batch_size=int(values.get("batch_size", 32)))
            model.fit(train, epochs=1, verbose=0)  # first epoch: fills the cache, traces
            t0 = time.perf_counter()
            model.fit(train, epochs=1, verbose=0)
            epoch_s = time.perf_counter() - t0  # one steady epoch

            def trial(values, run_dir: Path, aside: bool):
                ctx = TrialContext(data=data, epochs=args.epochs, patience=args.epochs,
                                   seed=args.seed, run_dir=run_dir,
                                   cost_worker=worker if aside else None)
                r = evaluate("bench", values, ctx)
                assert r.status == "complete", r.reason
                return r.train_seconds + (r.cost_wait_seconds if aside else 0.0), r

            added, sizes = [], set()
            for k in range(args.repeats):
                order = (False, True) if k % 2 == 0 else (True, False)
                got = {}
                for aside in order:
                    got[aside], r = trial(values, Path(tmp) / f"{n}-{k}-{aside}", aside)
                    sizes.add(r.tflite_float16_bytes)
                added.append(got[True] - got[False])
            added_s = float(np.median(added))
            # aside or first, the same file (the name in it differs from the model above)
            assert len(sizes) == 1, f"{name}: float16 bytes differ: {sizes}"
            first_ratios.append(first_s / epoch_s)
            aside_ratios.append(added_s / epoch_s)
            print(f"{name:11} {shape[0]:>3} {c.params:>9,} {c.macs:>11,} "
                  f"{c.tflite_float16_bytes / 1024:>8.1f} {c.tflite_int8_bytes / 1024:>8.1f} "
                  f"{first_s:>8.2f} {epoch_s:>8.2f} {first_s / epoch_s:>6.2f} {added_s:>8.2f} "
                  f"{added_s / epoch_s:>6.2f} {np.median(lat):>7.3f} {spreads[-1]:>6.2f}",
                  flush=True)
    print(f"costs measured first (--costs-first, size/latency budgets) / epoch: median "
          f"{np.median(first_ratios):.2f}, max {max(first_ratios):.2f}")
    print(f"costs measured aside (the default), time added to a trial / epoch: median "
          f"{np.median(aside_ratios):.2f}, max {max(aside_ratios):.2f} (target < 0.15)")
    print(f"latency spread of 5 repeats: median {np.median(spreads):.2f}, max {max(spreads):.2f} "
          "(target < 1.3)")


if __name__ == "__main__":
    main()
