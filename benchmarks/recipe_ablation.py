"""Which part of a trial's training recipe costs accuracy in a short search? Prints figures.

The same randomly sampled lite candidates (fixed resolution; augmentation searched again,
as it was before this benchmark had the shipped spaces fix it off) are trained under several
recipes, one change at a time, so the differences are the recipe's and not the sampler's:

    python benchmarks/recipe_ablation.py [--candidates 6] [--epochs 12] [--image-size 64]
        [--data-dir DIR] [--variants toolkit,noaug,constlr,batch32,plain,handfit]

Variants (``toolkit`` trains each candidate exactly as a search does, through
``search.trial.run_trial``: its searched batch size, augmentation and schedule, with the
per-epoch backup, checkpoints and TensorBoard logs):

- ``noaug``: augmentation off; ``constlr``: constant learning rate; ``batch32``: batch 32;
- ``plain``: all three (what a hand-written KerasTuner search trains), still through
  ``run_trial`` with its per-epoch files;
- ``handfit``: a bare ``model.fit`` with early stopping only, as a hand-written KerasTuner
  search does (``benchmarks/search_efficiency.py``'s plain contender): ``plain`` minus the
  per-epoch files.

Candidates that no variant changes (e.g. no augmentation to turn off) are skipped.
For each variant: median validation MAE over the candidates, how often it beat ``toolkit``
on the same candidate, and median training seconds. Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.quiet import load_tensorflow  # noqa: E402

CHANGES = {
    "toolkit": {},
    "noaug": {"augment": 0.0},
    "constlr": {"lr_schedule": "constant"},
    "batch32": {"batch_size": 32},
    "plain": {"augment": 0.0, "lr_schedule": "constant", "batch_size": 32},
}
CHANGES["handfit"] = CHANGES["plain"]  # the same values, trained by a bare model.fit


def ablation_space(image_size: int):
    """The lite space with augmentation searched again, as it was before the shipped spaces
    fixed it off (this benchmark is why), last in the sampling order as it was then: the
    same seed draws the same candidates."""
    import tomllib

    from search import space

    doc = tomllib.loads(space.resolve("lite").read_text())
    doc["fixed"].pop("augment", None)
    doc["params"]["augment"] = {"type": "choice", "values": [0.0, 0.5, 1.0]}
    return space.parse(doc, "lite with augment searched").pinned({"image_size": image_size})


def hand_fit(values, data, size: int, epochs: int, patience: int, seed: int) -> tuple[float, float]:
    """(val MAE, seconds): a bare fit with early stopping, as a hand-written search trains."""
    import keras

    from search import builder

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = builder.build_model(values, (size, size, 3))
    model.compile(keras.optimizers.Adam(values["learning_rate"]), loss="mae", metrics=["mae"])
    t0 = time.perf_counter()
    model.fit(data.dataset("train", image_size=size, batch_size=32),
              validation_data=data.dataset("val", image_size=size, batch_size=32), epochs=epochs,
              verbose=0, callbacks=[keras.callbacks.EarlyStopping(
                  "val_mae", patience=patience, restore_best_weights=True)])
    seconds = time.perf_counter() - t0
    mae = model.evaluate(data.dataset("val", image_size=size, batch_size=32), verbose=0,
                         return_dict=True)["mae"]
    return float(mae), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--variants", default=",".join(CHANGES))
    args = ap.parse_args()
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in CHANGES]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}: expected some of {', '.join(CHANGES)}")
    load_tensorflow()
    import numpy as np

    from search import builder, costs
    from search import data as data_mod
    from search.config import RunConfig
    from search.errors import InfeasibleCandidate
    from search.trial import TrialContext, run_trial

    cfg = RunConfig(data_dir=args.data_dir, seed=args.seed, epochs=args.epochs,
                    image_size=args.image_size)
    data = data_mod.load(cfg)
    s = ablation_space(args.image_size)
    rng = np.random.default_rng(args.seed)
    def changed_by(v: str, values: dict) -> bool:
        return v == "handfit" or {**values, **CHANGES[v]} != values

    others = [v for v in variants if v != "toolkit"]
    cands: list[dict] = []
    for _ in range(1000 * args.candidates):  # bounded: a space may lack what a variant changes
        if len(cands) == args.candidates:
            break
        values = s.sample(rng)
        try:
            builder.check_shape(values, args.image_size)
        except InfeasibleCandidate:
            continue
        # a candidate no variant changes (no augmentation to turn off) teaches nothing here
        if others and not any(changed_by(v, values) for v in others):
            continue
        cands.append(values)
    if not cands:
        raise SystemExit(f"no candidate of the lite space is changed by {', '.join(others)}")

    mae: dict[str, list[float]] = {v: [] for v in variants}
    secs: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="agesearch-ablation-") as tmp:
        cache = costs.CostCache()
        for i, values in enumerate(cands):
            line = []
            for v in variants:
                vals = {**values, **CHANGES[v]}
                if v == "handfit":
                    m, t = hand_fit(vals, data, args.image_size, args.epochs, cfg.patience,
                                    args.seed)
                else:
                    ctx = TrialContext(data=data, epochs=args.epochs, patience=cfg.patience,
                                       seed=args.seed, run_dir=Path(tmp) / v, cost_cache=cache)
                    rec = run_trial(f"{i:03d}", vals, ctx)
                    m, t = (rec.val_mae if rec.val_mae is not None else float("nan"),
                            rec.train_seconds or float("nan"))
                mae[v].append(m)
                secs[v].append(t)
                line.append(f"{v} {m:.2f} y {t:.0f} s")
            desc = (f"{values['blocks']} blocks, batch {values['batch_size']}, augment "
                    f"{values['augment']}, {values['lr_schedule']} lr {values['learning_rate']:.1e}")
            print(f"candidate {i} ({desc}): " + "; ".join(line), flush=True)

    print(f"\n{len(cands)} candidates, {args.epochs} epochs, {args.image_size} px, seed {args.seed}")
    print(f"{'variant':10} {'median val MAE y':>17} {'beats toolkit':>14} {'median train s':>15}")
    for v in variants:
        beats = (sum(a < b for a, b in zip(mae[v], mae["toolkit"], strict=True))
                 if "toolkit" in mae and v != "toolkit" else None)
        print(f"{v:10} {float(np.nanmedian(mae[v])):17.2f} "
              f"{'-' if beats is None else f'{beats}/{len(cands)}':>14} "
              f"{float(np.nanmedian(secs[v])):15.1f}")


if __name__ == "__main__":
    main()
