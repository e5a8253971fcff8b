"""The error answers of the JSON API, declared in OpenAPI so clients can rely on their shape."""

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """API.md's error: a sentence a person can act on, and per-item errors for some refusals."""

    detail: str
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="Present when a list was refused item by item."
    )


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class InvalidBody(BaseModel):
    """422: FastAPI's list of field errors, or a sentence from the study's own rules."""

    detail: str | list[FieldError]
    errors: list[dict[str, Any]] | None = None


def _error(description: str, model: type[BaseModel] = ErrorBody) -> dict[str, Any]:
    return {"model": model, "description": description}


# Router-wide (APIRouter(responses=...)): every status an endpoint of the API may answer with.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error("Malformed request: the body is not valid JSON."),
    401: _error("No token, or a token that is unknown, revoked or of the wrong kind."),
    403: _error("The caller may read but not do this (an observer, a withdrawn panelist)."),
    404: _error("Not found, or not the caller's (never revealed which)."),
    409: _error("The study's state refuses this (rules frozen, round not open, finalized …)."),
    413: _error("The request body is larger than the server accepts."),
    422: _error("A value is invalid; `detail` says which and why.", InvalidBody),
}
