"""report.html in a real headless Chromium: it loads with no console message, its script runs
(the Content-Security-Policy allows it by hash), the table has one row per trial, sorting
works, user strings stay text, and a phone-sized screenshot is taken.

Needs Chromium (Debian: ``apt-get install chromium``); skipped with the reason where none is
installed. Set AGESEARCH_SCREENSHOT_DIR to keep the screenshots.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
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
        assert len(set(im.convert("L").resize((39, 84)).getdata())) > 10  # not blank
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
