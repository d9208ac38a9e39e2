"""``report.html``: one self-contained page per board, readable on a phone.

Everything is inline: the plot as a base64 PNG data URI, the CSS and a small sorting script.
The page loads nothing from anywhere, and says so in a Content-Security-Policy that allows
only its own style and script (by hash) and data: images, so even a string that escaped
escaping could not run. Every string from a user or a record goes through
:func:`html.escape`.

Sorting: click (or tap) a column header; again to reverse. ``report.html#sort=val_mae``
(``#sort=-val_mae`` for descending) opens the page sorted by that column.

Exploring (:mod:`search.report.svg` draws the charts): hovering, focusing or tapping a trial
anywhere (a point of the Pareto plot, a learning curve, a point of a hyperparameter's small
multiple, a table row) shows its figures in a tooltip and in the trial panel, and marks it in
every chart; a click keeps it there. The learning curves show each trial's validation MAE
per epoch; the hyperparameter section ranks the hyperparameters by how much of the MAE's
spread each explains (:mod:`search.report.importance`) and plots each against the MAE. The
figures come from a JSON data block, which the policy does not run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Mapping
from typing import Any

from search.records import COMPLETE
from search.report.common import COLOURS, LEGEND, Column, columns, not_finished, plottable
from search.report.importance import importances
from search.report.svg import curves, pareto, small_multiple, trial_key
from search.report.text import marks, num, objectives_line, values_line

CSS = """
*{box-sizing:border-box}
body{margin:0 auto;max-width:1180px;padding:12px;color:#1b1f24;background:#fff;
 font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
h1{font-size:1.3em;margin:.2em 0 .1em;overflow-wrap:anywhere}
h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #d0d7de}
h3{font-size:1em;margin:.2em 0;overflow-wrap:anywhere}
.meta{color:#57606a;font-size:.85em;margin:0 0 .8em}
ul.summary{padding-left:1.1em;margin:.4em 0}
ul.summary li{margin:.25em 0;overflow-wrap:anywhere}
figure{margin:.8em 0}
figure img{display:block;width:100%;max-width:860px;height:auto;border:1px solid #d0d7de}
figcaption{color:#57606a;font-size:.85em}
.wrap{overflow-x:auto;-webkit-overflow-scrolling:touch;border:1px solid #d0d7de;
 border-radius:6px;max-width:100%}
table{border-collapse:collapse;font-size:13px;white-space:nowrap;width:100%}
th,td{padding:5px 8px;border-bottom:1px solid #eaeef2;text-align:right}
th.t,td.t{text-align:left}
thead th{background:#f6f8fa;position:sticky;top:0}
th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:0;
 cursor:pointer;white-space:nowrap}
th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
td.first,th.first{position:sticky;left:0;background:#fff;z-index:1;
 box-shadow:1px 0 0 #d0d7de}
thead th.first{background:#f6f8fa;z-index:2}
tr.front td{background:#eef8ee}
tr.front td.first{background:#eef8ee}
tr.best td{font-weight:600}
tr.faint td{color:#8c959f}
.swatch{display:inline-block;width:.75em;height:.75em;border-radius:50%;margin-right:.3em;
 vertical-align:baseline}
.legend{color:#57606a;font-size:.85em;margin:.4em 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:8px 10px;margin:.6em 0}
.card p{margin:.3em 0;overflow-wrap:anywhere}
pre{background:#f6f8fa;padding:6px 8px;border-radius:4px;margin:.3em 0;
 white-space:pre-wrap;word-break:break-all;font-size:13px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 10px;margin:.4em 0;
 font-size:.9em}
dl.kv dt{color:#57606a}
dl.kv dd{margin:0;overflow-wrap:anywhere}
footer{color:#57606a;font-size:.8em;margin-top:2em}
.explore{display:grid;grid-template-columns:minmax(0,1fr);gap:12px;align-items:start}
@media (min-width:960px){.explore{grid-template-columns:minmax(0,5fr) minmax(0,2fr)}
 #detail{position:sticky;top:8px}}
svg.chart{display:block;width:100%;height:auto;max-width:860px;font-family:inherit}
svg .plot{fill:#fbfcfd;stroke:#d0d7de}
svg .grid{stroke:#eaeef2;stroke-width:1}
svg .tick{font-size:11px;fill:#57606a}
svg .label{font-size:12px;fill:#1b1f24}
svg .ptlabel{font-size:11px;fill:#1b1f24;pointer-events:none}
svg .baseline{stroke:#999;stroke-dasharray:5 4}
svg .front{fill:none;stroke-width:1.6;opacity:.9}
svg .pt{stroke:#fff;stroke-width:1;cursor:pointer}
svg .pt.faint{opacity:.3}
svg .pt.best,svg .pt.knee{stroke:#1b1f24;stroke-width:2}
svg .pt.ref{fill:#f2c200;stroke:#1b1f24}
svg .curve{fill:none;stroke-width:1.6;opacity:.55;cursor:pointer}
svg .curve.faint{stroke-dasharray:4 3;opacity:.35}
svg .curve.best{stroke-width:2.4;opacity:.9}
svg .pt.hl{stroke:#000;stroke-width:3;opacity:1}
svg .curve.hl{stroke-width:4;opacity:1}
svg :focus{outline:none}
#tip{position:absolute;z-index:5;pointer-events:none;background:#1b1f24;color:#fff;
 font-size:12px;padding:3px 7px;border-radius:4px;white-space:nowrap;max-width:90vw}
#detail h3{margin-top:0}
#detail .hint{color:#57606a;font-size:.85em}
tr.sel td{background:#fff4c2}
.bars{display:grid;grid-template-columns:max-content minmax(60px,1fr) max-content;gap:3px 8px;
 align-items:center;font-size:.9em;margin:.4em 0 .8em;max-width:640px}
.bars svg.bar{display:block;width:100%;height:.8em}.bars svg.bar rect{fill:#1f77b4}
.hpgrid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:8px}
figure.hp{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:4px}
figure.hp figcaption{color:#1b1f24;font-size:.85em;padding:0 4px}
figure.hp .score{color:#57606a}
details.static summary{cursor:pointer;color:#57606a;font-size:.85em}
@media (max-width:600px){svg.pareto .tick,svg.curves .tick,svg .ptlabel{font-size:19px}
 svg.pareto .label,svg.curves .label{font-size:19px}
 .hpgrid{grid-template-columns:repeat(auto-fill,minmax(150px,1fr))}}
""" + "".join(f".run{i} .swatch,.swatch.run{i},svg .pt.run{i}{{background:{c};fill:{c}}}\n"
              f"svg .front.run{i},svg .curve.run{i}{{stroke:{c}}}\n"
              for i, c in enumerate(COLOURS))

JS = """
(function () {
  "use strict";
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };
  // --- sorting the table ---
  var table = document.getElementById("board");
  if (table) {
    var body = table.tBodies[0];
    var heads = table.tHead.rows[0].cells;
    var value = function (row, col, numeric) {
      var cell = row.cells[col];
      var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
      if (!numeric) { return v; }
      var x = parseFloat(v);
      return isNaN(x) ? null : x;
    };
    var sortBy = function (col, descending) {
      var numeric = heads[col].getAttribute("data-type") === "num";
      var rows = Array.prototype.slice.call(body.rows);
      var order = new Map();
      rows.forEach(function (r, i) { order.set(r, i); });
      rows.sort(function (a, b) {
        var x = value(a, col, numeric), y = value(b, col, numeric);
        var missingX = x === null || x === "", missingY = y === null || y === "";
        if (missingX || missingY) {
          if (missingX && missingY) { return order.get(a) - order.get(b); }
          return missingX ? 1 : -1;
        }
        var c = numeric ? x - y
          : String(x).localeCompare(String(y), undefined, {numeric: true});
        if (c === 0) { return order.get(a) - order.get(b); }
        return descending ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
      heads[col].setAttribute("aria-sort", descending ? "descending" : "ascending");
    };
    each(heads, function (th, col) {
      var button = th.querySelector("button");
      if (button) {
        button.addEventListener("click", function () {
          sortBy(col, th.getAttribute("aria-sort") === "ascending");
        });
      }
    });
    var m = /^#sort=(-?)([A-Za-z0-9_]+)$/.exec(window.location.hash);
    if (m) {
      for (var i = 0; i < heads.length; i++) {
        if (heads[i].getAttribute("data-key") === m[2]) { sortBy(i, m[1] === "-"); }
      }
    }
    table.setAttribute("data-ready", "true");
  }
  // --- exploring: a trial's figures on hover, focus or tap, everywhere it is drawn ---
  var blob = document.getElementById("trial-data");
  var data = blob ? JSON.parse(blob.textContent) : {};
  var tip = document.getElementById("tip");
  var panel = document.getElementById("detail");
  var pinned = null;
  var marksOf = function (key) {
    return document.querySelectorAll('[data-key="' + CSS.escape(key) + '"]');
  };
  var mark = function (key, on) {
    each(marksOf(key), function (el) {
      el.classList.toggle(el.tagName === "TR" ? "sel" : "hl", on);
    });
  };
  var fill = function (key) {
    var t = data[key];
    if (!t || !panel) { return; }
    ["title", "fig", "hp", "arch", "groups"].forEach(function (k) {
      var el = panel.querySelector("." + k);
      if (el) { el.textContent = t[k] || ""; el.hidden = !t[k]; }
    });
    var hint = panel.querySelector(".hint");
    if (hint) { hint.hidden = true; }
    panel.setAttribute("data-shown", key);
  };
  var show = function (el, key) {
    var t = data[key];
    if (!t) { return; }
    mark(key, true);
    fill(key);
    if (tip && el.tagName !== "TR") {
      tip.textContent = t.tip;
      tip.hidden = false;
      var r = el.getBoundingClientRect();
      var left = Math.max(4, Math.min(r.right + 8 + window.scrollX,
                                      window.scrollX + document.documentElement.clientWidth
                                      - tip.offsetWidth - 4));
      tip.style.left = left + "px";
      tip.style.top = (r.top + window.scrollY - tip.offsetHeight - 6) + "px";
      tip.setAttribute("data-for", key);
    }
  };
  var hide = function (key) {
    if (key !== pinned) { mark(key, false); }
    if (tip) { tip.hidden = true; }
    if (pinned) { fill(pinned); }
  };
  each(document.querySelectorAll("svg [data-key], tr[data-key]"), function (el) {
    var key = el.getAttribute("data-key");
    el.addEventListener("mouseenter", function () { show(el, key); });
    el.addEventListener("mouseleave", function () { hide(key); });
    el.addEventListener("focus", function () { show(el, key); });
    el.addEventListener("blur", function () { hide(key); });
    el.addEventListener("click", function () {
      if (pinned && pinned !== key) { mark(pinned, false); }
      pinned = key;
      show(el, key);
    });
  });
  if (panel) { panel.setAttribute("data-ready", "true"); }
})();
"""


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def e(text: Any) -> str:
    """HTML-escaped text (quotes too, so it is safe in attributes)."""
    return html.escape(str(text), quote=True)


def _attr_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def _row_classes(t: Mapping[str, Any], run_index: int) -> str:
    cls = [f"run{run_index % 10}"]
    if t["on_front"]:
        cls.append("front")
    if t.get("is_best"):
        cls.append("best")
    if t["status"] != COMPLETE:
        cls.append("faint")
    return " ".join(cls)


def _table(b: Mapping[str, Any]) -> str:
    cols = [Column("position", "#", True, None, None), *columns(b)]
    run_index = {r["run"]: i for i, r in enumerate(b["runs"])}
    head = []
    for k, c in enumerate(cols):
        cls = ("first " if k == 1 else "") + ("" if c.numeric else "t")
        head.append(f'<th scope="col" class="{cls.strip()}" data-key="{e(c.key)}" '
                    f'data-type="{"num" if c.numeric else "text"}"><button type="button">'
                    f"{e(c.header)}</button></th>")
    rows = []
    for pos, t in enumerate(b["trials"], start=1):
        cells = [f'<td data-v="{pos}">{pos}</td>']
        for k, c in enumerate(cols[1:], start=1):
            cls = ("first " if k == 1 else "") + ("" if c.numeric else "t")
            shown = e(c.show(t))
            if c.key == "run":
                shown = f'<span class="swatch"></span>{shown}'
            title = ""
            if c.key == "status" and t.get("reason"):
                title = f' title="{e(t["reason"])}"'
            cells.append(f'<td class="{cls.strip()}" data-v="{e(_attr_value(c.raw(t)))}"'
                         f"{title}>{shown}</td>")
        i = run_index.get(t["run"], 0)
        rows.append(f'<tr class="{_row_classes(t, i)}" data-trial="{e(t["trial_id"])}" '
                    f'data-key="{e(trial_key(i, t["trial_id"]))}">' + "".join(cells)
                    + "</tr>")
    return ('<div class="wrap"><table id="board"><thead><tr>' + "".join(head)
            + "</tr></thead><tbody>" + "\n".join(rows) + "</tbody></table></div>")


def _kv(pairs: list[tuple[str, Any]]) -> str:
    return ('<dl class="kv">' + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in pairs)
            + "</dl>")


def _run_details(run: Mapping[str, Any]) -> str:
    cfg, data, space = run["config"], run["dataset"], run["space"]
    pairs: list[tuple[str, Any]] = [("folder", run["path"])]
    if space:
        pairs.append(("space", f"{space.get('name', '?')}: {space.get('description', '')}"))
    for key in ("tuner", "trials", "epochs", "patience", "image_size", "batch_size", "seed",
                "data_dir", "synthetic_images", "max_images", "val_fraction", "test_fraction"):
        if key in cfg and cfg[key] is not None:
            pairs.append((key, cfg[key]))
    if data:
        pairs.append(("data", f"{data.get('source', '?')}: {data.get('found', '?')} files "
                              f"found, {data.get('used', '?')} used, "
                              f"{data.get('skipped_total', 0)} skipped"))
        for reason, info in (data.get("skipped") or {}).items():
            pairs.append((f"skipped: {reason}", info.get("count", "?")))
        if data.get("splits"):
            pairs.append(("split", ", ".join(f"{k} {v}" for k, v in data["splits"].items())))
        if data.get("duplicate_groups"):
            pairs.append(("duplicate groups", data["duplicate_groups"]))
    base = run["baseline"]
    if base.get("median_age") is not None:
        pairs.append(("baseline", f"always {base['median_age']:.0f} y: val MAE "
                                  f"{base.get('val_mae', 0):.2f} y, test MAE "
                                  f"{base.get('test_mae', 0):.2f} y"))
    return (f'<div class="card run{run_index_of(run)}"><h3><span class="swatch"></span>'
            f"{e(run['run'])}</h3>" + _kv(pairs) + "</div>")


def run_index_of(run: Mapping[str, Any]) -> int:
    return int(run.get("_index", 0)) % 10


def groups_line(groups: Mapping[str, Any] | None) -> str:
    """Test MAE by group (``TrialRecord.groups``) in one line: ``gender: male 5.10 y (n 12),
    female 5.40 y (n 11); age band: ...``; empty when not measured."""
    if not groups:
        return ""
    parts = []
    for dim, by in groups.items():
        if not isinstance(by, Mapping) or not by:
            continue
        cells = []
        for name, g in by.items():
            if isinstance(g, Mapping):
                cells.append(f"{name} {num(g.get('mae'), '.2f')} y (n {g.get('n', '?')})")
        if cells:
            parts.append(f"{str(dim).replace('_', ' ')}: " + ", ".join(cells))
    return "; ".join(parts)


def _front_cards(b: Mapping[str, Any]) -> str:
    out = []
    multi = len(b["runs"]) > 1
    for t in b["trials"]:
        if not t["on_front"]:
            continue
        where = f" of {e(t['run'])}" if multi else ""
        shown = marks(t)
        cmd = (f"<pre><code>{e(t['export_command'])}</code></pre>" if t.get("export_command")
               else "<p>No saved model to export.</p>")
        groups = groups_line(t.get("groups")) if (t.get("is_best") or t.get("is_knee")) else ""
        out.append(
            f'<div class="card"><h3>Trial {e(t["trial_id"])}{where}'
            + (f" ({e(', '.join(shown))})" if shown else "") + "</h3>"
            f"<p>{e(objectives_line(t))}</p>"
            + (f"<p><strong>Test MAE by group:</strong> {e(groups)}</p>" if groups else "")
            + f"<p><strong>Resolution:</strong> {e(t.get('image_size') or '-')} px</p>"
            f"<p><strong>Architecture:</strong> {e(t['architecture'] or 'not described')}</p>"
            f"<p><strong>Hyperparameters:</strong> {e(values_line(t['values']))}</p>"
            f"<p><strong>Export:</strong></p>{cmd}</div>")
    return "".join(out)


def trial_data(b: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """What the page's script shows of each trial, by :func:`~search.report.svg.trial_key`: a
    tooltip (``tip``), a title, its figures, hyperparameters, architecture and groups, as text."""
    run_index = {r["run"]: i for i, r in enumerate(b["runs"])}
    multi = len(b["runs"]) > 1
    out = {}
    for t in b["trials"]:
        i = run_index.get(t["run"], 0)
        shown = marks(t)
        where = f" of {t['run']}" if multi else ""
        mae = num(t.get("val_mae"), ".2f")
        kib = num(t.get("tflite_float16_kib"), ".1f")
        out[trial_key(i, t["trial_id"])] = {
            "tip": (f"trial {t['trial_id']}{where}: val MAE {mae} y, {kib} KiB"
                    + (f" ({', '.join(shown)})" if shown else "")
                    + ("" if t["status"] == COMPLETE else f", {t['status']}")),
            "title": f"Trial {t['trial_id']}{where}: {t['status']}"
                     + (f" ({', '.join(shown)})" if shown else ""),
            "fig": objectives_line(t) + f"; {t.get('image_size') or '-'} px; "
                   f"{t.get('epochs_run', 0)} epochs",
            "hp": "Hyperparameters: " + values_line(t.get("values") or {}),
            "arch": "Architecture: " + (t.get("architecture") or "not described"),
            "groups": ("Test MAE by group: " + groups_line(t["groups"])
                       if t.get("groups") else ""),
        }
    return out


def _json_block(data: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: nothing in it can end the
    block or open markup (``<``, ``>`` and ``&`` as \\u escapes)."""
    text = json.dumps(data, ensure_ascii=True, sort_keys=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _hyperparameters(b: Mapping[str, Any], run_index: Mapping[str, int],
                     tips: Mapping[str, str], most: int = 12) -> str:
    scores = importances(b["trials"])
    if not scores:
        return ""
    done = [t for t in b["trials"] if t["status"] == COMPLETE and t.get("val_mae") is not None]
    bars = "".join(
        # a bar as SVG: the policy refuses inline style attributes
        f'<span>{e(name)}</span><svg class="bar" viewBox="0 0 100 10" '
        f'preserveAspectRatio="none" aria-hidden="true"><rect width="{100 * v:.1f}" '
        f'height="10"/></svg><span>{v:.2f}</span>'
        for name, v in list(scores.items())[:most])
    figs = []
    for name in list(scores)[:most]:
        rows = [(t, t["values"][name]) for t in done if name in (t.get("values") or {})]
        if len(rows) >= 2:
            figs.append(small_multiple(name, scores[name], rows, run_index, tips))
    return ("<section><h2>Hyperparameters against validation MAE</h2>"
            f'<p class="legend">Which mattered, over the {len(done)} complete trials: η², the '
            "share of the spread of validation MAE that each hyperparameter's values explain "
            "on their own (0: none, 1: all; rough with few trials). Below, each against the "
            "MAE, most telling first; hover or tap a point for its trial.</p>"
            f'<div class="bars">{bars}</div><div class="hpgrid">{"".join(figs)}</div>'
            "</section>")


def page(b: Mapping[str, Any], png: bytes | None) -> str:
    """The whole page as a string (UTF-8 HTML5)."""
    css = CSS
    js = JS
    csp = (f"default-src 'none'; img-src data:; style-src {_csp_hash(css)}; "
           f"script-src {_csp_hash(js)}; base-uri 'none'; form-action 'none'")
    runs = [dict(r, _index=i) for i, r in enumerate(b["runs"])]
    run_index = {r["run"]: i for i, r in enumerate(b["runs"])}
    data = trial_data(b)
    tips = {k: v["tip"] for k, v in data.items()}
    n = len(b["trials"])
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">',
        f"<title>Leaderboard: {e(b['run'])}</title>",
        f"<style>{css}</style></head><body>",
        f"<header><h1>Leaderboard: {e(b['run'])}</h1>",
        f'<p class="meta">agesearch report, generated {e(b["generated_at"])}; '
        f"{n} trial{'s' if n != 1 else ''}; sorted by {e(b['sort'])}.</p></header>",
        "<main>",
        '<section><ul class="summary headline">'
        + "".join(f"<li>{e(line)}</li>" for line in b["summary"]["headline"])
        + "</ul></section>",
    ]
    chart = pareto(b, run_index, tips)
    if chart:
        parts.append(
            '<section class="explore"><figure>' + chart + "<figcaption>Each dot is a trial "
            "(faint: pruned); the line joins a run's Pareto front; the diamond is the "
            "reference; best and knee are ringed. Hover, focus or tap a dot for its figures; "
            "click to keep them.</figcaption></figure>"
            '<aside id="detail" class="card" aria-live="polite"><h3 class="title">Trial '
            'figures</h3><p class="hint">Hover or tap a trial in a chart or the table.</p>'
            '<p class="fig" hidden></p><p class="groups" hidden></p><p class="hp" hidden></p>'
            '<p class="arch" hidden></p></aside></section>')
    if png and any(plottable(t) for t in b["trials"]):
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(
            '<details class="static"><summary>The same plot as an image (pareto.png)'
            f'</summary><figure><img src="data:image/png;base64,{encoded}" alt="Validation '
            "MAE against TFLite float16 size, log scale, with the Pareto front joined\">"
            "</figure></details>")
    parts.append("<section><h2>Leaderboard</h2>")
    if n:
        parts.append(f'<p class="legend">{e(LEGEND)} Tap a column header to sort; '
                     "scroll the table sideways on a narrow screen.</p>")
        parts.append(_table(b) + "</section>")
    else:
        parts.append("<p>No trial recorded yet.</p></section>")
    lines = curves(b, run_index, tips)
    if lines:
        parts.append("<section><h2>Learning curves</h2><figure>" + lines + "<figcaption>"
                     "Validation MAE after each epoch, one line per trial (dashed: pruned); "
                     "hover or tap a line for its trial.</figcaption></figure></section>")
    parts.append(_hyperparameters(b, run_index, tips))
    unfinished = not_finished(b)
    if unfinished:
        parts.append("<section><h2>Trials that did not finish</h2><ul>"
                     + "".join(f"<li>trial {e(t['trial_id'])} ({e(t['status'])}): "
                               f"{e(t['reason'])}</li>" for t in unfinished)
                     + "</ul></section>")
    cards = _front_cards(b)
    if cards:
        parts.append("<section><h2>Front members</h2>" + cards + "</section>")
    parts.append('<section><h2>Details</h2><ul class="summary">'
                 + "".join(f"<li>{e(line)}</li>" for line in b["summary"]["details"])
                 + (f"<li>Knee: {e(b['pareto']['knee_definition'])}.</li>"
                    if b["knee_trial"] else "") + "</ul>"
                 + "".join(_run_details(r) for r in runs) + "</section>")
    parts.append("</main><footer>Self-contained page: no network access, nothing loaded "
                 "from elsewhere.</footer>")
    parts.append('<div id="tip" role="tooltip" hidden></div>')
    parts.append(f'<script type="application/json" id="trial-data">{_json_block(data)}'
                 "</script>")
    parts.append(f"<script>{js}</script></body></html>")
    return "\n".join(parts) + "\n"
