"""Numbers and sentences every rendering shows the same way: formats (``-`` where nothing was
measured), a candidate's key hyperparameters, a trial's figures in one line, and the board's
story (:func:`summary`) and budget sentence (:func:`budget_message`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from search import pareto
from search.board import Board, baseline_ratio
from search.records import COMPLETE, FAILED, INFEASIBLE, PRUNED

# --- numbers ------------------------------------------------------------------------------


def num(x: float | None, spec: str) -> str:
    """``x`` formatted by ``spec``, or ``-`` where it was not measured."""
    return "-" if x is None else format(x, spec)


def count(n: float | None) -> str:
    """A count with thousands separators: ``40,000``."""
    return "-" if n is None else f"{n:,.0f}"


def macs(n: float | None) -> str:
    """Multiply-accumulates, short: ``1.2M``."""
    if n is None:
        return "-"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.1f}{suffix}"
    return f"{n:.0f}"


def plain(v: Any) -> str:
    """A hyperparameter value as text: strings as they are, lists and dicts as JSON, floats to
    three significant digits (``0.000445``, ``0.25``, ``1e-05``), the rest as Python says."""
    if isinstance(v, float):
        return format(v, ".3g")
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, list | dict) else str(v)


# --- one trial ----------------------------------------------------------------------------


def summarise_values(values: Mapping[str, Any]) -> dict[str, str]:
    """Short strings for the key hyperparameters of a candidate (any value type is safe)."""
    out: dict[str, str] = {}
    try:
        blocks = int(values["blocks"]) if "blocks" in values else None
    except (TypeError, ValueError):
        blocks, out["blocks"] = None, plain(values["blocks"])
    if blocks is not None:
        out["blocks"] = str(blocks)
        idx = range(1, min(blocks, 64) + 1)
        out["filters"] = "-".join(plain(values.get(f"filters_{i}", "?")) for i in idx)
        kinds = {plain(values.get(f"conv_{i}", values.get("conv", "separable"))) for i in idx}
        out["conv"] = ("lite" if kinds == {"separable"} else "full" if kinds == {"full"}
                       else "mixed" if kinds <= {"separable", "full"} else "/".join(sorted(kinds)))
    if "head" in values:
        out["head"] = plain(values["head"])
    if "dense_layers" in values:
        try:
            idx = range(1, min(int(values["dense_layers"]), 64) + 1)
            out["dense"] = "-".join(plain(values.get(f"dense_units_{j}", "?")) for j in idx)
        except (TypeError, ValueError):
            out["dense"] = plain(values["dense_layers"])
    for name, spec in (("dropout", ".2f"), ("learning_rate", ".1e")):
        if name in values:
            try:
                out[name] = format(float(values[name]), spec)
            except (TypeError, ValueError):
                out[name] = plain(values[name])
    return out


def marks(row: Mapping[str, Any]) -> list[str]:
    """A trial's marks: best, knee, ref (the reference recipe), fits (the budget)."""
    out = []
    if row.get("is_best"):
        out.append("best")
    if row.get("is_knee"):
        out.append("knee")
    if row.get("is_reference"):
        out.append("ref")
    if row.get("fits_budget") and row["status"] == COMPLETE:
        out.append("fits")
    return out


def objectives_line(t: Mapping[str, Any]) -> str:
    """A trial's figures in one line (the front members' cards)."""
    return (f"val MAE {num(t.get('val_mae'), '.2f')} y, test MAE {num(t.get('test_mae'), '.2f')} "
            f"y, {count(t.get('params'))} parameters, {macs(t.get('macs'))} MACs, "
            f"{num(t.get('tflite_float16_kib'), '.1f')} KiB float16, "
            f"{num(t.get('tflite_int8_kib'), '.1f')} KiB int8, "
            f"{num(t.get('latency_ms'), '.2f')} ms, Pareto rank {t.get('pareto_rank') or '-'}"
            + (f" ({', '.join(marks(t))})" if marks(t) else ""))


def values_line(values: Mapping[str, Any]) -> str:
    """Every hyperparameter as ``name=value``, comma-separated."""
    return ", ".join(f"{k}={plain(v)}" for k, v in values.items()) or "none"


# --- the board's sentences ----------------------------------------------------------------


def budget_message(b: Board, names: Sequence[str]) -> str:
    """What the budget picks, or why nothing fits (names: the runs as the board shows them)."""
    budget = b.budget
    multi = len(set(names)) > 1

    def who(s) -> str:
        return f"trial {s.record.trial_id}" + (f" of {names[s.run]}" if multi else "")

    within = f"within {budget.describe()}"
    done = [s for s in b.trials if s.record.status == COMPLETE]
    unknown = sum(1 for s in done if s.fits is None)
    note = (f" ({unknown} complete trial(s) lack a measurement the budget needs and are not "
            "counted)") if unknown else ""
    if b.budget_pick is not None:
        rec = b.budget_pick.record
        latency = f", {rec.latency_ms:.2f} ms" if rec.latency_ms is not None else ""
        return (f"Best MAE {within}: {who(b.budget_pick)}, val MAE {num(rec.val_mae, '.2f')} y, "
                f"{num(rec.tflite_float16_kib, '.1f')} KiB, {count(rec.params)} parameters"
                f"{latency}.{note}")
    if not done:
        return f"No complete trial yet, so none fits {budget.describe()}."
    smallest = min((s for s in done if s.record.tflite_float16_kib is not None),
                   key=lambda s: s.record.tflite_float16_kib, default=None)
    tail = ""
    if smallest is not None:
        tail = (f" The smallest complete one is {who(smallest)} at "
                f"{smallest.record.tflite_float16_kib:.1f} KiB.")
    return f"No complete trial fits {budget.describe()}.{tail}{note}"


def _find(b: Mapping[str, Any], trial_id: str | None, run: str | None) -> dict | None:
    return next((t for t in b["trials"]
                 if t["trial_id"] == trial_id and (run is None or t["run"] == run)), None)


def _objective_value(o: str, row: Mapping[str, Any]) -> str:
    return {"mae": lambda: f"val MAE {num(row.get('val_mae'), '.2f')} y",
            "params": lambda: f"{count(row.get('params'))} parameters",
            "kib": lambda: f"{num(row.get('tflite_float16_kib'), '.1f')} KiB",
            "macs": lambda: f"{macs(row.get('macs'))} MACs",
            "latency": lambda: f"{num(row.get('latency_ms'), '.2f')} ms"}[o]()


def _objective_name(o: str) -> str:
    obj = pareto.OBJECTIVES[o]
    return obj.label if obj.label == obj.unit else f"{obj.label} ({obj.unit})"


def _ref_value(o: str, v: float) -> str:
    unit = pareto.OBJECTIVES[o].unit
    if o in ("params", "macs"):
        return f"{v:,.0f} {unit}"
    return f"{v:.3g} {unit}" if o == "latency" else f"{v:.2f} {unit}"


def summary(b: Mapping[str, Any]) -> dict[str, list[str]]:
    """The leaderboard's story in plain sentences: ``headline`` (what to ship, what went wrong)
    and ``details`` (the runs, the front, the baseline). Renderings escape them as they need."""
    head: list[str] = []
    detail: list[str] = []
    multi = len(b["runs"]) > 1
    for run in b["runs"]:
        cfg, data, counts = run["config"], run["dataset"], run["counts"]
        # Infeasible candidates were never trained and do not count towards --trials.
        rejected = counts.get(INFEASIBLE, 0)
        n = sum(counts.values()) - rejected
        planned = run.get("trials_planned")
        status = ", ".join(f"{v} {k}" for k, v in counts.items() if v and k != INFEASIBLE)
        splits = data.get("splits") or {}
        data_text = ""
        if data:
            data_text = (f"; data: {data.get('source', '?')}, {count(data.get('used'))} images"
                         + (f" (train {splits.get('train')}, val {splits.get('val')}, test "
                            f"{splits.get('test')})" if splits else ""))
        setup = ", ".join(x for x in (
            f"space {run['space'].get('name') or cfg.get('space', '?')}",
            f"tuner {cfg['tuner']}" if cfg.get("tuner") else "",
            f"{cfg['image_size']} px" if cfg.get("image_size") else "",
            f"up to {cfg['epochs']} epochs" if cfg.get("epochs") else "",
            f"seed {cfg['seed']}" if cfg.get("seed") is not None else "") if x)
        recorded = f"{n} of {planned} planned trials recorded" if planned else f"{n} trials"
        detail.append(f"Run {run['run']}: {setup}; {recorded}"
                      + (f" ({status})" if status else "")
                      + (f", {rejected} infeasible candidate{'s' * (rejected != 1)} not "
                         "trained" if rejected else "") + data_text + ".")
        for p in run.get("problems", []):
            head.append(f"Run {run['run']}: {p}.")
    counts = b["counts"]
    total = sum(counts.values())
    objs = ", ".join(_objective_name(o) for o in b["objectives"])
    info = b["pareto"]
    if total == 0:
        head.append("No trial recorded yet: the search has not finished its first trial. "
                    "Nothing to rank.")
    elif counts[COMPLETE] == 0:
        why = ", ".join(f"{counts[s]} {s}" for s in (FAILED, INFEASIBLE, PRUNED) if counts[s])
        head.append(f"No trial finished ({why}): nothing to rank. Their reasons are listed "
                    "with the table.")
    else:
        front = sum(1 for t in b["trials"] if t["on_front"])
        if info["ranked"]:
            detail.append(f"Pareto front on {objs}, all lower is better: {front} of "
                          f"{info['ranked']} ranked trial(s)"
                          + (" (one complete trial: it is the front by itself)"
                             if info["ranked"] == 1 else "") + ".")
        if info["unranked_complete"]:
            missing = [o for o in b["objectives"] if any(
                t["status"] == COMPLETE and t.get(pareto.OBJECTIVES[o].attr) is None
                for t in b["trials"])]
            line = (f"{info['unranked_complete']} complete trial(s) not ranked: "
                    f"{', '.join(missing) or 'an objective'} not measured (shown as '-').")
            if info["ranked"] == 0:  # nothing on the front: say so where it is seen first
                head.append(f"No trial ranked: {line} Choose other --objectives "
                            f"(now {','.join(b['objectives'])}).")
            else:
                detail.append(line)
    best = _find(b, b["best_trial"], b["best_run"])
    where = (lambda row: f" of {row['run']}") if multi else (lambda row: "")
    if best:
        head.append(f"Best MAE on the front: trial {best['trial_id']}{where(best)}, val MAE "
                    f"{num(best['val_mae'], '.2f')} y, test MAE {num(best.get('test_mae'), '.2f')}"
                    f" y, {num(best.get('tflite_float16_kib'), '.1f')} KiB, "
                    f"{count(best.get('params'))} parameters.")
    if b.get("budget"):
        head.append(b["budget"]["message"])
    for run in b["runs"]:
        base = run["baseline"]
        if not base or not base.get("test_mae"):
            continue
        own_best = _find(b, run["best_trial"], run["run"])
        ratio = baseline_ratio(own_best.get("test_mae") if own_best else None, base)
        head.append(f"The median-age baseline{' of ' + run['run'] if multi else ''} (always "
                    f"predicting {base.get('median_age', 0):.0f} y) scores val "
                    f"{num(base.get('val_mae'), '.2f')} y, test {num(base.get('test_mae'), '.2f')}"
                    f" y" + (f"; best / baseline on test: {ratio:.2f}" if ratio is not None
                             else "") + ".")
    knee = _find(b, b["knee_trial"], b["knee_run"])
    if knee and info["ranked"] > 1:
        vals = ", ".join(_objective_value(o, knee) for o in b["objectives"])
        head.append(f"Knee (best trade-off of accuracy against cost, see the report's notes): "
                    f"trial {knee['trial_id']}{where(knee)}, {vals}.")
    if info.get("hypervolume") is not None:
        refp = ", ".join(f"{o} {_ref_value(o, v)}" for o, v in info["reference_point"].items())
        per_run = ""
        if multi:
            per_run = " Per run (same normalisation): " + ", ".join(
                f"{r['run']} {num(r['hypervolume'], '.3f')}" for r in b["runs"]) + "."
        detail.append(f"Hypervolume of the front: {info['hypervolume']:.3f} of "
                      f"{info['hypervolume_max']:.3f} possible "
                      f"({info['hypervolume'] / info['hypervolume_max']:.0%}); "
                      f"{info['hypervolume_note']}, i.e. {refp}.{per_run}")
    elif total and counts[COMPLETE]:
        detail.append(f"Hypervolume not computed: {info['hypervolume_note']}.")
    refs = [t for t in b["trials"] if t.get("is_reference")]
    for ref in refs:
        head.append(f"Reference (the reference recipe): trial {ref['trial_id']}{where(ref)}, "
                    f"{ref['status']}, val MAE {num(ref.get('val_mae'), '.2f')} y, Pareto rank "
                    f"{ref.get('pareto_rank') or '-'}.")
    return {"headline": head, "details": detail}
