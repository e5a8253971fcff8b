"""When the database does not answer: 503 with Retry-After and a sentence, never a 500 or a reset.

A PostgreSQL restart, a failover or a SQLite file held locked past the busy timeout raise
OperationalError or InterfaceError (a connection that died under us), DisconnectionError or the
pool's TimeoutError. None of them is the request's fault, and each passes: the pool drops dead
connections (pre-ping) and makes new ones once the server is back, so no restart is needed.
"""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import Response

from app.web import session as cookies
from app.web.templating import render, supported

RETRY_AFTER_SECONDS = 5
DETAIL = (
    "The study's database is not answering just now (a restart or maintenance, usually over in "
    "moments). If this was a change, it was not confirmed: try again in a few seconds."
)
OUTAGES = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)


def _language(request: Request) -> str:
    """The panelist's chosen language, else the browser's first preference we have."""
    chosen = cookies.read(request)
    if chosen is not None and chosen.language:
        return supported(chosen.language)
    accepted = request.headers.get("accept-language", "").lower()
    return "zh-Hans" if accepted.startswith("zh") else "en"


async def database_unavailable(request: Request, exc: Exception) -> Response:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": DETAIL}, status_code=503, headers=headers)
    page = render("unavailable.html", {}, language=_language(request), status_code=503)
    page.headers.update(headers)
    return page


def answer_outages(app: FastAPI) -> None:
    for kind in OUTAGES:
        app.add_exception_handler(kind, database_unavailable)
