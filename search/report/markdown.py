"""``leaderboard.md``: the leaderboard as a Markdown page (GitHub-flavoured tables); every
string from a user or a record is escaped (:func:`md_escape`), shell commands sit in fences."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from search.report.common import LEGEND, columns, not_finished, plottable
from search.report.text import objectives_line, values_line

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def md_escape(text: Any) -> str:
    """Text that Markdown (GitHub's included) shows as written: HTML-special characters as
    entities, Markdown's own (``\\ ` * _ [ ] | ~ #``) backslash-escaped, newlines as spaces."""
    s = html.escape(str(text), quote=False).replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", s)


def fence(text: str) -> str:
    """A fence longer than any run of backticks in ``text`` (CommonMark)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def page(b: Mapping[str, Any], plot_file: str | None = "pareto.png") -> str:
    """The whole page; ``plot_file``: the plot beside it, shown if any trial has a place."""
    out = [f"# Leaderboard: {md_escape(b['run'])}", "",
           f"Generated {md_escape(b['generated_at'])}.", ""]
    out += [f"- {md_escape(line)}" for line in b["summary"]["headline"]]
    out.append("")
    if plot_file and any(plottable(t) for t in b["trials"]):
        out += [f"![Validation MAE against TFLite size]({plot_file})", ""]
    cols = columns(b)
    if b["trials"]:
        out.append("| " + " | ".join(c.header for c in cols) + " |")
        out.append("| " + " | ".join("---:" if c.numeric else "---" for c in cols) + " |")
        for row in b["trials"]:
            out.append("| " + " | ".join(md_escape(c.show(row)) for c in cols) + " |")
        out += ["", md_escape(LEGEND), ""]
    else:
        out += ["No trial recorded yet.", ""]
    unfinished = not_finished(b)
    if unfinished:
        out += ["## Trials that did not finish", ""]
        out += [f"- trial {md_escape(t['trial_id'])} ({md_escape(t['status'])}): "
                f"{md_escape(t['reason'])}" for t in unfinished]
        out.append("")
    out += ["## Details", ""]
    out += [f"- {md_escape(line)}" for line in b["summary"]["details"]]
    if b["knee_trial"]:
        out.append(f"- Knee: {md_escape(b['pareto']['knee_definition'])}.")
    out.append("")
    front = [t for t in b["trials"] if t["on_front"]]
    if front:
        out += ["## Front members", ""]
        for t in front:
            where = f" of {md_escape(t['run'])}" if len(b["runs"]) > 1 else ""
            out += [f"### Trial {md_escape(t['trial_id'])}{where}", "",
                    f"- {md_escape(objectives_line(t))}",
                    f"- architecture: {md_escape(t['architecture'] or 'not described')}",
                    f"- hyperparameters: {md_escape(values_line(t['values']))}", ""]
            if t.get("export_command"):
                f = fence(t["export_command"])
                out += [f"{f}sh", t["export_command"], f, ""]
    return "\n".join(out).rstrip() + "\n"
