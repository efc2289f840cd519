"""Domain exceptions. Services raise these; federation/api/problems.py turns them into
RFC 9457 problem+json in one place. Each carries an HTTP status and a stable `code`."""
from __future__ import annotations


class FederationError(Exception):
    status = 500
    code = "internal_error"
    title = "Internal error"

    def __init__(self, detail: str | None = None, *, code: str | None = None, **extra) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code
        self.extra = extra


class InvalidInput(FederationError):
    status = 422
    code = "invalid_input"
    title = "The request is not valid"


class InvalidSignal(InvalidInput):
    code = "invalid_signal"
    title = "A hash is not valid"


class NotFound(FederationError):
    status = 404
    code = "not_found"
    title = "Not found"


class CaseNotFound(NotFound):
    # One answer for an unknown reference and a wrong PIN: it tells a guesser nothing.
    code = "case_not_found"
    title = "No case matches this reference and PIN"


class Conflict(FederationError):
    status = 409
    code = "conflict"
    title = "Conflict"


class Unauthorized(FederationError):
    status = 401
    code = "unauthorized"
    title = "Credentials are missing or not valid"


class Forbidden(FederationError):
    status = 403
    code = "forbidden"
    title = "These credentials may not do this"


class LockedOut(FederationError):
    status = 429
    code = "locked"
    title = "Too many wrong attempts; try again later"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after = max(1, int(retry_after))
