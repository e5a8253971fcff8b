"""What every console page needs: who is signed in, CSRF, rendering, redirects with a message."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from app.db import write_now
from app.http.deps import SessionDep
from app.models import Role, User, UserSession
from app.security import same_secret
from app.services import logins
from app.services.errors import DomainError
from app.templating import render
from app.web import session as cookies

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


def check_csrf(coordinator: Coordinator, values: dict[str, str]) -> None:
    if not same_secret(coordinator.csrf, values.get("csrf_token", "")):
        raise CsrfFailed()


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


def refused(
    request: Request,
    session: Any,
    me: Coordinator,
    study_id: int,
    exc: DomainError,
    *,
    template: str,
    build: Callable[[Any, Any], dict[str, Any]],
    form: str = "",
    typed: dict[str, str] | None = None,
) -> Response:
    """The same page again after a refused action: the reason, and the form as it was typed.

    `build(session, study)` makes the page's context; the transaction is rolled back first, so
    nothing of the refused action shows.
    """
    from app.services import studies

    session.rollback()
    study = studies.study_for(session, user=me.user, study_id=study_id)
    status = exc.status if exc.status in (403, 404, 409, 422) else 422
    context = {**build(session, study), "error": exc.message, "failed": form, "typed": typed or {}}
    return page(request, template, context, coordinator=me, status_code=status)
