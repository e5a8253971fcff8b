"""Signing in and out, personal API tokens, and accounts (for administrators)."""

import secrets
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from starlette.responses import Response

from app.http.deps import SessionDep
from app.models import Role
from app.services import accounts, logins
from app.services.errors import DomainError, Invalid, Throttled
from app.settings import get_settings
from app.web import session as cookies
from app.web.console.common import (
    COOKIE,
    CheckedForm,
    ConsoleUser,
    Coordinator,
    csrf_matches,
    done,
    page,
    show_again,
)
from app.web.console.forms import AccountForm, LoginForm, TokenForm, parse_form
from app.web.forms import FormValues

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "delphi_login_csrf"
# Set at a successful sign-in: this browser's failures are counted apart from a stranger's.
DEVICE_COOKIE = "delphi_device"
DEVICE_MAX_AGE = 90 * 24 * 3600  # renewed at each sign-in


def _safe_next(value: str | None) -> str:
    """Only same-site paths, so the login form cannot send anyone elsewhere."""
    if value and value.startswith("/console") and not value.startswith("//"):
        return value
    return "/console"


def _login_page(
    request: Request, *, error: str | None = None, email: str = "", status_code: int = 200
) -> Response:
    csrf = request.cookies.get(LOGIN_CSRF) or secrets.token_urlsafe(24)
    response = page(
        request,
        "console/login.html",
        {
            "login_csrf": csrf,
            "error": error,
            "email": email,
            "next": _safe_next(request.query_params.get("next")),
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF,
        csrf,
        httponly=True,
        samesite="strict",
        max_age=3600,
        secure=cookies.served_over_https(request),
    )
    return response


def _device_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt=DEVICE_COOKIE)


def _device(request: Request) -> logins.Device | None:
    """The browser's device cookie, if this server signed it and it is not too old."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        payload = _device_signer().loads(raw, max_age=DEVICE_MAX_AGE)
        return logins.Device(user_id=int(payload["u"]), key=str(payload["k"]))
    except (BadData, KeyError, TypeError, ValueError):
        return None


def _remember_device(request: Request, response: Response, device: logins.Device) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        _device_signer().dumps({"u": device.user_id, "k": device.key}),
        max_age=DEVICE_MAX_AGE,
        path="/login",  # sent with sign-ins only
        httponly=True,
        samesite="strict",
        secure=cookies.served_over_https(request),
    )


@router.get("/login")
def login_page(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login(request: Request, values: FormValues, session: SessionDep) -> Response:
    if not csrf_matches(request.cookies.get(LOGIN_CSRF), values):  # its own, kept in a cookie
        return _login_page(
            request, error="The form expired; please sign in again.", status_code=403
        )
    try:
        form = parse_form(LoginForm, values)
    except Invalid:
        return _login_page(
            request,
            error="Enter your e-mail address and password.",
            email=values.get("email", ""),
            status_code=422,
        )
    address = request.client.host if request.client else "unknown"
    try:
        signed = logins.sign_in(
            session,
            email=form.email,
            password=form.password,
            address=address,
            device=_device(request),
        )
    except Throttled as exc:
        response = _login_page(request, error=exc.message, email=form.email, status_code=429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except DomainError as exc:
        return _login_page(request, error=exc.message, email=form.email, status_code=401)
    response = RedirectResponse(_safe_next(values.get("next")), status_code=303)
    response.set_cookie(
        COOKIE,
        signed.token,
        httponly=True,
        samesite="lax",
        secure=cookies.served_over_https(request),
        max_age=7 * 24 * 3600,
    )
    _remember_device(request, response, signed.device)
    cookies.forget(request, response, LOGIN_CSRF)
    return response


@router.post("/logout")
def logout(request: Request, _form: CheckedForm, session: SessionDep) -> Response:
    """Sign out; CheckedForm lets only the signed-in coordinator's own form do it."""
    logins.sign_out(session, token=request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    cookies.forget(request, response, COOKIE)
    return response


@router.get("/console/tokens")
def tokens_page(request: Request, session: SessionDep, me: ConsoleUser) -> Response:
    return page(
        request,
        "console/tokens.html",
        {"tokens": accounts.api_tokens(session, user=me.user), "new_token": None},
        coordinator=me,
    )


@router.post("/console/tokens")
def create_token(
    request: Request, values: CheckedForm, session: SessionDep, me: ConsoleUser
) -> Response:
    label = parse_form(TokenForm, values).name()
    token = accounts.create_api_token(session, user=me.user, label=label)
    return page(
        request,
        "console/tokens.html",
        {"tokens": accounts.api_tokens(session, user=me.user), "new_token": token},
        coordinator=me,
        status_code=201,
    )


@router.post("/console/tokens/{token_id}/revoke")
def revoke_token(
    token_id: int, request: Request, _form: CheckedForm, session: SessionDep, me: ConsoleUser
) -> Response:
    accounts.revoke_api_token(session, user=me.user, token_id=token_id)
    return done(request, "/console/tokens", "The token is revoked; scripts using it stop working.")


@router.get("/console/accounts")
def accounts_page(request: Request, session: SessionDep, me: ConsoleUser) -> Response:
    if not me.is_admin:
        return _admins_only(request, me)
    return page(request, "console/accounts.html", _accounts(session), coordinator=me)


def _admins_only(request: Request, me: Coordinator) -> Response:
    return page(
        request,
        "console/message.html",
        {"title": "Administrators only", "text": "Ask an administrator for access."},
        coordinator=me,
        status_code=403,
    )


def _accounts(
    session: Session, *, error: str = "", typed: dict[str, str] | None = None
) -> dict[str, Any]:
    """The accounts page: every account, and the new-account form (as typed, when refused)."""
    errors = {"form": error} if error else {}
    return {
        "users": accounts.all_users(session),
        "roles": list(Role),
        "errors": errors,
        "typed": typed or {},
    }


@router.post("/console/accounts")
def create_account(
    request: Request, values: CheckedForm, session: SessionDep, me: ConsoleUser
) -> Response:
    if not me.is_admin:
        return _admins_only(request, me)
    try:
        form = parse_form(AccountForm, values)
        accounts.create_user(
            session,
            email=form.email,
            password=form.password,
            role=form.chosen_role(),
            name=form.shown_name(),
        )
    except DomainError as exc:
        typed = {k: v for k, v in values.items() if k != "password"}
        context = partial(_accounts, session, error=exc.message, typed=typed)
        return show_again(
            request,
            session,
            me,
            exc,
            template="console/accounts.html",
            build=context,
            status_code=422,
        )
    return done(request, "/console/accounts", f"Account created for {values.get('email')}.")
