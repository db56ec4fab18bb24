"""Errors of the signal catalogue.

They are AppErrors (so the API answers 422 with their code, never a 500) and also
ValueErrors (so a pydantic validator of a rule file lets them through, and the config
loader reports them at the right file:line).
"""

from __future__ import annotations

from collections.abc import Sequence

from emergency.exceptions import AppError


class CatalogueError(AppError, ValueError):
    """Base of the catalogue's errors; `code` is the API error code."""

    status_code = 422
    code = "catalogue_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class InvalidSignalCode(CatalogueError):
    """A signal code that is not of the form SOURCE:kind:level."""

    code = "invalid_signal_code"


class UnknownSignal(CatalogueError):
    """A source, kind or level the catalogue does not know; says which, and what is valid."""

    code = "unknown_signal"

    def __init__(self, message: str, *, valid: Sequence[str] = ()) -> None:
        self.valid = list(valid)
        if self.valid:
            message = f"{message}; valid: {', '.join(self.valid)}"
        super().__init__(message)
