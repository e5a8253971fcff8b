"""The page a person gets when what they sent is too large or arrived too slowly, in their
language: the body limit (app.middleware.BodyLimit) answers before any route, from the scope."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from app.templating import render
from app.web.language import preferred_language


def megabytes(size: int) -> str:
    """A byte limit as the page says it: "1 MB", "20 MB", "0.5 MB"."""
    return f"{size / 1_000_000:g} MB"


def limit_page(scope: Scope, status: int, limit: int | None, upload: bool) -> Response:
    """413 (too large; `limit` in bytes) or 408 (too slow), styled, in the visitor's language."""
    request = Request(scope)  # headers, cookies and the query: all preferred_language reads
    return render(
        "limit.html",
        {"status": status, "limit": megabytes(limit) if limit else "", "upload": upload},
        language=preferred_language(request),
        status_code=status,
    )
