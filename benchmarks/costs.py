"""What measuring a candidate's costs takes, next to training it. Prints figures; asserts
nothing about time.

    python benchmarks/costs.py [--candidates 5] [--space lite] [--repeats 2]

For a few candidates sampled from a space (and the space's reference), at the default
synthetic set's size and resolution, prints:

- ``costs s``: the time to measure every cost before training (parameters, MACs, TFLite
  float32 / float16 / int8 sizes by conversion, host latency), as each trial does in its
  worker process (search.trial_process); next to the time of one steady training epoch
  (``epoch s``: the median of ``--repeats`` epochs after a first one that traced and cached);
- the spread (max / min) of five repeated latency measurements of the same file (target:
  under 1.3 on an idle machine).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.quiet import load_tensorflow  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="lite")
    ap.add_argument("--candidates", type=int, default=5)
    ap.add_argument("--images", type=int, default=2400)
    ap.add_argument("--repeats", type=int, default=2, help="steady epochs timed per candidate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    load_tensorflow()
    import keras
    import numpy as np

    from search import builder, convert, costs, space
    from search import data as data_mod
    from search.config import RunConfig
    from search.interpreter import latency_ms
    from search.trial import input_shape

    s = space.load(args.space)
    rng = np.random.default_rng(args.seed)
    cands = [("reference", dict(s.reference))] + [
        (f"sample {i}", s.sample(rng)) for i in range(args.candidates)]
    data = data_mod.load(RunConfig(synthetic_images=args.images))
    print(f"space {s.name!r}; data {data.account.source} (train {data.account.splits['train']} "
          "images); one epoch = one pass over the training split")
    print(f"{'candidate':11} {'px':>3} {'params':>9} {'MACs':>11} {'f16 KiB':>8} {'int8 KiB':>8} "
          f"{'costs s':>8} {'epoch s':>8} {'ratio':>6} {'lat ms':>7} {'spread':>6}")
    ratios, spreads = [], []
    for name, values in cands:
        shape = input_shape(values, data)
        keras.backend.clear_session()
        model = builder.build_model(values, shape)
        t0 = time.perf_counter()
        c = costs.measure(model, values, shape)  # no cache: every figure measured
        costs_s = time.perf_counter() - t0
        probe = np.random.default_rng(0).uniform(0, 255, shape).astype("float32")
        blob = convert.to_tflite(model, "float16")
        lat = [latency_ms(blob, probe, threads=1, runs=30) for _ in range(5)]
        spreads.append(max(lat) / min(lat))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
        train = data.dataset("train", image_size=shape[0],
                             batch_size=int(values.get("batch_size", 32)))
        model.fit(train, epochs=1, verbose=0)  # first epoch: fills the cache, traces
        epochs = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            model.fit(train, epochs=1, verbose=0)
            epochs.append(time.perf_counter() - t0)
        epoch_s = float(np.median(epochs))
        ratios.append(costs_s / epoch_s)
        print(f"{name:11} {shape[0]:>3} {c.params:>9,} {c.macs:>11,} "
              f"{c.tflite_float16_bytes / 1024:>8.1f} {c.tflite_int8_bytes / 1024:>8.1f} "
              f"{costs_s:>8.2f} {epoch_s:>8.2f} {ratios[-1]:>6.2f} {np.median(lat):>7.3f} "
              f"{spreads[-1]:>6.2f}", flush=True)
    print(f"costs measured before training / one epoch: median {np.median(ratios):.2f}, "
          f"max {max(ratios):.2f}")
    print(f"latency spread of 5 repeats: median {np.median(spreads):.2f}, max {max(spreads):.2f} "
          "(target < 1.3)")


if __name__ == "__main__":
    main()
