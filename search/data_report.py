"""The data set's account in the terminal: what was found, used, skipped, and the ages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BAR = "█"


def bars(histogram: Mapping[str, int], width: int = 40) -> list[tuple[str, int, str]]:
    """(decade, count, bar) rows, the longest bar ``width`` characters; pure."""
    top = max(histogram.values(), default=0) or 1
    return [(k, v, BAR * (max(1, round(width * v / top)) if v else 0))
            for k, v in histogram.items()]


def print_account(account: Mapping[str, Any], console=None, examples: int = 3) -> None:
    """Print ``DatasetAccount.to_dict()`` as tables and a bar chart of ages by decade."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    console.print(f"[bold]Data set[/] {account['source']}", highlight=False)
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("files found", f"{account['found']:,}")
    t.add_row("images used", f"{account['used']:,}")
    if account.get("unselected"):
        t.add_row("left out by --max-images", f"{account['unselected']:,}")
    t.add_row("files skipped", f"{account['skipped_total']:,}")
    t.add_row("duplicate images", f"{account['duplicate_files']:,} files in "
                                  f"{account['duplicate_groups']:,} groups")
    t.add_row("duplicates with conflicting ages", f"{account['conflicting_groups']:,} groups")
    splits = account.get("splits") or {}
    if splits:
        t.add_row("split (train / val / test)",
                  " / ".join(f"{splits.get(k, 0):,}" for k in ("train", "val", "test")))
    console.print(t)
    if account["skipped"]:
        s = Table(title="Skipped files", title_justify="left")
        s.add_column("reason")
        s.add_column("files", justify="right")
        s.add_column("examples")
        for reason, info in account["skipped"].items():
            s.add_row(reason, f"{info['count']:,}", ", ".join(info["examples"][:examples]))
        console.print(s)
    hist = account.get("age_histogram") or {}
    if hist:
        h = Table(title="Ages of the images used, by decade", title_justify="left")
        h.add_column("age", justify="right")
        h.add_column("images", justify="right")
        h.add_column("", style="cyan", no_wrap=True)
        for decade, count, bar in bars(hist):
            h.add_row(decade, f"{count:,}", bar)
        console.print(h)
