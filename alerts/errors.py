"""The errors a person can act on: a message, a stable code and the HTTP status it is
answered with (CONTRACT.md's JSON error). alerts raises them and the application answers them;
alerts has no HTTP of its own, so the status travels with the error.
"""

from __future__ import annotations


class CodedError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.headers = headers  # e.g. Retry-After on a 429
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code


class NotAuthenticated(CodedError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(CodedError):
    status_code = 403
    code = "forbidden"


class NotFound(CodedError):
    status_code = 404
    code = "not_found"


class Conflict(CodedError):
    status_code = 409
    code = "conflict"


class InvalidInput(CodedError):
    status_code = 422
    code = "invalid_input"


class PayloadTooLarge(CodedError):
    status_code = 413
    code = "payload_too_large"


class TooManyRequests(CodedError):
    status_code = 429
    code = "rate_limited"
