"""A throwaway PostgreSQL server for the tests and the workers benchmark.

``PostgresServer()`` runs ``initdb`` into a fresh temporary folder and starts ``postgres`` on a
free port of 127.0.0.1 (its Unix socket in that folder; trust authentication, fsync off: a
test server, not a store), owned by an unprivileged user (PostgreSQL refuses to run as root:
as root the server runs as ``nobody``); ``stop()`` shuts it down and deletes the folder, and
the server shuts down at once if the process that started it dies first (Linux's
parent-death signal). ``new_database()`` gives each test a database of its own.

The binaries: those in ``$AGESEARCH_PG_BIN`` where it is set, else the newest
``/usr/lib/postgresql/<version>/bin`` (Debian's and Ubuntu's ``postgresql`` package), else
``initdb`` on the PATH.
:func:`missing` says why none can be used (the tests skip with that reason);
``.ci/run`` installs the package on a fresh Debian machine.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The unprivileged user the server runs as when the tests run as root.
UNPRIVILEGED = "nobody"


def bin_dir() -> Path | None:
    """The folder holding ``initdb`` and ``postgres``, or None."""
    env = os.environ.get("AGESEARCH_PG_BIN")
    if env:  # these binaries, or none
        d = Path(env)
        return d if (d / "initdb").is_file() and (d / "postgres").is_file() else None
    candidates = []
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: [int(x) if x.isdigit() else 0
                                     for x in Path(p).parent.name.split(".")])
    candidates += [Path(p) for p in reversed(versions)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "postgres").is_file():
            return d
    return None


def missing() -> str | None:
    """Why no server can be started here (None: one can)."""
    if bin_dir() is None:
        where = (f"$AGESEARCH_PG_BIN={os.environ['AGESEARCH_PG_BIN']}"
                 if os.environ.get("AGESEARCH_PG_BIN")
                 else "/usr/lib/postgresql/*/bin or the PATH")
        return (f"PostgreSQL binaries not found (no initdb and postgres in {where}): "
                "apt-get install -y postgresql (.ci/run does)")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed: pip install -e '.[postgres]'"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(UNPRIVILEGED)
        except KeyError:
            return f"running as root and no user {UNPRIVILEGED!r} to run PostgreSQL as"
    return None


def _die_with_parent() -> None:
    """In the server's process, before ``exec``: SIGQUIT (PostgreSQL's immediate shutdown)
    when the process that started it dies. Set after the switch to the unprivileged user,
    which would clear it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One PostgreSQL server in a temporary folder; a context manager."""

    def __init__(self, timeout: float = 60.0):
        why = missing()
        if why:
            raise RuntimeError(why)
        self.bin = bin_dir()
        self.folder = Path(tempfile.mkdtemp(prefix="agesearch-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self._user: dict = {}
        if os.geteuid() == 0:  # initdb and postgres refuse root
            entry = pwd.getpwnam(UNPRIVILEGED)
            self._user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.process: subprocess.Popen | None = None
        self._databases = 0
        try:
            self._initdb()
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _run(self, args: list[str]) -> None:
        out = subprocess.run(args, cwd=self.folder, capture_output=True, text=True, **self._user)
        if out.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({out.returncode}): "
                               f"{(out.stderr or out.stdout)[-2000:]}")

    def _initdb(self) -> None:
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                   "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"])

    def _start(self, timeout: float) -> None:
        for _ in range(5):  # another process may take the free port first
            self.port = free_port()
            log = open(self.log, "ab")  # the server inherits it; closed here once started
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), "-h", "127.0.0.1",
                 "-p", str(self.port), "-k", str(self.folder), "-c", "fsync=off",
                 "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200"],
                cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent, **self._user)
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break  # exited: the port was taken, or worse (see the log)
                if self._ready():
                    return
                time.sleep(0.1)
            if self.process.poll() is None:
                self.stop()
                raise RuntimeError(f"PostgreSQL did not start within {timeout:g} s: "
                                   f"{self.log.read_text()[-2000:]}")
            if "could not bind" not in self.log.read_text():
                raise RuntimeError(f"PostgreSQL exited ({self.process.returncode}): "
                                   f"{self.log.read_text()[-2000:]}")
        raise RuntimeError("PostgreSQL found no free port in 5 tries")

    def _ready(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(self.url("postgres"), connect_timeout=2).close()
            return True
        except psycopg2.OperationalError:
            return False

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy/libpq URL of ``database`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database; return its URL."""
        import psycopg2

        self._databases += 1
        name = f"{prefix}{self._databases}"
        conn = psycopg2.connect(self.url("postgres"))
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def stop(self) -> None:
        """Shut the server down (fast shutdown, then a kill) and delete its folder."""
        p, self.process = self.process, None
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGINT)  # "fast" shutdown: disconnects the clients
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
