"""Domain errors carry a sentence a person can act on; the routers map them to HTTP statuses."""

from typing import Any


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class Unauthorized(DomainError):
    status = 401


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    """Also raised for what exists but is not the caller's: we never reveal which."""

    status = 404


class Conflict(DomainError):
    """The request is valid but the study's state refuses it (rules frozen, round closed …)."""

    status = 409


class Invalid(DomainError):
    status = 422


class Throttled(DomainError):
    """Too many attempts; `retry_after` says in how many seconds to try again."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
