"""Does the search process's memory stay flat across trials, and what does the trial worker
cost? Prints figures; asserts nothing about time.

    python benchmarks/trial_memory.py [--trials 20] [--images 600] [--image-size 32]

Part 1, memory: ``python run_search.py`` with ``--trials`` small trials (``--image-size`` 32
px, ``--images`` synthetic faces, 1 epoch, no reference), as a user runs it. The resident
set size (RSS) of the search process after each trial is read from its log lines; the
target is the last trial within 10% of trial 2, with no restart of the search process.
Trials train in a worker process (search.trial_process), recycled unseen when it grows.

Part 2, the worker's start-up: the time from starting a fresh worker (spawn, TensorFlow's
import, the data handed over) to the end of its first trial, against the same trial in a
warm worker; the difference is what one recycle costs, printed next to a trial's time.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LINE = re.compile(r"trial (\S+): \w+, .* in (\d+) s.*, (\d+) MiB\]$")


def memory(args, root: Path) -> None:
    cmd = [sys.executable, str(ROOT / "run_search.py"), "--space", args.space,
           "--trials", str(args.trials), "--epochs", "1", "--no-reference",
           "--synthetic-images", str(args.images), "--image-size", str(args.image_size),
           "--seed", str(args.seed), "--results-dir", str(root / "results"),
           "--run-name", "memory", "--cache-dir", str(root / "cache")]
    print("part 1:", " ".join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"the search failed ({out.returncode}): {out.stderr[-2000:]}")
    rows = [m.groups() for m in map(LINE.search, out.stdout.splitlines()) if m]
    for k, (tid, seconds, rss) in enumerate(rows, 1):
        print(f"  trial {k:2} ({tid}): {seconds:>3} s, search process {rss} MiB")
    rss = [int(r[2]) for r in rows]
    if len(rss) >= 2:
        print(f"search process RSS: after trial 2 {rss[1]} MiB, after trial {len(rss)} "
              f"{rss[-1]} MiB ({rss[-1] / rss[1] - 1:+.1%}; target within 10%), max {max(rss)} "
              f"MiB; {len(rows)} trials in {wall:.0f} s, one process throughout")


def startup(args, root: Path) -> None:
    from search import data as data_mod
    from search.config import RunConfig
    from search.trial_process import TrialWorker, WorkerSetup

    values = {"conv": "separable", "kernel_size": 3, "blocks": 2, "filters_1": 8,
              "filters_2": 16, "head": "gap", "dense_layers": 1, "dense_units_1": 16,
              "dropout": 0.1, "dropout_decay": 0.5, "learning_rate": 3e-3}
    data = data_mod.load(RunConfig(synthetic_images=args.images, image_size=args.image_size,
                                   seed=args.seed, cache_dir=str(root / "cache")))
    setup = WorkerSetup(data=data, epochs=1, patience=1, seed=args.seed,
                        run_dir=root / "startup", progress=False)
    cold, warm = [], []
    for k in range(args.starts):
        with TrialWorker(setup) as w:
            t0 = time.perf_counter()
            w.run(f"cold{k}", values)
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            w.run(f"warm{k}", values)
            warm.append(time.perf_counter() - t0)
    c, h = statistics.median(cold), statistics.median(warm)
    print(f"part 2: first trial in a fresh worker {c:.1f} s, the same trial in a warm one "
          f"{h:.1f} s (medians of {args.starts}): a recycle costs about {c - h:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="lite")
    ap.add_argument("--trials", type=int, default=20, help="part 1: small trials (0: skip)")
    ap.add_argument("--images", type=int, default=600, help="synthetic faces")
    ap.add_argument("--image-size", type=int, default=32, help="pixels per side")
    ap.add_argument("--starts", type=int, default=3, help="part 2: fresh workers (0: skip)")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="agesearch-memory-") as tmp:
        if args.trials:
            memory(args, Path(tmp))
        if args.starts:
            startup(args, Path(tmp))


if __name__ == "__main__":
    main()
