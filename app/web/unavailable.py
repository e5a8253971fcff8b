"""When the database does not answer: 503 with Retry-After and a sentence, never a 500 or a reset.

A PostgreSQL restart, a failover or a SQLite file held locked past the busy timeout raise
OperationalError or InterfaceError (a connection that died under us), DisconnectionError or the
pool's TimeoutError. None of them is the request's fault, and each passes: the pool drops dead
connections (pre-ping) and makes new ones once the server is back, so no restart is needed.
Other errors of the same classes ("no such table" after a missed migration, a syntax error) are
bugs or deployment faults, not outages: they stay a logged 500.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.responses import Response

from app.templating import render
from app.web.language import preferred_language

RETRY_AFTER_SECONDS = 5
DETAIL = (
    "The study's database is not answering just now (a restart or maintenance, usually over in "
    "moments). If this was a change, it was not confirmed: try again in a few seconds."
)
OUTAGES = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)
# PostgreSQL SQLSTATE classes that mean "the server is not there for you just now": connection
# exceptions, too many connections or out of resources, shut down or starting up.
PG_OUTAGE_STATES = ("08", "53", "57P")
# SQLite's words for a file it cannot use just now (locked past the busy timeout, a full disk).
SQLITE_OUTAGE_WORDS = ("database is locked", "database table is locked", "disk i/o error")
log = logging.getLogger("delphi.errors")


def is_outage(exc: Exception) -> bool:
    """True for a database that does not answer; false for a fault of the request or the code."""
    if isinstance(exc, DisconnectionError | PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None)
    if state is not None:
        return str(state).startswith(PG_OUTAGE_STATES)
    if type(exc.orig).__module__.startswith("psycopg"):
        return True  # no SQLSTATE: the connection itself failed (refused, reset, timed out)
    return any(words in str(exc.orig).lower() for words in SQLITE_OUTAGE_WORDS)


async def database_unavailable(request: Request, exc: Exception) -> Response:
    if not is_outage(exc):
        raise exc  # answered as a 500 with its traceback logged (app.web.headers)
    log.warning(
        "database unavailable answering %s %s", request.method, request.url.path, exc_info=exc
    )
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": DETAIL}, status_code=503, headers=headers)
    page = render("unavailable.html", {}, language=preferred_language(request), status_code=503)
    page.headers.update(headers)
    return page


def answer_outages(app: FastAPI) -> None:
    for kind in OUTAGES:
        app.add_exception_handler(kind, database_unavailable)
