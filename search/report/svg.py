"""The report page's charts as inline SVG, drawn from the board's plain data.

Three kinds, each a pure function returning markup: the Pareto plot (validation MAE
against TFLite float16 size, log scale, each run's front joined), the learning curves
(validation MAE per epoch, one line per trial) and the small multiples (one hyperparameter
against validation MAE each). Every mark of a trial carries ``data-key`` (its key in the
page's trial data, :func:`trial_key`) and a ``<title>``, so the page's script can show the
trial's figures on hover, focus or tap, and a browser without the script still shows a
tooltip. Every string goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from search.records import COMPLETE, PRUNED
from search.report.common import log_ticks, plottable, tick_text


def e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def trial_key(run_index: int, trial_id: str) -> str:
    """A trial's key on the page: trial ids repeat across merged runs."""
    return f"{run_index}:{trial_id}"


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Round ticks (1, 2 or 5 x 10^k apart) from ``low`` to ``high``: at most ``most``."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    raw = (high - low) / max(1, most - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(low / step - 1e-9) * step
    out, v = [], first
    while v <= high + 1e-9 * step:
        out.append(round(v, 10))
        v += step
    return out


@dataclass(frozen=True)
class Frame:
    """A plot area inside an SVG of ``width`` x ``height`` user units: data to pixels."""

    width: float
    height: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    x_log: bool = False
    left: float = 54
    right: float = 14
    top: float = 14
    bottom: float = 44

    def _unit(self, v: float, lo: float, hi: float, log: bool) -> float:
        if log:
            v, lo, hi = math.log10(v), math.log10(lo), math.log10(hi)
        return 0.5 if hi == lo else (v - lo) / (hi - lo)

    def x(self, v: float) -> float:
        w = self.width - self.left - self.right
        return round(self.left + w * self._unit(v, *self.x_range, self.x_log), 1)

    def y(self, v: float) -> float:
        h = self.height - self.top - self.bottom
        return round(self.top + h * (1 - self._unit(v, *self.y_range, False)), 1)

    def axes(self, x_ticks: Sequence[float], y_ticks: Sequence[float], x_label: str,
             y_label: str, x_text=tick_text, y_text=tick_text) -> str:
        """Grid lines, tick labels and axis titles."""
        x0, x1 = self.left, self.width - self.right
        y0, y1 = self.top, self.height - self.bottom
        out = [f'<rect class="plot" x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}"/>']
        for t in x_ticks:
            px = self.x(t)
            out.append(f'<line class="grid" x1="{px}" y1="{y0}" x2="{px}" y2="{y1}"/>'
                       f'<text class="tick" x="{px}" y="{y1 + 15}" text-anchor="middle">'
                       f"{e(x_text(t))}</text>")
        for t in y_ticks:
            py = self.y(t)
            out.append(f'<line class="grid" x1="{x0}" y1="{py}" x2="{x1}" y2="{py}"/>'
                       f'<text class="tick" x="{x0 - 5}" y="{py + 4}" text-anchor="end">'
                       f"{e(y_text(t))}</text>")
        out.append(f'<text class="label" x="{(x0 + x1) / 2}" y="{self.height - 6}" '
                   f'text-anchor="middle">{e(x_label)}</text>')
        out.append(f'<text class="label" transform="translate(13 {(y0 + y1) / 2}) rotate(-90)" '
                   f'text-anchor="middle">{e(y_label)}</text>')
        return "".join(out)


def _svg(width: float, height: float, label: str, body: str, cls: str) -> str:
    return (f'<svg class="{cls}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{e(label)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>')


def _pad(low: float, high: float, share: float = 0.06) -> tuple[float, float]:
    span = (high - low) or abs(high) or 1.0
    return low - share * span, high + share * span


def _log_pad(low: float, high: float, share: float = 0.06) -> tuple[float, float]:
    a, b = math.log10(low), math.log10(high)
    span = (b - a) or 0.5
    return 10 ** (a - share * span), 10 ** (b + share * span)


def _classes(t: Mapping[str, Any], run_index: int) -> str:
    cls = ["pt", f"run{run_index % 10}"]
    if t["status"] != COMPLETE:
        cls.append("faint")
    for flag, name in (("on_front", "front"), ("is_best", "best"), ("is_knee", "knee"),
                       ("is_reference", "ref")):
        if t.get(flag):
            cls.append(name)
    return " ".join(cls)


def pareto(b: Mapping[str, Any], run_index: Mapping[str, int], tips: Mapping[str, str],
           width: float = 720, height: float = 430) -> str:
    """Validation MAE against TFLite float16 KiB (log scale): every trial with both, each
    run's own front joined, the reference a star-like diamond, best and knee ringed."""
    placed = [t for t in b["trials"] if plottable(t) and t["status"] in (COMPLETE, PRUNED)]
    if not placed:
        return ""
    xs = [t["tflite_float16_kib"] for t in placed]
    ys = [t["val_mae"] for t in placed]
    base = b["runs"][0]["baseline"].get("val_mae") if len(b["runs"]) == 1 else None
    y_hi = max(ys + ([base] if base is not None and base <= 1.5 * max(ys) else []))
    f = Frame(width, height, _log_pad(min(xs), max(xs)), _pad(min(ys), y_hi), x_log=True)
    out = [f.axes(log_ticks(*f.x_range), nice_ticks(*f.y_range),
                  "TFLite float16 size (KiB, log scale)", "validation MAE (years)")]
    if base is not None and base <= f.y_range[1]:
        out.append(f'<line class="baseline" x1="{f.left}" x2="{width - f.right}" '
                   f'y1="{f.y(base)}" y2="{f.y(base)}"/><text class="tick" x="{width - f.right - 4}" '
                   f'y="{f.y(base) - 4}" text-anchor="end">median-age baseline '
                   f"{base:.1f} y</text>")
    for run in b["runs"]:
        i = run_index[run["run"]]
        own = set(run["front"])
        front = sorted((t for t in placed if t["run"] == run["run"] and t["trial_id"] in own
                        and t["status"] == COMPLETE),
                       key=lambda t: (t["tflite_float16_kib"], t["val_mae"]))
        if len(front) > 1:
            pts = " ".join(f"{f.x(t['tflite_float16_kib'])},{f.y(t['val_mae'])}" for t in front)
            out.append(f'<polyline class="front run{i % 10}" points="{pts}"/>')
    for t in sorted(placed, key=lambda t: (t["on_front"], t["status"] == COMPLETE)):
        i = run_index.get(t["run"], 0)
        key = trial_key(i, t["trial_id"])
        cx, cy = f.x(t["tflite_float16_kib"]), f.y(t["val_mae"])
        shape = (f'<rect x="{cx - 6}" y="{cy - 6}" width="12" height="12" '
                 f'transform="rotate(45 {cx} {cy})"' if t.get("is_reference")
                 else f'<circle cx="{cx}" cy="{cy}" r="{6 if t["on_front"] else 4.5}"')
        out.append(f'{shape} class="{_classes(t, i)}" data-key="{e(key)}" tabindex="0">'
                   f"<title>{e(tips.get(key, t['trial_id']))}</title>"
                   + ("</rect>" if t.get("is_reference") else "</circle>"))
        if t["on_front"] and t["status"] == COMPLETE:
            out.append(f'<text class="ptlabel" x="{cx + 7}" y="{cy - 7}">{e(t["trial_id"])}'
                       "</text>")
    return _svg(width, height, "Validation MAE against TFLite float16 size, log scale, with "
                "the Pareto front joined", "".join(out), "chart pareto")


def curves(b: Mapping[str, Any], run_index: Mapping[str, int], tips: Mapping[str, str],
           width: float = 720, height: float = 360) -> str:
    """Validation MAE per epoch: one line per complete or pruned trial with a history."""
    series = []
    for t in b["trials"]:
        curve = (t.get("history") or {}).get("val_mae") or []
        pts = [(i, v) for i, v in enumerate(curve, start=1) if v is not None
               and math.isfinite(v)]
        if t["status"] in (COMPLETE, PRUNED) and pts:
            series.append((t, pts))
    if not series:
        return ""
    ys = [v for _, pts in series for _, v in pts]
    # The first epochs of a poor trial can sit far above the rest: the scale follows the
    # trials' best values, and what lies above is clipped at the top edge.
    finals = sorted(min(v for _, v in pts) for _, pts in series)
    y_hi = min(max(ys), 2.0 * finals[-1] - finals[0] + 1.0)
    epochs = max(i for _, pts in series for i, _ in pts)
    f = Frame(width, height, (1, max(2, epochs)), _pad(min(ys), y_hi))
    x_ticks = [t for t in nice_ticks(1, max(2, epochs), 8) if float(t).is_integer() and t >= 1]
    out = [f.axes(x_ticks, nice_ticks(*f.y_range), "epoch", "validation MAE (years)",
                  x_text=lambda v: f"{v:.0f}"),
           f'<clipPath id="curves-clip"><rect x="{f.left}" y="{f.top}" '
           f'width="{width - f.left - f.right}" height="{height - f.top - f.bottom}"/>'
           "</clipPath>", '<g clip-path="url(#curves-clip)">']
    for t, pts in sorted(series, key=lambda s: (s[0]["on_front"], s[0].get("is_best", False))):
        i = run_index.get(t["run"], 0)
        key = trial_key(i, t["trial_id"])
        d = " ".join(("M" if k == 0 else "L") + f"{f.x(x)},{f.y(min(y, f.y_range[1]))}"
                     for k, (x, y) in enumerate(pts))
        if len(pts) == 1:  # one epoch: a dot
            d += " l0.01,0"
        out.append(f'<path class="curve {_classes(t, i)}" data-status="{e(t["status"])}" '
                   f'data-key="{e(key)}" d="{d}" tabindex="0"><title>'
                   f"{e(tips.get(key, t['trial_id']))}</title></path>")
    out.append("</g>")
    return _svg(width, height, "Validation MAE after each epoch, one line per trial",
                "".join(out), "chart curves")


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def small_multiple(name: str, score: float | None, rows: Sequence[tuple[Mapping, Any]],
                   run_index: Mapping[str, int], tips: Mapping[str, str],
                   width: float = 240, height: float = 170) -> str:
    """One hyperparameter (x) against validation MAE (y): ``rows`` are (trial, value)."""
    values = [v for _, v in rows]
    ys = [t["val_mae"] for t, _ in rows]
    numeric = _numeric(values)
    f_kw = dict(left=40, right=8, top=8, bottom=34)
    if numeric:
        lo, hi = min(values), max(values)
        log = lo > 0 and hi / lo >= 20
        x_range = _log_pad(lo, hi) if log else _pad(lo, hi)
        f = Frame(width, height, x_range, _pad(min(ys), max(ys)), x_log=log, **f_kw)
        x_ticks = log_ticks(*x_range, most=4) if log else nice_ticks(*x_range, most=4)
        axes = f.axes(x_ticks, nice_ticks(*f.y_range, most=4), name, "val MAE")

        def place(v):
            return f.x(v)
    else:
        cats = sorted({str(v) for v in values}, key=lambda c: (len(c), c))
        f = Frame(width, height, (-0.5, len(cats) - 0.5), _pad(min(ys), max(ys)), **f_kw)
        short = {c: (c if len(c) <= 9 else c[:8] + "…") for c in cats}
        idx = {c: k for k, c in enumerate(cats)}
        axes = f.axes(range(len(cats)), nice_ticks(*f.y_range, most=4), name, "val MAE",
                      x_text=lambda k: short[cats[int(k)]])

        def place(v):
            # spread a category's trials a little sideways so none hides another
            return f.x(idx[str(v)])
    out = [axes]
    seen: dict[float, int] = {}
    for t, v in rows:
        i = run_index.get(t["run"], 0)
        key = trial_key(i, t["trial_id"])
        cx = place(v)
        k = seen.get(cx, 0)
        seen[cx] = k + 1
        if not numeric:
            cx += ((k % 5) - 2) * 2.5
        out.append(f'<circle cx="{cx}" cy="{f.y(t["val_mae"])}" r="3.5" '
                   f'class="{_classes(t, i)}" data-key="{e(key)}" tabindex="0"><title>'
                   f"{e(tips.get(key, t['trial_id']))}</title></circle>")
    head = e(name) + ("" if score is None else f' <span class="score">η² {score:.2f}</span>')
    return (f'<figure class="hp"><figcaption>{head}</figcaption>'
            + _svg(width, height, f"{name} against validation MAE", "".join(out), "chart small")
            + "</figure>")
