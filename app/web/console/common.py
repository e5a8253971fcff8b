"""What every console page needs: who is signed in, CSRF, rendering, redirects with a message."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.db import discard, write_now
from app.http.deps import SessionDep
from app.models import Role, Study, User, UserSession
from app.security import same_secret
from app.services import logins, studies
from app.services.errors import DomainError
from app.templating import render
from app.web import session as cookies
from app.web.forms import form_values

COOKIE = "delphi_console"


class LoginRequired(Exception):
    """Raised by pages that need a signed-in coordinator; answered with a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class CsrfFailed(Exception):
    """A console form arrived without its CSRF token: 403, nothing changed."""


@dataclass(slots=True)
class Coordinator:
    user: User
    session: UserSession

    @property
    def csrf(self) -> str:
        return self.session.csrf

    @property
    def can_write(self) -> bool:
        return self.user.role != Role.observer

    @property
    def is_admin(self) -> bool:
        return self.user.role == Role.admin


def signed_in(request: Request, session: SessionDep) -> Coordinator:
    token = request.cookies.get(COOKIE)
    found = logins.session_user(session, token=token) if token else None
    if found is None:
        raise LoginRequired(str(request.url.path))
    user, user_session = found
    if logins.needs_touch(user_session):
        write_now(session, lambda _s: logins.touch(user_session))
    return Coordinator(user, user_session)


ConsoleUser = Annotated[Coordinator, Depends(signed_in, scope="function")]


def csrf_matches(expected: str | None, values: Mapping[str, str]) -> bool:
    """Whether a posted form carries the token its page was given (compared in constant time)."""
    if not expected:
        return False
    return same_secret(expected, values.get("csrf_token", ""))


async def checked_form(request: Request, me: ConsoleUser) -> dict[str, str]:
    """The posted form, only when it carries the signed-in coordinator's token; else 403.

    `me` is the handler's own ConsoleUser (FastAPI resolves it once per request). A form read
    another way (a file upload) checks its fields with `csrf_matches(me.csrf, ...)` itself.
    """
    values = await form_values(request)
    if not csrf_matches(me.csrf, values):
        raise CsrfFailed()
    return values


CheckedForm = Annotated[dict[str, str], Depends(checked_form)]


def page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    coordinator: Coordinator | None = None,
    status_code: int = 200,
) -> Response:
    flash = cookies.read_flash(request)
    context = {
        "me": coordinator,
        "csrf": coordinator.csrf if coordinator else "",
        "flash": flash,
        **context,
    }
    response = render(name, context, language="en", status_code=status_code)
    if flash:
        cookies.clear_flash(request, response)
    return response


def done(request: Request, url: str, message: str) -> Response:
    """Post/Redirect/Get with a one-time message."""
    response = RedirectResponse(url, status_code=303)
    cookies.flash(request, response, message)
    return response


def refusal_status(exc: DomainError) -> int:
    """The status a page shown again answers with: the refusal's own, else 422."""
    return exc.status if exc.status in (403, 404, 409, 422) else 422


def show_again(
    request: Request,
    session: Session,
    me: Coordinator,
    exc: DomainError,
    *,
    template: str,
    build: Callable[[], dict[str, Any]],
    status_code: int | None = None,
) -> Response:
    """The page again after a refused action, made by `build()` once nothing of it is kept.

    The request's changes are discarded first, so the page shows what is stored; it answers
    with `status_code`, or the refusal's own status (see refusal_status).
    """
    discard(session)
    status = status_code if status_code is not None else refusal_status(exc)
    return page(request, template, build(), coordinator=me, status_code=status)


def refused(
    request: Request,
    session: Session,
    me: Coordinator,
    study_id: int,
    exc: DomainError,
    *,
    template: str,
    build: Callable[[Session, Study], dict[str, Any]],
    form: str = "",
    typed: dict[str, str] | None = None,
) -> Response:
    """A study's page again after a refused action: the reason, and the form as it was typed.

    `build(session, study)` makes the page's context from the study as stored (show_again).
    """

    def context() -> dict[str, Any]:
        study = studies.study_for(session, user=me.user, study_id=study_id)
        return {**build(session, study), "error": exc.message, "failed": form, "typed": typed or {}}

    return show_again(request, session, me, exc, template=template, build=context)
