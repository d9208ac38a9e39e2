"""Memory of the search process: read it, and decide when the process should start afresh.

TensorFlow keeps a few MiB of every traced training step for good: the step's graph sits in a
reference cycle through C++ objects that Python's collector cannot see, and some native
memory is never returned (TensorFlow issue 61791 and kin; clear_session() does not help).
:mod:`search.train` frees what it can (optimizer variables built eagerly, dead graphs
dismantled), which leaves a few MiB a trial. What remains is bounded the robust way: when
another trial would take the search process more than a set fraction above its memory after
its second trial, it stops at the trial boundary and the command line starts it again in
place (``os.execv``, same pid, same arguments, the baseline passed on): the run resumes as
after Ctrl-C, at the cost of one start-up.
"""

from __future__ import annotations

import os
from pathlib import Path

from search.errors import RestartForMemory

#: Trials a process trains before its memory is taken as the baseline: the first ones load
#: what every trial shares (kernels, the converter, the decoded data). A restarted process also
#: trains this many before it may restart again, so it can never restart in a loop.
SETTLE_TRIALS = 2
#: The baseline travels to the restarted process in its environment: the run's process lineage
#: keeps the level of its first process's trial 2.
BASELINE_ENV = "AGESEARCH_MEMORY_BASELINE_MIB"


def rss_mib() -> float | None:
    """Resident set size of this process in MiB (Linux), or None where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def should_restart(rss: float, baseline: float, growth: float, step: float) -> bool:
    """Whether one more trial, growing by ``step`` (MiB, the largest per-trial growth seen),
    would take ``rss`` more than ``growth`` (a fraction) above ``baseline`` (MiB)."""
    return rss + max(0.0, step) > baseline * (1.0 + growth)


class MemoryGuard:
    """Raises RestartForMemory before a trial that would take the process too far above the
    baseline: the memory after the second trial of the run's first process."""

    def __init__(self, growth: float, read=rss_mib, inherited: float | None = None):
        self.growth, self.read = growth, read
        if inherited is None:
            try:
                inherited = float(os.environ[BASELINE_ENV])
            except (KeyError, ValueError):
                inherited = None
        self.baseline = inherited
        self.trained = 0
        self.last: float | None = None
        self.step = 0.0  # the largest growth over one trial in this process, MiB

    def trial_done(self) -> None:
        """After a trial that trained (not after an infeasible candidate)."""
        self.trained += 1
        rss = self.read()
        if rss is None:
            return
        if self.last is not None:
            self.step = max(self.step, rss - self.last)
        self.last = rss
        if self.baseline is None and self.trained == SETTLE_TRIALS:
            self.baseline = rss

    def check(self) -> None:
        """Before a trial starts: raise if it would take the process too far."""
        if self.baseline is None or self.trained < SETTLE_TRIALS:
            return
        rss = self.read()
        if rss is not None and should_restart(rss, self.baseline, self.growth, self.step):
            raise RestartForMemory(
                f"memory: the search process holds {rss:.0f} MiB and a trial adds up to "
                f"{self.step:.0f} MiB, which would pass {self.growth:.0%} above the "
                f"{self.baseline:.0f} MiB after trial {SETTLE_TRIALS}; starting it afresh to "
                "release what TensorFlow keeps (the run resumes where it stopped)",
                baseline=self.baseline)
