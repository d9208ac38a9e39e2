"""Memory of a process, and when a trial worker should be replaced by a fresh one.

TensorFlow keeps a few MiB of every traced training step for good: the step's graph sits in a
reference cycle through C++ objects that Python's collector cannot see, and some native
memory is never returned (TensorFlow issue 61791 and kin; ``clear_session()`` does not help).
Trials therefore train in a child process (:mod:`search.trial_process`) that is replaced
when one more trial would take it more than a set fraction above its memory after its
second trial: the search process itself never holds a model.
"""

from __future__ import annotations

from pathlib import Path

#: Trials a child trains before its memory is taken as the baseline: the first ones load what
#: every trial shares (kernels, the converter, the decoded data).
SETTLE_TRIALS = 2


def rss_mib() -> float | None:
    """Resident set size of this process in MiB (Linux), or None where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def should_recycle(rss: float, baseline: float, growth: float, step: float) -> bool:
    """Whether one more trial, growing by ``step`` (MiB, the largest per-trial growth seen),
    would take ``rss`` more than ``growth`` (a fraction) above ``baseline`` (MiB)."""
    return rss + max(0.0, step) > baseline * (1.0 + growth)
