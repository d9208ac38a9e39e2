"""report.html in a real headless Chromium: it loads with no console message, its script runs
(the Content-Security-Policy allows it by hash), the table has one row per trial, sorting
works, user strings stay text, and a phone-sized screenshot is taken. Driven through the
DevTools protocol (tests/browser.py): hovering a point of the Pareto plot shows its trial
and MAE, a click keeps it, the learning curves draw one line per complete trial, the notes
column is in view at 1400 px, and the page requests nothing but itself.

Needs Chromium (Debian: ``apt-get install chromium``); skipped with the reason where none is
installed. Set AGESEARCH_SCREENSHOT_DIR to keep the screenshots.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from browser import Browser
from conftest import sample_records

from search import report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no Chromium binary on PATH (looked for " + ", ".join(BROWSERS)
           + "); install it with 'apt-get install chromium' to run the browser checks")

XSS = "<script>document.title='pwned'</script>"
IMG = "<img src=x onerror=\"document.title='pwned'\">"


def chromium(tmp_path, url, *args):
    """Run headless Chromium on ``url``; return (stdout, console lines from the page)."""
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
           "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000", *args, url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    console = [line for line in p.stderr.splitlines() if ":CONSOLE" in line]
    return p.stdout, console


@pytest.fixture
def page(make_run, tmp_path):
    recs = sample_records()
    recs[1].values["head"] = IMG  # a hyperparameter value a user could have typed
    for r in recs:  # learning curves: falling towards the trial's best
        if r.status in ("complete", "pruned"):
            r.history = {"val_mae": [r.val_mae + 6.0 / (1 + e) for e in range(r.epochs_run)]}
    run = make_run("lite-a", recs, space_name=XSS)
    b = report.board([report.load_run(run)])
    return report.write_all(b, tmp_path / "out")["report.html"], b


def body_rows(dom):
    body = dom.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr class="[^"]*" data-trial="([^"]*)"', body)


def test_report_loads_cleanly_with_one_row_per_trial(page, tmp_path):
    path, b = page
    dom, console = chromium(tmp_path, path.as_uri(), "--dump-dom")
    assert console == []  # no errors, warnings, CSP refusals or logs
    assert 'id="board" data-ready="true"' in dom  # the sorting script ran
    assert body_rows(dom) == [t["trial_id"] for t in b["trials"]]
    assert "<title>Leaderboard: lite-a</title>" in dom  # no injected script changed it
    assert "&lt;script&gt;document.title=" in dom and "&lt;img src=x" in dom
    assert "<img src=\"x\"" not in dom and "<img src=x" not in dom


def test_sorting_by_a_column(page, tmp_path):
    path, b = page
    dom, console = chromium(tmp_path, path.as_uri() + "#sort=-val_mae", "--dump-dom")
    assert console == []
    got = body_rows(dom)
    with_mae = sorted((t for t in b["trials"] if t["val_mae"] is not None),
                      key=lambda t: -t["val_mae"])
    assert got[: len(with_mae)] == [t["trial_id"] for t in with_mae]
    assert set(got[len(with_mae):]) == {"04", "05"}  # no MAE: last either way
    assert 'data-key="val_mae" data-type="num" aria-sort="descending"' in dom


def test_content_security_policy_blocks_a_script_that_escaped_escaping(page, tmp_path):
    path, _ = page
    bad = tmp_path / "tampered.html"
    bad.write_text(path.read_text().replace("<main>", "<main><script>document.title='pwned'"
                                                      "</script>", 1))
    dom, console = chromium(tmp_path, bad.as_uri(), "--dump-dom")
    assert "<title>Leaderboard: lite-a</title>" in dom
    assert any("Content Security Policy" in line for line in console), console


def test_phone_screenshot(page, tmp_path):
    path, _ = page
    shot = tmp_path / "phone.png"
    _, console = chromium(tmp_path, path.as_uri(), f"--screenshot={shot}",
                          "--window-size=390,844")
    assert console == []
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (390, 844)
        assert len(set(im.convert("L").resize((39, 84)).tobytes())) > 10  # not blank
    keep = os.environ.get("AGESEARCH_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report-phone.png")


def test_empty_run_page_loads_cleanly(make_run, tmp_path):
    b = report.board([report.load_run(make_run("empty", []))])
    path = report.write_all(b, tmp_path / "out")["report.html"]
    dom, console = chromium(tmp_path, path.as_uri(), "--dump-dom")
    assert console == []
    assert "No trial recorded yet" in dom and 'id="board"' not in dom


# --- interactions, through the DevTools protocol -------------------------------------------


def test_hovering_a_front_point_shows_its_trial_and_mae(page, tmp_path):
    path, b = page
    with Browser(tmp_path) as br:
        br.open(path.as_uri(), width=1400, height=900)
        assert br.eval("document.getElementById('detail').dataset.ready") == "true"
        assert br.eval("document.getElementById('tip').hidden") is True
        for tid, mae in (("00", "5.10"), ("01", "8.20"), ("02", "6.00")):  # the front
            br.hover(f"svg.pareto [data-key='0:{tid}']")
            tip = br.eval("[document.getElementById('tip').hidden,"
                          " document.getElementById('tip').textContent]")
            assert tip[0] is False and tip[1].startswith(f"trial {tid}: val MAE {mae} y"), tip
            panel = br.eval("document.querySelector('#detail .fig').textContent")
            assert panel.startswith(f"val MAE {mae} y"), panel
            # the same trial is marked in the table and its learning curve
            assert br.eval(f"document.querySelector('tr[data-key=\\'0:{tid}\\']')"
                           ".classList.contains('sel')")
            assert br.eval(f"document.querySelector('path.curve[data-key=\\'0:{tid}\\']')"
                           ".classList.contains('hl')")
        br.mouse("mouseMoved", 5, 5)  # away: the tooltip goes
        assert br.eval("document.getElementById('tip').hidden") is True
        br.click("svg.pareto [data-key='0:02']")  # a click keeps trial 02 in the panel
        br.hover("svg.pareto [data-key='0:00']")
        br.mouse("mouseMoved", 5, 5)
        assert br.eval("document.getElementById('detail').dataset.shown") == "0:02"
        assert br.eval("document.querySelector('#detail .title').textContent") == (
            "Trial 02: complete (knee)")
        assert br.console == []


def test_learning_curves_draw_one_line_per_complete_trial(page, tmp_path):
    path, b = page
    complete = [t["trial_id"] for t in b["trials"] if t["status"] == "complete"]
    with Browser(tmp_path) as br:
        br.open(path.as_uri(), width=1400, height=900)
        drawn = br.eval("Array.prototype.map.call(document.querySelectorAll("
                        "'svg.curves path.curve[data-status=complete]'),"
                        " function (p) { return p.dataset.key; })")
        assert sorted(drawn) == sorted(f"0:{tid}" for tid in complete)
        # each line has a point per epoch (12 epochs: M + 11 L)
        d = br.eval("document.querySelector(\"svg.curves [data-key='0:00']\")"
                    ".getAttribute('d')")
        assert d.count("L") == 11
        x, y = br.eval(  # a point on the line near its end, where no other line is
            "(function(){var p=document.querySelector(\"svg.curves [data-key='0:01']\");"
            "p.scrollIntoView({block:'center'});var q=p.getPointAtLength(0.9*p.getTotalLength());"
            "var m=p.getScreenCTM();return [q.x*m.a+q.y*m.c+m.e,q.x*m.b+q.y*m.d+m.f];})()")
        br.mouse("mouseMoved", x, y)
        assert br.eval("document.getElementById('tip').textContent").startswith(
            "trial 01: val MAE 8.20 y")
        assert br.console == []


def test_the_page_requests_nothing_but_itself(page, tmp_path):
    path, _ = page
    with Browser(tmp_path) as br:
        br.open(path.as_uri(), width=1400, height=900)
        br.hover("svg.pareto [data-key='0:00']")
        br.click("th[data-key='val_mae'] button")
        assert br.requests[0] == path.as_uri()
        assert all(u.startswith("data:") for u in br.requests[1:]), br.requests


def test_notes_column_in_view_at_1400px_and_screenshots(page, tmp_path):
    path, _ = page
    with Browser(tmp_path) as br:
        br.open(path.as_uri(), width=1400, height=900)
        right, edge = br.eval(
            "(function(){var th=document.querySelector('th[data-key=notes]');"
            "var wrap=document.querySelector('.wrap');"
            "return [th.getBoundingClientRect().right, wrap.getBoundingClientRect().right];})()")
        assert right <= edge <= 1400
        assert br.eval("document.querySelector('tr[data-trial=\"00\"] td:nth-child(5)')"
                       ".textContent") == "best"
        shot = br.screenshot(tmp_path / "desktop.png")
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1400, 900)
        assert len(set(im.convert("L").resize((140, 90)).tobytes())) > 10
    keep = os.environ.get("AGESEARCH_SCREENSHOT_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report-desktop.png")
