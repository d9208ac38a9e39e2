"""TensorBoard's HParams dashboard: every trained trial is a session with its hyperparameters
and final figures, read back from the event files as TensorBoard reads them. Not in the fast
tier: TensorBoard's file I/O loads TensorFlow when it is installed (the trial's worker, which
writes them, holds it anyway). A real run's trials are checked the same way in
tests/test_study.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from search import tb_hparams
from search.records import COMPLETE, INFEASIBLE, PRUNED, TrialRecord


def sessions(run_dir: Path) -> dict[str, dict]:
    """{TensorBoard run: {"hparams": {name: value}, "metrics": {tag: last value}}} of every
    HParams session under ``run_dir``, as the HParams plugin finds them."""
    from tensorboard.backend.event_processing import event_multiplexer
    from tensorboard.plugins.hparams import metadata
    from tensorboard.util import tensor_util

    mux = event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(run_dir))
    mux.Reload()
    out = {}
    for run, tags in mux.PluginRunToTagToContent(metadata.PLUGIN_NAME).items():
        if metadata.SESSION_START_INFO_TAG not in tags:
            continue
        info = metadata.parse_session_start_info_plugin_data(
            tags[metadata.SESSION_START_INFO_TAG])
        hparams = {}
        for name, v in info.hparams.items():
            kind = v.WhichOneof("kind")
            hparams[name] = getattr(v, kind)
        metrics = {}
        for tag in tb_hparams.METRICS:
            try:
                events = mux.Tensors(run, tag)
            except KeyError:
                continue
            metrics[tag] = float(tensor_util.make_ndarray(events[-1].tensor_proto))
        out[run] = {"hparams": hparams, "metrics": metrics, "group": info.group_name}
    return out


def _record(tid, status=COMPLETE, **kw):
    values = {"blocks": 2, "filters_1": 8, "filters_2": 16, "head": "gap",
              "learning_rate": 0.00044506630783759166, "use_bn": True, "widths": [8, 16]}
    return TrialRecord(tid, status, values=values, val_mae=7.25, test_mae=7.5, params=1234,
                       tflite_float16_bytes=4096, macs=50_000, epochs_run=3, **kw)


def test_every_trained_trial_is_a_session_with_its_hyperparameters_and_figures(tmp_path):
    trials = tmp_path / "run" / "trials"
    assert tb_hparams.write(trials / "000", _record("000"), 32) is not None
    assert tb_hparams.write(trials / "ref", _record("ref", is_reference=True), 32)
    pruned = _record("001", PRUNED)
    pruned.test_mae = None
    assert tb_hparams.write(trials / "001", pruned, 32)
    never = TrialRecord("002", INFEASIBLE, values={"blocks": 9}, reason="too big")
    assert tb_hparams.write(trials / "002", never, 32) is None  # never trained: no session
    paused = _record("003", PRUNED, paused=True)  # at a rung: written when it ends
    assert tb_hparams.write(trials / "003", paused, 32) is None

    found = sessions(tmp_path / "run")
    assert set(found) == {"trials/000/logs", "trials/ref/logs", "trials/001/logs"}
    s = found["trials/000/logs"]
    assert s["group"] == "000"
    assert s["hparams"]["learning_rate"] == pytest.approx(0.00044506630783759166)
    assert s["hparams"]["blocks"] == 2 and s["hparams"]["head"] == "gap"
    assert s["hparams"]["use_bn"] is True and s["hparams"]["widths"] == "[8, 16]"
    assert s["hparams"]["image_size"] == 32 and s["hparams"]["status"] == COMPLETE
    assert s["metrics"]["hparams/val_mae"] == pytest.approx(7.25)
    assert s["metrics"]["hparams/tflite_float16_kib"] == pytest.approx(4.0)
    assert s["metrics"]["hparams/epochs"] == 3
    assert found["trials/ref/logs"]["hparams"]["is_reference"] is True
    assert "hparams/test_mae" not in found["trials/001/logs"]["metrics"]  # not measured


def test_a_folder_it_cannot_write_costs_the_trial_nothing(tmp_path):
    blocker = tmp_path / "000"
    blocker.write_text("a file where the trial folder should be")
    assert tb_hparams.write(blocker, _record("000")) is None
