"""``pareto.png``: validation MAE against TFLite float16 size, one colour per run.

Drawn with matplotlib's Agg canvas on a private ``Figure`` (no pyplot, no display, no global
state), from the board's plain data. What it shows:

- every complete trial as a dot at (float16 KiB, validation MAE), x on a log scale;
- each run's own Pareto front (on the board's objectives) joined in order of size, its
  members labelled with their trial ids;
- the reference trial (the reference recipe) as a star, the knee as a ring, the budget pick as a
  square and the size budget as a dotted vertical line;
- pruned trials faintly at their last MAE; infeasible and failed trials with a known size
  faintly as crosses along the top edge (they have no MAE);
- the median-age baseline as a dashed line when every run shares it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from search.records import COMPLETE, PRUNED
from search.report.common import log_ticks, plottable, run_colour, tick_text


def pareto_png(b: Mapping[str, Any], width_in: float = 6.0, height_in: float = 5.2,
               dpi: int = 140) -> bytes:
    """The plot as PNG bytes (``width_in`` x ``height_in`` inches at ``dpi``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    fig = Figure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    runs = [r["run"] for r in b["runs"]]
    multi = len(runs) > 1
    trials = b["trials"]

    def xy(t):
        return t.get("tflite_float16_kib"), t.get("val_mae")

    placed = [t for t in trials if plottable(t)]
    if not placed:
        ax.text(0.5, 0.5, "No trial with a validation MAE yet:\nnothing to plot.",
                ha="center", va="center", transform=ax.transAxes, fontsize=12)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"Pareto plot: {_short(b['run'])}", fontsize=11, loc="left")
        return _png(fig)

    ys = [t["val_mae"] for t in placed]
    top = max(ys) + 0.08 * (max(ys) - min(ys) or max(ys))
    for i, name in enumerate(runs):
        colour = run_colour(i)
        mine = [t for t in placed if t["run"] == name]
        done = [t for t in mine if t["status"] == COMPLETE]
        label = name if multi else "complete trials"
        if done:
            ax.scatter([t["tflite_float16_kib"] for t in done], [t["val_mae"] for t in done],
                       s=28, color=colour, alpha=0.75, label=_short(label), zorder=3)
        pruned = [t for t in mine if t["status"] == PRUNED]
        if pruned:
            ax.scatter([t["tflite_float16_kib"] for t in pruned], [t["val_mae"] for t in pruned],
                       s=22, color=colour, alpha=0.2, zorder=2,
                       label="pruned" if not multi else None)
        own_front = set(next(r for r in b["runs"] if r["run"] == name)["front"])
        front = sorted((t for t in done if t["trial_id"] in own_front),
                       key=lambda t: (t["tflite_float16_kib"], t["val_mae"]))
        if front:
            ax.plot([t["tflite_float16_kib"] for t in front], [t["val_mae"] for t in front],
                    "-", color=colour, lw=1.6, alpha=0.9, zorder=2,
                    label="Pareto front" if not multi else None)
            for t in front:
                ax.annotate(_short(t["trial_id"], 12), xy(t), xytext=(4, 4),
                            textcoords="offset points", fontsize=9, color=colour)
    # Trials with a size but no MAE: along the top edge.
    no_mae = [t for t in trials if t["status"] != COMPLETE and t.get("val_mae") is None
              and (t.get("tflite_float16_kib") or 0) > 0]
    if no_mae:
        ax.scatter([t["tflite_float16_kib"] for t in no_mae], [top] * len(no_mae), marker="x",
                   s=26, color="#888888", alpha=0.45, zorder=1,
                   label="infeasible / failed (no MAE)")
    refs = [t for t in placed if t.get("is_reference")]
    if refs:
        ax.scatter([t["tflite_float16_kib"] for t in refs], [t["val_mae"] for t in refs],
                   marker="*", s=190, color="gold", edgecolor="black", lw=0.8, zorder=5,
                   label="reference recipe")
    knee = [t for t in placed if t.get("is_knee")]
    if knee and b["pareto"]["ranked"] > 1:
        ax.scatter([t["tflite_float16_kib"] for t in knee], [t["val_mae"] for t in knee],
                   s=150, facecolor="none", edgecolor="black", lw=1.2, zorder=4, label="knee")
    budget = b.get("budget") or {}
    if budget.get("max_kib"):
        ax.axvline(budget["max_kib"], color="#444444", ls=":", lw=1.2,
                   label=f"size budget {budget['max_kib']:g} KiB")
    pick = [t for t in placed if budget.get("trial_id") == t["trial_id"]
            and budget.get("run") == t["run"]]
    if pick:
        ax.scatter([t["tflite_float16_kib"] for t in pick], [t["val_mae"] for t in pick],
                   marker="s", s=110, facecolor="none", edgecolor="#444444", lw=1.2, zorder=4,
                   label="best within budget")
    baselines = {round(r["baseline"]["val_mae"], 6) for r in b["runs"]
                 if r["baseline"].get("val_mae") is not None}
    if len(baselines) == 1:
        base = baselines.pop()
        if base <= top * 1.5:
            ax.axhline(base, color="#999999", ls="--", lw=1,
                       label=f"median-age baseline ({base:.1f} y)")
    ax.set_xscale("log")
    # Matplotlib labels the decades only (two labels for most runs): 1-2-5 ticks instead.
    lo, hi = ax.get_xlim()
    ticks = log_ticks(lo, hi)
    ax.set_xticks(ticks, [tick_text(t) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("TFLite float16 size (KiB, log scale)", fontsize=11)
    ax.set_ylabel("validation MAE (years)", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.set_title(f"Validation MAE against size: {_short(b['run'])}", fontsize=12, loc="left")
    ax.grid(True, which="both", alpha=0.25)
    # Below the axes, so it never hides a point, in two columns to stay short.
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)
    return _png(fig)


def _short(text: str, n: int = 60) -> str:
    # Matplotlib treats $...$ as maths: a user's string is shown as written.
    text = str(text)
    text = text if len(text) <= n else text[: n - 3] + "..."
    return text.replace("$", r"\$")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
