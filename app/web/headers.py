"""Security headers on every response: no framing, no sniffing, no inline script, no referrer."""

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The interactive API docs (Swagger UI, ReDoc: app/web/api_docs.py) start with an inline script
# and style and load every file from this server; they carry no panelist data.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
log = logging.getLogger("delphi.errors")
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]

# Pages and API answers hold ballots, results, personal links and tokens: no browser or proxy
# keeps a copy (a shared ward computer's back button, a proxy's cache). Static files may be kept.
NO_STORE = (b"cache-control", b"no-store")

# An unexpected error's answer, written here rather than rendered: the templates may be what failed.
CRASH_PAGE = (
    '<!doctype html><html><head><meta charset="utf-8"><title>Something went wrong</title>'
    "</head><body><h1>Something went wrong on our side</h1><p>Please try again in a moment. If it "
    'happens again, tell the study\'s coordinator.</p><p lang="zh-Hans">服务器出错了，请稍后再试。'
    "如果问题仍然存在，请联系研究协调员。</p></body></html>"
).encode()
CRASH_DETAIL = json.dumps(
    {"detail": "Something went wrong on our side; nothing more is known. Try again in a moment."}
).encode()


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] in ("/docs", "/redoc") else CSP
        static = scope["path"].startswith("/static/")

        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in HEADERS if k not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", csp.encode()))
                if b"cache-control" not in present and not static:
                    headers.append(NO_STORE)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception:
            if started:  # the answer is cut short: the server must close the connection
                raise
            # Answered and logged here, so an unexpected error's 500 carries the headers too.
            # Not re-raised: a server that sees an error after the answer began closes the
            # connection under it, and the client's next request on it (kept alive, as the
            # 500 promised) would be reset. This answer is whole, so the connection stays usable.
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            api = scope["path"].startswith("/api/")
            body = CRASH_DETAIL if api else CRASH_PAGE
            kind = b"application/json" if api else b"text/html; charset=utf-8"
            await with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", kind),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
