"""Many workers on a real PostgreSQL server: one study, exact counts, a worker killed with
``kill -9`` in the middle of a trial and its trial run again by another worker, the
leaderboard and export from any worker's view.

The server is a throwaway one (tests/pg_server.py: ``initdb`` into a temporary folder, a free
port on 127.0.0.1, stopped at the end); the tests skip, saying why, only where PostgreSQL's
binaries or psycopg2 are missing (``.ci/run`` installs both). Each worker is a real
``run_search.py`` process with its own results folder, a link to one shared folder (as
separate machines mount one share), and its own host name (``$AGESEARCH_HOST``): no worker
can tell from its process table that another died, so a dead worker's trial comes back
through the heartbeat alone (1 s here, stale after 3).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pg_server
import pytest

from search import cli, trial
from search.records import COMPLETE, INFEASIBLE, load_records

ROOT = Path(__file__).resolve().parent.parent
RUN = "pg"

pytestmark = pytest.mark.skipif(pg_server.missing() is not None,
                                reason=pg_server.missing() or "")


@pytest.fixture(scope="module")
def postgres():
    with pg_server.PostgresServer() as server:
        yield server


def start_worker(machine: Path, shared: Path, url: str, cache: Path, *, trials: int,
                 epochs: int, reference: bool) -> subprocess.Popen:
    """One worker on 'machine' (its own folder and host name), results in ``shared``."""
    machine.mkdir(parents=True)
    (machine / "results").symlink_to(shared, target_is_directory=True)
    cmd = [sys.executable, str(ROOT / "run_search.py"), "--tuner", "tpe", "--trials",
           str(trials), "--epochs", str(epochs), "--patience", str(epochs), "--no-prune",
           "--synthetic-images", "48", "--image-size", "32", "--batch-size", "16",
           "--seed", "7", "--run-name", RUN, "--results-dir", str(machine / "results"),
           "--cache-dir", str(cache), "--storage", url]
    if not reference:
        cmd.append("--no-reference")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "AGESEARCH_HOST": machine.name,
           "AGESEARCH_HEARTBEAT": "1"}
    log = open(machine / "log.txt", "w")  # noqa: SIM115 - the worker's, closed at its end
    try:
        return subprocess.Popen(cmd, cwd=machine, env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def load_study(url: str, storage=None):
    """The run's study, as a reader (no worker) sees it; KeyError before a worker made it."""
    import optuna

    from search.backends import optuna as ob

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=RUN, storage=storage or ob.storage_for(url, ROOT))


def kill_one_mid_trial(procs: dict[str, subprocess.Popen], url: str, run_dir: Path,
                       timeout: float = 300) -> tuple[str, int, str]:
    """``kill -9`` the first worker seen running a search trial past its first epoch (its
    epoch backup on disk); return its machine, the Optuna trial number and its folder."""
    from optuna.trial import TrialState

    from search.backends import optuna as ob

    by_id = {f"{name}:{p.pid}": name for name, p in procs.items()}
    storage = ob.storage_for(url, ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            running = load_study(url, storage).get_trials(deepcopy=False,
                                                          states=(TrialState.RUNNING,))
        except KeyError:  # no worker has created the study yet
            running = []
        for t in running:
            machine = by_id.get(t.user_attrs.get(ob.WORKER))
            folder = t.user_attrs.get(ob.TRIAL_ID)
            if machine is None or folder is None:
                continue
            if (trial.backup_epoch(run_dir / "trials" / folder) or 0) >= 1:
                procs[machine].send_signal(signal.SIGKILL)
                procs[machine].wait()
                return machine, t.number, folder
        if all(p.poll() is not None for p in procs.values()):
            break
        time.sleep(0.1)
    raise AssertionError("no worker was seen in the middle of a trial")


@pytest.mark.parametrize("n", [2, 4])
def test_workers_share_one_study_and_a_killed_workers_trial_is_run_again(
        n, postgres, tmp_path, faces, synth_cache, capsys):
    """N workers, ``--trials 2N+1``: the reference once and 2N search trials, distinct; one
    worker killed in the middle of a trial, whose trial another worker finishes in the same
    folder from its backup (the dead one is never restarted); nothing failed, nothing left
    running; the leaderboard the same from every machine's folder, and export works."""
    from optuna.trial import TrialState

    from search.backends import optuna as ob

    url = postgres.new_database(f"w{n}_")
    shared = tmp_path / "shared"
    shared.mkdir()
    trials = 2 * n + 1
    t0 = time.monotonic()
    procs = {f"machine-{i}": start_worker(tmp_path / f"machine-{i}", shared, url, synth_cache,
                                          trials=trials, epochs=3, reference=True)
             for i in range(n)}
    try:
        victim, number, folder = kill_one_mid_trial(procs, url, shared / RUN)
        for p in procs.values():
            p.wait(timeout=600)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    seconds = time.monotonic() - t0
    logs = {m: (tmp_path / m / "log.txt").read_text() for m in procs}
    for m, p in procs.items():
        if m == victim:
            assert p.returncode == -signal.SIGKILL
        else:
            assert p.returncode == 0, logs[m][-3000:]

    # The run folder: the reference and 2N trials, all complete, all distinct (candidates
    # over budget, never trained, would not count; none are expected at 32 px).
    records = [r for r in load_records(shared / RUN) if r.status != INFEASIBLE]
    assert len(records) == trials, [r.trial_id for r in records]
    assert len({r.trial_id for r in records}) == trials
    assert all(r.status == COMPLETE for r in records), [(r.trial_id, r.reason) for r in records]
    assert len({json.dumps(r.values, sort_keys=True) for r in records}) == trials
    assert sum(r.is_reference for r in records) == 1
    trained_ref = [m for m, text in logs.items() if re.search(r"^trial ref: complete", text, re.M)]
    assert len(trained_ref) == 1, trained_ref  # the reference trained once

    # The killed trial: finished by a worker on another machine, in its folder, from its
    # backup; no restart of the dead worker.
    killed = next(r for r in records if r.trial_id == folder)
    assert killed.resumed_from_epoch is not None and killed.resumed_from_epoch >= 1
    finished_by = [m for m, text in logs.items()
                   if re.search(rf"^trial {folder}: complete", text, re.M)]
    assert len(finished_by) == 1 and finished_by[0] != victim, finished_by

    # The study: exactly 2N counted, all COMPLETE; the dead worker's trial FAIL and retried
    # once; no trial RUNNING or WAITING; no FAIL but that one (and 'surplus' give-ups).
    study = load_study(url)
    all_trials = study.get_trials()
    assert sum(ob.counts(t) for t in all_trials if not ob.is_reference(t)) == 2 * n
    assert not [t for t in all_trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    failed = [t for t in all_trials if t.state == TrialState.FAIL
              and t.user_attrs.get(ob.STATUS) not in ("surplus", INFEASIBLE)]
    assert [t.number for t in failed] == [number]
    retries = [t for t in all_trials if t.user_attrs.get(ob.RETRY_OF) == number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].user_attrs[ob.TRIAL_ID] == folder
    assert not retries[0].user_attrs[ob.WORKER].startswith(victim + ":")
    complete = [t for t in all_trials if t.state == TrialState.COMPLETE]
    assert sorted(t.user_attrs[ob.TRIAL_ID] for t in complete) == sorted(
        r.trial_id for r in records)  # the reference too, added once
    for m, text in logs.items():  # every worker saw the search to its end
        if m != victim:
            assert f"{trials} of {trials} planned trials recorded" in text, text[-2000:]

    # Every machine's view: the same leaderboard; export from one that did not train the best.
    boards = []
    for m in procs:
        capsys.readouterr()
        assert cli.main(["leaderboard", str(tmp_path / m / "results" / RUN), "--format",
                         "json"]) == 0
        board = json.loads(capsys.readouterr().out)
        boards.append([(t["trial_id"], t["status"], t["val_mae"]) for t in board["trials"]])
    assert all(b == boards[0] for b in boards) and len(boards[0]) == trials
    if n == 2:
        survivor = next(m for m in procs if m != victim)
        view = tmp_path / survivor / "results" / RUN
        assert cli.main(["export", str(view), "--quantize", "float16", "--samples", "8",
                         "--latency-runs", "2"]) == 0
        cards = list((shared / RUN / "export").glob("trial_*/model_card.json"))
        assert len(cards) == 1
    print(f"\n{n} workers on PostgreSQL: {trials} trials, one worker killed, in {seconds:.0f} s",
          file=sys.__stderr__)


def test_a_stale_trial_of_another_machine_is_recovered_once(postgres, tmp_path, monkeypatch):
    """The heartbeat on PostgreSQL, without training: a RUNNING trial whose worker (on another
    host, so no process to check) beats is left alone; once it stops beating for 3 beats, the
    first worker to look fails it and enqueues it in its folder, the next finds nothing."""
    import optuna
    from optuna.trial import TrialState

    from search.backends import optuna as ob
    from search.config import RunConfig

    monkeypatch.setenv(ob.HEARTBEAT_ENV, "1")
    url = postgres.new_database("stale")
    cfg = RunConfig(results_dir=str(tmp_path), run_name="r", storage=url)
    (tmp_path / "r").mkdir()
    study = ob.open_study(cfg, tmp_path / "r")
    other = ob.open_study(cfg, tmp_path / "r")  # a second worker's view
    assert ob._heartbeat_storage(study) is not None
    with pytest.warns(UserWarning, match="Heartbeat"):
        t = study.ask()
    t.suggest_int("blocks", 2, 5)
    t.set_user_attr(ob.WORKER, "another-machine:1")
    t.set_user_attr(ob.TRIAL_ID, "000")
    with ob._Heartbeat(study, t):
        time.sleep(4.5)  # past the grace period: the beats keep it fresh
        assert ob.recover_stale(other) == []
    time.sleep(4.5)
    assert ob.recover_stale(other) == ["000"]
    assert ob.recover_stale(study) == []
    states = [(x.state, x.user_attrs.get(ob.RETRY_OF)) for x in study.get_trials()]
    assert states == [(TrialState.FAIL, None), (TrialState.WAITING, 0)]
    assert study.get_trials()[1].user_attrs[ob.TRIAL_ID] == "000"
    with pytest.raises((ValueError, optuna.exceptions.UpdateFinishedTrialError)):
        study.tell(t, [1.0, 1.0, 1.0])  # the worker that lost it cannot finish it


OPEN_AT = """
import sys, tempfile, time
from pathlib import Path
from search.backends import optuna as ob
from search.config import RunConfig
run = Path(tempfile.mkdtemp()) / "r"
run.mkdir()
while time.time() < float(sys.argv[2]):
    pass
study = ob.open_study(RunConfig(storage=sys.argv[1], run_name="r"), run)
print(study.study_name, len(study.directions))
"""


def test_workers_opening_an_empty_database_at_once_all_get_the_study(postgres):
    """Four processes open one empty database at the same instant: Optuna creates its tables
    on first use, and all but one used to fail on a duplicate (storage_for tries again)."""
    for _ in range(2):
        url = postgres.new_database("race")
        at = time.time() + 4  # past every process's imports
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_AT, url, str(at)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0 and out.split() == ["r", "3"], err[-2000:]
