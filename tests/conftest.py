"""Shared fixtures: tiny real data (synthetic JPEGs on disk), fixed seeds, quiet TensorFlow."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from search.quiet import load_tensorflow  # noqa: E402

load_tensorflow()


@pytest.fixture(autouse=True)
def _seed():
    random.seed(0)
    np.random.seed(0)
    import keras

    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def synth_cache(tmp_path_factory):
    """A session-wide cache folder for synthetic faces (generation is deterministic)."""
    return tmp_path_factory.mktemp("synth-cache")


@pytest.fixture(scope="session")
def faces(synth_cache):
    """48 synthetic UTKFace-named JPEGs on disk."""
    from search import synthetic

    return synthetic.generate(48, seed=7, cache_dir=synth_cache)


@pytest.fixture
def tiny_cfg(tmp_path, synth_cache):
    """A RunConfig sized for CI: 32 px, a few dozen faces, one or two epochs."""
    from search.config import RunConfig

    return RunConfig(space="lite", trials=2, epochs=2, patience=2, synthetic_images=48,
                     image_size=32, batch_size=16, seed=7, run_name="tiny",
                     results_dir=str(tmp_path / "results"), cache_dir=str(synth_cache))
