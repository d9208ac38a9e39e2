"""Command line: flags -> the Python API (:mod:`search.api`). It owns all console output.

    python run_search.py [search] [flags]                run a search (the default command)
    python run_search.py refit RUN_DIR [...]             retrain chosen trials to ship them
    python run_search.py export RUN_DIR [...]            export trials to TFLite, verified
    python run_search.py predict MODEL.tflite IMAGE ...  ages from an exported file
    python run_search.py leaderboard RUN_DIR [...]       report on runs (finished or running)
    python run_search.py data [--data-dir DIR]           print the data set's account

``agesearch`` (the installed command) is the same program.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from search.config import RunConfig, int_problem
from search.errors import NothingDone, UserError
from search.trial_process import RECYCLE_AFTER

_D = RunConfig()
#: What the process's exit status says, for every command.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = ("Exit status: 0 done; 1 the work failed (no trial finished, nothing predicted, "
              "an export not verified); 2 bad input (a flag, a space file, a damaged run file: "
              "one line names it and what was expected); 130 interrupted (Ctrl-C: finished "
              "trials are kept and the same command resumes).")


class _Parser(argparse.ArgumentParser):
    """Bad flags end in one line, ``error: --seed: expected ...``, and exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.commands: dict[str, _Parser] = {}  # the subcommands' parsers, by name

    def error(self, message: str):  # type: ignore[override]
        if message.startswith("argument "):
            message = message[len("argument "):]
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None ones (their help says what leaving them out means) and
    those of switches that take no value (``--no-prune`` is off unless given: "default:
    True", the value it turns off, read as if it were on)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def _whole(name: str):
    """The argparse type of an integer setting of :data:`search.config.INT_LIMITS`."""

    def parse(text: str) -> int:
        try:
            value: int | str = int(text)
        except ValueError:
            value = text
        problem = int_problem(name, value)
        if problem:
            got = text if isinstance(value, int) else repr(text)
            raise argparse.ArgumentTypeError(f"{problem}, got {got}")
        return value  # type: ignore[return-value]

    parse.__name__ = name
    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _non_negative_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not 0.0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def _prog() -> str:
    """How the user called us: ``agesearch`` (the installed command) or ``run_search.py``;
    both are the same program."""
    return "agesearch" if Path(sys.argv[0]).name == "agesearch" else "run_search.py"


def version() -> str:
    """The installed agesearch's version (pyproject.toml's, once installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("agesearch")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed: pip install -e .)"


def _search_flags(parser: argparse.ArgumentParser, title: str | None = None) -> None:
    """The search command's flags (also the top level's: no command means search), in a
    group of their own when ``title`` is given."""
    from search import backends

    p = parser.add_argument_group(title) if title else parser

    p.add_argument("--config", default=None, metavar="FILE",
                   help="search with the settings of a run's config.json (or of its run "
                        "folder); flags given as well override them. The same --run-name "
                        "resumes that run: give another to search again; --overwrite is never "
                        "replayed")
    p.add_argument("--space", default=_D.space,
                   help="search space: a shipped name (spaces/<name>.toml) or a path to a "
                        ".toml file")
    p.add_argument("--tuner", default=_D.tuner, choices=list(backends.TUNERS),
                   help="what proposes candidates: " + "; ".join(
                       f"{k}: {v}" for k, v in backends.TUNERS.items()))
    p.add_argument("--trials", type=_whole("trials"), default=_D.trials,
                   help="candidate models to train, in total (the reference and a resumed run's "
                        "earlier trials count; over-budget candidates do not)")
    p.add_argument("--max-minutes", type=_positive_number, default=_D.max_minutes,
                   help="wall-clock budget: start no trial after this many minutes from "
                        "this command's start (the running one finishes; a resumed search "
                        "gets the budget again); the search stops at this or --trials, "
                        "whichever comes first")
    p.add_argument("--max-compute", type=_positive_number, default=_D.max_compute,
                   metavar="GMAC",
                   help="compute budget, the same on any machine: start no trial (nor rung) "
                        "once the trials have trained this many G MAC-images (forward "
                        "multiply-accumulates per image x training images, every epoch); the "
                        "running one finishes")
    p.add_argument("--no-reference", dest="reference", action="store_false",
                   help="do not train the reference recipe (the space's [reference]) as "
                        "trial 'ref'")
    p.add_argument("--min-epochs", type=_whole("min_epochs"), default=_D.min_epochs,
                   help="moasha: epochs of the first rung (every candidate trains this long); "
                        "each next rung is 3 times longer, up to --epochs")
    p.add_argument("--brackets", type=_whole("brackets"), default=_D.brackets,
                   help="moasha: start new candidates at one of the first N rungs, in "
                        "Hyperband's shares (asynchronous Hyperband), so some train whole "
                        "from the start; 1: all at the first rung")
    p.add_argument("--epochs", type=_whole("epochs"), default=_D.epochs,
                   help="epochs per trial, at most (early stopping on validation MAE may stop "
                        "sooner)")
    p.add_argument("--patience", type=_whole("patience"), default=_D.patience,
                   help="early stopping: epochs without a better validation MAE")
    p.add_argument("--no-prune", dest="prune", action="store_false",
                   help="never stop a trial early because a finished trial that is no larger "
                        "and no slower was better at the same epoch")
    p.add_argument("--prune-margin", type=_non_negative_number, default=_D.prune_margin,
                   help="pruning: how much better (a fraction: 0.1 = 10%%) the finished "
                        "trial's validation MAE must have been")
    p.add_argument("--prune-after", type=_whole("prune_after"), default=_D.prune_after, metavar="EPOCH",
                   help="pruning: judge no trial before the end of this epoch (default: a "
                        "quarter of --epochs, rounded up)")
    p.add_argument("--accuracy-band", type=_fraction, default=_D.accuracy_band,
                   metavar="F",
                   help="Optuna tuners: a trial that gained less than F of the best finished "
                        "trial's gain over the median-age baseline (validation MAE) is "
                        "infeasible to the sampler (it stays on the leaderboard), so the "
                        "search stops proposing networks far from useful accuracy however "
                        "small; 0 = off")
    _data_flags(p)
    p.add_argument("--image-size", type=_whole("image_size"), default=_D.image_size,
                   help="training resolution in pixels per side, for every candidate "
                        "(default: the space's image_size choices, or 64 px)")
    p.add_argument("--batch-size", type=_whole("batch_size"), default=_D.batch_size,
                   help="images per training batch")
    g = parser.add_argument_group("budget of the target phone (checked before training; a "
                                  "candidate over it is recorded as infeasible and never "
                                  "trained)")
    g.add_argument("--max-params", type=_whole("max_params"), default=None, help="parameters, at most")
    g.add_argument("--max-kib", type=_positive_number, default=None,
                   help="size of the --deploy-dtype TFLite file in KiB, at most")
    g.add_argument("--max-latency-ms", type=_positive_number, default=None,
                   help="host latency in ms (LiteRT interpreter, 1 thread, median), at most")
    g.add_argument("--max-macs", type=_whole("max_macs"), default=None,
                   help="multiply-accumulates per image, at most")
    g.add_argument("--deploy-dtype", default=_D.deploy_dtype, choices=["float32", "float16", "int8"],
                   help="the TFLite file that --max-kib and the latency refer to")
    p.add_argument("--run-name", default=_D.run_name,
                   help="name of the run folder; the same name resumes a run (default: "
                        "<space>-<date>-<time>)")
    p.add_argument("--results-dir", default=_D.results_dir,
                   help="folder that holds one folder per run")
    p.add_argument("--overwrite", action="store_true",
                   help="delete an existing run of the same name and start over (never "
                        "with workers running)")
    p.add_argument("--max-memory-growth", type=_non_negative_number,
                   default=_D.max_memory_growth,
                   help="trials train in a worker process, replaced by a fresh one (unseen) "
                        "when one more trial would take its memory more than this fraction "
                        "above its level after its second trial (TensorFlow keeps a few MiB "
                        f"of every trial), and after {RECYCLE_AFTER} trials in any case; 0: "
                        f"only after {RECYCLE_AFTER}")
    p.add_argument("--storage", default=_D.storage,
                   help="Optuna tuners: the storage that workers share, an RDB URL "
                        "(postgresql://user:password@host/db) or a journal file path "
                        "(default: RUN_DIR/optuna.journal); start the same command again, "
                        "here or on another machine, to add a worker")


def _data_flags(p: Any) -> None:
    """The data set's flags, on a parser or an argument group."""
    p.add_argument("--data-dir", default=_D.data_dir,
                   help="UTKFace images: a folder (any depth) or an archive (.tar.gz, .tgz, "
                        ".tar, .zip; unpacked to the cache once); default: the embedded "
                        "synthetic faces")
    p.add_argument("--synthetic-images", type=_whole("synthetic_images"), default=_D.synthetic_images,
                   help="number of synthetic faces when no --data-dir is given")
    p.add_argument("--max-images", type=_whole("max_images"), default=_D.max_images,
                   help="use at most this many images (a deterministic subset); default: all")
    p.add_argument("--val-fraction", type=_fraction, default=_D.val_fraction,
                   help="fraction of distinct images held out for validation")
    p.add_argument("--test-fraction", type=_fraction, default=_D.test_fraction,
                   help="fraction of distinct images held out for the final test")
    p.add_argument("--seed", type=_whole("seed"), default=_D.seed,
                   help="seed for synthetic data, split, sampling and weight init")
    p.add_argument("--cache-dir", default=_D.cache_dir,
                   help="where synthetic faces and unpacked archives are cached (default: "
                        "$AGESEARCH_CACHE or ~/.cache/agesearch)")


def _data_command(p: argparse.ArgumentParser) -> None:
    _data_flags(p)
    p.add_argument("--json", action="store_true", help="print the account as JSON instead")


def _unit_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def _refit_command(p: argparse.ArgumentParser) -> None:
    from search import refit

    p.add_argument("run_dir", help="the run folder, e.g. results/lite-20260101-120000")
    p.add_argument("--trial", default="best",
                   help="'best' (lowest validation MAE on the Pareto front), 'knee', 'front' "
                        "(every member of the front), a trial id, or several separated by "
                        "commas")
    p.add_argument("--epochs", type=_whole("epochs"), default=None,
                   help=f"epochs of each refit (default: {refit.EPOCHS_FACTOR} times the "
                        "run's --epochs), the trial's learning-rate schedule stretched over "
                        "them; no early stopping: the validation split is trained on")
    p.add_argument("--teacher", default=None,
                   help="distil from this model: 'best' (the best trial), a trial id or a "
                        "refit id (003-refit); the loss mixes the labels with the teacher's "
                        "ages (default: labels only)")
    p.add_argument("--label-weight", type=_unit_fraction, default=None,
                   help="with --teacher: the labels' weight in the loss, the teacher's ages "
                        f"taking the rest (default: {refit.DEFAULT_LABEL_WEIGHT})")
    p.add_argument("--augment", type=_unit_fraction, default=refit.DEFAULT_AUGMENT,
                   help="augmentation strength, 0 (horizontal flips only) to 1 (flips, shifts "
                        "and scales up to 10%%, brightness and contrast up to 20%%)")
    p.add_argument("--no-recentre", dest="recentre", action="store_false",
                   help="keep each refit's ages as trained (by default its median error on "
                        "its own training images, unaugmented, is taken out of its output); "
                        "a finished refit is re-centred, or its re-centring undone, to "
                        "match, without training")
    p.add_argument("--seed", default=None,
                   help="train each refit once per seed, e.g. 2,3 (default: the run's --seed "
                        "once); another seed than the run's gives <trial>-refit-seed<N>: "
                        "copies that show the spread, or that 'export --ensemble' averages")


def _export_command(p: argparse.ArgumentParser) -> None:
    from search import export, interpreter

    p.add_argument("run_dir", help="the run folder, e.g. results/lite-20260101-120000")
    p.add_argument("--trial", default=None,
                   help="'best' (lowest validation MAE on the Pareto front), 'knee' (the "
                        "leaderboard's knee: validation MAE against parameters and float16 "
                        "size, accuracy weighing as much as size), a trial id, a refit id "
                        "('003-refit', written by the refit command), or several separated "
                        "by commas (default: best)")
    p.add_argument("--max-kib", type=_positive_number, default=None,
                   help="instead of --trial: the lowest validation MAE whose TFLite float16 "
                        "file is at most this many KiB")
    p.add_argument("--max-latency-ms", type=_positive_number, default=None,
                   help="instead of --trial: the lowest validation MAE whose TFLite float16 "
                        "file runs one image within this many milliseconds on this host "
                        "(1 thread, median)")
    p.add_argument("--quantize", default=",".join(export.DEFAULT_QUANTIZE),
                   help="comma-separated formats: float32, float16, dynamic (dynamic-range), "
                        "int8 (full integer, uint8 pixels in); or 'all'")
    p.add_argument("--samples", type=_positive_int, default=None,
                   help="test images used to verify each file (default: the whole test split)")
    p.add_argument("--calibration-images", type=_positive_int,
                   default=export.DEFAULT_CALIBRATION_IMAGES,
                   help="training images that calibrate int8 quantization")
    p.add_argument("--no-equalize", dest="equalize", action="store_false",
                   help="int8: convert the model as trained only (by default a copy with "
                        "equalized channel ranges, the same function, is converted too, and "
                        "the file closer to Keras on the calibration images is shipped)")
    p.add_argument("--no-bias-correction", dest="bias_correction", action="store_false",
                   help="int8: leave each file's median error against Keras on the calibration "
                        "images in its output (by default it is measured and subtracted, "
                        "and the file converted again)")
    p.add_argument("--latency-runs", type=_positive_int, default=interpreter.TIMED_RUNS,
                   help="timed runs per latency figure (after warm-up; the median is reported)")
    p.add_argument("--flip", action="store_true",
                   help="average each model's age of the face and of its mirror image "
                        "(test-time flip: the same weights, twice the inference work); "
                        "written to trial_<id>-flip/")
    p.add_argument("--ensemble", action="store_true",
                   help="one file averaging the models --trial names (two or more, one input "
                        "size; e.g. refits of one trial with other seeds, 'refit --seed 2,3'); "
                        "its size and work are theirs together; written to "
                        "trial_<id>+<id>.../")
    p.add_argument("--out", default=None,
                   help="folder to write trial_<id>/ into (default: RUN_DIR/export); for a run "
                        "folder that cannot be written")


def _predict_command(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help=f"a .tflite file written by '{_prog()} export'")
    p.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER",
                   help="JPEG files, or folders searched at any depth for .jpg/.jpeg files")
    p.add_argument("--threads", type=_positive_int, default=1, help="interpreter threads")


def _leaderboard_command(p: argparse.ArgumentParser) -> None:
    from search import pareto, report

    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run folder(s), e.g. results/lite-20260101-120000")
    p.add_argument("--format", default="table", dest="fmt",
                   help=f"output: {', '.join(report.FORMATS)}")
    p.add_argument("--sort", default="pareto",
                   help=f"row order: {', '.join(report.SORTS)} (pareto: rank, then crowding "
                        "distance, then validation MAE; size: float16 TFLite KiB; latency: "
                        "host ms)")
    p.add_argument("--objectives", default=",".join(pareto.DEFAULT_OBJECTIVES),
                   help=f"comma-separated, all minimised: {', '.join(pareto.OBJECTIVES)}")
    p.add_argument("--max-kib", type=_positive_number, default=None,
                   help="budget: float16 TFLite file size at most this many KiB")
    p.add_argument("--max-latency-ms", type=_positive_number, default=None,
                   help="budget: host latency at most this many milliseconds")
    p.add_argument("--max-params", type=_positive_number, default=None,
                   help="budget: at most this many parameters")
    p.add_argument("--rank-anyway", action="store_true",
                   help="merge and rank runs whose data, resolution or split differ (refused "
                        "unless given: their MAEs do not compare)")
    p.add_argument("--out", default=None,
                   help="also write every report file into this folder (give the run folder "
                        "to refresh its reports)")


#: Each command: (one line for the command list, what its --help says, its flags).
COMMANDS: dict[str, tuple[str, str, Callable[[argparse.ArgumentParser], None]]] = {
    "search": (
        "run or resume a search (the default: no command means search)",
        "Search small, fast age-estimation CNNs on UTKFace-named face images and rank them on "
        "the Pareto front of validation MAE, parameters and TFLite size. The same command "
        "with the same --run-name resumes a run.",
        _search_flags),
    "refit": (
        "retrain chosen trials longer, on train + val, augmented (or distilled), to ship them",
        "Train the architecture of chosen trials again from scratch, on the training and "
        "validation splits together, for longer and with augmentation suited to faces "
        "(flips, small shifts and scales, brightness, contrast), optionally distilled from a "
        "larger model; then test it on the test split. Each refit is recorded in "
        "RUN_DIR/refits/<trial>-refit/ and exported with 'export --trial <trial>-refit'. "
        "Interrupted, the same command resumes it; a finished one is not trained again.",
        _refit_command),
    "export": (
        "export trials of a run to TFLite, verified against Keras",
        "Convert trials of a finished (or interrupted) run to TFLite, run each file in the "
        "LiteRT interpreter on the run's test split, check it against the Keras model, time "
        "it, and write model_card.json beside the files in RUN_DIR/export/trial_<id>/.",
        _export_command),
    "predict": (
        "ages of face images from an exported .tflite file",
        "Run an exported TFLite file on face images (already cropped, any size; resized as in "
        "training) and print the age of each, with the MAE when file names carry UTKFace "
        "labels.",
        _predict_command),
    "leaderboard": (
        "rank the trials of one or more runs; write the reports",
        "Rank the trials of one run, or of several runs merged into one table and one plot. "
        "Works while a search is still running (it reads the trial records). With --out, "
        "also writes leaderboard.md, .csv, .json, pareto.png and report.html into a folder.",
        _leaderboard_command),
    "data": (
        "the data set's account, without a search",
        "Print the data set's account: files found, used, skipped by reason (with examples), "
        "duplicate images, split sizes and the ages by decade.",
        _data_command),
}


def build_parser() -> _Parser:
    """The whole command line: the commands as argparse subcommands, and the search's flags
    at the top level too, since no command means search (``run_search.py --space lite``)."""
    prog = _prog()
    p = _Parser(
        prog=prog, usage=f"{prog} [COMMAND] [flags]", epilog=EXIT_CODES,
        formatter_class=_Formatter,
        description="Search small, fast age-estimation CNNs on UTKFace face images, rank them "
                    "on the Pareto front of validation MAE, parameters and TFLite size, and "
                    "export the chosen one as verified TFLite files. 'agesearch' (installed "
                    "by pip install -e .) and 'python run_search.py' are the same program. "
                    f"Each command has its own --help ({prog} export --help); with no "
                    "command, the search runs, with the flags below.")
    p.add_argument("--version", action="version", version=f"agesearch {version()}")
    commands = p.add_subparsers(title="commands", dest="command", metavar="COMMAND",
                                prog=prog, parser_class=_Parser)
    for name, (line, description, add_flags) in COMMANDS.items():
        p.commands[name] = commands.add_parser(name, help=line, description=description,
                                               epilog=EXIT_CODES, formatter_class=_Formatter)
        add_flags(p.commands[name])
    _search_flags(p, "search flags (the default command; also after 'search')")
    return p


def search_parser() -> _Parser:
    """The search's parser: the top level, where no command means search."""
    return build_parser()


def command_parser(command: str) -> _Parser:
    """The parser of one command of :data:`COMMANDS` (``run_search.py COMMAND ...``)."""
    return build_parser().commands[command]


def _console():
    """A rich console; wide enough for the leaderboard when output goes to a file or CI log."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed flags that are RunConfig fields."""
    return {k: v for k, v in vars(args).items() if k not in ("command", "config", "json")}


def _replayed(parser: _Parser, args: argparse.Namespace, argv: list[str]
              ) -> argparse.Namespace:
    """``--config FILE``: the file's settings become the defaults, the flags given win."""
    from search import api

    values = api.load_config(args.config).to_dict()
    (parser.commands["search"] if args.command == "search" else parser).set_defaults(**values)
    return parser.parse_args(argv)


def _search(args: argparse.Namespace) -> int:
    from search import api

    run = api.search(RunConfig(**_settings(args)), console=_console())
    counts = run.counts
    if not counts.get("complete"):
        why = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "none ran"
        raise NothingDone(f"no trial finished ({why}); the leaderboard above gives each "
                          "trial's reason")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from search import api

    exported = api.export_run(
        args.run_dir, args.trial, quantize=args.quantize, samples=args.samples,
        max_kib=args.max_kib, max_latency_ms=args.max_latency_ms,
        calibration_images=args.calibration_images, latency_runs=args.latency_runs,
        out_dir=args.out, flip=args.flip, ensemble=args.ensemble, equalize=args.equalize,
        bias_correction=args.bias_correction, console=_console())
    return EXIT_OK if all(e.verified for e in exported) else EXIT_FAILED


def _refit(args: argparse.Namespace) -> int:
    from search import api

    refits = api.refit_run(args.run_dir, args.trial, epochs=args.epochs, teacher=args.teacher,
                           augment=args.augment, label_weight=args.label_weight,
                           seed=args.seed, recentre=args.recentre, console=_console())
    failed = [r for r in refits if r.status != "complete"]
    if failed and len(failed) == len(refits):
        raise NothingDone(f"no refit finished: {failed[0].id}: {failed[0].reason}")
    return EXIT_FAILED if failed else EXIT_OK


def _predict(args: argparse.Namespace) -> int:
    from search import api

    api.predict_ages(args.model, args.images, threads=args.threads, console=_console())
    return EXIT_OK


def _leaderboard(args: argparse.Namespace) -> int:
    from search import report
    from search.budget import Budget

    budget = Budget(max_kib=args.max_kib, max_latency_ms=args.max_latency_ms,
                    max_params=args.max_params)
    report.show(args.run_dirs, fmt=args.fmt, sort=args.sort, objectives=args.objectives,
                budget=budget, out_dir=args.out,
                console=_console() if args.fmt == "table" else None,
                rank_anyway=args.rank_anyway)
    return EXIT_OK


def _data(args: argparse.Namespace) -> int:
    import json

    from search import data
    from search.data_report import print_account

    account = data.load(RunConfig(**_settings(args))).account.to_dict()
    if args.json:
        print(json.dumps(account, indent=2))
    else:
        print_account(account, _console())
    return EXIT_OK


def parse(argv: Sequence[str]) -> tuple[str, argparse.Namespace]:
    """The command (``search`` when none is given) and its flags; ``--config FILE``'s settings
    under the flags given. Bad flags exit (status 2, one line); a bad config file raises
    :class:`UserError`."""
    argv = list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "search"
    if args.command is not None and argv[0] != args.command:
        parser.error(f"the command comes first: {parser.prog} {command} [flags], got "
                     f"{' '.join(argv[:argv.index(command)])} before it")
    if command == "search" and args.config is not None:
        args = _replayed(parser, args, argv)
    return command, args


_RUN = {"search": _search, "refit": _refit, "export": _export, "predict": _predict,
        "leaderboard": _leaderboard, "data": _data}


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ chatter out
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        command, args = parse(argv)
        return _RUN[command](args)
    except UserError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NothingDone as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as e:
        print(str(e) or "interrupted: finished trials are kept in the run folder",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as e:  # --help, or a bad flag (one line printed): a status, not a raise
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None
                                                       else EXIT_BAD_INPUT)
    except OSError as e:  # a folder that cannot be written, a full disk: the user must act
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _one_line(e: Exception) -> str:
    """An error's message on one line, however it was written."""
    return " ".join(str(e).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
