"""Domain errors. Each subclasses a built-in so callers may catch either.

Messages name the argument or column in backticks, the bad value, and the fix.
"""

from __future__ import annotations


class ValidationError(ValueError):
    """A value or parameter that cannot be used as given."""


class InputFileError(ValidationError):
    """A whole input file is unusable (empty, unreadable, missing columns).

    Nothing from the file is stored.
    """

    def __init__(self, path: str, reason: str, fix: str = "") -> None:
        self.path = path
        self.reason = reason
        self.fix = fix
        text = f"{path}: {reason}"
        if fix:
            text += f" {fix}"
        super().__init__(text)


class PseudonymKeyError(ValidationError):
    """``ENGAGE_PSEUDONYM_KEY`` is missing or too weak for the data at hand."""


class StoreError(RuntimeError):
    """The store could not be opened, migrated, read or written."""
