"""Error kinds.

Two kinds, as in KerasTuner: a :class:`UserError` is something the person running the tool
can fix (a missing folder, a malformed space file, a damaged run file); the command line
prints its message on one line and exits with status 2. A :class:`TrialError` ends one trial,
which is recorded as failed or infeasible while the search goes on. :class:`NothingDone`: the
input was good but the work produced nothing (no trial finished, no image predicted); exit
status 1.
"""

from __future__ import annotations


class AgeSearchError(Exception):
    """Base class of every error this package raises on purpose."""


class UserError(AgeSearchError):
    """Bad input: the message names the value and what was expected."""


class DamagedFile(UserError, ValueError):
    """A file that cannot be read as what it should hold (empty, truncated, not UTF-8, not
    JSON, the wrong JSON type, a field of the wrong type): the message names the file, what is
    wrong and, when given, what to do. A ValueError too, so code that skips unreadable files
    (a report made mid-search) skips it."""

    def __init__(self, path, problem: str, fix: str = ""):
        self.path, self.problem, self.fix = str(path), problem, fix
        super().__init__(f"{path}: {problem}" + (f"; {fix}" if fix else ""))

    def __reduce__(self):  # pickled across the trial worker's pipe with its parts
        return (type(self), (self.path, self.problem, self.fix))


class NothingDone(AgeSearchError):
    """The command ran on good input and produced nothing (no trial finished, no image
    predicted): the command line prints the message on one line and exits with status 1."""


class ConversionError(UserError):
    """A model cannot be converted to a TFLite format with builtin ops only."""


class TrialError(AgeSearchError):
    """One trial could not finish; the search goes on."""


class InfeasibleCandidate(TrialError):
    """A candidate that cannot be built or cannot ship (collapsed shape, over budget)."""


class BudgetTooTight(UserError):
    """Too many candidates in a row were over budget: the search stops, keeping its trials."""


class SearchInterrupted(KeyboardInterrupt):
    """Ctrl-C: the search stopped; what finished is ranked and kept, the run resumes.

    A KeyboardInterrupt, so code that lets Ctrl-C through lets this through too; the command
    line prints its message on one line and exits with status 130.
    """


class TimeBudgetSpent(KeyboardInterrupt):
    """``--max-minutes`` passed (or ``--max-compute`` spent): the search starts no more
    trials (the one proposed is handed out again on resume, as after Ctrl-C); what finished
    is ranked and reported."""
