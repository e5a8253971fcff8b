"""ASGI middleware: caps on request bodies and on requests in flight, so none exhausts a server."""

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app import heavy
from app.settings import get_settings

BODY_METHODS = {"POST", "PUT", "PATCH"}


# Routes that take an uploaded file, with their own body limit (settings.max_upload_bytes).
UPLOADS = re.compile(r"/console/studies/\d+/import/[^/]+")

# The page a person at a form gets instead of a bare refusal: made from the request's scope, its
# status, the limit crossed (bytes; None for a body that arrived too slowly) and whether it was
# an upload. app.main passes the web layer's (app.web.limits.limit_page).
LimitPage = Callable[[Scope, int, int | None, bool], Response]


class BodyLimit:
    """Reads every request body whole, up to a limit and a time, before the app sees it."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        read_timeout: float = 30.0,
        upload_bytes: int | None = None,
        page: LimitPage | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = max_bytes if upload_bytes is None else upload_bytes
        self.read_timeout = read_timeout
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        upload = UPLOADS.fullmatch(scope["path"]) is not None
        limit = self.upload_bytes if upload else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, send, limit, upload=upload)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), timeout=self.read_timeout)
            except TimeoutError:
                detail = "The request body arrived too slowly; try again."
                await self._reply(scope, send, 408, detail, limit=None, upload=upload)
                return
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._too_large(scope, send, limit, upload=upload)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, send: Send, limit: int, *, upload: bool) -> None:
        detail = (
            f"The request body is larger than {limit / 1_000_000:g} MB; send less in one request."
        )
        await self._reply(scope, send, 413, detail, limit=limit, upload=upload)

    async def _reply(
        self,
        scope: Scope,
        send: Send,
        status: int,
        detail: str,
        *,
        limit: int | None,
        upload: bool,
    ) -> None:
        """JSON for the API; for a person at a form, the app's page in their language."""
        if self.page is not None and not scope["path"].startswith("/api/"):
            response = self.page(scope, status, limit, upload)
        else:
            response = JSONResponse({"detail": detail}, status_code=status)
        response.headers["connection"] = "close"  # the rest of the body is never read

        async def nothing() -> Any:
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)


class Admission:
    """Caps requests in flight, so a request holding a connection or a lock always finds a thread.

    Sync endpoints and their dependencies run in the threadpool one hop at a time; if every
    thread were blocked waiting for a connection or SQLite's write lock, the requests holding
    them could never take their next hop. Admitting fewer requests than there are threads and
    pooled connections rules that out; the rest wait here without holding anything.

    Reports and workbooks (app.heavy) pass gates of their own, each `heavy_slots` wide, and
    never the general one: a burst of them cannot keep a ballot waiting. The first pass, through
    the lookup gate, serves a copy that is ready; a copy that must be made (NotMade) sends the
    request round again through the making gate, so a ready copy never waits behind renders.
    They wait in line up to `heavy_wait_seconds` after arriving (the route waits for a render
    slot until the same moment), then get 429 with Retry-After; a render stopped at its time
    limit gets 503.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        heavy_limit: int | None = None,
        heavy_wait: float | None = None,
    ) -> None:
        settings = get_settings()
        self.app = app
        self.limit = limit
        self.heavy_limit = settings.heavy_slots if heavy_limit is None else heavy_limit
        self.heavy_wait = settings.heavy_wait_seconds if heavy_wait is None else heavy_wait
        self._gate: asyncio.Semaphore | None = None
        self._looking: asyncio.Semaphore | None = None
        self._making: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The probes never wait behind the gate (/readyz uses its own connection: app.api.health).
        if scope["type"] != "http" or scope["path"] in ("/healthz", "/readyz"):
            await self.app(scope, receive, send)
            return
        if heavy.is_heavy(scope["path"]):
            await self._heavy(scope, receive, send)
            return
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.limit)
        async with self._gate:
            await self.app(scope, receive, send)

    async def _heavy(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._looking is None or self._making is None:
            self._looking = asyncio.Semaphore(self.heavy_limit)
            self._making = asyncio.Semaphore(self.heavy_limit)
        deadline = time.monotonic() + self.heavy_wait
        state = scope.setdefault("state", {})
        state["heavy_deadline"] = deadline
        state["heavy_may_make"] = False
        try:
            await self._through(self._looking, deadline, scope, receive, send)
            return
        except heavy.NotMade:  # answered nothing, read no body (GET): it goes round again
            pass
        state["heavy_may_make"] = True
        await self._through(self._making, deadline, scope, receive, send)

    async def _through(
        self, gate: asyncio.Semaphore, deadline: float, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """The app, once `gate` lets the request in before `deadline` (else 429)."""
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await gate.acquire()
        except TimeoutError:
            await heavy.busy_response(scope["path"])(scope, receive, send)
            return
        try:
            await self.app(dict(scope), receive, send)  # the router writes into its scope
        except heavy.Stopped as stopped:
            await heavy.stopped_response(scope["path"], stopped)(scope, receive, send)
        finally:
            gate.release()
