"""Error kinds.

Two kinds, as in KerasTuner: a :class:`UserError` is something the person running the tool
can fix (a missing folder, a malformed space file); the command line prints its message on
one line and exits with status 2. A :class:`TrialError` ends one trial, which is recorded as
failed or infeasible while the search goes on.
"""

from __future__ import annotations


class AgeSearchError(Exception):
    """Base class of every error this package raises on purpose."""


class UserError(AgeSearchError):
    """Bad input: the message names the value and what was expected."""


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
    """``--max-minutes`` passed: the search starts no more trials (the one proposed is handed
    out again on resume, as after Ctrl-C); what finished is ranked and reported."""
