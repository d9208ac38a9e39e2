"""Shared fixtures: tiny real data (synthetic JPEGs on disk), fixed seeds, quiet TensorFlow.

Two tiers: ``tests/fast/`` never imports TensorFlow (checked when it runs alone: ``make
test-fast``); every other test may, and gets it loaded quietly with a fixed Keras seed.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FAST = Path(__file__).resolve().parent / "fast"


def _is_fast(path) -> bool:
    return FAST in Path(path).resolve().parents


@pytest.fixture(autouse=True)
def _seed(request):
    random.seed(0)
    np.random.seed(0)
    if _is_fast(request.node.path):
        return
    from search.quiet import load_tensorflow

    load_tensorflow()
    import keras

    keras.utils.set_random_seed(0)


def pytest_sessionfinish(session, exitstatus):
    """The fast tier, run alone, must not have loaded TensorFlow."""
    items = getattr(session, "items", [])
    if items and all(_is_fast(i.path) for i in items) and "tensorflow" in sys.modules:
        print("\nerror: a test in tests/fast imported TensorFlow; move it out of the fast tier",
              file=sys.stderr)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory):
    """A session-wide cache folder for synthetic faces (generation is deterministic)."""
    return tmp_path_factory.mktemp("synth-cache")


@pytest.fixture(scope="session")
def faces(synth_cache):
    """48 synthetic UTKFace-named JPEGs on disk."""
    from search import synthetic

    return synthetic.generate(48, seed=7, cache_dir=synth_cache)


@pytest.fixture(scope="session")
def tiny_search(tmp_path_factory, synth_cache):
    """One tiny search (lite, the reference and one trial, one epoch, 32 px, 48 faces), run
    once a session; a module takes its own copy with :func:`copy_of_search`."""
    import io

    from rich.console import Console

    from search import pipeline
    from search.config import RunConfig

    cfg = RunConfig(space="lite", trials=2, epochs=1, patience=1, synthetic_images=48,
                    image_size=32, batch_size=16, seed=7, run_name="tiny-search",
                    results_dir=str(tmp_path_factory.mktemp("tiny-search")),
                    cache_dir=str(synth_cache))
    pipeline.run(cfg, console=Console(file=io.StringIO(), width=200))
    return cfg


def copy_of_search(cfg, results_dir):
    """A copy of ``cfg``'s run folder under ``results_dir`` (copied as a user would, with
    ``cp -r``), and the config that reads it there."""
    import shutil

    shutil.copytree(Path(cfg.results_dir) / cfg.run_name, Path(results_dir) / cfg.run_name)
    return cfg.replace(results_dir=str(results_dir))


@pytest.fixture
def tiny_cfg(tmp_path, synth_cache):
    """A RunConfig sized for CI: 32 px, a few dozen faces, one or two epochs."""
    from search.config import RunConfig

    return RunConfig(space="lite", trials=2, epochs=2, patience=2, synthetic_images=48,
                     image_size=32, batch_size=16, seed=7, run_name="tiny",
                     results_dir=str(tmp_path / "results"), cache_dir=str(synth_cache))


# --- hand-made runs for report tests (no training) -----------------------------------------


def lite_values(filters, dense, *, dropout=0.2, lr=1e-3, head="flatten"):
    """Values of a lite-space candidate with these filters per block and dense units."""
    v = {"conv": "separable", "kernel_size": 3, "blocks": len(filters), "head": head,
         "dense_layers": len(dense), "dropout": dropout, "dropout_decay": 0.5,
         "learning_rate": lr}
    v.update({f"filters_{i}": f for i, f in enumerate(filters, 1)})
    v.update({f"dense_units_{j}": u for j, u in enumerate(dense, 1)})
    return v


def sample_records(shift: float = 0.0):
    """Eight trials of every status: a front of 00, 01, 02; 03 and the reference behind it."""
    from search.records import TrialRecord as R

    def done(tid, filters, dense, mae, params, f16, seconds, **kw):
        return R(tid, "complete", lite_values(filters, dense, **kw.pop("v", {})),
                 val_mae=mae + shift, test_mae=mae + shift + 0.2, params=params,
                 tflite_float16_bytes=f16, tflite_float32_bytes=2 * f16, epochs_run=12,
                 best_epoch=10, train_seconds=seconds, model_path=f"trials/{tid}/model.keras",
                 **kw)

    return [
        done("00", [16, 32, 64], [64], 5.1, 40_000, 90_000, 31),
        done("01", [8, 16], [16], 8.2, 1_500, 9_000, 12, v={"head": "gap"}),
        done("02", [16, 24, 48], [32], 6.0, 6_000, 20_000, 20, v={"head": "gap"}),
        done("03", [32, 64, 96, 128], [128, 64], 5.6, 300_000, 610_000, 80),
        R("04", "infeasible", lite_values([8] * 5, [16]),
          reason="5 pooled blocks shrink a 16 px input below 1x1 at block 5"),
        R("05", "failed", lite_values([16, 32], [32]), params=5_000, tflite_float16_bytes=15_000,
          epochs_run=2, val_mae=float("nan"),
          reason="validation MAE is not a finite number (nan)"),
        R("06", "pruned", lite_values([16, 32], [16]), params=4_000,
          tflite_float16_bytes=12_000, val_mae=9.5, epochs_run=3),
        done("ref", [16, 32, 64, 128, 256], [256, 128, 64], 14.8, 520_000, 1_100_000, 120,
             v={"dropout": 0.5}, is_reference=True),
    ]


@pytest.fixture
def make_run(tmp_path):
    """make_run(name, records, **overrides) -> a run folder as a search writes it."""
    from search.config import RunConfig
    from search.files import write_json_atomic

    def make(name, records, *, space_name="lite", image_size=64, baseline=True):
        d = tmp_path / "results" / name
        d.mkdir(parents=True, exist_ok=True)
        RunConfig(run_name=name, image_size=image_size, trials=max(1, len(records))).save(
            d / "config.json")
        write_json_atomic(d / "space.json", {"name": space_name, "description": "test space"})
        write_json_atomic(d / "dataset.json", {
            "source": "synthetic", "found": 2400, "used": 2400, "skipped_total": 0,
            "skipped": {}, "splits": {"train": 1680, "val": 360, "test": 360}})
        if baseline:
            write_json_atomic(d / "baseline.json",
                              {"median_age": 30.0, "val_mae": 16.0, "test_mae": 16.6})
        for r in records:
            r.save(d / "trials" / r.trial_id / "record.json")
        return d

    return make


# --- damaged run files (tests/fast/test_runfiles.py, tests/test_faults.py) -----------------

#: Ways a file is damaged: what a power cut, a full disk, a bad copy or a stray edit leaves.
DAMAGES = ("truncated", "empty", "garbage", "null", "list", "deleted")


def damage(path, kind: str) -> None:
    """Damage the file at ``path`` in one of the :data:`DAMAGES` ways."""
    path = Path(path)
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: max(1, len(data) // 2)])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(b"\x00\xff garbage \x9c\n" + data[:7])
    elif kind == "null":
        path.write_bytes(b"null\n")
    elif kind == "list":
        path.write_bytes(b"[1, 2]\n")
    elif kind == "deleted":
        path.unlink()
    else:
        raise ValueError(kind)


def wait_all(procs, timeout: float = 600) -> None:
    """Wait for every process of ``procs`` (a dict of Popen); kill those still running if
    waiting fails (a timeout, a failed assertion), so no test leaves a worker behind."""
    try:
        for p in procs.values():
            p.wait(timeout=timeout)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
