import numpy as np
import pytest

from search import builder, space
from search.backends import kerastuner as ktb
from search.errors import UserError

GOOD = """
name = "t"
[fixed]
conv = "separable"
[params.blocks]
type = "int"
low = 1
high = 2
[params.filters_1]
type = "choice"
values = [4, 8]
[params.filters_2]
type = "choice"
values = [8, 16]
when = { blocks = [2] }
[params.dense_layers]
type = "int"
low = 1
high = 1
[params.dense_units_1]
type = "choice"
values = [8]
[params.learning_rate]
type = "float"
low = 1e-4
high = 1e-2
log = true
"""


def write(tmp_path, text):
    p = tmp_path / "space.toml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("name", space.available())
def test_every_shipped_space_loads_and_its_samples_build(name):
    s = space.load(name)
    rng = np.random.default_rng(0)
    for _ in range(5):
        values = s.sample(rng)
        model = builder.build_model(values, (64, 64, 3))
        assert model.output_shape == (None, 1)
    assert s.reference is not None


def test_shipped_names_and_unknown_space():
    assert "lite" in space.available()
    with pytest.raises(UserError, match=r"unknown --space 'nope'; known spaces: .*lite"):
        space.load("nope")


def test_inactive_parameters_are_absent(tmp_path):
    s = space.load(write(tmp_path, GOOD))
    v1 = s.active_values(lambda p: 1 if p.name == "blocks" else p.sample(np.random.default_rng(0)))
    assert "filters_2" not in v1 and v1["blocks"] == 1
    v2 = s.active_values(lambda p: 2 if p.name == "blocks" else p.sample(np.random.default_rng(0)))
    assert "filters_2" in v2


def test_kerastuner_hyperparameters_follow_the_space(tmp_path):
    import keras_tuner as kt

    s = space.load(write(tmp_path, GOOD))
    hp = ktb.hyperparameters(s)
    assert {h.name for h in hp.space} == {p.name for p in s.params}
    oracle = kt.oracles.RandomSearchOracle(objective="val_mae", max_trials=20, seed=1,
                                          hyperparameters=hp)
    seen_blocks = set()
    for i in range(12):
        values = oracle.populate_space(str(i))["values"]
        hp.values.update(values)
        got = ktb.values_from(s, hp)
        seen_blocks.add(got["blocks"])
        assert ("filters_2" in got) == (got["blocks"] == 2)
        assert got["conv"] == "separable"
        builder.build_model(got, (16, 16, 3))
    assert seen_blocks == {1, 2}


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t: t + "\nbogus = 1\n", "bogus: unknown key"),
        (lambda t: t.replace("[params.learning_rate]", "[params.lerning_rate]"),
         "unknown hyperparameter 'lerning_rate'"),
        (lambda t: t.replace("low = 1\nhigh = 2", "low = 'one'\nhigh = 2"),
         "params.blocks.low: expected a whole number, got 'one'"),
        (lambda t: t.replace("values = [4, 8]", "values = []"),
         "params.filters_1.values: expected a list of 1 to 1000 values, got []"),
        (lambda t: t.replace("low = 1\nhigh = 2", "low = 3\nhigh = 2"),
         "low <= high must hold, but got (low=3, high=2)"),
        (lambda t: t.replace("when = { blocks = [2] }", "when = { depth = [2] }"),
         "params.filters_2.when.depth: condition on a parameter that does not exist"),
        (lambda t: t.replace("when = { blocks = [2] }", "when = { blocks = [7] }"),
         "7 is not a value of 'blocks'"),
        (lambda t: t.replace('conv = "separable"', 'conv = "fancy"'),
         "fixed.conv: 'fancy' not in ['separable', 'full', 'inverted']"),
        (lambda t: t.replace("[params.filters_2]\ntype = \"choice\"\nvalues = [8, 16]\n"
                             "when = { blocks = [2] }\n", ""),
         "params.filters_2: missing; needed when blocks is [2]"),
        (lambda t: t.replace('type = "int"\nlow = 1\nhigh = 2', 'type = "integer"\nlow = 1\nhigh = 2'),
         "params.blocks.type: 'integer' not in"),
        (lambda t: t + "\n[reference]\nblocks = 2\n", "reference: incomplete"),
        (lambda t: t.replace("name = \"t\"", "name = \"t\"\n[oops"), "not valid TOML"),
    ],
)
def test_malformed_space_files_fail_at_load_with_file_and_key(tmp_path, mutate, message):
    path = write(tmp_path, mutate(GOOD))
    with pytest.raises(UserError) as e:
        space.load(path)
    assert path in str(e.value)
    assert message in str(e.value)


def test_reference_is_the_seed_recipe():
    ref = space.load("lite").reference
    arch = builder.architecture(ref)
    assert [b["filters"] for b in arch["blocks"]] == [16, 32, 64, 128, 256]
    assert {b["conv"] for b in arch["blocks"]} == {"separable"}
    rates = builder.dropout_rates(ref)
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))  # falling dropout
