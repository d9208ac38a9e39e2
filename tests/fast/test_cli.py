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


COMMANDS = ("search", "export", "predict", "leaderboard", "data")


def test_help_lists_every_command_and_each_has_its_own_help():
    p = run("--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: run_search.py [COMMAND]")
    listed = p.stdout.split("commands:")[1].split("search flags")[0]
    for command in COMMANDS:
        assert f"\n    {command} " in listed, command
        sub = run(command, "--help")
        assert sub.returncode == 0 and sub.stdout.startswith(f"usage: run_search.py {command}")
        # no switch reads as if it were on
        assert "default: True" not in sub.stdout and "default: False" not in sub.stdout
        assert "seed's" not in sub.stdout  # it is the reference recipe; a seed is random
    assert "'agesearch'" in p.stdout and "same program" in p.stdout


def test_no_command_is_search_and_the_command_comes_first():
    from search import cli

    assert cli.parse(["--trials", "3"])[0] == "search"
    command, args = cli.parse(["search", "--trials", "3", "--run-name", "data"])
    assert (command, args.trials, args.run_name) == ("search", 3, "data")
    assert cli.parse(["leaderboard", "r1", "r2"])[1].run_dirs == ["r1", "r2"]
    p = run("--trials", "3", "export", "somewhere")
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert "the command comes first: run_search.py export" in p.stderr


def test_rank_anyway_is_off_unless_given(make_run, capsys):
    from conftest import sample_records

    from search import cli

    assert cli.parse(["leaderboard", "r"])[1].rank_anyway is False
    assert "--rank-anyway" in run("leaderboard", "--help").stdout
    # runs at other resolutions are not ranked together unless asked
    runs = [str(make_run("a", sample_records(), image_size=64)),
            str(make_run("b", sample_records(0.5), image_size=32))]
    assert cli.main(["leaderboard", *runs, "--format", "json"]) == 2
    assert "--rank-anyway" in capsys.readouterr().err
    assert cli.main(["leaderboard", *runs, "--format", "json", "--rank-anyway"]) == 0
    assert '"run": "a vs b"' in capsys.readouterr().out


def test_config_replays_a_runs_settings_under_the_flags_given(tmp_path):
    from search import cli
    from search.config import RunConfig

    saved = RunConfig(space="full", tuner="nsga2", trials=9, epochs=3, image_size=48,
                      prune=False, seed=5, run_name="old", overwrite=True,
                      results_dir=str(tmp_path))
    (tmp_path / "old").mkdir()
    saved.save(tmp_path / "old" / "config.json")
    for argv in (["--config", str(tmp_path / "old" / "config.json"), "--trials", "2"],
                 ["search", "--trials", "2", "--config", str(tmp_path / "old")]):
        command, args = cli.parse(argv)
        cfg = RunConfig(**cli._settings(args))
        # every setting replayed but the flag given, and --overwrite, which would delete it
        assert cfg == saved.replace(trials=2, overwrite=False), argv


@pytest.mark.parametrize("content, needle", [
    (None, "does not exist"),
    ("{not json", "config.json"),
    ('{"trials": "many"}', "trials"),
])
def test_a_bad_config_file_is_one_line_and_status_2(tmp_path, content, needle):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    p = run("--config", str(path), "--results-dir", str(tmp_path))
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "results").exists()
