"""benchmarks/search_efficiency.py's figures and pooled summary (pure Python: no training)."""

import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "search_efficiency.py"
_spec = importlib.util.spec_from_file_location("search_efficiency", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_sign_test_is_the_exact_two_sided_binomial():
    assert bench.sign_test(7, 0) == pytest.approx(2 / 128)
    assert bench.sign_test(0, 7) == pytest.approx(2 / 128)
    assert bench.sign_test(6, 1) == pytest.approx(2 * 8 / 128)
    assert bench.sign_test(3, 3) == 1.0
    assert bench.sign_test(0, 0) == 1.0


def test_front_figures_count_a_searchs_reference_on_the_front_but_never_as_the_seed():
    ref_point = (16.0, 1400.0)
    pts = [(30.0, 8.0, 700.0, True),    # the search's own reference: the seed's recipe
           (60.0, 7.9, 100.0, False),   # as accurate as the seed at a seventh of its size
           (90.0, 12.0, 20.0, False)]
    f = bench.front_figures(pts, ref_point, seed_mae=8.0, seed_kib=700.0)
    assert f["best_mae"] == 7.9 and f["trials"] == 3
    assert f["t_seed"] == 60.0 and f["seed_share"] == pytest.approx(100 / 700)
    assert f["small_kib"] == 100.0  # within 10% of 7.9 y
    alone = bench.front_figures(pts[:1], ref_point, seed_mae=8.0, seed_kib=700.0)
    assert alone["t_seed"] is None and alone["seed_share"] is None
    assert 0 < alone["hv"] < f["hv"] < 1


def _row(contender, seed, hv, share=None, data="synthetic", budget=4.0):
    return {"data": data, "seed": seed, "budget_min": budget, "epochs": 12, "image_size": 64,
            "space": "lite", "contender": contender, "best_mae": 5.0, "hv": hv, "trials": 9,
            "small_kib": 50.0, "t_seed": None, "seed_share": share}


def test_summarise_pools_files_pairs_by_seed_and_keeps_the_later_run_of_a_seed(tmp_path, capsys):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in [
        _row("seed", 1, 0.30), _row("plain-kt", 1, 0.70, 0.08), _row("agesearch:tpe+res", 1, 0.60),
        _row("agesearch:tpe+res", 2, 0.10),  # replaced by b.jsonl's run of seed 2
        _row("plain-kt", 1, 0.50, data="utkface-dev")]))
    b.write_text("".join(json.dumps(r) + "\n" for r in [
        _row("plain-kt", 2, 0.65), _row("agesearch:tpe+res", 2, 0.75, 0.04),
        _row("plain-kt", 3, 0.60), _row("agesearch:tpe+res", 3, 0.70, 0.2)]) + "\n")
    bench.summarise([str(a), str(b)])
    out = capsys.readouterr().out
    assert "synthetic, budget 4 min per contender, 12 epochs, 64 px; median [min-max] over 3 " \
           "seed(s): 1, 2, 3" in out
    assert "utkface-dev, budget 4 min" in out  # another data set: its own table
    lines = out.splitlines()
    names = [ln.split()[0] for ln in lines if ln.split() and ln.split()[0] in
             ("seed", "plain-kt", "agesearch:tpe+res")]
    assert names[:3] == ["seed", "plain-kt", "agesearch:tpe+res"]
    tool = next(ln for ln in lines if ln.startswith("agesearch:tpe+res "))
    assert "0.700 [0.600-0.750]" in tool  # seed 2 is b.jsonl's 0.75, not a.jsonl's 0.10
    paired = next(ln for ln in lines if ln.startswith("agesearch:tpe+res against plain-kt"))
    assert ("paired over 3 seed(s): higher on 2, lower on 1; difference median +0.100 "
            "[-0.100 to +0.100]; sign test p = 1.00 (one-sided, higher: 0.500); as accurate "
            "as the seed at <= 1/4 of its size on 2 seed(s) against 1; candidates x-") in paired


def test_one_sided_sign_test_is_the_binomial_tail():
    assert bench.one_sided(7, 0) == pytest.approx(1 / 128)
    assert bench.one_sided(7, 1) == pytest.approx(9 / 256)  # 7 of 8: the target
    assert bench.one_sided(0, 3) == 1.0
    assert bench.one_sided(0, 0) == 1.0


def test_a_compute_budget_pools_apart_from_wall_clock_and_counts_candidates(tmp_path, capsys):
    rows = [{**_row("plain-kt", 1, 0.5), "budget_gmac": 120.0, "candidates": 3, "gmac": 150.0,
             "seconds": 160.0},
            {**_row("agesearch:moasha+res", 1, 0.6), "budget_gmac": 120.0, "candidates": 12,
             "gmac": 130.0, "seconds": 200.0},
            _row("plain-kt", 1, 0.4)]  # a wall-clock run: another table
    f = tmp_path / "c.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    bench.summarise([str(f)])
    out = capsys.readouterr().out
    assert "synthetic, budget 120 G MAC-images per contender, 12 epochs, 64 px" in out
    assert "synthetic, budget 4 min per contender" in out
    paired = next(ln for ln in out.splitlines()
                  if ln.startswith("agesearch:moasha+res against plain-kt"))
    assert paired.endswith("candidates x4.0 [4.0 to 4.0]")


@pytest.mark.parametrize("text, message", [
    ("not json\n", "line 1: expected one JSON object written by --out"),
    (json.dumps({"data": "synthetic"}) + "\n", "line 1: expected one JSON object"),
    ("\n", "no figures in them"),
])
def test_summarise_names_the_file_and_line_it_cannot_read(tmp_path, text, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(text)
    with pytest.raises(SystemExit, match=message):
        bench.summarise([str(f)])
    with pytest.raises(SystemExit, match="cannot read it"):
        bench.summarise([str(tmp_path / "missing.jsonl")])


@pytest.mark.parametrize("tuners, needle", [
    ("tpe+hb2", "--tuners 'tpe+hb2': --brackets 2: expected 1 (the default) unless --tuner "
                "moasha"),
    ("moasha+min13", "--tuners 'moasha+min13': --min-epochs 13: expected at most --epochs (12)"),
    ("tpe+bogus", "unknown contender option 'bogus' in 'tpe+bogus'")])
def test_a_contender_the_toolkit_would_refuse_stops_the_benchmark_before_any_training(
        tuners, needle):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, str(_PATH), "--tuners", tuners], capture_output=True,
                       text=True, timeout=120, cwd=_PATH.parent)
    assert p.returncode != 0 and needle in p.stderr, p.stderr[-2000:]
    assert "reference" not in p.stdout  # nothing trained, nothing printed


def test_a_whole_pick_option_sets_moashas_last_bracket_pick_for_that_contender_only(
        monkeypatch):
    from search.backends import moasha
    from search.config import RunConfig

    monkeypatch.setattr(moasha, "PICK", moasha.PICK)  # restored after the test
    monkeypatch.setattr(moasha, "WHOLE_PICK", moasha.WHOLE_PICK)

    cfg = bench.contender("moasha+hb3+wholerandom", RunConfig())
    assert cfg.brackets == 3 and (moasha.PICK, moasha.WHOLE_PICK) == ("cheap", "random")
    bench.contender("moasha+hb3+spread", RunConfig())  # the next contender: its own picks
    assert (moasha.PICK, moasha.WHOLE_PICK) == ("spread", None)
