"""Do two runs of the same command rank the same trials the same way? (timing aside)

Compares two ``leaderboard.json`` files (or run folders holding one): the same trials, each
with the same hyperparameters, measured figures (MAE, parameters, MACs, TFLite sizes, epochs),
status, Pareto rank, crowding distance and marks (front, best, knee), and the same front,
best, knee and hypervolume. What depends on the machine's speed or on where the run lives is
left out: times, host latency, paths, the generation time. Exit status 0 when they agree, 1
with one line per difference otherwise.

Used to check that a change of structure changed no result: run the same command (same
seed) at the old and at the new commit, then::

    python benchmarks/same_leaderboard.py OLD_RUN_DIR NEW_RUN_DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

#: Fields that vary with the machine's speed or the run's location, not with the search.
TIMING_FIELDS = frozenset({
    "train_seconds", "cost_seconds", "cost_wait_seconds", "latency_ms", "generated_at",
    "model_path", "export_command", "path", "traceback",
})
#: Top-level keys that say what was found.
TOP_KEYS = ("objectives", "counts", "best_trial", "knee_trial")


def _load(path: str) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / "leaderboard.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise SystemExit(f"{p}: cannot read a leaderboard ({type(e).__name__}: {e})") from None


def _strip(x: Any, skip: frozenset[str]) -> Any:
    if isinstance(x, dict):
        return {k: _strip(v, skip) for k, v in x.items() if k not in skip}
    if isinstance(x, list):
        return [_strip(v, skip) for v in x]
    return x


def differences(a: dict[str, Any], b: dict[str, Any],
                ignore: frozenset[str] = frozenset()) -> list[str]:
    """One line per difference between two leaderboards, timing fields (and ``ignore``)
    aside."""
    skip = TIMING_FIELDS | ignore
    out = []
    for k in TOP_KEYS:
        if a.get(k) != b.get(k):
            out.append(f"{k}: {a.get(k)!r} != {b.get(k)!r}")
    hv_a, hv_b = (x.get("pareto", {}).get("hypervolume") for x in (a, b))
    if hv_a != hv_b:
        out.append(f"hypervolume: {hv_a!r} != {hv_b!r}")
    ta = {t["trial_id"]: _strip(t, skip) for t in a.get("trials", [])}
    tb = {t["trial_id"]: _strip(t, skip) for t in b.get("trials", [])}
    if sorted(ta) != sorted(tb):
        out.append(f"trial ids: {sorted(ta)} != {sorted(tb)}")
    for tid in sorted(set(ta) & set(tb)):
        for key in sorted(set(ta[tid]) | set(tb[tid])):
            if ta[tid].get(key) != tb[tid].get(key):
                out.append(f"trial {tid} {key}: {ta[tid].get(key)!r} != {tb[tid].get(key)!r}")
    order_a = [t["trial_id"] for t in a.get("trials", [])]
    order_b = [t["trial_id"] for t in b.get("trials", [])]
    if order_a != order_b:
        out.append(f"order: {order_a} != {order_b}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", help="leaderboard.json or the run folder that holds it")
    p.add_argument("after", help="the same, for the other run")
    p.add_argument("--ignore", default="", metavar="FIELD,...",
                   help="trial fields a change meant to alter (e.g. architecture)")
    args = p.parse_args(argv)
    a, b = _load(args.before), _load(args.after)
    ignore = frozenset(f.strip() for f in args.ignore.split(",") if f.strip())
    diffs = differences(a, b, ignore)
    for line in diffs:
        print(line)
    n = len(a.get("trials", []))
    aside = "timing fields" + (f" and {', '.join(sorted(ignore))}" if ignore else "")
    print(f"{n} trial(s): " + (f"identical, {aside} aside" if not diffs
                               else f"{len(diffs)} difference(s)"))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
