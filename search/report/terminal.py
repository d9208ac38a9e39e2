"""The leaderboard in a terminal: a rich table that fits the console's width, then the trials
that did not finish and the summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from search.records import COMPLETE
from search.report.common import LEGEND, Column, columns, not_finished

#: Terminal headers (two lines where that saves width) and minimum widths of the columns
#: that may wrap; every other column never wraps.
_TERMINAL: dict[str, tuple[str, int | None]] = {
    "run": ("run", 6), "trial_id": ("trial", 5), "pareto_rank": ("rank", None),
    "val_mae": ("val\nMAE y", None), "test_mae": ("test\nMAE y", None),
    "refit_test_mae": ("refit\ntest y", None),
    "tflite_float16_kib": ("f16\nKiB", None), "tflite_int8_kib": ("int8\nKiB", None),
    "latency_ms": ("host\nms", None), "filters": ("filters", 8), "dense": ("dense", 5),
    "dropout": ("drop", None), "epochs_run": ("ep", None), "train_seconds": ("train\ns", None),
    "notes": ("notes", 4), "image_size": ("px", None),
}


#: Terminal columns left out first when the console is too narrow, in this order.
_DROP_ORDER = ("conv", "head", "dropout", "learning_rate", "train_seconds", "epochs_run",
               "dense", "filters", "macs", "tflite_int8_kib", "image_size", "latency_ms",
               "refit_test_mae", "test_mae")


def _width(c: Column, rows: Sequence[Mapping[str, Any]]) -> int:
    header = _TERMINAL.get(c.key, (c.header, None))[0]
    cells = [len(c.show(r)) for r in rows]
    return max([len(line) for line in header.split("\n")] + cells) + 2


def terminal_columns(b: Mapping[str, Any], width: int | None) -> tuple[list[Column], list[str]]:
    """The columns that fit ``width`` characters, and the headers of those left out."""
    cols = columns(b)
    dropped: list[str] = []
    if width is None:
        return cols, dropped
    for key in _DROP_ORDER:
        if sum(_width(c, b["trials"]) for c in cols) <= width:
            break
        hit = [c for c in cols if c.key == key]
        if hit:
            cols.remove(hit[0])
            dropped.append(hit[0].header)
    return cols, dropped


def table(b: Mapping[str, Any], width: int | None = None):
    """A rich Table of the leaderboard; columns that do not fit ``width`` are left out."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    t = Table(title=Text(f"Leaderboard: {b['run']}"), title_justify="left", header_style="bold",
              box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0), pad_edge=False)
    cols, _ = terminal_columns(b, width)
    for c in cols:
        header, min_width = _TERMINAL.get(c.key, (c.header, None))
        t.add_column(header, justify="right" if c.numeric else "left", min_width=min_width,
                     no_wrap=min_width is None, overflow="fold")
    for row in b["trials"]:
        style = None if row["status"] == COMPLETE else "dim"
        if row.get("is_best"):
            style = "bold green"
        t.add_row(*(Text(c.show(row)) for c in cols), style=style)
    return t


def print_board(b: Mapping[str, Any], console=None) -> None:
    """The table, the trials that did not finish and the summary, in the terminal."""
    from rich.console import Console

    console = console or Console()
    if b["trials"]:
        console.print(table(b, console.width))
        _, dropped = terminal_columns(b, console.width)
        hidden = (f" Left out for width: {', '.join(dropped)} (see --format markdown or html)."
                  if dropped else "")
        console.print(LEGEND + hidden, style="dim", markup=False, highlight=False)
    for row in not_finished(b):
        console.print(f"  trial {row['trial_id']} {row['status']}: {row['reason']}",
                      style="dim", markup=False, highlight=False)
    for line in b["summary"]["details"]:
        console.print(line, markup=False, highlight=False)
    for line in b["summary"]["headline"]:
        console.print(line, style="bold", markup=False, highlight=False)
