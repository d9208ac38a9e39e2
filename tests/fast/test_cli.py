"""Bad input from the command line: one clear line, exit code 2, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "run_search.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_help_explains_flags_with_defaults():
    p = run("--help")
    assert p.returncode == 0
    for flag in ("--space", "--data-dir", "--trials", "--epochs", "--image-size", "--max-images",
                 "--batch-size", "--seed", "--run-name", "--results-dir", "--tuner"):
        assert flag in p.stdout
    assert "default: lite" in p.stdout and "pixels" in p.stdout
    # switches that turn something off are off unless given: no "(default: True)"
    assert "default: True" not in p.stdout and "default: False" not in p.stdout
    for switch in ("--no-reference", "--no-prune", "--overwrite"):
        assert switch in p.stdout


def test_the_installed_command_calls_itself_agesearch():
    agesearch = Path(sys.executable).parent / "agesearch"
    if not agesearch.exists():
        pytest.skip("the agesearch command is not installed in this environment")
    p = subprocess.run([str(agesearch), "export", "--help"], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0 and p.stdout.startswith("usage: agesearch export")
    assert run("export", "--help").stdout.startswith("usage: run_search.py export")


def test_version_is_the_installed_packages():
    from importlib.metadata import version

    p = run("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"agesearch {version('agesearch')}"


def test_missing_data_dir(tmp_path):
    p = run("--data-dir", str(tmp_path / "nowhere"), "--results-dir", str(tmp_path))
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0, p.stderr
    assert "nowhere" in p.stderr and "does not exist" in p.stderr
    assert "Traceback" not in p.stderr


def test_data_dir_without_parseable_images(tmp_path):
    (tmp_path / "cat.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    p = run("--data-dir", str(tmp_path), "--results-dir", str(tmp_path / "r"))
    assert p.returncode == 2
    assert "no usable UTKFace image" in p.stderr and str(tmp_path) in p.stderr
    assert "Traceback" not in p.stderr


def test_unknown_space_lists_known_ones(tmp_path):
    p = run("--space", "huge", "--results-dir", str(tmp_path))
    assert p.returncode == 2
    assert "unknown --space 'huge'" in p.stderr and "lite" in p.stderr


@pytest.mark.parametrize("args, needle", [
    (["--trials", "0"], "--trials: expected a whole number from 1 to 100000, got 0"),
    (["--val-fraction", "1.5"], "--val-fraction: expected a number in [0, 1), got 1.5"),
    (["--tuner", "grid"], "invalid choice: 'grid'"),
])
def test_impossible_budgets_and_values(tmp_path, args, needle):
    p = run(*args, "--results-dir", str(tmp_path))
    assert p.returncode == 2 and needle in p.stderr


def test_export_of_a_folder_that_is_not_a_run(tmp_path):
    p = run("export", str(tmp_path))
    assert p.returncode == 2 and "is not a run folder" in p.stderr


def test_leaderboard_of_a_folder_that_is_not_a_run(tmp_path):
    p = run("leaderboard", str(tmp_path), "--format", "markdown")
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0, p.stderr
    assert "is not a run folder" in p.stderr and "Traceback" not in p.stderr
