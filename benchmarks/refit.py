"""Does a refit beat its trial on the test split, and by how much? Prints figures.

Refits the chosen trials of a finished run (``search.refit``: train + val, longer, augmented,
optionally distilled) under each setting asked for, each setting in its own copy of the run
folder (the run itself is left as it was), and prints every trial's test MAE beside its
refits':

    python benchmarks/refit.py RUN_DIR [--trial front] [--epochs 36] [--augment 0,0.5,1]
        [--teacher best] [--label-weight 0.5] [--jsonl FILE]

``--epochs`` and ``--augment`` take comma-separated lists: every combination is a setting
(default: the refit command's defaults). ``--teacher`` adds, for every combination, the same
refit distilled from that teacher (the teacher itself is refit without one only). Figures
per setting: how many refits beat their trial's test MAE, and the median change in years.
``--jsonl`` appends one line per refit (run, data, trial, sizes, setting, test MAEs,
seconds). Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir")
    p.add_argument("--trial", default="front", help="best, knee, front, ids (comma-separated)")
    p.add_argument("--epochs", type=_ints, default=None,
                   help="comma-separated (default: 3 x the run's --epochs)")
    p.add_argument("--augment", type=_floats, default=None,
                   help="comma-separated strengths, 0-1 (default: the refit's)")
    p.add_argument("--teacher", default=None,
                   help="also distil from it: best, a trial id, or a refit id of the run")
    p.add_argument("--label-weight", type=float, default=None)
    p.add_argument("--jsonl", default=None, help="append one line per refit here")
    args = p.parse_args(argv)

    import numpy as np
    from rich.console import Console

    from search import refit
    from search.records import COMPLETE, load_records
    from search.runfiles import read_optional

    run = Path(args.run_dir)
    trials = {r.trial_id: r for r in load_records(run)}
    dataset = read_optional(run, "dataset.json", [])
    epochs_list = args.epochs or [None]
    augments = args.augment or [refit.DEFAULT_AUGMENT]
    teachers = [None] + ([args.teacher] if args.teacher else [])
    settings = list(itertools.product(epochs_list, augments, teachers))
    console = Console(stderr=True)
    results: dict[tuple, dict[str, float | None]] = {}
    with tempfile.TemporaryDirectory(prefix="agesearch-refit-bench-") as tmp:
        for k, (epochs, augment, teacher) in enumerate(settings):
            copy = Path(tmp) / f"s{k}" / run.name
            shutil.copytree(run, copy, ignore=shutil.ignore_patterns(
                "refits", "export", "logs", "backup", "*.journal"))
            if teacher is not None and refit.is_refit_id(teacher):  # a refit as the teacher
                shutil.copytree(run / refit.REFITS_DIR / teacher,
                                copy / refit.REFITS_DIR / teacher)
            t0 = time.perf_counter()
            records = refit.refit(copy, args.trial, epochs=epochs, teacher=teacher,
                                  augment=augment,
                                  label_weight=args.label_weight if teacher else None,
                                  console=console)
            seconds = time.perf_counter() - t0
            results[(epochs, augment, teacher)] = {
                r.refit_of: (r.test_mae if r.status == COMPLETE else None) for r in records}
            for r in records:
                base = trials[r.refit_of]
                line = {"run": run.name, "data": dataset.get("source"),
                        "images": dataset.get("used"), "trial": r.refit_of,
                        "params": base.params, "float16_kib": base.tflite_float16_kib,
                        "trial_epochs": base.epochs_run, "trial_test_mae": base.test_mae,
                        "setting": r.refit, "teacher": r.teacher, "status": r.status,
                        "refit_test_mae": r.test_mae, "train_seconds": r.train_seconds,
                        "setting_seconds": seconds}
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(line) + "\n")

    names = {s: (f"e{s[0] or 'default'} a{s[1]:g}" + (f" teacher {s[2]}" if s[2] else ""))
             for s in settings}
    ids = sorted({t for r in results.values() for t in r},
                 key=lambda t: trials[t].tflite_float16_bytes or 0)
    print(f"\nrun {run.name}: {dataset.get('source')}, {dataset.get('used')} images; test MAE "
          "in years (trials: their own weights; refits: train + val)")
    head = f"{'trial':>6} {'params':>9} {'KiB f16':>8} {'trial':>7}"
    print(head + "".join(f" {names[s]:>22}" for s in settings))
    for t in ids:
        base = trials[t]
        row = (f"{t:>6} {base.params or 0:>9,} {base.tflite_float16_kib or 0:>8.1f} "
               f"{base.test_mae:>7.2f}")
        for s in settings:
            m = results[s].get(t)
            row += f" {'-' if m is None else f'{m:.2f} ({m - base.test_mae:+.2f})':>22}"
        print(row)
    for s in settings:
        pairs = [(m, trials[t].test_mae) for t, m in results[s].items() if m is not None]
        beats = sum(m < b for m, b in pairs)
        change = float(np.median([m - b for m, b in pairs])) if pairs else float("nan")
        print(f"{names[s]}: beats its trial {beats}/{len(pairs)}, median change {change:+.2f} y")


if __name__ == "__main__":
    main()
