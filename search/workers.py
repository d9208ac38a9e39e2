"""Who is running: worker ids, whether a worker is dead, and claiming a one-off job.

Several processes (on one machine or many) may share one run folder. A worker is named
``host:pid``; a worker on *this* host whose process no longer exists is dead (killed, or
its machine restarted), so what it held can be taken over. Workers on other hosts cannot be
checked from here and are taken as alive (the Optuna backend finds their dead trials through
the storage's heartbeat instead: :mod:`search.backends.optuna`).

``host`` is the machine's host name, or ``$AGESEARCH_HOST`` where set: workers that share a
host name must share a process table (containers that all call themselves ``localhost`` on
different machines would take each other for dead: give each its own name), and the tests
give processes on one machine different names to play separate machines.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

#: Overrides the host name in worker ids (see the module docstring).
HOST_ENV = "AGESEARCH_HOST"


def host() -> str:
    """This machine's name in worker ids: ``$AGESEARCH_HOST``, else the host name."""
    return os.environ.get(HOST_ENV) or socket.gethostname()


def worker_id() -> str:
    """This process as ``host:pid``."""
    return f"{host()}:{os.getpid()}"


def is_dead(worker: str) -> bool:
    """True if ``worker`` (``host:pid``) ran on this host and its process is gone (or is
    this very process, which cannot still be running an earlier job)."""
    name, _, pid_text = worker.rpartition(":")
    if name != host() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        return False
    return False


def claim(path: Path) -> bool:
    """Create ``path`` holding this worker's id; True if this worker now holds it.

    False when a live worker holds it. A claim left by a dead worker is taken over (two
    workers taking over the same dead claim at the same instant is not guarded against).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = worker_id()
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(me)
    try:
        for _ in range(2):
            try:
                os.link(tmp, path)  # atomic, and never overwrites: the claim is whole or absent
                return True
            except FileExistsError:
                try:
                    holder = path.read_text().strip()
                except FileNotFoundError:
                    continue  # released meanwhile: try again
                if not is_dead(holder):
                    return False
                path.unlink(missing_ok=True)
        return False
    finally:
        tmp.unlink(missing_ok=True)


def release(path: Path) -> None:
    """Give up a claim held by this worker (a claim of another worker is left alone)."""
    path = Path(path)
    try:
        if path.read_text().strip() == worker_id():
            path.unlink()
    except FileNotFoundError:
        pass
