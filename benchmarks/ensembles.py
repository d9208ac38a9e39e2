"""What averaging gains: the test MAE of refits alone, with the mirror image averaged in
(``export --flip``), and of every ensemble of them (``export --ensemble``, with and without
``--flip``).

    python benchmarks/ensembles.py RUN_DIR --models 006-refit,006-refit-seed1,... [--split test]

Each model (a refit id or a trial id of the run) predicts the split once as it is and once
mirrored, in Keras; an ensemble's age is the mean of its members' (and of their mirrored
answers with flip), exactly what the exported file computes. MAE in years, on the split of
the run (``test`` by default; ``val`` for trials, which did not train on it). Figures only:
choosing members by their test MAE makes that MAE a validation figure, so choose by
something else (a fixed number of seeds of the model you ship) and quote it as such.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--models", required=True, help="refit or trial ids, comma-separated")
    ap.add_argument("--split", default="test", choices=("test", "val", "train"))
    ap.add_argument("--largest", type=int, default=None,
                    help="ensembles of at most this many members (default: all sizes)")
    args = ap.parse_args()

    import numpy as np

    from search import data as data_mod
    from search import export, runfiles
    from search.quiet import load_tensorflow
    from search.records import load_records, load_refits

    run = Path(args.run_dir)
    records = {r.trial_id: r for r in [*load_records(run), *load_refits(run)]}
    ids = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in ids if m not in records]
    if unknown:
        sys.exit(f"error: --models: unknown {', '.join(unknown)}; the run has "
                 f"{', '.join(sorted(records))}")
    load_tensorflow()
    cfg = runfiles.config(run, "benchmark")
    data = data_mod.load(cfg)
    plain, mirrored, truth = {}, {}, None
    for m in ids:
        r = records[m]
        size = export.trial_image_size(r, cfg)
        model = export.load_model(run, r, size)
        images, ages = export.split_images(data, args.split, None, size)
        x = images.astype(np.float32)
        plain[m] = np.asarray(model.predict(x, verbose=0)).reshape(-1)
        mirrored[m] = np.asarray(model.predict(x[:, :, ::-1], verbose=0)).reshape(-1)
        truth = ages if truth is None else truth
        if len(ages) != len(truth):
            sys.exit(f"error: {m} reads {len(ages)} images of the split, others "
                     f"{len(truth)}: the models take sizes whose images decode differently")

    def mae(pred) -> float:
        return float(np.mean(np.abs(pred - truth)))

    print(f"{run.name}, {args.split} split, {len(truth)} images: MAE in years")
    print(f"{'models':60} {'alone':>7} {'flip':>7}")
    largest = args.largest or len(ids)
    for n in range(1, min(largest, len(ids)) + 1):
        for combo in itertools.combinations(ids, n):
            a = np.mean([plain[m] for m in combo], axis=0)
            f = np.mean([(plain[m] + mirrored[m]) / 2 for m in combo], axis=0)
            print(f"{'+'.join(combo):60} {mae(a):7.3f} {mae(f):7.3f}", flush=True)


if __name__ == "__main__":
    main()
