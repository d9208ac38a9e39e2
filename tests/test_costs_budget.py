"""Costs before training, budgets that reject before any fit, the reference trial."""

import json
from pathlib import Path

import numpy as np
import pytest

from search import backends, builder, convert, costs, pipeline
from search.budget import Budget
from search.errors import BudgetTooTight
from search.records import COMPLETE, INFEASIBLE, load_records


def test_macs_match_a_hand_count():
    values = {"blocks": 2, "filters_1": 4, "filters_2": 8, "conv_1": "full", "conv_2": "separable",
              "dense_layers": 1, "dense_units_1": 5, "head": "gap"}
    model = builder.build_model(values, (16, 16, 3))
    conv1 = 16 * 16 * 3 * 3 * 3 * 4  # full 3x3, 3 -> 4 channels at 16x16
    sep2 = 8 * 8 * 3 * 3 * 4 + 8 * 8 * 4 * 8  # depthwise + pointwise at 8x8
    dense = 8 * 5 + 5 * 1
    assert costs.count_macs(model) == conv1 + sep2 + dense


def test_measured_costs_agree_with_direct_counts_and_are_cached(tmp_path):
    values = {"blocks": 2, "filters_1": 4, "filters_2": 8, "dense_layers": 1, "dense_units_1": 8}
    model = builder.build_model(values, (32, 32, 3))
    cache = costs.CostCache(tmp_path / "costs.json")
    c = costs.measure(model, values, (32, 32, 3), cache)
    assert c.params == model.count_params()
    # as after training: every weight different; the size measured untrained must match
    rng = np.random.default_rng(1)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) for w in model.get_weights()])
    assert c.tflite_float32_bytes == len(convert.to_tflite(model, "float32"))
    assert c.tflite_float16_bytes == len(convert.to_tflite(model, "float16"))
    assert c.tflite_float16_bytes < c.tflite_float32_bytes
    assert c.latency_ms is not None and c.latency_ms > 0 and c.latency_dtype == "float16"
    again = costs.CostCache(tmp_path / "costs.json").get(costs.architecture_key(values, (32, 32, 3)))
    assert again == c  # survives on disk: the same architecture is never converted twice


def test_budget_names_the_figure_that_broke_it():
    c = costs.Costs(params=5000, tflite_float32_bytes=40960, tflite_float16_bytes=20480,
                    seconds=0.0, macs=10**6, latency_ms=2.5)
    assert Budget().violation(c) is None
    assert Budget(max_params=4000).violation(c) == "5,000 parameters > --max-params 4,000"
    assert Budget(max_kib=16).violation(c) == "float16 TFLite 20.0 KiB > --max-kib 16"
    assert "float32 TFLite 40.0 KiB" in Budget(max_kib=32, deploy_dtype="float32").violation(c)
    assert Budget(max_latency_ms=1).violation(c) == "latency 2.50 ms > --max-latency-ms 1"
    assert Budget(max_macs=1000).violation(c) == "1,000,000 MACs > --max-macs 1,000"


def test_over_budget_candidates_are_never_trained(tiny_cfg):
    cfg = tiny_cfg.replace(trials=2, max_kib=40.0, run_name="budget")
    board = pipeline.run(cfg)
    run_dir = Path(cfg.results_dir) / "budget"
    recs = load_records(run_dir)
    infeasible = [r for r in recs if r.status == INFEASIBLE]
    done = [r for r in recs if r.status == COMPLETE]
    assert len(done) + sum(1 for r in recs if r.status == "failed") == 2  # infeasible: uncounted
    assert infeasible, "the reference alone is far over 40 KiB"
    ref = next(r for r in recs if r.is_reference)
    assert ref.trial_id == "ref" and ref.status == INFEASIBLE
    for r in infeasible:
        assert r.epochs_run == 0 and r.val_mae is None
        assert not (run_dir / "trials" / r.trial_id / "checkpoint.weights.h5").exists()
        assert "> --max-kib 40" in r.reason
    assert all(r.tflite_float16_bytes / 1024 <= 40.0 for r in done)
    for r in recs:  # trained (in the trial's worker process) exactly when feasible
        trained = (run_dir / "trials" / r.trial_id / "checkpoint.weights.h5").exists()
        assert trained == (r.status != INFEASIBLE), r.trial_id
    assert any(t["status"] == INFEASIBLE for t in board["trials"])


def test_impossible_budget_stops_the_search_and_keeps_the_leaderboard(tiny_cfg, monkeypatch):
    monkeypatch.setattr(backends, "MAX_INFEASIBLE_STREAK", 4)
    cfg = tiny_cfg.replace(trials=3, max_params=10, run_name="tight", reference=False)
    with pytest.raises(BudgetTooTight, match="4 candidates in a row were infeasible"):
        pipeline.run(cfg)
    board = json.loads((Path(cfg.results_dir) / "tight" / "leaderboard.json").read_text())
    assert [t["status"] for t in board["trials"]] == [INFEASIBLE] * 4
    assert board["best_trial"] is None


def test_reference_is_trained_first_and_labelled(tiny_cfg):
    cfg = tiny_cfg.replace(trials=1, run_name="ref-only", image_size=32)
    board = pipeline.run(cfg)
    assert [t["trial_id"] for t in board["trials"]] == ["ref"]
    ref = board["trials"][0]
    assert ref["is_reference"] and ref["status"] == COMPLETE
    assert [ref["values"][f"filters_{i}"] for i in range(1, 6)] == [16, 32, 64, 128, 256]
