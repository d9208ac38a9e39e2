"""``leaderboard.csv`` and ``leaderboard.json``: the leaderboard for machines."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from search.report.common import KEY_PARAMS, RAW_PARAMS

#: CSV columns: machine values (numbers unformatted, empty = not measured).
CSV_FIELDS = ("run", "trial_id", "status", "pareto_rank", "on_front", "crowding_distance",
              "is_reference", "is_best", "is_knee", "fits_budget", "val_mae", "test_mae",
              "refit_test_mae",
              "params", "macs", "tflite_float32_bytes", "tflite_float16_bytes",
              "tflite_float16_kib", "tflite_int8_bytes", "tflite_int8_kib", "latency_ms", "image_size",
              *KEY_PARAMS, "epochs_run", "best_epoch", "train_seconds", "cost_seconds",
              "cost_wait_seconds", "reason", "values")


def csv_text(b: Mapping[str, Any]) -> str:
    """The leaderboard as CSV (one row per trial, header first, values as JSON in 'values')."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for t in b["trials"]:
        row = []
        for name in CSV_FIELDS:
            if name in RAW_PARAMS:
                v = t.get("values", {}).get(name)
            elif name in KEY_PARAMS:
                v = t["hyperparameters"].get(name)
            elif name == "values":
                v = json.dumps(t.get("values", {}), sort_keys=True)
            else:
                v = t.get(name)
            row.append("" if v is None else str(v).lower() if isinstance(v, bool) else v)
        w.writerow(row)
    return buf.getvalue()


def json_text(b: Mapping[str, Any]) -> str:
    """The leaderboard as strict JSON (what ``leaderboard.json`` holds)."""
    return json.dumps(b, indent=2, allow_nan=False) + "\n"
