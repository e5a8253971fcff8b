"""Signing in and out, personal API tokens, and accounts (for administrators)."""

import secrets

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadData, URLSafeTimedSerializer
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import Response

from app.http.deps import SessionDep
from app.models import Role
from app.security import same_secret
from app.services import accounts, logins
from app.services.errors import DomainError, Throttled
from app.settings import get_settings
from app.web import session as cookies
from app.web.console.common import COOKIE, ConsoleUser, check_csrf, done, page
from app.web.forms import FormValues

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "delphi_login_csrf"
# Set at a successful sign-in: this browser's failures are counted apart from a stranger's.
DEVICE_COOKIE = "delphi_device"
DEVICE_MAX_AGE = 90 * 24 * 3600  # renewed at each sign-in


class LoginForm(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1_000)


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
    expected = request.cookies.get(LOGIN_CSRF)
    if not expected or not same_secret(expected, values.get("csrf_token", "")):
        return _login_page(
            request, error="The form expired; please sign in again.", status_code=403
        )
    try:
        form = LoginForm.model_validate(values)
    except ValidationError:
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
def logout(request: Request, values: FormValues, session: SessionDep, me: ConsoleUser) -> Response:
    check_csrf(me, values)
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
    request: Request, values: FormValues, session: SessionDep, me: ConsoleUser
) -> Response:
    check_csrf(me, values)
    label = values.get("label", "").strip()[:200] or "console"
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
    token_id: int, request: Request, values: FormValues, session: SessionDep, me: ConsoleUser
) -> Response:
    check_csrf(me, values)
    accounts.revoke_api_token(session, user=me.user, token_id=token_id)
    return done(request, "/console/tokens", "The token is revoked; scripts using it stop working.")


@router.get("/console/accounts")
def accounts_page(request: Request, session: SessionDep, me: ConsoleUser) -> Response:
    if not me.is_admin:
        return page(
            request,
            "console/message.html",
            {"title": "Administrators only", "text": "Ask an administrator for access."},
            coordinator=me,
            status_code=403,
        )
    return page(
        request,
        "console/accounts.html",
        {"users": accounts.all_users(session), "roles": list(Role), "errors": {}, "typed": {}},
        coordinator=me,
    )


@router.post("/console/accounts")
def create_account(
    request: Request, values: FormValues, session: SessionDep, me: ConsoleUser
) -> Response:
    check_csrf(me, values)
    if not me.is_admin:
        return page(
            request,
            "console/message.html",
            {"title": "Administrators only", "text": "Ask an administrator for access."},
            coordinator=me,
            status_code=403,
        )
    role = values.get("role", "coordinator")
    try:
        accounts.create_user(
            session,
            email=values.get("email", ""),
            password=values.get("password", ""),
            role=Role(role) if role in Role.__members__ else Role.coordinator,
            name=values.get("name", "")[:200],
        )
    except DomainError as exc:
        session.rollback()
        return page(
            request,
            "console/accounts.html",
            {
                "users": accounts.all_users(session),
                "roles": list(Role),
                "errors": {"form": exc.message},
                "typed": {k: v for k, v in values.items() if k != "password"},
            },
            coordinator=me,
            status_code=422,
        )
    return done(request, "/console/accounts", f"Account created for {values.get('email')}.")
