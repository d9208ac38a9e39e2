"""The Optuna journal file with a torn last line (a write cut short): set aside before anything
is appended, so the study reads and grows as before. Real Optuna, real journal files."""

from __future__ import annotations

import json

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from search import journal
from search.backends import optuna as ob
from search.errors import DamagedFile

#: What Optuna raises reading a journal with a torn line inside (it depends on where it tore).
BROKEN = (ValueError, AttributeError, KeyError)


def _study(path, name="s"):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(storage=JournalStorage(JournalFileBackend(str(path))),
                               study_name=name, load_if_exists=True)


def _grow(path, n):
    _study(path).optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=n)


def _states(path):
    return [t.state.name for t in _study(path).get_trials(deepcopy=False)]


@pytest.fixture
def journal_file(tmp_path):
    path = tmp_path / "optuna.journal"
    _grow(path, 3)
    assert _states(path) == ["COMPLETE"] * 3
    return path


def test_a_torn_last_line_breaks_optuna_without_the_repair(journal_file):
    """What the repair is for: Optuna appends onto the torn line, and the file is lost."""
    data = journal_file.read_bytes()
    journal_file.write_bytes(data[:-25])
    with pytest.raises(BROKEN):  # appends onto the torn line, then cannot read it
        _grow(journal_file, 1)
    with pytest.raises(BROKEN):  # and so on, every run after
        _states(journal_file)


def test_a_torn_last_line_is_set_aside_and_the_study_goes_on(journal_file):
    data = journal_file.read_bytes()
    whole = data[:data.rstrip(b"\n").rfind(b"\n") + 1]  # every entry but the last
    journal_file.write_bytes(data[:-25])
    note = journal.repair(journal_file)
    assert note and "torn write" in note and "optuna.journal.torn-1" in note
    assert journal_file.read_bytes() == whole
    assert (journal_file.parent / "optuna.journal.torn-1").read_bytes() == \
        data[len(whole):-25] + b"\n"
    assert journal.repair(journal_file) is None  # whole now: nothing to do
    _grow(journal_file, 2)
    assert _states(journal_file)[-2:] == ["COMPLETE", "COMPLETE"]
    assert len(_states(journal_file)) == 5


def test_a_line_merged_by_an_earlier_append_is_split(journal_file):
    """The state the old code left: a torn line with a whole entry appended to it."""
    data = journal_file.read_bytes()
    journal_file.write_bytes(data[:-25])
    with pytest.raises(BROKEN):
        _grow(journal_file, 1)  # appends a whole entry onto the torn line
    assert journal.repair(journal_file)
    states = _states(journal_file)
    assert states[:2] == ["COMPLETE", "COMPLETE"] and len(states) == 4
    _grow(journal_file, 1)
    assert _states(journal_file)[-1] == "COMPLETE"


def test_an_entry_that_lost_only_its_newline_is_kept(journal_file):
    data = journal_file.read_bytes()
    journal_file.write_bytes(data[:-1])
    assert "lost its newline" in journal.repair(journal_file)
    assert journal_file.read_bytes() == data
    assert not list(journal_file.parent.glob("*.torn-*"))


def test_damage_in_the_middle_is_one_line_naming_the_file_and_line(journal_file):
    lines = journal_file.read_bytes().split(b"\n")
    lines[2] = b"garbage that is no entry"
    journal_file.write_bytes(b"\n".join(lines))
    before = journal_file.read_bytes()
    with pytest.raises(DamagedFile) as e:
        journal.repair(journal_file)
    assert str(e.value).startswith(f"{journal_file}: line 3 of ")
    assert "is not an Optuna journal entry; restore the file from a backup, or start the " \
           "run over with --overwrite" in str(e.value)
    assert journal_file.read_bytes() == before  # nothing changed


def test_mend_is_pure_and_keeps_whole_entries():
    entry = json.dumps({"op_code": 0, "worker_id": "w"}).encode()
    assert journal.mend(entry + b"\n" + entry + b"\n").torn == b""
    m = journal.mend(entry + b"\n" + b'{"op_co')
    assert (m.data, m.torn) == (entry + b"\n", b'{"op_co\n')
    m = journal.mend(entry + b"\n\n" + entry + b"\n")  # a blank line Optuna cannot read
    assert (m.data, m.bad_line) == (entry + b"\n" + entry + b"\n", None)
    m = journal.mend(entry + b"\nnull\n")  # the wrong JSON, last: torn
    assert (m.data, m.torn) == (entry + b"\n", b"null\n")
    assert journal.mend(b"null\n" + entry + b"\n").bad_line == 1


def test_the_backend_repairs_the_run_journal_when_it_opens_it(journal_file):
    """search.backends.optuna.storage_for goes through the repair."""
    data = journal_file.read_bytes()
    journal_file.write_bytes(data[:-25])
    storage = ob.storage_for(None, journal_file.parent)
    assert (journal_file.parent / "optuna.journal.torn-1").exists()
    study = optuna.load_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert _states(journal_file)[-1] == "COMPLETE"
