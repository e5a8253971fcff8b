"""Request-scoped dependencies: the session (committed at the boundary) and who is calling."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.db import READ_ONLY, begin_write, needs_begin_write, new_session
from app.models import Panelist, User
from app.services.accounts import user_for_token
from app.services.errors import Unauthorized
from app.services.panel import panelist_for_token

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One transaction per request; it commits before the response leaves, so a 200 is durable.

    Async, so it costs the request no threadpool hop of its own on the way in: the database is
    first touched by the endpoint (or by SQLite's up-front write lock, below), and the commit and
    the close share one hop on the way out.
    """
    session = new_session()
    if request.method in SAFE_METHODS:
        session.info[READ_ONLY] = True
    try:
        if request.method not in SAFE_METHODS and needs_begin_write(session):
            await run_in_threadpool(begin_write, session)
        yield session
        await run_in_threadpool(_commit_and_close, session)
    except BaseException:
        await run_in_threadpool(_rollback_and_close, session)
        raise


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _rollback_and_close(session: Session) -> None:
    try:
        session.rollback()
    finally:
        session.close()


# scope="function": the commit above runs before the response is sent, never after.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


# Declared for OpenAPI (the Authorize button in /docs); we raise our own 401 with a sentence.
_bearer = HTTPBearer(auto_error=False, description="A coordinator's API token or a panelist's")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def bearer_token(credentials: Credentials) -> str:
    if credentials is None or not credentials.credentials.strip():
        raise Unauthorized("Send your token in the header 'Authorization: Bearer <token>'.")
    return credentials.credentials.strip()


def current_coordinator(credentials: Credentials, session: SessionDep) -> User:
    return user_for_token(session, token=bearer_token(credentials))


def current_panelist(credentials: Credentials, session: SessionDep) -> Panelist:
    return panelist_for_token(session, token=bearer_token(credentials))


CurrentCoordinator = Annotated[User, Depends(current_coordinator, scope="function")]
CurrentPanelist = Annotated[Panelist, Depends(current_panelist, scope="function")]
