"""What measuring a candidate's costs takes, next to training it. Prints figures; asserts
nothing about time.

    python benchmarks/costs.py [--candidates 5] [--space lite] [--repeats 4]

For a few candidates sampled from a space (and the space's reference), at the default
synthetic set's size and resolution, prints:

- ``first s``: the time to measure every cost in the search process before training
  (parameters, MACs, TFLite float32 / float16 / int8 sizes by conversion, host latency), as
  ``--costs-first`` and the ``--max-kib`` / ``--max-latency-ms`` budgets do; next to the time
  of one steady training epoch (``epoch s``: after a first epoch that traced and cached);
- ``added s``: what the default costs a trial. The cost worker converts the candidate in a
  second process while it trains (one thread, SCHED_IDLE: only on a core training leaves
  idle), so the trial pays only for what the conversion takes from training and for any
  wait for the figures after it, then the latency runs. The model trains ``2 x --repeats``
  steady epochs, alternately alone and with a conversion of the candidate started at the
  epoch's start (as a trial's first epoch has it); after an epoch with a conversion, the
  wait for the figures and the latency runs are added to it. ``added`` = median(epoch with
  conversion + wait) - median(epoch alone). Steady epochs of one model differ far less
  than whole trials do (tracing, a fresh model), which made an earlier pairing of whole
  trials too noisy to read. Target: under 15% of an epoch.
  ``waited s``: the median part of it spent waiting after the epoch (conversion not done
  yet, then the latency runs).
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
    ap.add_argument("--repeats", type=int, default=4,
                    help="epochs with a conversion beside them (and as many alone) per candidate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    load_tensorflow()
    import keras
    import numpy as np

    from search import builder, cost_worker, costs, space
    from search import data as data_mod
    from search.config import RunConfig
    from search.cost_worker import PendingCosts
    from search.interpreter import latency_ms
    from search.train import input_shape

    s = space.load(args.space)
    rng = np.random.default_rng(args.seed)
    cands = [("reference", dict(s.reference))] + [
        (f"sample {i}", s.sample(rng)) for i in range(args.candidates)]
    data = data_mod.load(RunConfig(synthetic_images=args.images))
    print(f"space {s.name!r}; data {data.account.source} (train {data.account.splits['train']} "
          f"images); one epoch = one pass over the training split; {args.repeats} epoch(s) with a "
          f"conversion beside and {args.repeats} alone per candidate")
    print(f"{'candidate':11} {'px':>3} {'params':>9} {'MACs':>11} {'f16 KiB':>8} {'int8 KiB':>8} "
          f"{'first s':>8} {'epoch s':>8} {'ratio':>6} {'added s':>8} {'ratio':>6} {'waited s':>8} "
          f"{'lat ms':>7} {'spread':>6}")
    first_ratios, aside_ratios, spreads = [], [], []
    with cost_worker.CostWorker() as worker:
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
            # Steady epochs of the same model, alternately alone and with the candidate
            # converting aside from the epoch's start (as a trial's first epoch does); after
            # an epoch with a conversion, the wait for its figures and the latency runs, as
            # a trial pays them.
            alone, beside, waits = [], [], []
            for k in range(2 * args.repeats):
                with_costs = k % 2 == (n % 2)  # which goes first alternates by candidate
                pending = None
                t0 = time.perf_counter()
                if with_costs:
                    fut = worker.submit(values, shape, model.name, "float16")
                    pending = PendingCosts(fut, model, values, shape, "float16", c.params,
                                           c.macs)
                model.fit(train, epochs=1, verbose=0)
                epoch = time.perf_counter() - t0
                if pending is None:
                    alone.append(epoch)
                    continue
                got = pending.result()
                assert got.tflite_float16_bytes == c.tflite_float16_bytes, name
                beside.append(epoch + pending.waited)
                waits.append(pending.waited)
            epoch_s = float(np.median(alone))  # one steady epoch
            added_s = float(np.median(beside)) - epoch_s
            first_ratios.append(first_s / epoch_s)
            aside_ratios.append(added_s / epoch_s)
            print(f"{name:11} {shape[0]:>3} {c.params:>9,} {c.macs:>11,} "
                  f"{c.tflite_float16_bytes / 1024:>8.1f} {c.tflite_int8_bytes / 1024:>8.1f} "
                  f"{first_s:>8.2f} {epoch_s:>8.2f} {first_s / epoch_s:>6.2f} {added_s:>8.2f} "
                  f"{added_s / epoch_s:>6.2f} {np.median(waits):>8.2f} {np.median(lat):>7.3f} "
                  f"{spreads[-1]:>6.2f}",
                  flush=True)
    print(f"costs measured first (--costs-first, size/latency budgets) / epoch: median "
          f"{np.median(first_ratios):.2f}, max {max(first_ratios):.2f}")
    print(f"costs measured aside (the default), time added to a trial / epoch: median "
          f"{np.median(aside_ratios):.2f}, max {max(aside_ratios):.2f} (target < 0.15)")
    print(f"latency spread of 5 repeats: median {np.median(spreads):.2f}, max {max(spreads):.2f} "
          "(target < 1.3)")


if __name__ == "__main__":
    main()
