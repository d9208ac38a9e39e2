"""How a search scales with workers on one PostgreSQL study, and what the storage costs.

    python benchmarks/workers.py [--workers 1,2,4] [--trials 8] [--epochs 2] [--images 120]
                                 [--image-size 32] [--storage URL] [--out FILE.json]

For each worker count N: N ``run_search.py`` processes (Optuna TPE, one study, separate
process trees as separate machines would run them) share one budget, ``--trials`` trials of
``--epochs`` epochs on ``--images`` synthetic faces at ``--image-size`` px, no reference,
no pruning (every N trains the same amount). Each worker trains with one thread
(``TF_NUM_INTRAOP_THREADS=1``, ``TF_NUM_INTEROP_THREADS=1``, ``OMP_NUM_THREADS=1``).

The storage: ``--storage`` (an empty PostgreSQL database; each N gets its own run name), or
a throwaway PostgreSQL server started here (tests/pg_server.py), one database per N.

Printed per N:

- wall: seconds from starting the workers to the last one's exit (TensorFlow's start-up
  included), and trials per minute over it;
- span: seconds from the first trial's start to the last one's end (from the study), and
  trials per minute over it: the search's own rate, start-up aside;
- storage share: the seconds the workers' main threads spent inside storage calls (every
  method of Optuna's ``RDBStorage``, timed in each worker; the heartbeat's own
  thread is not counted, as a trial never waits for it), over the seconds of their trials
  (each trial's start to end in the study). Calls outside trials (recovery checks, the
  polls of a worker waiting for the others' last trials) count in the numerator too, so
  the share is an upper bound. The target is under 2% with 4 workers.

Nothing is asserted: the figures depend on the machine (its cores, their load).
"""

from __future__ import annotations

import argparse
import atexit
import functools
import inspect
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "OMP_NUM_THREADS": "1"}


# --- inside a worker ------------------------------------------------------------------------


def _instrument(out: Path) -> None:
    """Time every public RDBStorage call made on the main thread; write the totals to
    ``out`` when the process exits."""
    from optuna.storages import RDBStorage

    totals = {"storage_s": 0.0, "calls": 0, "by_method": {}}
    local = threading.local()

    def timed(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if threading.current_thread() is not threading.main_thread() or \
                    getattr(local, "depth", 0):
                return fn(*args, **kwargs)  # the heartbeat thread, or a nested call
            local.depth = 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - t0
                totals["storage_s"] += took
                totals["calls"] += 1
                by = totals["by_method"].setdefault(fn.__name__, [0, 0.0])
                by[0] += 1
                by[1] += took
                local.depth = 0

        return wrapper

    # Every method, the private ones too: Optuna's cache in front of the storage
    # (_CachedStorage) reads trials through RDBStorage._get_trials, its heartbeat check
    # through _get_stale_trial_ids. Nested calls are timed once, at the outermost.
    for name, fn in list(vars(RDBStorage).items()):
        if not name.startswith("__") and inspect.isfunction(fn):
            setattr(RDBStorage, name, timed(fn))
    me = os.getpid()  # not the trial processes forked from this one, which inherit atexit
    atexit.register(lambda: os.getpid() == me and out.write_text(json.dumps(totals)))


def worker_main(out: str, argv: list[str]) -> int:
    _instrument(Path(out))
    from search import cli

    return cli.main(argv)


# --- the benchmark --------------------------------------------------------------------------


def run_workers(n: int, args, url: str, root: Path) -> dict:
    import optuna
    from optuna.trial import TrialState

    from search.backends import optuna as ob

    run = f"bench-w{n}-{int(time.time())}"
    results = root / f"w{n}"
    procs, timings = [], []
    t0 = time.monotonic()
    for i in range(n):
        timing = root / f"w{n}-{i}.json"
        timings.append(timing)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(timing), "--",
               "--tuner", "tpe", "--trials", str(args.trials), "--epochs", str(args.epochs),
               "--no-reference", "--no-prune", "--synthetic-images", str(args.images),
               "--image-size", str(args.image_size), "--batch-size", "16",
               "--seed", str(args.seed), "--run-name", run, "--results-dir", str(results),
               "--cache-dir", str(root / "cache"), "--storage", url]
        env = {**os.environ, **ONE_THREAD, "TF_CPP_MIN_LOG_LEVEL": "3",
               "AGESEARCH_HOST": f"bench-{i}"}
        log = open(root / f"w{n}-{i}.log", "w")  # noqa: SIM115 - closed once started
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                      stderr=subprocess.STDOUT))
        log.close()
    for p in procs:
        p.wait()
    wall = time.monotonic() - t0
    bad = [i for i, p in enumerate(procs) if p.returncode != 0]
    if bad:
        tail = (root / f"w{n}-{bad[0]}.log").read_text()[-3000:]
        raise SystemExit(f"{n} workers: worker {bad[0]} exited {procs[bad[0]].returncode}:\n"
                         f"{tail}")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=run, storage=ob.storage_for(url, root))
    done = [t for t in study.get_trials()
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            and t.datetime_start and t.datetime_complete]
    trial_s = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in done)
    span = (max(t.datetime_complete for t in done)
            - min(t.datetime_start for t in done)).total_seconds()
    storage = [json.loads(p.read_text()) for p in timings]
    storage_s = sum(s["storage_s"] for s in storage)
    calls = sum(s["calls"] for s in storage)
    by_method: dict[str, list] = {}
    for s in storage:
        for name, (k, secs) in s["by_method"].items():
            by_method.setdefault(name, [0, 0.0])
            by_method[name][0] += k
            by_method[name][1] += secs
    per_worker = {}
    for t in done:
        w = t.user_attrs.get(ob.WORKER, "?").split(":")[0]
        per_worker[w] = per_worker.get(w, 0) + 1
    return {"workers": n, "trials": len(done), "wall_s": wall,
            "trials_per_min_wall": 60 * len(done) / wall, "span_s": span,
            "trials_per_min_span": 60 * len(done) / span, "trial_s": trial_s,
            "mean_trial_s": trial_s / len(done), "storage_s": storage_s,
            "storage_calls": calls, "storage_share": storage_s / trial_s,
            "trials_per_worker": dict(sorted(per_worker.items())),
            "storage_by_method": dict(sorted(by_method.items(), key=lambda kv: -kv[1][1]))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    p.add_argument("--trials", type=int, default=8, help="the budget: trials in all, per N")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--images", type=int, default=120, help="synthetic faces")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--storage", default=None,
                   help="a PostgreSQL URL (default: a throwaway server started here)")
    p.add_argument("--out", default=None, help="also write the figures here as JSON")
    args = p.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",")]

    server = None
    if args.storage is None:
        sys.path.insert(0, str(ROOT / "tests"))
        import pg_server

        why = pg_server.missing()
        if why:
            raise SystemExit(f"no PostgreSQL to benchmark on: {why} (or pass --storage URL)")
        server = pg_server.PostgresServer()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="agesearch-workers-") as tmp:
            root = Path(tmp)
            # The faces once, before any timing (generation is cached and deterministic).
            from search import synthetic

            synthetic.generate(args.images, seed=args.seed, cache_dir=root / "cache")
            for n in counts:
                url = server.new_database(f"w{n}_") if server else args.storage
                print(f"{n} worker(s)...", flush=True)
                rows.append(run_workers(n, args, url, root))
    finally:
        if server is not None:
            server.stop()

    print(f"\n{args.trials} trials x {args.epochs} epochs, {args.images} synthetic faces at "
          f"{args.image_size} px, Optuna TPE on PostgreSQL, one thread per worker, "
          f"{os.cpu_count()} CPU(s)")
    print(f"{'workers':>7} {'wall s':>7} {'trials/min':>10} {'span s':>7} {'trials/min':>10} "
          f"{'mean trial s':>12} {'storage s':>9} {'calls':>6} {'storage share':>13}  per worker")
    print(f"{'':>7} {'':>7} {'(wall)':>10} {'':>7} {'(span)':>10}")
    for r in rows:
        print(f"{r['workers']:>7} {r['wall_s']:>7.1f} {r['trials_per_min_wall']:>10.2f} "
              f"{r['span_s']:>7.1f} {r['trials_per_min_span']:>10.2f} {r['mean_trial_s']:>12.1f} "
              f"{r['storage_s']:>9.2f} {r['storage_calls']:>6} {100 * r['storage_share']:>12.2f}%"
              f"  {'/'.join(str(v) for v in r['trials_per_worker'].values())}")
    for r in rows:
        top = ", ".join(f"{name} {k} calls {secs:.2f} s"
                        for name, (k, secs) in list(r["storage_by_method"].items())[:3])
        print(f"{r['workers']} worker(s), most storage time: {top}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        rest = sys.argv[3:]
        sys.exit(worker_main(sys.argv[2], rest[1:] if rest[:1] == ["--"] else rest))
    sys.exit(main())
