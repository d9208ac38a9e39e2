"""The report's small parts: readable numbers, log-axis ticks, which hyperparameters
mattered (η²), the resolution column and the page's charts as markup."""

import pytest
from conftest import sample_records

from search import report
from search.report import common, html, importance, svg, text


def test_numbers_read_as_people_write_them():
    line = text.values_line({"learning_rate": 0.00044506630783759166, "dropout": 0.25,
                             "tiny": 1e-05, "blocks": 3, "head": "gap"})
    assert line == "learning_rate=0.000445, dropout=0.25, tiny=1e-05, blocks=3, head=gap"


def test_log_axis_ticks_label_more_than_the_decades():
    ticks = common.log_ticks(8.8, 1074)  # the sample front: two decades
    assert [common.tick_text(t) for t in ticks] == ["10", "20", "50", "100", "200", "500",
                                                    "1,000"]
    assert len(common.log_ticks(1, 1e6)) <= 9 and common.log_ticks(50, 60) == [50, 60]
    assert svg.nice_ticks(5.1, 14.8) == [6, 8, 10, 12, 14]


def test_eta_squared_finds_the_hyperparameter_that_decides_the_mae():
    trials = [{"status": "complete", "val_mae": mae, "values": {"head": head, "seed": s}}
              for mae, head, s in ((5.0, "gap", 1), (5.2, "gap", 2), (9.0, "flatten", 3),
                                   (9.1, "flatten", 4), (5.1, "gap", 5), (8.9, "flatten", 6))]
    trials.append({"status": "failed", "val_mae": None, "values": {"head": "gap"}})
    scores = importance.importances(trials)
    assert list(scores) == ["head", "seed"]
    assert scores["head"] > 0.99 and scores["seed"] < 0.8
    assert importance.eta_squared(["a", "b"], [1.0, 2.0]) is None  # too few trials
    assert importance.eta_squared(["a", "b", "a"], [3.0, 3.0, 3.0]) is None  # no spread


def test_the_table_shows_each_trials_resolution_and_notes_early():
    recs = sample_records()
    recs[1].values["image_size"] = 48  # a space that searches the resolution
    b = report.leaderboard("r", recs, config={"image_size": None})
    rows = {t["trial_id"]: t for t in b["trials"]}
    assert rows["01"]["image_size"] == 48 and rows["00"]["image_size"] == 64  # the default
    keys = [c.key for c in common.columns(b)]
    assert keys.index("notes") < keys.index("val_mae") and "image_size" in keys


def test_the_charts_carry_every_trial_and_escape_what_they_show():
    recs = sample_records()
    recs[0].trial_id = "<b>00"
    for r in recs:
        if r.status in ("complete", "pruned"):
            r.history = {"val_mae": [r.val_mae + 1.0, r.val_mae]}
    b = report.leaderboard("r", recs, config={"image_size": 64})
    data = html.trial_data(b)
    tips = {k: v["tip"] for k, v in data.items()}
    pareto = svg.pareto(b, {"r": 0}, tips)
    assert "<b>" not in pareto and "&lt;b&gt;00" in pareto
    placed = [t for t in b["trials"] if t["status"] in ("complete", "pruned")]
    assert pareto.count("data-key=") == len(placed)
    lines = svg.curves(b, {"r": 0}, tips)
    assert lines.count('data-status="complete"') == 5 and lines.count('data-status="pruned"') == 1
    assert data["0:02"]["tip"] == "trial 02: val MAE 6.00 y, 19.5 KiB (knee)"
    block = html._json_block({"x": "</script><!--"})
    assert "<" not in block and ">" not in block


@pytest.mark.parametrize("groups, line", [
    (None, ""),
    ({"gender": {"male": {"n": 12, "mae": 5.1}, "female": {"n": 11, "mae": 5.4}},
      "age_band": {"0-12": {"n": 3, "mae": None}}},
     "gender: male 5.10 y (n 12), female 5.40 y (n 11); age band: 0-12 - y (n 3)"),
])
def test_test_mae_by_group_in_one_line(groups, line):
    assert html.groups_line(groups) == line
