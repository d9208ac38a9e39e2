"""Does the input pipeline keep up? Prints figures; asserts nothing.

    python benchmarks/data_pipeline.py [--data-dir DIR] [--image-size 64]

For the given images (default: the embedded synthetic set) it prints:
- first-epoch input throughput (images/s: read, decode, resize, cache) against a bare
  sequential ``tf.io.decode_jpeg`` loop over the same files (target: at least 80%);
- cached-epoch input throughput against the images/s the trainer consumes for the reference recipe's
  reference model (spaces/lite.toml [reference]) at the same resolution (target: 5x);
- the cache's memory (growth of the process's resident memory over the first epoch)
  against N x H x W x 3 bytes (target: within 10%).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.quiet import load_tensorflow  # noqa: E402


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--images", type=int, default=2400, help="synthetic images when no --data-dir")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--train-steps", type=int, default=30)
    args = ap.parse_args()
    load_tensorflow()
    import numpy as np
    import tensorflow as tf

    from search import builder, space
    from search import data as data_mod
    from search.config import RunConfig

    cfg = RunConfig(data_dir=args.data_dir, synthetic_images=args.images,
                    image_size=args.image_size, batch_size=args.batch_size)
    d = data_mod.load(cfg)
    files = [f for k in data_mod.SPLITS for f in d.splits[k]]
    n, size = len(files), args.image_size
    print(f"data: {d.account.source}: {n} images at {size} px, batch {args.batch_size}, "
          f"{tf.config.threading.get_inter_op_parallelism_threads() or 'auto'} threads")

    # 1. bare decode loop (sequential, no resize): the reference
    t0 = time.perf_counter()
    for f in files:
        tf.io.decode_jpeg(tf.io.read_file(f.path), channels=3)
    bare = n / (time.perf_counter() - t0)

    # 2. our pipeline. An uncached epoch first warms TensorFlow's runtime (thread pools,
    # traced functions), so the resident-memory growth over the cached first epoch is the
    # cache itself.
    warm = data_mod.make_dataset(files, size, args.batch_size, training=True, seed=0,
                                 cache=False)
    for _ in warm:
        pass
    ds = data_mod.make_dataset(files, size, args.batch_size, training=True, seed=0)
    before = rss_bytes()
    t0 = time.perf_counter()
    count = sum(int(x.shape[0]) for x, _ in ds)
    first = count / (time.perf_counter() - t0)
    cache_bytes = rss_bytes() - before
    cached = []
    for _ in range(3):
        t0 = time.perf_counter()
        count = sum(int(x.shape[0]) for x, _ in ds)
        cached.append(count / (time.perf_counter() - t0))
    cached_ips = float(np.median(cached))

    # 3. what the trainer consumes: the reference recipe's model on in-memory batches
    ref = space.load("lite").reference
    model = builder.build_model(ref, (size, size, 3))
    model.compile(optimizer="adam", loss="mae")
    x = np.random.default_rng(0).uniform(0, 255, (args.batch_size, size, size, 3)).astype("float32")
    y = np.full((args.batch_size, 1), 30.0, "float32")
    model.train_on_batch(x, y)  # build and trace
    t0 = time.perf_counter()
    for _ in range(args.train_steps):
        model.train_on_batch(x, y)
    trainer = args.train_steps * args.batch_size / (time.perf_counter() - t0)

    ideal = n * size * size * 3
    print(f"{'bare tf.io.decode_jpeg loop':40} {bare:9.0f} images/s")
    print(f"{'pipeline, first epoch':40} {first:9.0f} images/s   {first / bare:5.2f}x bare "
          f"(target >= 0.80)")
    print(f"{'pipeline, cached epochs (median of 3)':40} {cached_ips:9.0f} images/s")
    print(f"{'trainer, reference model (train steps)':40} {trainer:9.0f} images/s   cached / "
          f"trainer = {cached_ips / trainer:5.1f}x (target >= 5)")
    print(f"{'cache memory (RSS growth, first epoch)':40} {cache_bytes / 2**20:9.1f} MiB    "
          f"N x H x W x 3 = {ideal / 2**20:.1f} MiB, ratio {cache_bytes / ideal:.2f} "
          f"(target 0.90-1.10)")


if __name__ == "__main__":
    main()
