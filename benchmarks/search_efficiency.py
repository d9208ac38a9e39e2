"""Does the toolkit find a better front, faster, than plain KerasTuner and the seed's recipe?

Prints figures; exits 0 whatever they are; asserts nothing about time.

    python benchmarks/search_efficiency.py --budget-min 10 [--data-dir DIR] [--seeds 1,2,3]
        [--tuners tpe,nsga2,random,bayesian,hyperband,tpe+res,tpe+noprune,tpe+e6]

Contenders, each on the same data, split and wall-clock budget:

- ``seed``: the seed's recipe as written (the lite space's ``[reference]``), trained once;
- ``plain-kt``: what a user writes by hand: a KerasTuner ``RandomSearch`` over the lite
  space, validation MAE only, no costs, no pruning, no budget; its trials are costed and
  ranked afterwards by the same Pareto code;
- ``agesearch:<tuner>``: this toolkit's search with that ``--tuner`` and its defaults, one
  ``run_search.py`` search with ``--max-minutes`` as the budget. A default search first
  trains the space's reference (the seed's recipe) inside that budget and ranks it with the
  searched trials, so it is on this contender's front too; it never counts for "time to the
  seed's MAE" or "as good as the seed". Options after ``+`` vary one default: ``+res``
  searches the space's resolutions instead of ``--image-size``, ``+noref`` skips the
  reference (``--no-reference``), ``+noprune`` turns pruning off, ``+eN`` trains N epochs
  per trial, ``+bandX`` sets the accuracy band (``+band0``: off), ``+graceN`` prunes no
  trial before epoch N.

For each: best validation MAE, the hypervolume of its (MAE, float16 KiB) front against one
reference point shared by all contenders (the median-age baseline's MAE, twice the seed
recipe's float16 size), trials finished, the smallest float16 model within 10% of its best
MAE, the time it took to first reach the seed recipe's MAE, and the smallest model at least
as accurate as the seed recipe as a share of the seed's float16 size. A trial started
before the budget ends runs to its end, for every contender. Then, for each toolkit
contender against each hand-written search, the hypervolume paired by seed: wins, the
median difference and a two-sided sign test.

``--out FILE.jsonl`` appends each contender's figures as it finishes (one JSON object a
line); ``--summarise FILE.jsonl [...]`` prints the same tables from such files, pooling
every run with the same data, budget, epochs and resolution, without training: run a few
seeds at a time and read them together. A toolkit contender run with ``--space FILE`` is
named ``agesearch:<tuner>@<the file's stem>``, so it pairs with the same seeds' plain runs.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from search.quiet import load_tensorflow  # noqa: E402


def front_figures(points: list[tuple[float, float, float, bool]], ref_point: tuple[float, float],
                  seed_mae: float | None, seed_kib: float | None) -> dict:
    """points: (seconds since start, val MAE, float16 KiB, is a search's reference trial) of
    finished trials. A search's reference trial (the seed's recipe trained inside it) is on
    the front, but never counts as reaching, or being as good as, the seed's recipe."""
    from search import pareto

    if not points:
        return {"best_mae": None, "hv": 0.0, "trials": 0, "small_kib": None, "t_seed": None,
                "seed_share": None}
    best = min(p[1] for p in points)
    hv = pareto.hypervolume([(p[1] / ref_point[0], p[2] / ref_point[1]) for p in points],
                            (1.0, 1.0))
    small = min(p[2] for p in points if p[1] <= 1.1 * best)
    as_good = [p for p in points if seed_mae is not None and p[1] <= seed_mae and not p[3]]
    reach = sorted(p[0] for p in as_good)
    # the smallest model at least as accurate as the seed's recipe, as a share of its size
    share = min(p[2] for p in as_good) / seed_kib if as_good and seed_kib else None
    return {"best_mae": best, "hv": hv, "trials": len(points), "small_kib": small,
            "t_seed": reach[0] if reach else None, "seed_share": share}


def contender(spec: str, cfg):
    """A toolkit contender from ``tuner[+option...]``: ``+res`` searches the space's
    resolutions (else ``--image-size``), ``+noref`` skips the reference trial, ``+noprune``
    turns pruning off, ``+eN`` trains N epochs per trial, ``+bandX`` sets
    ``--accuracy-band X`` (0: off), ``+graceN`` sets ``--prune-after N``."""
    tuner, *opts = spec.split("+")
    changes = {"tuner": tuner}
    for o in opts:
        if o == "res":
            changes["image_size"] = None
        elif o == "noref":
            changes["reference"] = False
        elif o == "noprune":
            changes["prune"] = False
        elif o.startswith("band"):
            try:
                band = float(o[4:])
            except ValueError:
                band = -1.0
            if not 0.0 <= band < 1.0:  # as --accuracy-band
                raise SystemExit(f"contender option {o!r}: expected band<F>, F in [0, 1), "
                                 "e.g. band0 (off) or band0.5")
            changes["accuracy_band"] = band
        elif o.startswith("grace") and o[5:].isdigit() and int(o[5:]) >= 1:
            changes["prune_after"] = int(o[5:])
        elif o.startswith("e") and o[1:].isdigit():
            changes["epochs"] = int(o[1:])
            changes["patience"] = min(cfg.patience, int(o[1:]))
        else:
            raise SystemExit(f"unknown contender option {o!r} in {spec!r}: expected res, "
                             "noref, noprune, eN, bandX or graceN")
    return cfg.replace(**changes)


def run_toolkit(cfg, budget_s: float) -> list[tuple[float, float, float, bool]]:
    """One search with ``--max-minutes`` as the budget, as a user would run it; (seconds to
    finish, val MAE, float16 KiB, is the reference) of each completed trial (pruned trials
    have no model to ship)."""
    import io

    from rich.console import Console

    from search import pipeline
    from search.records import COMPLETE, load_records

    t0 = time.time()
    pipeline.run(cfg.replace(trials=100_000, max_minutes=budget_s / 60),
                 console=Console(file=io.StringIO()))
    run_dir = Path(cfg.results_dir) / cfg.run_name
    out = []
    for r in load_records(run_dir):
        if r.status == COMPLETE and r.val_mae is not None and r.tflite_float16_bytes:
            done = (run_dir / "trials" / r.trial_id / "record.json").stat().st_mtime - t0
            out.append((done, r.val_mae, r.tflite_float16_bytes / 1024, r.is_reference))
    for r in sorted(load_records(run_dir), key=lambda r: r.trial_id):
        v = r.values
        print(f"    trial {r.trial_id} {r.status:8} {v.get('image_size', cfg.image_size)} px "
              f"{v.get('blocks')} blocks {v.get('head')} batch {v.get('batch_size')}: "
              + (f"val {r.val_mae:.2f} y " if r.val_mae is not None else "")
              + (f"{r.tflite_float16_bytes / 1024:.0f} KiB " if r.tflite_float16_bytes else "")
              + f"{r.epochs_run or 0} epochs {r.train_seconds or 0:.0f} s", flush=True)
    return out


def run_plain_kerastuner(cfg, data, budget_s: float,
                         stream: int = 0) -> list[tuple[float, float, float, bool]]:
    """A hand-written KerasTuner RandomSearch over the lite space; costs measured afterwards.
    ``stream``: another sequence of random candidates on the same data and split (0: the
    tuner seeded with ``--seed``, as every run before this option)."""
    import keras
    import keras_tuner as kt

    from search import builder, costs, space
    from search.backends.kerastuner import hyperparameters, values_from

    s = space.load("lite")
    size = cfg.image_size or 64
    s = s.pinned({"image_size": size})
    finished: list[tuple[float, dict, keras.Model]] = []
    t0 = time.perf_counter()

    class Hand(kt.RandomSearch):
        def run_trial(self, trial, *args, **kwargs):
            if time.perf_counter() - t0 > budget_s:
                self.oracle.max_trials = len(self.oracle.trials)  # stop proposing
                raise kt.errors.FailedTrialError("budget spent")
            values = values_from(s, trial.hyperparameters)
            model = builder.build_model(values, (size, size, 3))
            model.compile(keras.optimizers.Adam(values["learning_rate"]), loss="mae",
                          metrics=["mae"])
            hist = model.fit(data.dataset("train"), validation_data=data.dataset("val"),
                             epochs=cfg.epochs, verbose=0, callbacks=[
                                 keras.callbacks.EarlyStopping("val_mae", patience=cfg.patience,
                                                               restore_best_weights=True)])
            finished.append((time.perf_counter() - t0, values, model))
            return {"val_mae": min(hist.history["val_mae"])}

    with tempfile.TemporaryDirectory() as tmp:
        tuner = Hand(hypermodel=None, objective=kt.Objective("val_mae", "min"), max_trials=10**6,
                     hyperparameters=hyperparameters(s), directory=tmp, project_name="plain",
                     seed=cfg.seed + 1_000_003 * stream, max_consecutive_failed_trials=10**6)
        try:
            tuner.search(verbose=0)
        except RuntimeError:
            pass
    out = []
    for t, values, model in finished:
        mae = float(model.evaluate(data.dataset("val"), verbose=0, return_dict=True)["mae"])
        c = costs.measure(model, values, (size, size, 3), with_latency=False)
        out.append((t, mae, c.tflite_float16_bytes / 1024, False))
        print(f"    trial at {t:.0f} s {values['blocks']} blocks {values['head']}: val {mae:.2f} y "
              f"{c.tflite_float16_bytes / 1024:.0f} KiB", flush=True)
    return out


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if either
    contender were as likely to win each pair (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def _median(xs):
    """(median, min, max) of the measured values; None when none was measured."""
    xs = [x for x in xs if x is not None]
    return (statistics.median(xs), min(xs), max(xs)) if xs else None


def _fmt(m, spec, to="-"):
    return "-" if m is None else f"{m[0]:{spec}} [{m[1]:{spec}}{to}{m[2]:{spec}}]"


def _order(name: str) -> tuple[int, str]:
    """The seed's recipe, then the hand-written searches, then the toolkit's."""
    return (0 if name == "seed" else 1 if name.startswith("plain-kt") else 2, name)


def _quarter(figures: dict) -> bool:
    """A model at least as accurate as the seed's recipe at a quarter of its size or less
    (the issue's target)."""
    return figures["seed_share"] is not None and figures["seed_share"] <= 0.25


def print_tables(by_seed: dict[str, dict[int, dict]], title: str) -> None:
    """The median [min-max] table over seeds, then each toolkit contender's hypervolume
    against each hand-written search's, paired by seed. by_seed: contender -> seed ->
    front_figures."""
    seeds = sorted({s for runs in by_seed.values() for s in runs})
    print(f"\n{title}; median [min-max] over {len(seeds)} seed(s): "
          f"{', '.join(map(str, seeds))}")
    w = max([24, *map(len, by_seed)])
    print(f"{'contender':{w}} {'seeds':>5} {'best MAE y':>20} {'hypervolume':>20} {'trials':>12} "
          f"{'smallest f16 KiB':>18} {'time to seed MAE s':>19} {'as good / seed size':>20}")
    for name, runs in sorted(by_seed.items(), key=lambda kv: _order(kv[0])):
        rs = list(runs.values())
        print(f"{name:{w}} {len(rs):>5} {_fmt(_median([r['best_mae'] for r in rs]), '.2f'):>20} "
              f"{_fmt(_median([r['hv'] for r in rs]), '.3f'):>20} "
              f"{_fmt(_median([r['trials'] for r in rs]), '.0f'):>12} "
              f"{_fmt(_median([r['small_kib'] for r in rs]), '.0f'):>18} "
              f"{_fmt(_median([r['t_seed'] for r in rs]), '.0f'):>19} "
              f"{_fmt(_median([r['seed_share'] for r in rs]), '.2f'):>20}")
    print("smallest f16 KiB: the smallest float16 file within 10% of the contender's best MAE; "
          "time to seed MAE: until a trial first matched the seed recipe's val MAE; as good / "
          "seed size: the smallest model at least as accurate as the seed recipe, as a share "
          "of its float16 size (target: at most 0.25); '-': none")
    plains = sorted(n for n in by_seed if n.startswith("plain-kt"))
    tools = sorted(n for n in by_seed if n.startswith("agesearch:"))
    for tool in tools:
        for plain in plains:
            common = sorted(set(by_seed[tool]) & set(by_seed[plain]))
            if not common:
                continue
            diffs = [by_seed[tool][s]["hv"] - by_seed[plain][s]["hv"] for s in common]
            wins = sum(d > 0 for d in diffs)
            losses = sum(d < 0 for d in diffs)
            good = sum(_quarter(by_seed[tool][s]) for s in common)
            good_plain = sum(_quarter(by_seed[plain][s]) for s in common)
            print(f"{tool} against {plain}, hypervolume paired over {len(common)} seed(s): "
                  f"higher on {wins}, lower on {losses}; difference median "
                  f"{_fmt(_median(diffs), '+.3f', ' to ')}; sign test p = "
                  f"{sign_test(wins, losses):.2f}; as accurate as the seed at <= 1/4 of its "
                  f"size on {good} seed(s) against {good_plain}")


def summarise(paths: list[str]) -> None:
    """Print the tables of --out files, pooled per data, budget, epochs and resolution."""
    groups: dict[tuple, dict[str, dict[int, dict]]] = {}
    for path in paths:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as e:
            raise SystemExit(f"--summarise {path}: cannot read it ({e.strerror})") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                key = (row["data"], row["budget_min"], row["epochs"], row["image_size"])
                figures = {k: row[k] for k in ("best_mae", "hv", "trials", "small_kib",
                                               "t_seed", "seed_share")}
                runs = groups.setdefault(key, {}).setdefault(row["contender"], {})
                runs[int(row["seed"])] = figures  # a later run of the same seed replaces it
            except (ValueError, KeyError, TypeError) as e:
                raise SystemExit(f"--summarise {path}, line {n}: expected one JSON object "
                                 f"written by --out ({type(e).__name__}: {e})") from None
    if not groups:
        raise SystemExit(f"--summarise {' '.join(paths)}: no figures in them")
    for (data, budget, epochs, size), by_seed in sorted(groups.items()):
        print_tables(by_seed, _title(data, budget, epochs, size))


def _title(data, budget, epochs, size) -> str:
    return f"{data}, budget {budget:g} min per contender, {epochs} epochs, {size} px"


def _stream(text: str) -> int:
    """``--plain-stream``: a whole number, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-min", type=float, default=10.0, help="wall clock per contender")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seeds", default="42")
    ap.add_argument("--tuners", default="tpe,random",
                    help="toolkit contenders, comma-separated: "
                         "tuner[+res][+noref][+noprune][+eN][+bandX][+graceN]")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain KerasTuner run")
    ap.add_argument("--plain-stream", type=_stream, default=0,
                    help="draw the plain KerasTuner search's candidates from another random "
                         "sequence (same data and split): how much its figures owe to its "
                         "draws")
    ap.add_argument("--space", default="lite",
                    help="the space the toolkit contenders search (a shipped name or a .toml "
                         "path), to measure a change to it; plain KerasTuner and the seed's "
                         "recipe keep the shipped lite space")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--out", default=None,
                    help="append each contender's figures to this file, one JSON object a line")
    ap.add_argument("--summarise", nargs="+", metavar="FILE", default=None,
                    help="print the tables of --out files, pooling seeds per data, budget, "
                         "epochs and --image-size (a later run of a seed replaces an earlier "
                         "one); trains nothing")
    args = ap.parse_args()
    if args.summarise:
        summarise(args.summarise)
        return
    load_tensorflow()
    from search import data as data_mod
    from search import space
    from search.config import RunConfig
    from search.pipeline import median_baseline
    from search.trial import TrialContext, run_trial

    budget_s = args.budget_min * 60
    tuners = [t for t in args.tuners.split(",") if t]  # --tuners "": no toolkit contender
    for spec in tuners:  # a typo fails now, not after the seed's recipe trained
        contender(spec, RunConfig())
    rows: dict[str, dict[int, dict]] = {}
    label = Path(args.data_dir).name if args.data_dir else "synthetic"
    # the toolkit contenders' space, in their names: plain and the seed keep the lite space
    at_space = "" if args.space == "lite" else "@" + Path(args.space).stem
    for seed in (int(x) for x in args.seeds.split(",")):
        tmp = Path(tempfile.mkdtemp(prefix="agesearch-bench-"))
        try:
            cfg = RunConfig(space=args.space, data_dir=args.data_dir, seed=seed,
                            epochs=args.epochs, image_size=args.image_size,
                            results_dir=str(tmp), overwrite=False)
            data = data_mod.load(cfg)
            base = median_baseline(data.ages("train"), data.ages("val"), data.ages("test"))
            # the seed's recipe, trained once
            t0 = time.perf_counter()
            ctx = TrialContext(data=data, epochs=cfg.epochs, patience=cfg.patience, seed=seed,
                               run_dir=tmp / "seed")
            ref = dict(space.load("lite").pinned({"image_size": args.image_size}).reference)
            rec = run_trial("ref", ref, ctx, is_reference=True)
            seed_pts = ([(time.perf_counter() - t0, rec.val_mae, rec.tflite_float16_bytes / 1024,
                          False)]
                        if rec.val_mae is not None else [])
            seed_mae = rec.val_mae
            ref_point = (base["val_mae"], 2 * (rec.tflite_float16_bytes or 1024) / 1024)
            seed_kib = (rec.tflite_float16_bytes or 0) / 1024 or None
            meta = {"data": label, "seed": seed, "budget_min": args.budget_min,
                    "epochs": args.epochs, "image_size": args.image_size, "space": args.space}

            def record(name, pts, meta=meta, scale=(ref_point, seed_mae, seed_kib)):
                f = front_figures(pts, *scale)
                rows.setdefault(name, {})[meta["seed"]] = f
                if args.out:  # written as it finishes: a later failure keeps it
                    with open(args.out, "a") as fh:
                        fh.write(json.dumps({**meta, "contender": name, **f}) + "\n")
                return f

            print(f"seed {seed}: baseline val MAE {base['val_mae']:.2f} y, seed recipe "
                  f"{seed_mae:.2f} y, {rec.tflite_float16_bytes / 1024:.0f} KiB float16; "
                  f"HV reference point ({ref_point[0]:.2f} y, {ref_point[1]:.0f} KiB)",
                  flush=True)
            specs = ([] if args.no_plain else ["plain-kt"]) + tuners
            plain_name = "plain-kt" + (f"#{args.plain_stream}" if args.plain_stream else "")
            record("seed", seed_pts)
            for spec in specs:
                name = plain_name if spec == "plain-kt" else f"agesearch:{spec}{at_space}"
                try:  # one contender's failure never loses the others' figures
                    pts = (
                        run_plain_kerastuner(cfg, data, budget_s, args.plain_stream)
                        if spec == "plain-kt" else
                        run_toolkit(contender(spec, cfg).replace(
                            run_name="bench-" + spec.replace("+", "_")), budget_s))
                except Exception as e:  # noqa: BLE001 - reported, and the benchmark goes on
                    print(f"  {name}: failed: {type(e).__name__}: {e}", flush=True)
                    continue
                print(f"  {name}: {record(name, pts)}", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    print_tables(rows, _title(label, args.budget_min, args.epochs, args.image_size))


if __name__ == "__main__":
    main()
