"""Does the toolkit find a better front, for the same work, than a search written by hand?

Prints figures; exits 0 whatever they are; asserts nothing about time.

    python benchmarks/search_efficiency.py --budget-gmac 250 --data-dir ../shared/data \
        --seeds 1,2,3 --hand plain-kt,plain-hb,plain-optuna --tuners moasha+res,tpe+res \
        --out figures.jsonl
    python benchmarks/search_efficiency.py --summarise figures.jsonl [more.jsonl ...]

Contenders, each on the same data and split, with the same budget, one after another within
a seed (so a slower spell of the machine hits them alike):

- ``seed``: the reference recipe as written (the lite space's ``[reference]``), trained once;
- hand-written searches over the lite space at ``--image-size``, as a user writes them from
  the libraries' guides, with no toolkit feature (no costs before training, no pruning, no
  band, no reference trial), each trial's costs measured afterwards for the same Pareto
  code: ``plain-kt``, KerasTuner ``RandomSearch`` on validation MAE; ``plain-hb``,
  KerasTuner ``Hyperband`` (``max_epochs`` = ``--epochs``, factor 3; every trial is a model,
  at the epochs its round trained); ``plain-optuna``, Optuna multi-objective TPE on
  (val MAE, parameters, TFLite float16 bytes);
- ``agesearch:<tuner>``: this toolkit's search with that ``--tuner`` and its defaults, one
  ``run_search.py`` search with ``--max-compute`` (or ``--max-minutes``) as the budget. Its
  reference trial (the reference recipe trained inside that budget: a whole trial for
  ``tpe``, a candidate through the rungs for ``moasha``) is ranked with the searched trials,
  so it is on this contender's front too; it never counts for "time to the reference
  recipe's MAE" or "as good as the reference recipe". Options after ``+`` vary one
  default: ``+res`` searches the space's resolutions instead of ``--image-size``,
  ``+noref`` skips the reference (``--no-reference``), ``+noprune`` turns pruning off,
  ``+eN`` trains N epochs per trial, ``+bandX`` sets the accuracy band (``+band0``: off),
  ``+graceN`` prunes no trial before epoch N.

Budgets: ``--budget-gmac`` is compute, in G MAC-images (forward multiply-accumulates per
image x training images, every epoch trained; the toolkit's ``--max-compute``), the same
work whatever the machine's speed; ``--budget-min`` (used without it) is wall clock. Either
way no contender starts a trial (or a rung) once its budget is spent and the running one
finishes, so each ends a little over it: the compute each used and its wall-clock seconds
are printed beside its figures.

For each: best validation MAE, the hypervolume of its (MAE, float16 KiB) front against one
reference point shared by all contenders (the median-age baseline's MAE, twice the
reference recipe's float16 size), trials finished, distinct candidates trained, the smallest float16
model within 10% of its best MAE, the time it took to first reach the reference recipe's MAE,
and the smallest model at least as accurate as the reference recipe as a share of its
float16 size. Then, for each toolkit contender against each hand-written search, the
hypervolume paired by seed: wins, the median difference, two- and one-sided sign tests, and
the ratio of distinct candidates.

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
    finished trials. A search's reference trial (the reference recipe trained inside it) is on
    the front, but never counts as reaching, or being as good as, the reference recipe."""
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
    # the smallest model at least as accurate as the reference recipe, as a share of its size
    share = min(p[2] for p in as_good) / seed_kib if as_good and seed_kib else None
    return {"best_mae": best, "hv": hv, "trials": len(points), "small_kib": small,
            "t_seed": reach[0] if reach else None, "seed_share": share}


def contender(spec: str, cfg):
    """A toolkit contender from ``tuner[+option...]``: ``+res`` searches the space's
    resolutions (else ``--image-size``), ``+noref`` skips the reference trial, ``+noprune``
    turns pruning off, ``+eN`` trains N epochs per trial, ``+bandX`` sets
    ``--accuracy-band X`` (0: off), ``+graceN`` sets ``--prune-after N``; for moasha,
    ``+minN`` sets ``--min-epochs N``, ``+hbN`` ``--brackets N``, and ``+spread``,
    ``+cheap`` or ``+random`` its pick among draws (``+wholecheap`` etc.: for the last
    bracket's candidates only, trained whole from the start)."""
    from search.backends import moasha

    tuner, *opts = spec.split("+")
    changes = {"tuner": tuner}
    moasha.PICK = "cheap"  # moasha's default pick, unless an option below says otherwise
    moasha.WHOLE_PICK = None
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
        elif o.startswith("hb") and o[2:].isdigit() and int(o[2:]) >= 1:
            changes["brackets"] = int(o[2:])
        elif o.startswith("min") and o[3:].isdigit() and int(o[3:]) >= 1:
            changes["min_epochs"] = int(o[3:])
        elif o in ("spread", "cheap", "random"):  # moasha's pick among its draws
            moasha.PICK = o  # this process runs the search (set per contender, in order)
        elif o in ("wholespread", "wholecheap", "wholerandom"):
            moasha.WHOLE_PICK = o[5:]
        elif o.startswith("grace") and o[5:].isdigit() and int(o[5:]) >= 1:
            changes["prune_after"] = int(o[5:])
        elif o.startswith("e") and o[1:].isdigit():
            changes["epochs"] = int(o[1:])
            changes["patience"] = min(cfg.patience, int(o[1:]))
        else:
            raise SystemExit(f"unknown contender option {o!r} in {spec!r}: expected res, "
                             "noref, noprune, eN, bandX, graceN, minN, hbN, spread, cheap, random or "
                             "whole<pick>")
    return cfg.replace(**changes)


def run_toolkit(cfg, spend: Spend) -> list[tuple[float, float, float, bool]]:
    """One search with ``--max-compute`` (or ``--max-minutes``) as the budget, as a user
    would run it; (seconds to finish, val MAE, float16 KiB, is the reference) of each
    completed trial (pruned and paused trials have no model to ship)."""
    import io

    from rich.console import Console

    from search import pipeline
    from search.records import COMPLETE, INFEASIBLE, load_records

    t0 = time.time()
    budget = ({"max_compute": spend.budget_gmac} if spend.budget_gmac is not None
              else {"max_minutes": spend.budget_s / 60})
    pipeline.run(cfg.replace(trials=100_000, **budget), console=Console(file=io.StringIO()))
    run_dir = Path(cfg.results_dir) / cfg.run_name
    records = load_records(run_dir)
    spend.gmac = pipeline.compute_spent(records, spend.n)
    spend.candidates = sum(1 for r in records if r.status != INFEASIBLE)
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


class Spend:
    """A hand-written contender's budget: wall clock (``budget_s``) or compute
    (``budget_gmac``, G MAC-images: forward MACs x training images, every epoch, as the
    toolkit's ``--max-compute`` counts). No trial starts once it is spent; the running one
    finishes."""

    def __init__(self, budget_s: float | None, budget_gmac: float | None, train_images: int):
        self.budget_s, self.budget_gmac, self.n = budget_s, budget_gmac, train_images
        self.t0 = time.perf_counter()
        self.gmac = 0.0
        self.candidates = 0

    def spent(self) -> bool:
        if self.budget_gmac is not None:
            return self.gmac >= self.budget_gmac
        return time.perf_counter() - self.t0 > self.budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def callback(self, macs: int):
        """A Keras callback adding each epoch's work."""
        import keras

        spend = self

        class Count(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                spend.gmac += macs * spend.n / 1e9

        return Count()


def _hand_space(cfg):
    """The space a hand-written search draws from, and its resolution: the lite space at
    ``--image-size`` (64 px by default)."""
    from search import space

    size = cfg.image_size or 64
    return space.load("lite").pinned({"image_size": size}), size


def _users_values(values: dict) -> dict:
    """A hand-written search's candidate: the space's values without the toolkit's own
    limits (``max_flatten``), as a user who copied the space's ranges would build it."""
    return {**values, "max_flatten": 0}


def _fit_hand(values: dict, size: int, data, cfg, spend: Spend, epochs: int | None = None,
              model=None):
    """Build (unless given), compile and fit one candidate as a user would: Adam, MAE, early
    stopping with the best weights restored; returns (model, its best val MAE)."""
    import keras

    from search import builder, costs

    model = model or builder.build_model(values, (size, size, 3))
    model.compile(keras.optimizers.Adam(values["learning_rate"]), loss="mae", metrics=["mae"])
    hist = model.fit(data.dataset("train", image_size=size), epochs=epochs or cfg.epochs,
                     validation_data=data.dataset("val", image_size=size), verbose=0,
                     callbacks=[keras.callbacks.EarlyStopping("val_mae", patience=cfg.patience,
                                                              restore_best_weights=True),
                                spend.callback(costs.count_macs(model))])
    return model, min(hist.history["val_mae"])


def _costed(finished, size, data) -> list[tuple[float, float, float, bool]]:
    """(seconds, val MAE, float16 KiB, False) of hand-written trials, sizes measured now."""
    from search import costs

    out = []
    for t, values, model in finished:
        mae = float(model.evaluate(data.dataset("val", image_size=size), verbose=0,
                                   return_dict=True)["mae"])
        c = costs.measure(model, values, (size, size, 3), with_latency=False)
        out.append((t, mae, c.tflite_float16_bytes / 1024, False))
        print(f"    trial at {t:.0f} s {values['blocks']} blocks {values['head']}: val {mae:.2f} y "
              f"{c.tflite_float16_bytes / 1024:.0f} KiB", flush=True)
    return out


def run_plain_kerastuner(cfg, data, spend: Spend,
                         stream: int = 0) -> list[tuple[float, float, float, bool]]:
    """A hand-written KerasTuner RandomSearch over the lite space; costs measured afterwards.
    ``stream``: another sequence of random candidates on the same data and split (0: the
    tuner seeded with ``--seed``, as every run before this option)."""
    import keras
    import keras_tuner as kt

    from search.backends.kerastuner import hyperparameters, values_from

    s, size = _hand_space(cfg)
    finished: list[tuple[float, dict, keras.Model]] = []

    class Hand(kt.RandomSearch):
        def run_trial(self, trial, *args, **kwargs):
            if spend.spent():
                self.oracle.max_trials = len(self.oracle.trials)  # stop proposing
                raise kt.errors.FailedTrialError("budget spent")
            values = _users_values(values_from(s, trial.hyperparameters))
            spend.candidates += 1
            model, best = _fit_hand(values, size, data, cfg, spend)
            finished.append((spend.elapsed(), values, model))
            return {"val_mae": best}

    with tempfile.TemporaryDirectory() as tmp:
        tuner = Hand(hypermodel=None, objective=kt.Objective("val_mae", "min"), max_trials=10**6,
                     hyperparameters=hyperparameters(s), directory=tmp, project_name="plain",
                     seed=cfg.seed + 1_000_003 * stream, max_consecutive_failed_trials=10**6)
        try:
            tuner.search(verbose=0)
        except RuntimeError:
            pass
    return _costed(finished, size, data)


def run_plain_hyperband(cfg, data, spend: Spend) -> list[tuple[float, float, float, bool]]:
    """A hand-written KerasTuner Hyperband over the lite space (``max_epochs`` = the
    trials' epochs, factor 3), as its guide shows: a trial of a later round goes on from
    its parent's weights. Every trial is a model with its validation MAE, as
    ``tuner.get_best_models()`` sees them (and as the toolkit's ``moasha`` ships each
    candidate where its rungs stopped it)."""
    import keras
    import keras_tuner as kt

    from search.backends.kerastuner import hyperparameters, values_from

    s, size = _hand_space(cfg)
    finished: list[tuple[float, dict, keras.Model]] = []

    class Hand(kt.Hyperband):
        def run_trial(self, trial, *args, **kwargs):
            if spend.spent():
                raise kt.errors.FatalError("budget spent")
            hp = trial.hyperparameters
            values = _users_values(values_from(s, hp))
            epochs, start = hp.values["tuner/epochs"], hp.values["tuner/initial_epoch"]
            model = None
            if "tuner/trial_id" in hp.values:  # a later round: the parent's weights
                from search import builder

                model = builder.build_model(values, (size, size, 3))
                model.load_weights(self._get_checkpoint_fname(hp.values["tuner/trial_id"]))
            else:
                spend.candidates += 1
            model, best = _fit_hand(values, size, data, cfg, spend,
                                    epochs=max(1, epochs - start), model=model)
            model.save_weights(self._get_checkpoint_fname(trial.trial_id))
            finished.append((spend.elapsed(), values, model))
            return {"val_mae": best}

    with tempfile.TemporaryDirectory() as tmp:
        tuner = Hand(hypermodel=None, objective=kt.Objective("val_mae", "min"),
                     max_epochs=cfg.epochs, factor=3, hyperband_iterations=100,
                     hyperparameters=hyperparameters(s), directory=tmp, project_name="hb",
                     seed=cfg.seed)
        try:
            tuner.search(verbose=0)
        except (RuntimeError, kt.errors.FatalError):
            pass
    return _costed(finished, size, data)


def run_plain_optuna(cfg, data, spend: Spend) -> list[tuple[float, float, float, bool]]:
    """A hand-written Optuna multi-objective TPE search over the lite space: three
    objectives (val MAE, parameters, TFLite float16 bytes, converted after training), no
    toolkit feature (no band, no pruning, no reference, no cost checks)."""
    import optuna

    from search import costs
    from search.backends.optuna import values_of

    s, size = _hand_space(cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize"] * 3,
                                sampler=optuna.samplers.TPESampler(seed=cfg.seed))
    out = []

    def objective(trial):
        values = _users_values(values_of(s, trial))
        spend.candidates += 1
        model, _ = _fit_hand(values, size, data, cfg, spend)
        mae = float(model.evaluate(data.dataset("val", image_size=size), verbose=0,
                                   return_dict=True)["mae"])
        c = costs.measure(model, values, (size, size, 3), with_latency=False)
        out.append((spend.elapsed(), mae, c.tflite_float16_bytes / 1024, False))
        print(f"    trial at {spend.elapsed():.0f} s {values['blocks']} blocks {values['head']}: "
              f"val {mae:.2f} y {c.tflite_float16_bytes / 1024:.0f} KiB", flush=True)
        if spend.spent():
            trial.study.stop()
        return mae, c.params, c.tflite_float16_bytes

    study.optimize(objective, n_trials=10**6, catch=(Exception,))
    return out


#: Hand-written contenders other than plain-kt (which takes --plain-stream).
HANDS = {"plain-kt": None, "plain-hb": run_plain_hyperband, "plain-optuna": run_plain_optuna}


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact sign test: the chance of a split at least this uneven if either
    contender were as likely to win each pair (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def one_sided(wins: int, losses: int) -> float:
    """One-sided exact sign test: the chance of at least ``wins`` wins of the untied pairs
    if either contender were as likely to win each."""
    n = wins + losses
    if n == 0:
        return 1.0
    return sum(math.comb(n, i) for i in range(wins, n + 1)) / 2 ** n


def _median(xs):
    """(median, min, max) of the measured values; None when none was measured."""
    xs = [x for x in xs if x is not None]
    return (statistics.median(xs), min(xs), max(xs)) if xs else None


def _fmt(m, spec, to="-"):
    return "-" if m is None else f"{m[0]:{spec}} [{m[1]:{spec}}{to}{m[2]:{spec}}]"


def _order(name: str) -> tuple[int, str]:
    """The reference recipe, then the hand-written searches, then the toolkit's."""
    return (0 if name == "seed" else 1 if name.startswith("plain-kt") else 2, name)


def _quarter(figures: dict) -> bool:
    """A model at least as accurate as the reference recipe at a quarter of its size or less
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
          f"{'smallest f16 KiB':>18} {'time to seed MAE s':>19} {'as good / seed size':>20} "
          f"{'candidates':>13} {'G MAC-images':>20} {'wall s':>18}")
    for name, runs in sorted(by_seed.items(), key=lambda kv: _order(kv[0])):
        rs = list(runs.values())
        print(f"{name:{w}} {len(rs):>5} {_fmt(_median([r['best_mae'] for r in rs]), '.2f'):>20} "
              f"{_fmt(_median([r['hv'] for r in rs]), '.3f'):>20} "
              f"{_fmt(_median([r['trials'] for r in rs]), '.0f'):>12} "
              f"{_fmt(_median([r['small_kib'] for r in rs]), '.0f'):>18} "
              f"{_fmt(_median([r['t_seed'] for r in rs]), '.0f'):>19} "
              f"{_fmt(_median([r['seed_share'] for r in rs]), '.2f'):>20} "
              f"{_fmt(_median([r.get('candidates') for r in rs]), '.0f'):>13} "
              f"{_fmt(_median([r.get('gmac') for r in rs]), '.0f'):>20} "
              f"{_fmt(_median([r.get('seconds') for r in rs]), '.0f'):>18}")
    print("smallest f16 KiB: the smallest float16 file within 10% of the contender's best MAE; "
          "time to seed MAE: until a trial first matched the reference recipe's val MAE; as good / "
          "seed size: the smallest model at least as accurate as the reference recipe, as a share "
          "of its float16 size (target: at most 0.25); candidates: distinct candidates "
          "trained (for any number of epochs); G MAC-images: the compute used (a contender "
          "starts nothing once its budget is spent, so it ends a little over it); wall s: "
          "its wall-clock seconds (a second view: the machine's speed drifts); '-': none")
    plains = sorted(n for n in by_seed if n.startswith("plain"))
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
            ratio = [by_seed[tool][s].get("candidates") / by_seed[plain][s]["candidates"]
                     for s in common if by_seed[tool][s].get("candidates")
                     and by_seed[plain][s].get("candidates")]
            print(f"{tool} against {plain}, hypervolume paired over {len(common)} seed(s): "
                  f"higher on {wins}, lower on {losses}; difference median "
                  f"{_fmt(_median(diffs), '+.3f', ' to ')}; sign test p = "
                  f"{sign_test(wins, losses):.2f} (one-sided, higher: "
                  f"{one_sided(wins, losses):.3f}); as accurate as the seed at <= 1/4 of its "
                  f"size on {good} seed(s) against {good_plain}; candidates x"
                  f"{_fmt(_median(ratio), '.1f', ' to ')}")


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
                key = (row["data"], _budget_text(row), row["epochs"], row["image_size"])
                figures = {k: row[k] for k in ("best_mae", "hv", "trials", "small_kib",
                                               "t_seed", "seed_share")}
                for k in ("candidates", "gmac", "seconds"):  # runs before compute budgets
                    figures[k] = row.get(k)
                runs = groups.setdefault(key, {}).setdefault(row["contender"], {})
                runs[int(row["seed"])] = figures  # a later run of the same seed replaces it
            except (ValueError, KeyError, TypeError) as e:
                raise SystemExit(f"--summarise {path}, line {n}: expected one JSON object "
                                 f"written by --out ({type(e).__name__}: {e})") from None
    if not groups:
        raise SystemExit(f"--summarise {' '.join(paths)}: no figures in them")
    for (data, budget, epochs, size), by_seed in sorted(groups.items()):
        print_tables(by_seed, _title(data, budget, epochs, size))


def _budget_text(meta: dict) -> str:
    """``100 GMAC`` or ``4 min``: a contender's budget, compute or wall clock."""
    if meta.get("budget_gmac") is not None:
        return f"{meta['budget_gmac']:g} G MAC-images"
    return f"{meta['budget_min']:g} min"


def _title(data, budget: str, epochs, size) -> str:
    return f"{data}, budget {budget} per contender, {epochs} epochs, {size} px"


def _stream(text: str) -> int:
    """``--plain-stream``: a whole number, 0 or more."""
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-min", type=float, default=10.0,
                    help="wall clock per contender (when --budget-gmac is not given)")
    ap.add_argument("--budget-gmac", type=float, default=None,
                    help="compute per contender, G MAC-images (forward MACs x training images, "
                         "every epoch; the toolkit's --max-compute): the same work whatever "
                         "the machine's speed")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--seeds", default="42")
    ap.add_argument("--tuners", default="tpe,random",
                    help="toolkit contenders, comma-separated: "
                         "tuner[+res][+noref][+noprune][+eN][+bandX][+graceN]; moasha also "
                         "[+minN][+hbN][+spread|+cheap|+random]")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain KerasTuner run")
    ap.add_argument("--hand", default="plain-kt",
                    help="hand-written contenders, comma-separated: plain-kt (KerasTuner "
                         "RandomSearch), plain-hb (KerasTuner Hyperband), plain-optuna (Optuna "
                         "multi-objective TPE)")
    ap.add_argument("--plain-stream", type=_stream, default=0,
                    help="draw the plain KerasTuner search's candidates from another random "
                         "sequence (same data and split): how much its figures owe to its "
                         "draws")
    ap.add_argument("--space", default="lite",
                    help="the space the toolkit contenders search (a shipped name or a .toml "
                         "path), to measure a change to it; plain KerasTuner and the "
                         "reference recipe keep the shipped lite space")
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
    from search.config import RunConfig
    from search.errors import UserError

    budget_s = args.budget_min * 60
    hands = [] if args.no_plain else [h for h in args.hand.split(",") if h]
    for h in hands:
        if h not in HANDS:
            raise SystemExit(f"--hand {h!r}: expected some of {', '.join(HANDS)}")
    tuners = [t for t in args.tuners.split(",") if t]  # --tuners "": no toolkit contender
    for spec in tuners:  # a typo or a refused setting fails now, not after the reference
        try:             # recipe trained (+hb2 for a tuner other than moasha, say)
            contender(spec, RunConfig(epochs=args.epochs)).check()
        except UserError as e:
            raise SystemExit(f"--tuners {spec!r}: {e}") from None
    load_tensorflow()
    from search import data as data_mod
    from search import space
    from search.pipeline import median_baseline
    from search.trial import TrialContext, run_trial

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
            # the reference recipe, trained once
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
                    "budget_gmac": args.budget_gmac,
                    "epochs": args.epochs, "image_size": args.image_size, "space": args.space}
            n_train = len(data.ages("train"))

            def record(name, pts, spend=None, meta=meta, scale=(ref_point, seed_mae, seed_kib)):
                f = front_figures(pts, *scale)
                f["candidates"] = spend.candidates if spend else len(pts)
                f["gmac"] = spend.gmac if spend else None
                f["seconds"] = spend.elapsed() if spend else None
                rows.setdefault(name, {})[meta["seed"]] = f
                if args.out:  # written as it finishes: a later failure keeps it
                    with open(args.out, "a") as fh:
                        fh.write(json.dumps({**meta, "contender": name, **f}) + "\n")
                return f

            print(f"seed {seed}: baseline val MAE {base['val_mae']:.2f} y, reference recipe "
                  f"{seed_mae:.2f} y, {rec.tflite_float16_bytes / 1024:.0f} KiB float16; "
                  f"HV reference point ({ref_point[0]:.2f} y, {ref_point[1]:.0f} KiB)",
                  flush=True)
            plain_name = "plain-kt" + (f"#{args.plain_stream}" if args.plain_stream else "")
            record("seed", seed_pts)
            for spec in hands + tuners:  # interleaved within the seed, in this order
                name = (plain_name if spec == "plain-kt" else spec if spec in HANDS
                        else f"agesearch:{spec}{at_space}")
                spend = Spend(budget_s, args.budget_gmac, n_train)
                try:  # one contender's failure never loses the others' figures
                    if spec == "plain-kt":
                        pts = run_plain_kerastuner(cfg, data, spend, args.plain_stream)
                    elif spec in HANDS:
                        pts = HANDS[spec](cfg, data, spend)
                    else:
                        pts = run_toolkit(contender(spec, cfg).replace(
                            run_name="bench-" + spec.replace("+", "_")), spend)
                except Exception as e:  # noqa: BLE001 - reported, and the benchmark goes on
                    print(f"  {name}: failed: {type(e).__name__}: {e}", flush=True)
                    continue
                print(f"  {name}: {record(name, pts, spend)}", flush=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    print_tables(rows, _title(label, _budget_text({"budget_min": args.budget_min,
                                                   "budget_gmac": args.budget_gmac}),
                              args.epochs, args.image_size))


if __name__ == "__main__":
    main()
