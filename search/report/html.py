"""``report.html``: one self-contained page per board, readable on a phone.

Everything is inline: the plot as a base64 PNG data URI, the CSS and a small sorting script.
The page loads nothing from anywhere, and says so in a Content-Security-Policy that allows
only its own style and script (by hash) and data: images, so even a string that escaped
escaping could not run. Every string from a user or a record goes through
:func:`html.escape`.

Sorting: click (or tap) a column header; again to reverse. ``report.html#sort=val_mae``
(``#sort=-val_mae`` for descending) opens the page sorted by that column.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Mapping
from typing import Any

from search.records import COMPLETE
from search.report.common import LEGEND, Column, columns, not_finished, plottable, run_colour
from search.report.text import marks, objectives_line, values_line

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
""" + "".join(f".run{i} .swatch,.swatch.run{i}{{background:{run_colour(i)}}}\n"
              for i in range(10))

JS = """
(function () {
  "use strict";
  var table = document.getElementById("board");
  if (!table) { return; }
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  function value(row, col, numeric) {
    var cell = row.cells[col];
    var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    if (!numeric) { return v; }
    var x = parseFloat(v);
    return isNaN(x) ? null : x;
  }
  function sortBy(col, descending) {
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
      var c = numeric ? x - y : String(x).localeCompare(String(y), undefined, {numeric: true});
      if (c === 0) { return order.get(a) - order.get(b); }
      return descending ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    heads[col].setAttribute("aria-sort", descending ? "descending" : "ascending");
  }
  Array.prototype.forEach.call(heads, function (th, col) {
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
        rows.append(f'<tr class="{_row_classes(t, run_index.get(t["run"], 0))}" '
                    f'data-trial="{e(t["trial_id"])}">' + "".join(cells) + "</tr>")
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
        out.append(
            f'<div class="card"><h3>Trial {e(t["trial_id"])}{where}'
            + (f" ({e(', '.join(shown))})" if shown else "") + "</h3>"
            f"<p>{e(objectives_line(t))}</p>"
            f"<p><strong>Architecture:</strong> {e(t['architecture'] or 'not described')}</p>"
            f"<p><strong>Hyperparameters:</strong> {e(values_line(t['values']))}</p>"
            f"<p><strong>Export:</strong></p>{cmd}</div>")
    return "".join(out)


def page(b: Mapping[str, Any], png: bytes | None) -> str:
    """The whole page as a string (UTF-8 HTML5)."""
    css = CSS
    js = JS
    csp = (f"default-src 'none'; img-src data:; style-src {_csp_hash(css)}; "
           f"script-src {_csp_hash(js)}; base-uri 'none'; form-action 'none'")
    runs = [dict(r, _index=i) for i, r in enumerate(b["runs"])]
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
    if png and any(plottable(t) for t in b["trials"]):
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="Validation MAE against '
            'TFLite float16 size, log scale, with the Pareto front joined"><figcaption>'
            "Each dot is a complete trial; the line joins a run's Pareto front; faint marks "
            "are pruned, infeasible or failed trials.</figcaption></figure>")
    parts.append("<section><h2>Leaderboard</h2>")
    if n:
        parts.append(f'<p class="legend">{e(LEGEND)} Tap a column header to sort; '
                     "scroll the table sideways on a narrow screen.</p>")
        parts.append(_table(b) + "</section>")
    else:
        parts.append("<p>No trial recorded yet.</p></section>")
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
    parts.append(f"<script>{js}</script></body></html>")
    return "\n".join(parts) + "\n"
