"""Bad values, every flag and every space key: one line naming the value and what was
expected, exit status 2, no traceback, and nothing made on disk (no run folder, no stray
temporary folder in the cache). No TensorFlow: every check here runs before any is loaded."""

from __future__ import annotations

import time

import pytest
import tomllib

from search import cli, footprint, space
from search.config import RunConfig
from search.errors import UserError

# Every case also names a --data-dir that does not exist: were the value let through, the
# command would stop there (another message), never train, and the case would fail.
NO_DATA = "no-such-data"


def _run(capsys, tmp_path, *args):
    rc = cli.main([*args])
    cap = capsys.readouterr()
    return rc, cap.err


def _one_line(err: str) -> str:
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("args, needle", [
    (["--trials", "0"], "--trials: expected a whole number from 1 to 100000, got 0"),
    (["--trials", "many"], "--trials: expected a whole number from 1 to 100000, got 'many'"),
    (["--trials", "100001"], "--trials: expected a whole number from 1 to 100000"),
    (["--epochs", "0"], "--epochs: expected a whole number from 1 to 10000, got 0"),
    (["--patience", "-3"], "--patience: expected a whole number from 1 to 10000, got -3"),
    (["--prune-after", "0"], "--prune-after: expected a whole number from 1 to 10000"),
    (["--prune-margin", "-1"], "--prune-margin: expected a number >= 0, got '-1'"),
    (["--prune-margin", "nan"], "--prune-margin: expected a number >= 0, got 'nan'"),
    (["--accuracy-band", "1"], "--accuracy-band: expected a number in [0, 1), got 1.0"),
    (["--max-minutes", "0"], "--max-minutes: expected a number above 0, got '0'"),
    (["--max-minutes", "inf"], "--max-minutes: expected a number above 0, got 'inf'"),
    (["--max-compute", "-2"], "--max-compute: expected a number above 0, got '-2'"),
    (["--image-size", "4096"], "--image-size: expected a whole number from 8 to 512, got 4096"),
    (["--image-size", "4"], "--image-size: expected a whole number from 8 to 512, got 4"),
    (["--batch-size", "0"], "--batch-size: expected a whole number from 1 to 4096, got 0"),
    (["--batch-size", "5000"], "--batch-size: expected a whole number from 1 to 4096"),
    (["--seed", "-1"], "--seed: expected a whole number from 0 to 4294967295, got -1"),
    (["--seed", str(2**32)], "--seed: expected a whole number from 0 to 4294967295, got "
                             "4294967296"),
    (["--seed", "1.5"], "--seed: expected a whole number from 0 to 4294967295, got '1.5'"),
    (["--synthetic-images", "2"], "--synthetic-images: expected a whole number from 3 to "
                                  "100000, got 2"),
    (["--max-images", "2"], "--max-images: expected a whole number from 3 to 10000000"),
    (["--val-fraction", "1.5"], "--val-fraction: expected a number in [0, 1), got 1.5"),
    (["--test-fraction", "-0.1"], "--test-fraction: expected a number in [0, 1), got -0.1"),
    (["--max-params", "0"], "--max-params: expected a whole number from 1 to"),
    (["--max-kib", "0"], "--max-kib: expected a number above 0, got '0'"),
    (["--max-latency-ms", "-1"], "--max-latency-ms: expected a number above 0, got '-1'"),
    (["--max-macs", "0"], "--max-macs: expected a whole number from 1 to"),
    (["--deploy-dtype", "int4"], "--deploy-dtype: invalid choice: 'int4'"),
    (["--tuner", "grid"], "--tuner: invalid choice: 'grid'"),
    (["--max-memory-growth", "-1"], "--max-memory-growth: expected a number >= 0, got '-1'"),
    (["--space", "huge"], "unknown --space 'huge'; known spaces: "),
    (["--run-name", "../escape"], "--run-name '../escape': use letters, digits, '.', '_' and "
                                  "'-' (up to 100, starting with a letter or digit)"),
    (["--run-name", "a/b"], "--run-name 'a/b': use letters, digits"),
    (["--run-name", "/tmp/abs"], "--run-name '/tmp/abs': use letters, digits"),
    (["--run-name", ".hidden"], "--run-name '.hidden': use letters, digits"),
    (["--run-name", "x" * 101], "--run-name 'xxxxxxxx"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--brackets", "2"], "--brackets 2: expected 1 (the default) unless --tuner moasha, the "
                          "only tuner that uses it; this run's tuner is tpe"),
    (["--tuner", "random", "--min-epochs", "3"], "--min-epochs 3: expected 1 (the default) "
                                                 "unless --tuner moasha, the only tuner that "
                                                 "uses it; this run's tuner is random"),
    (["--tuner", "moasha", "--brackets", "4"], "--brackets 4: expected at most 3, the number "
                                               "of rungs (epochs 1, 3, 12) for --epochs 12 "
                                               "and --min-epochs 1"),
    (["--tuner", "moasha", "--epochs", "27", "--min-epochs", "3", "--brackets", "4"],
     "--brackets 4: expected at most 3, the number of rungs (epochs 3, 9, 27)"),
    (["--tuner", "moasha", "--min-epochs", "13"], "--min-epochs 13: expected at most --epochs "
                                                  "(12)"),
])
def test_every_search_flag_refuses_a_bad_value_in_one_line(tmp_path, capsys, args, needle):
    results = tmp_path / "r"
    rc, err = _run(capsys, tmp_path, *args, "--data-dir", str(tmp_path / NO_DATA),
                   "--results-dir", str(results), "--cache-dir", str(tmp_path / "cache"))
    assert rc == 2, err
    assert needle in _one_line(err), err
    assert not results.exists() and not (tmp_path / "cache").exists()


def test_a_results_dir_that_is_a_file_or_under_one_is_one_line(tmp_path, capsys):
    plain = tmp_path / "plain"
    plain.write_text("not a folder")
    for results, needle in ((plain, "is a file; expected a folder"),
                            (plain / "deeper", f"is under {str(plain)!r}, a file")):
        rc, err = _run(capsys, tmp_path, "--results-dir", str(results), "--data-dir",
                       str(tmp_path / NO_DATA))
        assert rc == 2
        assert f"--results-dir {str(results)!r} {needle}" in _one_line(err)
    assert plain.read_text() == "not a folder"


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_results_dir_is_one_line(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    rc, err = _run(capsys, tmp_path, "--results-dir", str(ro), "--data-dir",
                   str(tmp_path / NO_DATA))
    assert rc == 2 and f"--results-dir {str(ro)!r} is not writable" in _one_line(err)


def test_data_with_a_bad_seed_leaves_nothing_in_the_cache(tmp_path, capsys):
    cache = tmp_path / "cache"
    cache.mkdir()
    for seed in ("-1", str(2**32)):
        rc, err = _run(capsys, tmp_path, "data", "--seed", seed, "--synthetic-images", "3",
                       "--cache-dir", str(cache))
        assert rc == 2 and "--seed: expected a whole number from 0 to 4294967295" in \
            _one_line(err)
    assert list(cache.iterdir()) == []


def test_a_config_built_in_code_is_checked_before_any_folder(tmp_path):
    from search import synthetic

    for kw, needle in (({"seed": -1}, "--seed -1: expected a whole number from 0 to "
                                      "4294967295"),
                       ({"image_size": 4096}, "--image-size 4096: expected a whole number "
                                              "from 8 to 512"),
                       ({"batch_size": 0}, "--batch-size 0: expected"),
                       ({"max_kib": float("inf")}, "--max-kib inf: expected a number above 0"),
                       ({"run_name": "../x"}, "--run-name '../x': use letters")):
        with pytest.raises(UserError, match=needle.replace("(", r"\(").replace(")", r"\)")):
            RunConfig(results_dir=str(tmp_path / "r"), **kw).check()
    with pytest.raises(UserError, match="--seed -1: expected a whole number"):
        synthetic.generate(3, -1, tmp_path / "cache")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "r").exists()


def test_cache_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    plain = tmp_path / "plain"
    plain.write_text("x")
    rc, err = _run(capsys, tmp_path, "data", "--synthetic-images", "3", "--cache-dir",
                   str(plain))
    assert rc == 2 and f"--cache-dir {str(plain)!r}: cannot write the synthetic faces" in \
        _one_line(err)


def test_help_ends_with_the_exit_codes(capsys):
    for args in (["--help"], ["export", "--help"], ["predict", "--help"],
                 ["leaderboard", "--help"], ["data", "--help"]):
        assert cli.main(args) == 0
        out = " ".join(capsys.readouterr().out.split())
        assert ("Exit status: 0 done; 1 the work failed (no trial finished, nothing predicted, "
                "an export not verified); 2 bad input") in out
        assert "130 interrupted" in out


# --- every key of a space file --------------------------------------------------------------

BASE = """
[fixed]
filters_1 = 8

[params.blocks]
type = "int"
low = 1
high = 1

[params.dense_units_1]
type = "choice"
values = [8, 16]
"""


def _fixed(line: str) -> str:
    return BASE.replace("filters_1 = 8", f"filters_1 = 8\n{line}")


def _param(name: str, body: str) -> str:
    return BASE + f"\n[params.{name}]\n{body}\n"


SPACE_CASES = [
    ('name = "../escape"\n' + BASE, "name '../escape': use letters, digits"),
    ('name = "/abs/olute"\n' + BASE, "name '/abs/olute': use letters"),
    ('name = "a/b"\n' + BASE, "name 'a/b': use letters"),
    ('name = ""\n' + BASE, "name '': use letters"),
    ('name = 5\n' + BASE, "name 5: use letters"),
    ('name = "' + "n" * 81 + '"\n' + BASE, "(up to 80, starting with a letter or digit)"),
    ('description = 3\n' + BASE, "description: expected a string of up to 2000 characters"),
    ('colour = "red"\n' + BASE, "colour: unknown key"),
    (_fixed("learning_rate = -0.1"), "fixed.learning_rate: -0.1 is out of range; expected a "
                                     "number above 0, at most 1"),
    (_fixed("learning_rate = 0.0"), "fixed.learning_rate: 0.0 is out of range"),
    (_fixed("learning_rate = nan"), "fixed.learning_rate: expected a finite number, got nan"),
    (_fixed("learning_rate = inf"), "fixed.learning_rate: expected a finite number, got inf"),
    (_fixed("batch_size = 0"), "fixed.batch_size: 0 is out of range; expected a whole number "
                               "from 1 to 4096"),
    (_fixed("image_size = 4096"), "fixed.image_size: 4096 is out of range; expected a whole "
                                  "number from 8 to 512"),
    (_fixed("dropout = 1.0"), "fixed.dropout: 1.0 is out of range; expected a number from 0, "
                              "below 1"),
    (_fixed("dropout_decay = 2.0"), "fixed.dropout_decay: 2.0 is out of range"),
    (_fixed("leaky_slope = -1.0"), "fixed.leaky_slope: -1.0 is out of range"),
    (_fixed("conv_l2 = 5.0"), "fixed.conv_l2: 5.0 is out of range"),
    (_fixed("augment = 1.5"), "fixed.augment: 1.5 is out of range"),
    (_fixed("kernel_size = 0"), "fixed.kernel_size: 0 is out of range"),
    (_fixed("dense_layers = 99"), "fixed.dense_layers: 99 is out of range"),
    (_fixed("kernel_size = 3.0"), "fixed.kernel_size: expected a whole number, got 3.0"),
    (_fixed('conv = "wide"'), "fixed.conv: 'wide' not in ['separable', 'full', 'inverted']"),
    (_fixed("conv = " + '"' + "w" * 5000 + '"'), "fixed.conv: 'wwwww"),
    (_fixed("colour = 1"), "fixed.colour: unknown hyperparameter 'colour'"),
    (_fixed("width = 0.0"), "fixed.width: 0.0 is out of range; expected a number above 0, "
                            "at most 4"),
    (_fixed("expansion = 0"), "fixed.expansion: 0 is out of range; expected a whole number "
                              "from 1 to 12"),
    (_fixed("expansion_3 = 2.5"), "fixed.expansion_3: expected a whole number, got 2.5"),
    (_fixed("se_ratio_2 = 1.5"), "fixed.se_ratio_2: 1.5 is out of range; expected a number "
                                 "from 0 to 1"),
    (_fixed("stem_filters = -8"), "fixed.stem_filters: -8 is out of range"),
    (_fixed("last_filters = 5000"), "fixed.last_filters: 5000 is out of range; expected a "
                                    "whole number from 0 to 4096"),
    (_fixed('activation = "swish"'), "fixed.activation: 'swish' not in ['leaky_relu', "
                                     "'relu6']"),
    (_fixed('pool_2 = "half"'), "fixed.pool_2: 'half' not in ['max', 'avg', 'stride', 'none']"),
    (_fixed("expansion = 4"), "fixed.expansion: shapes inverted residual blocks only, and no "
                              "block of this space is one; set conv = \"inverted\""),
    (_param("se_ratio", 'type = "choice"\nvalues = [0.0, 0.25]'),
     "params.se_ratio: shapes inverted residual blocks only"),
    (_param("width", 'type = "choice"\nvalues = [0.5, 8.0]'),
     "params.width: 8.0 is out of range; expected a number above 0, at most 4"),
    (_fixed("pool = [1, 2]"), "fixed.pool: expected a string, got [1, 2]"),
    (BASE.replace("filters_1 = 8", "filters_1 = 20000000"),
     "fixed.filters_1: 20000000 is out of range; expected a whole number from 1 to 1024"),
    (_param("dense_units_2", 'type = "int"\nlow = 1\nhigh = 20000000'),
     "params.dense_units_2.high: 20000000 is out of range; expected a whole number from 1 "
     "to 8192"),
    (_param("kernel_size", 'type = "int"\nlow = 1\nhigh = 5\nstep = 0.5'),
     "params.kernel_size.step: expected a whole number >= 1, got 0.5"),
    (_param("kernel_size", 'type = "int"\nlow = 1\nhigh = 5\nstep = 0'),
     "params.kernel_size.step: expected a whole number >= 1, got 0"),
    (_param("learning_rate", 'type = "float"\nlow = 0.001\nhigh = 0.1\nstep = -1.0'),
     "params.learning_rate.step: expected a number above 0, got -1.0"),
    (_param("learning_rate", 'type = "float"\nlow = 0.001\nhigh = 0.1\nlog = true\n'
                             'step = 0.01'),
     "params.learning_rate.step: a log-scaled parameter takes no step"),
    (_param("learning_rate", 'type = "float"\nlow = 0.001\nhigh = inf'),
     "params.learning_rate.high: expected a finite number, got inf"),
    (_param("learning_rate", 'type = "float"\nlow = -0.1\nhigh = 0.1'),
     "params.learning_rate.low: -0.1 is out of range"),
    (_param("learning_rate", 'type = "float"\nlow = 0.1\nhigh = 0.01'),
     "params.learning_rate: low <= high must hold"),
    (_param("learning_rate", 'type = "float"\nlow = "a"\nhigh = 0.01'),
     "params.learning_rate.low: expected a number, got 'a'"),
    (_param("learning_rate", 'type = "float"\nhigh = 0.01'),
     "params.learning_rate.low: missing"),
    (_param("learning_rate", 'type = "float"\nlow = 0.001\nhigh = 0.01\nlog = "yes"'),
     "params.learning_rate.log: expected true or false, got 'yes'"),
    (_param("kernel_size", 'type = "int"\nlow = 1.5\nhigh = 5'),
     "params.kernel_size.low: expected a whole number, got 1.5"),
    (_param("kernel_size", 'type = "int"\nlow = 1\nhigh = 5\ndefault = "x"'),
     "params.kernel_size.default: expected a whole number, got 'x'"),
    (_param("kernel_size", 'type = "int"\nlow = 1\nhigh = 5\ndefault = 7'),
     "params.kernel_size.default: 7 is outside the parameter's range"),
    (_param("kernel_size", 'type = "choice"\nvalues = [[1], [3]]'),
     "params.kernel_size.values: expected a string, number or true/false, got [1]"),
    (_param("kernel_size", 'type = "choice"\nvalues = [{a = 1}]'),
     "params.kernel_size.values: expected a string, number or true/false, got {'a': 1}"),
    (_param("kernel_size", 'type = "choice"\nvalues = []'),
     "params.kernel_size.values: expected a list of 1 to 1000 values, got []"),
    (_param("kernel_size", 'type = "choice"\nvalues = [3, "3"]'),
     "params.kernel_size.values: all values must have one type"),
    (_param("kernel_size", 'type = "choice"\nvalues = [3, 3]'),
     "params.kernel_size.values: values repeat"),
    (_param("kernel_size", 'type = "choice"\nvalues = [3, 99]'),
     "params.kernel_size: 99 is out of range; expected a whole number from 1 to 15"),
    (_param("batch_size", 'type = "choice"\nvalues = [0, 16]'),
     "params.batch_size: 0 is out of range; expected a whole number from 1 to 4096"),
    (_param("kernel_size", 'type = "choice"\nvalues = ' + str(list(range(1, 1002)))),
     "params.kernel_size.values: expected a list of 1 to 1000 values"),
    (_param("kernel_size", 'type = "grid"'), "params.kernel_size.type: 'grid' not in"),
    (_param("kernel_size", 'type = "int"\nlow = 1\nhigh = 3\ncolour = 1'),
     "params.kernel_size.colour: unknown key for a int parameter"),
    (_param("colour", 'type = "int"\nlow = 1\nhigh = 3'),
     "params.colour: unknown hyperparameter 'colour'"),
    (_param("kernel_size", 'type = "choice"\nvalues = [3, 5]\nwhen = { nothing = [1] }'),
     "params.kernel_size.when.nothing: condition on a parameter that does not exist"),
    (_param("kernel_size", 'type = "choice"\nvalues = [3, 5]\nwhen = { blocks = [[1]] }'),
     "params.kernel_size.when.blocks: expected a string, number or true/false, got [1]"),
    (_param("kernel_size", 'type = "choice"\nvalues = [3, 5]\nwhen = { blocks = [7] }'),
     "params.kernel_size.when.blocks: 7 is not a value of 'blocks'"),
    (BASE.replace("high = 1\n", "high = 20\n", 1),
     "params.blocks.high: 20 is out of range; expected a whole number from 1 to 12"),
    (BASE + '\n[reference]\nblocks = 1\nfilters_1 = 8\ndense_units_1 = 8\n'
            'learning_rate = -1.0\n',
     "reference.learning_rate: -1.0 is out of range"),
    (BASE + '\n[reference]\nblocks = 1\n', "reference: incomplete"),
    ('reference = 3\n' + BASE, "reference: expected a table"),
    ('fixed = 3\n' + BASE.split("[params.blocks]")[0].replace("[fixed]\nfilters_1 = 8", "")
     + "[params.blocks]" + BASE.split("[params.blocks]")[1], "fixed: expected a table"),
    ('params = 3\n', "params: expected at least one [params.NAME] table"),
]


@pytest.mark.parametrize("text, needle", SPACE_CASES)
def test_every_space_key_refuses_a_bad_value_in_one_line(text, needle):
    start = time.monotonic()
    with pytest.raises(UserError) as e:
        space.parse(tomllib.loads(text), "bad.toml")
    message = str(e.value)
    assert needle in message and message.startswith("bad.toml: "), message
    assert "\n" not in message and len(message) < 400, message
    assert time.monotonic() - start < 1.0  # a huge range fails before anything is built


def test_the_good_base_space_parses():  # so that the cases above fail for their own reason
    s = space.parse(tomllib.loads(BASE), "good.toml")
    assert [p.name for p in s.params] == ["blocks", "dense_units_1"]
    for name in space.available():
        space.load(name)


def test_a_space_file_through_the_command_line(tmp_path, capsys):
    cases = {
        "escape.toml": (('name = "../escape"\n' + BASE).encode(), "name '../escape': use "
                                                                   "letters"),
        "latin1.toml": (b'description = "caf\xe9"\n' + BASE.encode(),
                        "not UTF-8 text (byte 18); expected a TOML file saved as UTF-8"),
        "huge.toml": (_param("dense_units_2", 'type = "int"\nlow = 1\nhigh = 20000000')
                      .encode(), "20000000 is out of range"),
        "broken.toml": (b"[params.blocks\n", "not valid TOML"),
        "big.toml": (b"# " + b"x" * (1024 * 1024) + b"\n" + BASE.encode(),
                     "larger than 1024 KiB"),
    }
    results = tmp_path / "r"
    for name, (data, needle) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        start = time.monotonic()
        rc, err = _run(capsys, tmp_path, "--space", str(path), "--results-dir", str(results),
                       "--data-dir", str(tmp_path / NO_DATA))
        assert rc == 2 and needle in _one_line(err) and str(path) in err, err
        assert time.monotonic() - start < 5
    assert not results.exists() and not (tmp_path.parent / "escape").exists()


def test_a_space_name_cannot_take_the_run_out_of_results_dir(tmp_path, capsys):
    # The name a space gives becomes the default run name: checked like --run-name.
    path = tmp_path / "s.toml"
    path.write_text('name = "../../outside"\n' + BASE)
    rc, err = _run(capsys, tmp_path, "--space", str(path), "--results-dir",
                   str(tmp_path / "a" / "b"), "--data-dir", str(tmp_path / NO_DATA))
    assert rc == 2 and "name '../../outside'" in _one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


# --- a candidate too big for the machine -----------------------------------------------------

SEED_RECIPE = {"blocks": 5, **{f"filters_{i}": f for i, f in enumerate((16, 32, 64, 128, 256), 1)},
               "dense_layers": 3, "dense_units_1": 256, "dense_units_2": 128,
               "dense_units_3": 64}


def test_a_candidate_that_cannot_fit_in_memory_is_named_before_it_trains():
    gib = footprint.GIB
    small = footprint.training_bytes(SEED_RECIPE, 64, 32, images=2400)
    assert small < 2 * gib  # the seed's recipe at 64 px trains in well under 2 GiB
    assert footprint.problem(SEED_RECIPE, 64, 32, images=2400, available=8 * gib) is None
    huge = footprint.problem(SEED_RECIPE, 512, 4096, images=2400, available=8 * gib)
    assert huge.startswith("needs about ") and "GiB of memory to train (512 px, batch of " \
        "4096), more than the 8.0 GiB this machine has free" in huge
    # The estimate grows with what it counts.
    assert footprint.training_bytes(SEED_RECIPE, 128, 32) > footprint.training_bytes(
        SEED_RECIPE, 64, 32) > footprint.training_bytes(SEED_RECIPE, 64, 8)
    assert footprint.problem({"blocks": 1}, 64, 32, available=gib) is None  # not a network
