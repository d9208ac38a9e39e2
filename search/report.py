"""Leaderboards: a rich table in the terminal and ``leaderboard.json`` in the run folder.

Reports read :class:`TrialRecord` lists and Pareto ranks only; they never touch Keras.

``leaderboard.json`` schema (``schema_version`` 1)::

    {
      "schema_version": 1,
      "run": "<run name>",
      "objectives": ["mae", "params", "kib"],   # all minimised
      "config": {...},                          # RunConfig of the run
      "space": {...},                           # the space as loaded
      "dataset": {...},                         # the data set's account
      "baseline": {"median_age": .., "val_mae": .., "test_mae": ..},
      "best_trial": "<id>" | null,              # lowest validation MAE on the front
      "trials": [ {TrialRecord fields..., "pareto_rank": int | null,
                   "tflite_float16_kib": float | null}, ... ]   # sorted as the table
    }
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from search import pareto
from search.records import COMPLETE, STATUSES, TrialRecord, write_json_atomic

SCHEMA_VERSION = 1

#: Hyperparameters shown in the table, in this order, when present.
KEY_PARAMS = ("blocks", "filters", "conv", "dense", "dropout", "learning_rate")


def sort_key(record: TrialRecord, ranks: Mapping[str, int]):
    """Front first (then by MAE), then later fronts, then pruned, infeasible, failed."""
    rank = ranks.get(record.trial_id)
    return (
        STATUSES.index(record.status) if record.status in STATUSES else len(STATUSES),
        rank if rank is not None else 10**9,
        record.val_mae if record.val_mae is not None else float("inf"),
        record.trial_id,
    )


def ordered(records: Sequence[TrialRecord], ranks: Mapping[str, int]) -> list[TrialRecord]:
    return sorted(records, key=lambda r: sort_key(r, ranks))


def summarise_values(values: Mapping[str, Any]) -> dict[str, str]:
    """Short strings for the key hyperparameters of a candidate."""
    out: dict[str, str] = {}
    blocks = values.get("blocks")
    if blocks is not None:
        out["blocks"] = str(blocks)
        out["filters"] = "-".join(str(values.get(f"filters_{i}", "?")) for i in range(1, blocks + 1))
        kinds = {values.get(f"conv_{i}", values.get("conv", "separable")) for i in range(1, blocks + 1)}
        out["conv"] = "lite" if kinds == {"separable"} else "full" if kinds == {"full"} else "mixed"
    if "head" in values:
        out["head"] = str(values["head"])
    dense = values.get("dense_layers")
    if dense is not None:
        out["dense"] = "-".join(str(values.get(f"dense_units_{j}", "?")) for j in range(1, dense + 1))
    if "dropout" in values:
        out["dropout"] = f"{float(values['dropout']):.2f}"
    if "learning_rate" in values:
        out["learning_rate"] = f"{float(values['learning_rate']):.1e}"
    return out


def leaderboard(run_name: str, records: Sequence[TrialRecord], *, config: Mapping | None = None,
                space: Mapping | None = None, dataset: Mapping | None = None,
                baseline: Mapping | None = None,
                objectives: Sequence[str] = pareto.DEFAULT_OBJECTIVES) -> dict[str, Any]:
    """The leaderboard as plain data (what ``leaderboard.json`` holds)."""
    ranks = pareto.rank(records, objectives)
    best = pareto.best(records, ranks)
    rows = []
    for r in ordered(records, ranks):
        row = r.to_dict()
        row["pareto_rank"] = ranks.get(r.trial_id)
        row["tflite_float16_kib"] = r.tflite_float16_kib
        rows.append(row)
    return {
        "schema_version": SCHEMA_VERSION,
        "run": run_name,
        "objectives": list(objectives),
        "config": dict(config or {}),
        "space": dict(space or {}),
        "dataset": dict(dataset or {}),
        "baseline": dict(baseline or {}),
        "best_trial": best.trial_id if best else None,
        "trials": rows,
    }


def write(board: Mapping[str, Any], run_dir: Path) -> Path:
    path = Path(run_dir) / "leaderboard.json"
    write_json_atomic(path, board)
    return path


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def table(board: Mapping[str, Any]):
    """A rich Table of the leaderboard."""
    from rich.table import Table

    t = Table(title=f"Leaderboard: {board['run']}", title_justify="left", header_style="bold")
    for col, kw in (
        ("trial", {}), ("status", {}), ("rank", {"justify": "right"}),
        ("val MAE (y)", {"justify": "right"}), ("test MAE (y)", {"justify": "right"}),
        ("params", {"justify": "right"}), ("TFLite f16 KiB", {"justify": "right"}),
        ("blocks", {"justify": "right"}), ("filters", {"overflow": "fold"}), ("conv", {}),
        ("head", {}), ("dense", {}),
        ("dropout", {"justify": "right"}), ("lr", {"justify": "right"}),
        ("epochs", {"justify": "right"}), ("train s", {"justify": "right"}),
    ):
        t.add_column(col, **kw)
    for row in board["trials"]:
        hp = summarise_values(row.get("values", {}))
        rank = row.get("pareto_rank")
        trial = row["trial_id"] + (" (ref)" if row.get("is_reference") else "")
        if rank == 1:
            trial = "* " + trial
        style = None if row["status"] == COMPLETE else "dim"
        if row["trial_id"] == board.get("best_trial"):
            style = "bold green"
        t.add_row(
            trial, row["status"], "-" if rank is None else str(rank),
            _fmt(row.get("val_mae"), ".2f"), _fmt(row.get("test_mae"), ".2f"),
            "-" if row.get("params") is None else f"{row['params']:,}",
            _fmt(row.get("tflite_float16_kib"), ".1f"),
            hp.get("blocks", "-"), hp.get("filters", "-"), hp.get("conv", "-"),
            hp.get("head", "-"), hp.get("dense", "-"), hp.get("dropout", "-"), hp.get("learning_rate", "-"),
            str(row.get("epochs_run", 0)), f"{row.get('train_seconds', 0.0):.0f}",
            style=style,
        )
    return t


def print_board(board: Mapping[str, Any], console=None) -> None:
    from rich.console import Console

    console = console or Console()
    console.print(table(board))
    console.print("* = on the Pareto front (validation MAE, parameters, TFLite float16 size; "
                  "lower is better)")
    for row in board["trials"]:
        if row["status"] != COMPLETE and row.get("reason"):
            console.print(f"  trial {row['trial_id']} {row['status']}: {row['reason']}",
                          style="dim", markup=False, highlight=False)
    base = board.get("baseline") or {}
    best_id = board.get("best_trial")
    if best_id is None:
        console.print("No trial finished: nothing to rank yet.")
        return
    best = next(r for r in board["trials"] if r["trial_id"] == best_id)
    if base:
        console.print(
            f"Best trial {best_id}: val MAE {best['val_mae']:.2f} y, test MAE "
            f"{_fmt(best.get('test_mae'), '.2f')} y; median-age baseline "
            f"({base['median_age']:.0f} y): val {base['val_mae']:.2f} y, test "
            f"{base['test_mae']:.2f} y (best / baseline on test: "
            f"{_fmt(_ratio(best.get('test_mae'), base['test_mae']), '.2f')}).",
            markup=False, highlight=False,
        )
