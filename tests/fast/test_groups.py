"""Errors by group (search.groups): pure arithmetic on labels and predictions."""

import json

import pytest

from search import data, groups
from search.errors import DamagedFile
from search.records import TrialRecord, load_records


def test_every_group_is_counted_with_its_mae():
    ages = [5, 12, 13, 19, 20, 39, 40, 59, 60, 90]
    genders = [0, 1, 0, 1, 0, 1, 0, 1, 0, None]
    races = [0, 1, 2, 3, 4, 0, 1, 2, None, 3]
    errors = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    predicted = [a + (e if i % 2 else -e) for i, (a, e) in enumerate(zip(ages, errors, strict=True))]
    g = groups.breakdown(ages, genders, races, predicted)
    assert list(g) == ["gender", "ethnicity", "age_band"]
    assert g["gender"] == {"male": {"n": 5, "mae": pytest.approx((1 + 3 + 5 + 7 + 9) / 5)},
                           "female": {"n": 4, "mae": pytest.approx((2 + 4 + 6 + 8) / 4)}}
    assert list(g["ethnicity"]) == ["White", "Black", "Asian", "Indian", "Others"]
    assert g["ethnicity"]["White"] == {"n": 2, "mae": pytest.approx((1 + 6) / 2)}
    assert g["ethnicity"]["Indian"] == {"n": 2, "mae": pytest.approx((4 + 10) / 2)}
    assert g["ethnicity"]["Others"] == {"n": 1, "mae": pytest.approx(5)}
    # band edges: 12 in 0-12, 13 in 13-19, 19/20, 39/40, 59/60
    assert {k: v["n"] for k, v in g["age_band"].items()} == {
        "0-12": 2, "13-19": 2, "20-39": 2, "40-59": 2, "60+": 2}
    assert g["age_band"]["60+"]["mae"] == pytest.approx((9 + 10) / 2)
    # images without a gender or race field count in the age bands only
    assert sum(c["n"] for c in g["gender"].values()) == 9
    assert sum(c["n"] for c in g["ethnicity"].values()) == 9
    assert json.loads(json.dumps(g)) == g  # plain JSON
    assert groups.is_breakdown(g)


def test_an_empty_group_has_a_count_of_zero_and_no_mae():
    g = groups.breakdown([30, 31], [0, 0], [0, 0], [30.5, 33.0])
    assert g["gender"]["female"] == {"n": 0, "mae": None}
    assert g["age_band"]["0-12"] == {"n": 0, "mae": None}
    assert g["age_band"]["20-39"] == {"n": 2, "mae": pytest.approx(1.25)}
    assert "female - (n 0)" in groups.lines(g)[0]
    assert groups.lines(g, overall=1.25)[0] == "all: 1.25 y"


def test_labels_and_predictions_must_pair_up():
    with pytest.raises(ValueError, match="one label and one prediction per image"):
        groups.breakdown([30, 31], [0, 0], [0, 0], [30.0])


def test_labels_come_from_utkface_file_names():
    names = ["25_0_2_20170116174525125.jpg.chip.jpg", "70_1_1_20170116174525125.jpg",
             "39_1_20170116174525125.jpg.chip.jpg",  # race field missing
             "someone.jpg",  # no label: left out
             "8_0_0_20170116174525125.jpg"]  # not predicted: left out
    labels = [data.parse_name(n) for n in names]
    labels = [lab if isinstance(lab, data.Labels) else None for lab in labels]
    g = groups.of_files(labels, [20.0, 80.0, 41.0, 50.0, None])
    assert g["ethnicity"]["Asian"] == {"n": 1, "mae": 5.0}
    assert g["ethnicity"]["Black"] == {"n": 1, "mae": 10.0}
    assert g["gender"]["female"] == {"n": 2, "mae": 6.0}
    assert g["age_band"]["20-39"] == {"n": 2, "mae": 3.5}
    assert sum(c["n"] for c in g["age_band"].values()) == 3
    assert groups.of_files([None], [30.0]) is None


def test_tables_and_the_widest_gap():
    g = groups.breakdown([10, 30, 30, 70], [0, 1, 0, 1], [0, 0, 1, 2], [12, 31, 30, 60])
    md = groups.markdown(g).splitlines()
    assert md[0] == "| breakdown | group | images | MAE (years) |"
    assert "| age band | 60+ | 1 | 10.00 |" in md and "| ethnicity | Indian | 0 | - |" in md
    assert len(md) == 2 + 2 + 5 + 5
    # errors 2, 1, 0, 10: ethnicity Black 0 vs Asian 10 is wider than age 20-39 0.5 vs 60+ 10
    assert groups.widest_gap(g) == {"breakdown": "ethnicity", "best": "Black",
                                    "worst": "Asian", "gap_years": pytest.approx(10.0)}
    # with 2 images at least: male (2, 0) vs female (1, 10); one group of ethnicity or band
    assert groups.widest_gap(g, min_n=2) == {"breakdown": "gender", "best": "male",
                                             "worst": "female", "gap_years": pytest.approx(4.5)}
    assert groups.widest_gap(g, min_n=3) is None


def test_records_keep_groups_and_older_records_read_as_none(tmp_path):
    g = groups.breakdown([30], [0], [0], [31.0])
    path = tmp_path / "trials" / "00" / "record.json"
    TrialRecord("00", "complete", groups=g).save(path)
    assert TrialRecord.load(path).groups == g
    data = json.loads(path.read_text())
    del data["groups"]  # a record from before errors by group
    path.write_text(json.dumps(data))
    assert TrialRecord.load(path).groups is None
    data["groups"] = "by age"
    path.write_text(json.dumps(data))
    with pytest.raises(DamagedFile, match="'groups' is 'by age'"):
        TrialRecord.load(path)
    assert load_records(tmp_path) == []
    assert not groups.is_breakdown({"gender": {}}) and not groups.is_breakdown(None)
