"""Import TensorFlow without its start-up chatter.

TensorFlow prints a few lines (oneDNN, CUDA stubs) to the process's stderr while it loads,
before its own log settings apply, so ``TF_CPP_MIN_LOG_LEVEL`` alone cannot hide them. The
command line loads it once here with file descriptor 2 pointed at /dev/null; errors raised
by the import itself still surface as Python exceptions.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings


@contextlib.contextmanager
def _stderr_silenced():
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


#: For C++ code that prints to stderr while it works: the TFLite converter ("fully_quantize:
#: ...") and LiteRT ("Created TensorFlow Lite XNNPACK delegate"). Their errors still arrive as
#: Python exceptions.
stderr_silenced = _stderr_silenced


def load_tensorflow() -> None:
    """Import TensorFlow, Keras and LiteRT quietly; silence Keras' tf.data warnings."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced():
        import keras  # noqa: F401
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
        with contextlib.suppress(ImportError):
            import ai_edge_litert.interpreter  # noqa: F401
    # Our pipelines are shuffled and sized by tf.data itself; these warnings only confuse.
    warnings.filterwarnings("ignore", message=r".*`shuffle=True` was passed.*")
    warnings.filterwarnings("ignore", message=r".*Your input ran out of data.*")
