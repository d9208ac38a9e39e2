"""The Optuna journal file (``<run>/optuna.journal``): a torn last line is set aside before
anything is appended to it.

Optuna's ``JournalFileBackend`` appends one JSON line per operation on the study. A write cut
short (a power cut, a full disk, ``kill -9`` in the middle of a write) leaves a last line
without its newline, or with half its JSON. Optuna skips such a last line when it reads, but
its next append lands on the same line, and from then on the file does not read at all. So
before a search opens the journal, :func:`repair` moves a torn tail into a sibling file
(``optuna.journal.torn-1``, ``-2``, ...) and leaves the journal ending after its last whole
entry, holding the journal's own lock so that no worker appends meanwhile. A line already
merged that way by an earlier version (a torn fragment with a whole entry appended to it) is
split: the entry stays, the fragment is set aside. A blank line, which Optuna cannot read
either, is dropped. Any other line that is not an entry cannot be mended without guessing:
:func:`repair` stops with one line naming the file and the line.

:func:`mend` is the pure part (bytes in, bytes out); :func:`repair` does the file work.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from search.errors import DamagedFile
from search.files import write_atomic

_ENTRY_START = b'{"op_code"'


@dataclass(frozen=True)
class Mended:
    """What :func:`mend` makes of a journal's bytes."""

    data: bytes  # the journal to keep: whole entries, one a line, each ending with a newline
    torn: bytes  # what was set aside (torn fragments, one a line); empty when none
    bad_line: int | None = None  # 1-based line that is not an entry and cannot be mended


def _is_entry(line: bytes) -> bool:
    try:
        value = json.loads(line)
    except ValueError:
        return False
    return isinstance(value, dict) and "op_code" in value


def _merged_at(line: bytes) -> int | None:
    """Where a whole entry starts inside ``line`` after a torn fragment, or None."""
    start = line.find(_ENTRY_START, 1)
    while start != -1:
        if _is_entry(line[start:]):
            return start
        start = line.find(_ENTRY_START, start + 1)
    return None


def mend(data: bytes) -> Mended:
    """The journal ``data`` with its torn parts taken out (see the module's docstring).

    A last line whose JSON is whole but whose newline is missing is kept (the write was cut
    just before the newline: the entry is complete), with its newline added.
    """
    *lines, tail = data.split(b"\n")  # tail: what follows the last newline
    kept: list[bytes] = []
    torn: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        if _is_entry(line):
            kept.append(line)
        elif not line.strip():
            continue
        elif (at := _merged_at(line)) is not None:
            torn.append(line[:at])
            kept.append(line[at:])
        elif number == len(lines) and not tail.strip():  # the last line: torn, then newline
            torn.append(line)
        else:
            return Mended(data, b"", bad_line=number)
    if tail.strip():
        if _is_entry(tail):
            kept.append(tail)
        else:
            torn.append(tail)
    return Mended(b"".join(line + b"\n" for line in kept),
                  b"".join(line + b"\n" for line in torn))


def _aside(path: Path) -> Path:
    n = 1
    while path.with_name(f"{path.name}.torn-{n}").exists():
        n += 1
    return path.with_name(f"{path.name}.torn-{n}")


def repair(path: str | Path) -> str | None:
    """Mend the journal file at ``path`` before anything is appended to it; return a line
    saying what was done, or None when it was whole (or does not exist yet).

    Raises :class:`DamagedFile` naming the line when a line in the middle is not an entry.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DamagedFile(path, f"cannot be read ({e.strerror or e})") from None
    first = mend(data)
    if first.data == data and first.bad_line is None:
        return None
    from optuna.storages.journal import JournalFileSymlinkLock

    lock = JournalFileSymlinkLock(str(path))  # the lock JournalFileBackend takes by default
    lock.acquire()
    try:
        data = path.read_bytes()  # again: a worker may have appended before the lock
        m = mend(data)
        if m.bad_line is not None:
            lines = data.count(b"\n") + (not data.endswith(b"\n"))
            raise DamagedFile(path, f"line {m.bad_line} of {lines} is not an Optuna journal "
                              "entry", "restore the file from a backup, or start the run over "
                              "with --overwrite")
        if m.data == data:
            return None
        aside = None
        if m.torn:
            aside = _aside(path)
            aside.write_bytes(m.torn)
        if data.startswith(m.data):  # the usual case: only the end changes, in place
            with open(path, "r+b") as f:
                f.truncate(len(m.data))
                os.fsync(f.fileno())
        else:  # a merged line: no worker can have read past it, so a new file is safe
            write_atomic(path, m.data)
    finally:
        lock.release()
    if aside is None:
        return f"{path}: its last entry had lost its newline; added"
    return (f"{path}: a torn write ({len(m.torn)} bytes, from a write cut short) was set aside "
            f"in {aside.name}; the study goes on from its last whole entry")


def repaired(path: str | Path) -> str:
    """``str(path)`` after :func:`repair`: for opening the journal in one call."""
    repair(path)
    return str(path)
