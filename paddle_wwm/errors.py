"""The base of the errors paddle-wwm raises for problems the user can fix (a bad file, argument,
recipe or name). The command line prints these as one line; any other exception is a bug or an
environment failure and keeps its traceback.

Every project error also derives from the builtin it refines (``ValueError``, ``KeyError``,
``FileNotFoundError``), so ``except ValueError`` in callers keeps working.
"""


class PaddleWwmError(Exception):
    """Base of every error paddle-wwm raises on purpose, with a message naming what to fix."""


class InvalidInputError(PaddleWwmError, ValueError):
    """An argument, setting or input file the user gave is unusable (and no more specific error fits)."""
