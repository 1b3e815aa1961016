"""Domain errors: a rule said no. Services raise them; ``views.errors`` turns them into HTTP answers."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no. ``status`` is the HTTP answer, ``code`` a stable machine-readable reason."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class ValidationError(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Gone(DomainError):
    status = 410
    code = "gone"
