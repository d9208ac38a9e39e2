"""Leaderboard reports from hand-made trial records: no training, no TensorFlow."""

import csv
import io
import json

import pytest
from conftest import lite_values, sample_records
from rich.console import Console

from search import cli, pareto, report
from search.budget import Budget
from search.errors import UserError
from search.records import FAILED, INFEASIBLE, TrialRecord
from search.report import common, markdown, plot, tables, text

PNG = b"\x89PNG\r\n\x1a\n"


def board_of(*run_dirs, **kw):
    return report.board([report.load_run(d) for d in run_dirs], **kw)


def terminal(b, width=200):
    buf = io.StringIO()
    report.print_board(b, Console(file=buf, width=width))
    return buf.getvalue()


def ids(b):
    return [t["trial_id"] for t in b["trials"]]


def test_board_marks_front_best_knee_and_reference(make_run):
    b = board_of(make_run("lite-a", sample_records()))
    rows = {t["trial_id"]: t for t in b["trials"]}
    assert {i for i, t in rows.items() if t["on_front"]} == {"00", "01", "02"}
    assert (b["best_trial"], b["knee_trial"]) == ("00", "02")
    assert rows["00"]["is_best"] and rows["02"]["is_knee"] and rows["ref"]["is_reference"]
    assert rows["03"]["pareto_rank"] == 2 and rows["ref"]["pareto_rank"] == 3
    for tid in ("04", "05", "06"):  # not complete: never ranked
        assert rows[tid]["pareto_rank"] is None and not rows[tid]["on_front"]
    # Pareto order: rank, then MAE (search.board.pareto_order); unfinished last.
    assert ids(b) == ["00", "02", "01", "03", "ref", "06", "04", "05"]
    assert rows["00"]["crowding_distance"] is None  # an extreme: infinite
    assert rows["02"]["crowding_distance"] == pytest.approx(
        pareto.crowding_distance([[5.1, 40_000, 90_000 / 1024], [8.2, 1500, 9_000 / 1024],
                                  [6.0, 6000, 20_000 / 1024]])[2])
    out = terminal(b)
    assert "Leaderboard: lite-a" in out and "1 *" in out
    assert "Best MAE on the front: trial 00" in out and "Knee" in out
    assert "Reference (the reference recipe): trial ref" in out
    assert "trial 04 infeasible: 5 pooled blocks" in out
    # an infeasible candidate was never trained: not one of the trials planned and recorded
    details = b["summary"]["details"][0]
    assert "7 of 8 planned trials recorded (" in details, details
    assert "1 infeasible candidate not trained" in details and "infeasible)" not in details


def test_missing_measurements_show_a_dash_and_old_records_still_load(make_run, tmp_path):
    run = make_run("old", [])
    old = {"trial_id": "00", "status": "complete", "values": lite_values([8, 16], [16]),
           "val_mae": 6.0, "test_mae": 6.1, "params": 1000, "tflite_float32_bytes": 8000,
           "tflite_float16_bytes": 4096, "epochs_run": 3, "train_seconds": 5.0,
           "some_future_field": 1}
    (run / "trials" / "00").mkdir(parents=True)
    (run / "trials" / "00" / "record.json").write_text(json.dumps(old))
    rec = report.load_run(run).records[0]
    assert (rec.macs, rec.latency_ms, rec.tflite_int8_bytes) == (None, None, None)
    b = board_of(run)
    cells = {c.key: c.show(b["trials"][0]) for c in common.columns(b)}
    assert cells["macs"] == cells["tflite_int8_kib"] == cells["latency_ms"] == "-"
    assert cells["tflite_float16_kib"] == "4.0"
    assert "| - |" in markdown.page(b)


def test_sorts_and_unknown_sort(make_run):
    recs = sample_records()
    for r, ms in zip(recs, (3.0, 0.5, 1.0, 9.0, None, None, None, 20.0), strict=True):
        r.latency_ms = ms
    run = make_run("lite-a", recs)
    assert ids(board_of(run, sort="mae"))[:5] == ["00", "03", "02", "01", "06"]
    assert ids(board_of(run, sort="size"))[:4] == ["01", "06", "05", "02"]
    assert ids(board_of(run, sort="latency"))[:5] == ["01", "02", "00", "03", "ref"]
    with pytest.raises(UserError, match="unknown --sort 'speed'; expected one of pareto, mae"):
        board_of(run, sort="speed")


def test_objectives_latency_and_macs_rank_only_measured_trials(make_run):
    recs = sample_records()
    recs[0].latency_ms, recs[1].latency_ms = 4.0, 1.0
    b = board_of(make_run("lite-a", recs), objectives=("mae", "latency"))
    ranked = {t["trial_id"] for t in b["trials"] if t["pareto_rank"]}
    assert ranked == {"00", "01"}
    assert b["pareto"]["unranked_complete"] == 3
    assert any("3 complete trial(s) not ranked: latency not measured" in s
               for s in b["summary"]["details"])
    with pytest.raises(UserError, match="unknown objective 'speed'"):
        board_of(make_run("lite-b", recs), objectives="mae,speed")


def test_hypervolume_is_normalised_and_its_reference_point_stated(make_run):
    b = board_of(make_run("lite-a", sample_records()), objectives=("mae", "kib"))
    pts = {t["trial_id"]: [t["val_mae"], t["tflite_float16_kib"]]
           for t in b["trials"] if t["pareto_rank"]}
    lows, highs = pareto.bounds(list(pts.values()))
    norm = pareto.normalise([pts[i] for i in ("00", "01", "02")], lows, highs)
    # Front in (mae, kib): 00, 01, 02 (03 is bigger and worse than 00).
    assert b["pareto"]["hypervolume"] == pytest.approx(pareto.hypervolume(norm, [1.1, 1.1]))
    assert b["pareto"]["reference_point"]["mae"] == pytest.approx(5.1 + 1.1 * (14.8 - 5.1))
    assert b["pareto"]["hypervolume_max"] == pytest.approx(1.21)
    line = next(s for s in b["summary"]["details"] if s.startswith("Hypervolume"))
    assert "reference point 1.1 in each" in line and "mae 15.77 years" in line


@pytest.mark.parametrize("budget, expect, words", [
    (Budget(max_kib=50), "02", "Best MAE within 50 KiB (float16 TFLite): trial 02"),
    (Budget(max_params=2000), "01", "within 2,000 parameters: trial 01"),
    (Budget(max_kib=5), None, "No complete trial fits 5 KiB (float16 TFLite). The "
                                     "smallest complete one is trial 01 at 8.8 KiB."),
    (Budget(max_latency_ms=10), None, "5 complete trial(s) lack a measurement"),
])
def test_budget_picks_the_best_mae_that_fits(make_run, budget, expect, words):
    b = board_of(make_run("lite-a", sample_records()), budget=budget)
    assert b["budget"]["trial_id"] == expect
    assert words in b["budget"]["message"]
    assert b["budget"]["message"] in b["summary"]["headline"]
    if expect:
        row = next(t for t in b["trials"] if t["trial_id"] == expect)
        assert row["fits_budget"] and "fits" in text.marks(row)
        assert b["budget"]["message"] in terminal(b)


def test_budget_with_latency_measured(make_run):
    recs = sample_records()
    for r, ms in zip(recs[:4], (3.0, 0.5, 1.0, 9.0), strict=True):
        r.latency_ms = ms
    b = board_of(make_run("lite-a", recs), budget=Budget(max_latency_ms=2.0))
    assert b["budget"]["trial_id"] == "02"  # 02 (6.0 y, 1 ms) beats 01 (8.2 y, 0.5 ms)
    assert "1.00 ms" in b["budget"]["message"]
    with pytest.raises(UserError, match="--max-kib must be a number above 0, got -1"):
        Budget(max_kib=-1)


@pytest.mark.parametrize("case", ["empty", "one", "only_failed"])
def test_reports_render_with_zero_one_or_only_failed_trials(make_run, tmp_path, case):
    recs = {
        "empty": [],
        "one": sample_records()[:1],
        "only_failed": [TrialRecord("00", FAILED, lite_values([8], [8]), reason="OOM"),
                        TrialRecord("01", INFEASIBLE, lite_values([8] * 6, [8]),
                                    reason="6 pooled blocks shrink a 32 px input")],
    }[case]
    b = board_of(make_run(case, recs))
    said = {"empty": "No trial recorded yet",
            "one": "one complete trial: it is the front by itself",
            "only_failed": "No trial finished (1 failed, 1 infeasible): nothing to rank"}[case]
    assert any(said in s for s in b["summary"]["headline"] + b["summary"]["details"])
    assert said in terminal(b)
    paths = report.write_all(b, tmp_path / "out")
    assert said in paths["leaderboard.md"].read_text()
    assert said in paths["report.html"].read_text()
    assert paths["pareto.png"].read_bytes().startswith(PNG)
    rows = list(csv.DictReader(io.StringIO(paths["leaderboard.csv"].read_text())))
    assert len(rows) == len(recs)
    assert json.loads(paths["leaderboard.json"].read_text())["best_trial"] == (
        "00" if case == "one" else None)
    if case == "only_failed":
        assert "OOM" in paths["report.html"].read_text()


XSS = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"


def crafted_board(make_run=None):
    recs = sample_records()[:3]
    recs[0].values["head"] = IMG
    recs[1].values["conv"] = "a|b`c*d_"
    recs[2].trial_id = "2<b>"
    recs[2].model_path = "trials/2/model.keras"
    space = {"name": XSS, "description": IMG}
    return report.leaderboard(XSS, recs, space=space, config={"image_size": 64},
                              run_path=f"results/{IMG}")


def test_user_strings_are_escaped_in_html():
    from search.report import html

    page = html.page(crafted_board(), None)
    for raw in (XSS, IMG, "<b>"):
        assert raw not in page
    assert html_text(XSS) in page and html_text(IMG) in page
    assert page.count("<script>") == 1  # ours, and it is allowed by hash only
    assert "script-src &#x27;sha256-" in page and "default-src &#x27;none&#x27;" in page


def html_text(s):
    import html

    return html.escape(s, quote=True)


def test_user_strings_are_escaped_in_markdown():
    import re

    md = markdown.page(crafted_board())
    # Code blocks show their text as written (the shell commands); everything else escapes.
    outside = re.sub(r"^(`{3,})sh\n.*?\n\1$", "", md, flags=re.S | re.M)
    assert outside.count("python run_search.py export") == 0
    for raw in (XSS, IMG, "a|b`c", "<b>"):
        assert raw not in outside
    assert "Leaderboard: &lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert r"a\|b\`c\*d\_" in md
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len({line.count(" | ") - line.count(r"\| ") for line in table}) == 1, table
    # The export command sits in a fenced block: shown as written, and shell-quoted.
    assert "python run_search.py export 'results/<img src=x onerror=alert(2)>'" in md


def test_markdown_escape_and_fence():
    assert markdown.md_escape("a|b") == r"a\|b"
    assert markdown.md_escape("`x`") == r"\`x\`"
    assert markdown.md_escape("<i>&") == "&lt;i&gt;&amp;"
    assert markdown.md_escape("two\nlines") == "two lines"
    assert markdown.fence("a ```` b") == "`````"


def test_csv_has_one_row_per_trial_with_machine_values(make_run):
    b = board_of(make_run("lite-a", sample_records()))
    rows = list(csv.DictReader(io.StringIO(tables.csv_text(b))))
    assert [r["trial_id"] for r in rows] == ids(b)
    first = rows[0]
    assert first["val_mae"] == "5.1" and first["params"] == "40000"
    assert first["on_front"] == "true" and first["macs"] == "" and first["latency_ms"] == ""
    assert json.loads(first["values"])["filters_3"] == 64
    assert list(rows[0]) == list(tables.CSV_FIELDS)


def test_leaderboard_json_is_strict_and_carries_config_and_dataset(make_run, tmp_path):
    b = board_of(make_run("lite-a", sample_records()))
    paths = report.write_all(b, tmp_path / "out")
    text = paths["leaderboard.json"].read_text()

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    saved = json.loads(text, parse_constant=no_constants)  # NaN of trial 05 -> null
    assert saved["schema_version"] == 1
    for key in ("run", "objectives", "config", "space", "dataset", "baseline", "runs",
                "best_trial", "knee_trial", "pareto", "budget", "summary", "trials"):
        assert key in saved, key
    assert saved["config"]["image_size"] == 64 and saved["dataset"]["used"] == 2400
    failed = next(t for t in saved["trials"] if t["trial_id"] == "05")
    assert failed["val_mae"] is None
    front = next(t for t in saved["trials"] if t["trial_id"] == "00")
    assert front["architecture"].startswith("64x64x3 pixels → 3 × [separable 3x3 conv, BatchNorm")
    assert front["export_command"] == (
        f"python run_search.py export {b['runs'][0]['path']} --trial 00")
    assert not list((tmp_path / "out").glob(".*tmp*"))  # atomic: nothing half-written


def test_html_page_is_self_contained(make_run, tmp_path):
    b = board_of(make_run("lite-a", sample_records()))
    page = report.write_all(b, tmp_path / "out")["report.html"].read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert '<img src="data:image/png;base64,' in page
    for remote in ('src="http', "src='http", 'href="http', "url(", "@import"):
        assert remote not in page
    assert page.count('<tr class="') == len(b["trials"])
    assert "python run_search.py export" in page and "Front members" in page


def test_merged_runs_share_one_table_and_plot(make_run):
    a = make_run("lite-a", sample_records())
    c = make_run("lite-b", sample_records(shift=-0.7)[:4])
    b = board_of(a, c)
    assert b["run"] == "lite-a vs lite-b" and len(b["trials"]) == 12
    assert (b["best_trial"], b["best_run"]) == ("00", "lite-b")
    front = {(t["run"], t["trial_id"]) for t in b["trials"] if t["on_front"]}
    assert front == {("lite-b", "00"), ("lite-b", "01"), ("lite-b", "02")}
    # Each run keeps its own front and a hypervolume on a shared normalisation.
    assert [r["front"] for r in b["runs"]] == [["00", "01", "02"], ["00", "01", "02"]]
    hv_a, hv_b = (r["hypervolume"] for r in b["runs"])
    assert hv_b > hv_a and b["pareto"]["hypervolume"] == pytest.approx(hv_b)
    assert common.columns(b)[0].key == "run"
    assert "lite-a" in terminal(b) and "lite-b" in markdown.page(b)
    assert plot.pareto_png(b).startswith(PNG)


def test_a_run_being_searched_and_a_damaged_record(make_run):
    run = make_run("live", sample_records()[:2], baseline=False)
    (run / "trials" / "09").mkdir()
    (run / "trials" / "09" / "record.json").write_text("{half a rec")
    b = board_of(run)
    assert ids(b) == ["00", "01"]
    assert any("trials/09/record.json: is not valid JSON" in s and "trial 09 is left out" in s
               for s in b["summary"]["headline"])
    assert "2 of 2 planned trials recorded" in b["summary"]["details"][0]


def test_load_run_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(UserError, match="is not a run folder .has no config.json"):
        report.load_run(tmp_path)
    with pytest.raises(UserError, match="is not a run folder .does not exist"):
        report.load_run(tmp_path / "nowhere")


def test_cli_leaderboard_formats_and_files(make_run, capsys):
    run = make_run("lite-a", sample_records())
    assert cli.main(["leaderboard", str(run), "--format", "json", "--sort", "mae"]) == 0
    saved = json.loads(capsys.readouterr().out)
    assert saved["sort"] == "mae" and saved["trials"][0]["trial_id"] == "00"
    assert cli.main(["leaderboard", str(run), "--format", "csv", "--objectives", "mae,kib",
                     "--max-kib", "50", "--out", str(run)]) == 0
    cap = capsys.readouterr()
    assert cap.out.startswith("run,trial_id,status")
    assert "report files written to" in cap.err
    for name in report.REPORT_FILES:
        assert (run / name).is_file(), name
    assert cli.main(["leaderboard", str(run)]) == 0
    assert "Leaderboard: lite-a" in capsys.readouterr().out
    assert cli.main(["leaderboard", str(run), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("# Leaderboard: lite-a")


@pytest.mark.parametrize("args, needle", [
    (["--format", "xml"], "unknown --format 'xml'; expected one of table, markdown, html"),
    (["--sort", "speed"], "unknown --sort 'speed'"),
    (["--objectives", "mae,size"], "unknown objective 'size' in --objectives"),
])
def test_cli_leaderboard_bad_input_is_one_line_and_exit_2(make_run, capsys, args, needle):
    run = make_run("lite-a", sample_records())
    assert cli.main(["leaderboard", str(run), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.strip().count("\n") == 0


def test_cli_leaderboard_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert cli.main(["leaderboard", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_leaderboard_command_never_loads_tensorflow(make_run):
    import subprocess
    import sys
    from pathlib import Path

    run = make_run("lite-a", sample_records())
    code = ("import sys; from search import cli; "
            f"rc = cli.main(['leaderboard', {str(run)!r}, '--out', {str(run)!r}]); "
            "assert rc == 0, rc; assert 'tensorflow' not in sys.modules, 'tensorflow loaded'")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, cwd=Path(__file__).resolve().parent.parent)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (run / "report.html").is_file()


def test_objectives_nobody_measured_say_so_up_front(make_run):
    b = board_of(make_run("lite-a", sample_records()), objectives="mae,latency")
    assert b["best_trial"] is None and not any(t["on_front"] for t in b["trials"])
    assert b["summary"]["headline"][0].startswith(
        "No trial ranked: 5 complete trial(s) not ranked: latency not measured")
    assert "now mae,latency" in b["summary"]["headline"][0]


def test_each_rendering_depends_on_the_shared_modules_only():
    import ast
    from pathlib import Path

    import search.report

    folder = Path(search.report.__file__).parent
    renderers = {"terminal", "markdown", "tables", "html", "plot"}
    # svg: the page's charts; importance: which hyperparameters mattered (pure numbers)
    shared = {"search.report.common", "search.report.text", "search.report.svg",
              "search.report.importance"}
    for name in (*renderers, "common", "text", "svg", "importance"):
        tree = ast.parse((folder / f"{name}.py").read_text())
        used = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        ours = {m for m in used if m.startswith("search.report")}
        allowed = (shared if name in renderers else {"search.report.common", "search.report.text"}
                   if name == "svg" else {"search.report.text"})
        assert ours <= allowed - {f"search.report.{name}"}, (name, ours)


def test_runs_on_other_data_resolution_or_split_are_ranked_only_when_asked(make_run, capsys):
    from search.files import write_json_atomic

    big = make_run("big", sample_records())
    small = make_run("small", sample_records(shift=-1.0)[:4], image_size=32)
    write_json_atomic(small / "dataset.json", {
        "source": "synthetic", "found": 200, "used": 200, "skipped_total": 0,
        "skipped": {}, "splits": {"train": 140, "val": 30, "test": 30}})
    with pytest.raises(UserError) as err:
        report.show([big, small], fmt="json")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("these runs differ in data (big: synthetic, "
                                              "2,400 images; small: synthetic, 200 images)")
    assert "resolution (big: 64 px; small: 32 px)" in msg
    assert "split (big: train 1,680 / val 360 / test 360; small: train 140" in msg
    assert msg.endswith("rank them anyway with --rank-anyway")
    assert capsys.readouterr().out == ""  # nothing ranked

    b = report.show([big, small], fmt="json", rank_anyway=True)
    assert b["summary"]["headline"][0].startswith(
        "Warning: ranked together as asked (--rank-anyway), although these runs differ in "
        "data (big: synthetic, 2,400 images;")
    assert "Warning: ranked together" in capsys.readouterr().out
    assert b["best_run"] == "small"


def test_the_same_images_split_otherwise_is_another_split(make_run):
    from search.files import write_json_atomic

    a, c = make_run("a", sample_records()), make_run("c", sample_records())
    assert report.differences([report.load_run(a), report.load_run(c)], ["a", "c"]) == []
    write_json_atomic(a / "run.json", {"data": "3f2a9c0d11aa22bb"})
    write_json_atomic(c / "run.json", {"data": "9c1d00ee33ff4455"})
    with pytest.raises(UserError, match=r"differ in split \(a: train 1,680 / val 360 / test "
                                        r"360, fingerprint 3f2a9c0d; c: .*fingerprint 9c1d00ee\)"):
        board_of(a, c)
