"""Does memory stay flat across trials, and what does a trial cost besides training?
Prints figures; asserts nothing about time.

    python benchmarks/trial_memory.py [--tuner tpe] [--trials 20] [--overhead-trials 4]

Part 1, memory: ``python run_search.py`` with ``--trials`` small trials (``--image-size`` 32
px, ``--images`` 600 synthetic faces, 1 epoch), as a user runs it; the resident set size
(RSS) of the search process after each trial (read from its log lines), and after the last
trial against trial 2 (the first trials load what every trial shares: TensorFlow's kernels,
the converter, the data). Target: within 10%. The same trials run once more in this process
without the restart (``--in-process``), to show what TensorFlow keeps per trial.

Part 2, overhead: ``--overhead-trials`` trials of 5 epochs on the default synthetic set (2,400
faces at 64 px). A trial's overhead is everything but fit and evaluate: building it,
waiting for its costs (TFLite conversions, latency: measured aside by the cost worker while
it trains, or before it with ``--costs-first``), saving it, clearing the session, and the
tuner's own time between trials (sampling, storage). Target: under 10% of the trial. A
restart for memory (part 1) adds one process start-up every few trials; its cost is printed
there.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from search.memory import rss_mib  # noqa: E402
from search.quiet import load_tensorflow  # noqa: E402


class Timed:
    """Wraps the objective: RSS after each trial, and the time between trials (tuner)."""

    def __init__(self, evaluate):
        self.evaluate = evaluate
        self.rows: list[dict] = []
        self._last_end: float | None = None

    def __call__(self, trial_id, values, **train):
        start = time.perf_counter()
        gap = 0.0 if self._last_end is None else start - self._last_end
        record = self.evaluate(trial_id, values, **train)
        end = time.perf_counter()
        self._last_end = end
        wall = end - start
        self.rows.append({"id": trial_id, "status": record.status, "rss": rss_mib(),
                          "tuner": gap, "wall": wall, "train": record.train_seconds,
                          "cost": record.cost_seconds, "wait": record.cost_wait_seconds,
                          "params": record.params or 0,
                          "epochs": record.epochs_run})
        return record


def run(args, *, trials: int, images: int, image_size: int, epochs: int, root: Path) -> Timed:
    from search import backends, cost_worker
    from search import data as data_mod
    from search import space as space_mod
    from search.config import RunConfig
    from search.costs import CostCache
    from search.train import TrialContext, evaluate, freeze_startup_objects

    name = f"{image_size}px-{epochs}ep"
    cfg = RunConfig(space=args.space, tuner=args.tuner, trials=trials, epochs=epochs,
                    patience=epochs, synthetic_images=images, image_size=image_size,
                    seed=args.seed, run_name=name, results_dir=str(root),
                    cache_dir=args.cache_dir, reference=False)
    space = space_mod.load(cfg.space).pinned({"image_size": image_size})
    data = data_mod.load(cfg)
    run_dir = root / name
    run_dir.mkdir(parents=True)
    ctx = TrialContext(data=data, epochs=epochs, patience=epochs, seed=cfg.seed,
                       run_dir=run_dir, cost_cache=CostCache(run_dir / "costs.json"),
                       cost_worker=None if args.costs_first else cost_worker.shared())
    timed = Timed(lambda tid, values, **kw: evaluate(tid, values, ctx, **kw))
    freeze_startup_objects()  # as pipeline.run does
    backends.get(cfg.tuner)(space, timed, cfg, run_dir)
    return timed


LINE = re.compile(r"^trial (\S+): (\w+),.*\[.*, (\d+) MiB\]$")


def run_command(args, root: Path) -> None:
    """Part 1 as a user runs it: the command line, restarts for memory included."""
    cmd = [sys.executable, str(ROOT / "run_search.py"), "--tuner", args.tuner, "--trials",
           str(args.trials), "--epochs", "1", "--image-size", str(args.image_size),
           "--synthetic-images", str(args.images), "--no-reference", "--no-prune",
           "--seed", str(args.seed), "--run-name", "memory", "--results-dir", str(root)]
    if args.cache_dir:
        cmd += ["--cache-dir", args.cache_dir]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    rows = []
    last = t0
    for line in proc.stdout:
        now = time.monotonic()
        m = LINE.match(line.strip())
        if m:
            rows.append((m.group(1), m.group(2), int(m.group(3)), now - last))
            last = now
    err = proc.stderr.read()
    proc.wait()
    restarts = [ln for ln in err.splitlines() if ln.startswith("memory:")]
    print(f"part 1: python run_search.py, {len(rows)} trials, tuner {args.tuner}, "
          f"{args.image_size} px, {args.images} faces, 1 epoch ({time.monotonic() - t0:.0f} s,"
          f" exit {proc.returncode}, {len(restarts)} restart(s) for memory)")
    print(f"{'n':>3} {'trial':>6} {'status':>10} {'rss MiB':>8} {'s since previous':>17}")
    for i, (tid, status, rss, gap) in enumerate(rows, 1):
        print(f"{i:>3} {tid:>6} {status:>10} {rss:>8} {gap:>17.1f}")
    for r in restarts:
        print(f"  {r}")
    if len(rows) >= 2:
        second, final = rows[1][2], rows[-1][2]
        print(f"rss after trial {len(rows)} / after trial 2: {final} / {second} MiB = "
              f"{final / second:.3f}; highest {max(r[2] for r in rows)} MiB = "
              f"{max(r[2] for r in rows) / second:.3f} (target: within 10%, i.e. <= 1.100)")
    gaps = [r[3] for r in rows[1:]]
    if restarts and gaps:
        print(f"seconds between trial lines: median {statistics.median(gaps):.1f}, longest "
              f"{max(gaps):.1f} (a restart: the longest ones)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tuner", default="tpe")
    ap.add_argument("--space", default="lite")
    ap.add_argument("--trials", type=int, default=20, help="part 1: small trials (0: skip)")
    ap.add_argument("--images", type=int, default=600, help="part 1: synthetic faces")
    ap.add_argument("--image-size", type=int, default=32, help="part 1: pixels per side")
    ap.add_argument("--overhead-trials", type=int, default=4,
                    help="part 2: 5-epoch trials on the default set (0: skip part 2)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--costs-first", action="store_true",
                    help="part 2: measure costs before each trial, not aside while it trains")
    ap.add_argument("--in-process", action="store_true",
                    help="part 1 also in this process, without restarts")
    args = ap.parse_args()
    load_tensorflow()

    with tempfile.TemporaryDirectory(prefix="agesearch-bench-") as tmp:
        root = Path(tmp)
        if args.trials > 0:
            run_command(args, root / "command")
        if args.in_process:
            print(f"\nrss of this process at start (TensorFlow loaded): {rss_mib():.0f} MiB")
            in_process_memory(args, root)
        if args.overhead_trials > 0:
            overhead(args, root)


def in_process_memory(args, root: Path) -> None:
    t = run(args, trials=args.trials, images=args.images, image_size=args.image_size,
            epochs=1, root=root)
    print(f"part 1 in this process, no restart: {len(t.rows)} trials")
    print(f"{'trial':>6} {'status':>10} {'params':>9} {'rss MiB':>8} {'wall s':>7}")
    for r in t.rows:
        print(f"{r['id']:>6} {r['status']:>10} {r['params']:>9,} {r['rss']:>8.0f} "
              f"{r['wall']:>7.2f}")
    if len(t.rows) >= 3:
        second, last = t.rows[1]["rss"], t.rows[-1]["rss"]
        steps = [b["rss"] - a["rss"] for a, b in zip(t.rows[1:], t.rows[2:], strict=False)]
        print(f"rss after trial {len(t.rows)} / after trial 2: {last:.0f} / {second:.0f} MiB = "
              f"{last / second:.3f}; growth per trial after trial 2: median "
              f"{statistics.median(steps):+.1f} MiB, mean {statistics.mean(steps):+.1f} MiB")


def overhead(args, root: Path) -> None:
    t = run(args, trials=args.overhead_trials, images=2400, image_size=64, epochs=5, root=root)
    print(f"\npart 2: {len(t.rows)} trials of up to 5 epochs, 2,400 faces, 64 px, costs "
          + ("measured first (--costs-first)" if args.costs_first else
             "measured aside while the trial trains (the default)"))
    print(f"{'trial':>6} {'params':>9} {'epochs':>6} {'trial s':>8} {'fit+eval':>8} "
          f"{'costs':>6} {'waited':>6} {'tuner':>6} {'overhead':>8} {'share':>6}")
    shares = []
    for r in t.rows:
        if r["status"] not in ("complete", "pruned"):
            continue
        total = r["wall"] + r["tuner"]
        extra = total - r["train"]
        shares.append(extra / total)
        print(f"{r['id']:>6} {r['params']:>9,} {r['epochs']:>6} {total:>8.2f} {r['train']:>8.2f} "
              f"{r['cost']:>6.2f} {r['wait']:>6.2f} {r['tuner']:>6.2f} {extra:>8.2f} "
              f"{extra / total:>6.1%}")
    if shares:
        print(f"overhead share of a trial: median {statistics.median(shares):.1%}, max "
              f"{max(shares):.1%} (target: under 10%)")
    print("(the first trial's tuner time is 0: the search's start-up is not a trial's overhead; "
          "'costs' is the time measuring them, 'waited' the part the trial waited for; "
          "training beside the cost worker is in fit+eval: benchmarks/costs.py measures it)")


if __name__ == "__main__":
    main()
