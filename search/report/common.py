"""What the renderings share: the leaderboard's columns, its legend, which trials did not
finish, which can be plotted, and one colour per run (plot and page alike)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from search.records import COMPLETE
from search.report.text import count, macs, marks, num

#: Hyperparameters shown in the tables, in this order, when present.
KEY_PARAMS = ("blocks", "filters", "conv", "head", "dense", "dropout", "learning_rate")
#: Key hyperparameters that are numbers: sorted and in CSV as recorded.
RAW_PARAMS = ("blocks", "dropout", "learning_rate")

LEGEND = ("rank: Pareto rank, 1 * = on the front; best: lowest validation MAE on the front; "
          "knee: best trade-off; ref: the reference recipe; fits: within the budget; "
          "'-': not measured. Sizes are TFLite files in KiB; latency is on the host CPU, "
          "one image.")

#: One colour per run (matplotlib's tab10), in board order.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def run_colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def log_ticks(low: float, high: float, most: int = 9) -> list[float]:
    """Ticks for a log axis from ``low`` to ``high`` (both > 0): 1, 2, 5 in each decade, or 1
    and 3, or 1 alone, whichever is the finest that gives at most ``most``; and never fewer
    than two (the ends, when no tick falls between them)."""
    import math

    if not (low > 0 and high > 0):
        return []
    low, high = min(low, high), max(low, high)
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for steps in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0 ** e for e in range(first, last + 1) for m in steps]
        ticks = [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]
        if len(ticks) <= most:
            break
    if len(ticks) < 2:
        ticks = sorted({*ticks, low, high})
    return ticks


def tick_text(v: float) -> str:
    """A tick's label: ``0.5``, ``20``, ``1,000``, ``1.5e+04`` past a hundred thousand."""
    if v >= 1e5:
        return f"{v:.2g}"
    if v >= 1000 and float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.3g}"


def plottable(t: Mapping[str, Any]) -> bool:
    """A trial has a place on the plot: a positive size and a validation MAE."""
    return all(t.get(k) is not None and t[k] > 0 for k in ("tflite_float16_kib", "val_mae"))


def not_finished(b: Mapping[str, Any]) -> list[dict]:
    """Trials that did not complete and say why."""
    return [t for t in b["trials"] if t["status"] != COMPLETE and t.get("reason")]


# --- columns shared by the table, Markdown, HTML and CSV ----------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    numeric: bool
    show: Any  # row -> display string
    raw: Any  # row -> sortable / machine value (None = missing)


def _hp(name: str) -> Column:
    """A key hyperparameter: shown as summarised, sorted by its recorded number if it has one."""
    header = {"learning_rate": "lr"}.get(name, name)
    if name in RAW_PARAMS:
        return Column(name, header, True, lambda r: r["hyperparameters"].get(name, "-"),
                      lambda r: r.get("values", {}).get(name))
    return Column(name, header, False, lambda r: r["hyperparameters"].get(name, "-"),
                  lambda r: r["hyperparameters"].get(name))


def columns(b: Mapping[str, Any]) -> list[Column]:
    """The leaderboard's columns (a run column only when runs are merged)."""
    cols = []
    if len(b["runs"]) > 1:
        cols.append(Column("run", "run", False, lambda r: r["run"], lambda r: r["run"]))
    cols += [
        Column("trial_id", "trial", False, lambda r: r["trial_id"], lambda r: r["trial_id"]),
        Column("status", "status", False, lambda r: r["status"], lambda r: r["status"]),
        Column("pareto_rank", "rank", True,
               lambda r: "-" if r["pareto_rank"] is None
               else f"{r['pareto_rank']}{' *' if r['on_front'] else ''}",
               lambda r: r["pareto_rank"]),
        # Next to the trial, so best and knee are seen without scrolling sideways.
        Column("notes", "notes", False, lambda r: " ".join(marks(r)) or "",
               lambda r: " ".join(marks(r))),
        Column("val_mae", "val MAE (y)", True, lambda r: num(r.get("val_mae"), ".2f"),
               lambda r: r.get("val_mae")),
        Column("test_mae", "test MAE (y)", True, lambda r: num(r.get("test_mae"), ".2f"),
               lambda r: r.get("test_mae")),
        *([Column("refit_test_mae", "refit test MAE (y)", True,
                  lambda r: num(r.get("refit_test_mae"), ".2f"),
                  lambda r: r.get("refit_test_mae"))]
          if any(r.get("refit_test_mae") is not None for r in b["trials"]) else []),
        Column("params", "params", True, lambda r: count(r.get("params")),
               lambda r: r.get("params")),
        Column("macs", "MACs", True, lambda r: macs(r.get("macs")), lambda r: r.get("macs")),
        Column("tflite_float16_kib", "f16 KiB", True,
               lambda r: num(r.get("tflite_float16_kib"), ".1f"),
               lambda r: r.get("tflite_float16_kib")),
        Column("tflite_int8_kib", "int8 KiB", True,
               lambda r: num(r.get("tflite_int8_kib"), ".1f"),
               lambda r: r.get("tflite_int8_kib")),
        Column("latency_ms", "latency ms", True, lambda r: num(r.get("latency_ms"), ".2f"),
               lambda r: r.get("latency_ms")),
    ]
    # The input resolution: the space's strongest lever on latency and MACs.
    cols.append(Column("image_size", "px", True,
                       lambda r: "-" if r.get("image_size") is None else str(r["image_size"]),
                       lambda r: r.get("image_size")))
    cols += [_hp(n) for n in ("filters", "conv", "head", "dense", "dropout", "learning_rate")]
    cols += [
        Column("epochs_run", "epochs", True, lambda r: str(r.get("epochs_run", 0)),
               lambda r: r.get("epochs_run")),
        Column("train_seconds", "train s", True, lambda r: num(r.get("train_seconds"), ".0f"),
               lambda r: r.get("train_seconds")),
    ]
    return cols
