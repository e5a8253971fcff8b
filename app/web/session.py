"""The panelist's browser session: a signed, httponly cookie bound to their current link token.

The cookie holds the panelist's id, a fingerprint of their token hash (so re-issuing or revoking
the link ends every session made with it), a CSRF secret and the chosen language. It is signed
with the server's secret; nothing in it is confidential.
"""

import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from app.security import same_secret
from app.settings import get_settings

COOKIE = "delphi_panel"
FLASH_COOKIE = "delphi_flash"
MAX_AGE = 60 * 60 * 24 * 30  # a round rarely lasts longer than a month


@dataclass(frozen=True, slots=True)
class PanelSession:
    panelist_id: int
    binding: str  # the keyed hash of the link that opened the session (not the token)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    language: str | None = None

    def with_language(self, language: str) -> "PanelSession":
        return replace(self, language=language)


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(get_settings().secret_key, salt=salt)


def read(request: Request) -> PanelSession | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        payload: dict[str, Any] = _serializer(COOKIE).loads(raw, max_age=MAX_AGE)
        return PanelSession(
            panelist_id=int(payload["p"]),
            binding=str(payload["b"]),
            csrf=str(payload["c"]),
            language=payload.get("l"),
        )
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


def served_over_https(request: Request) -> bool:
    """Cookies are Secure for an https request, or for an https site behind a TLS proxy."""
    return request.url.scheme == "https" or get_settings().base_url.startswith("https://")


def write(request: Request, response: Response, panel_session: PanelSession) -> None:
    payload = {
        "p": panel_session.panelist_id,
        "b": panel_session.binding,
        "c": panel_session.csrf,
        "l": panel_session.language,
    }
    response.set_cookie(
        COOKIE,
        _serializer(COOKIE).dumps(payload),
        max_age=MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=served_over_https(request),
        path="/",
    )


def flash(request: Request, response: Response, message: str) -> None:
    """A one-time message shown after a redirect (Post/Redirect/Get)."""
    response.set_cookie(
        FLASH_COOKIE,
        _serializer(FLASH_COOKIE).dumps(message),
        max_age=120,
        httponly=True,
        samesite="lax",
        secure=served_over_https(request),
        path="/",
    )


def read_flash(request: Request) -> str | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        return str(_serializer(FLASH_COOKIE).loads(raw, max_age=120))
    except BadSignature:
        return None


def clear_flash(request: Request, response: Response) -> None:
    forget(request, response, FLASH_COOKIE)


def forget(request: Request, response: Response, name: str) -> None:
    """Delete a cookie with the flags every cookie here carries (httponly, same-site, secure)."""
    response.delete_cookie(
        name, path="/", secure=served_over_https(request), httponly=True, samesite="lax"
    )


def csrf_ok(panel_session: PanelSession | None, submitted: str | None) -> bool:
    if panel_session is None or not submitted:
        return False
    return same_secret(panel_session.csrf, submitted)
