"""KerasTuner's chief/worker mode, for real: a chief that serves the oracle over gRPC on
127.0.0.1 and two workers that train, three ``run_search.py`` processes sharing one results
folder, as the README tells users to run them."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from conftest import wait_all

from search.records import COMPLETE, load_records

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_chief_and_two_workers_share_one_oracle(tmp_path, faces, synth_cache):
    """4 trials in all, proposed once each by the chief's oracle and trained by the two
    workers (none by the chief, none twice); every process exits 0."""
    results = tmp_path / "r"
    cmd = [sys.executable, str(ROOT / "run_search.py"), "--tuner", "random", "--trials", "4",
           "--epochs", "1", "--no-reference", "--synthetic-images", "48", "--image-size",
           "32", "--batch-size", "16", "--seed", "7", "--run-name", "kt", "--results-dir",
           str(results), "--cache-dir", str(synth_cache)]
    port = _free_port()
    procs = {}
    for name in ("chief", "tuner1", "tuner2"):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERASTUNER_TUNER_ID": name,
               "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port)}
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed once started
        procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
        log.close()
    wait_all(procs)
    logs = {name: (tmp_path / f"{name}.log").read_text() for name in procs}
    for name, p in procs.items():
        assert p.returncode == 0, f"{name}: {logs[name][-3000:]}"

    records = load_records(results / "kt")
    assert len(records) == 4 and len({r.trial_id for r in records}) == 4
    assert all(r.status == COMPLETE for r in records), [r.reason for r in records]
    assert len({json.dumps(r.values, sort_keys=True) for r in records}) == 4
    ran = {name: re.findall(r"^trial (\S+): complete", text, re.M)
           for name, text in logs.items()}
    assert ran["chief"] == []  # the chief serves the oracle and trains nothing
    assert sorted(ran["tuner1"] + ran["tuner2"]) == sorted(r.trial_id for r in records)
    tuner = results / "kt" / "tuner"
    oracle = json.loads((tuner / "oracle.json").read_text())
    assert sorted(oracle["end_order"]) == sorted(r.trial_id for r in records)
    assert (tuner / "tuner1.json").exists() and (tuner / "tuner2.json").exists()
