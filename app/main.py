"""The application factory: routers, middleware and the mapping of domain errors to HTTP."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import heavy
from app.api import ballot, evidence, health, rounds, studies
from app.api import corrections as api_corrections
from app.api import exports as api_exports
from app.api import reports as api_reports
from app.logs import AccessLog, configure_logging
from app.middleware import Admission, BodyLimit
from app.scheduler import tick_forever
from app.services.errors import DomainError, Unauthorized
from app.settings import get_settings
from app.templating import render
from app.web import home, panel
from app.web.api_docs import serve_api_docs
from app.web.console import auth as console_auth
from app.web.console import corrections as console_corrections
from app.web.console import evidence as console_evidence
from app.web.console import exports as console_exports
from app.web.console import grading as console_grading
from app.web.console import imports as console_imports
from app.web.console import mail as console_mail
from app.web.console import panel as console_panel
from app.web.console import reports as console_reports
from app.web.console import rounds as console_rounds
from app.web.console import studies as console_studies
from app.web.console.common import CsrfFailed, LoginRequired
from app.web.headers import SecurityHeaders
from app.web.limits import limit_page
from app.web.unavailable import answer_outages

STATIC = Path(__file__).resolve().parent / "web" / "static"


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:  # noqa: ARG001 (FastAPI's lifespan signature)
    interval = get_settings().tick_seconds
    ticker = asyncio.create_task(tick_forever(interval)) if interval > 0 else None
    yield
    if ticker is not None:
        ticker.cancel()
    heavy.stop_render_processes()


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        lifespan=_lifespan,
        title="Delphi consensus platform",
        version="1",
        description="Run anonymous multi-round Delphi studies and grade their recommendations.",
        docs_url=None,  # served from this server, not a CDN: app/web/api_docs.py
        redoc_url=None,
    )
    app.include_router(home.router)
    serve_api_docs(app)
    app.include_router(health.router)
    app.include_router(studies.router)
    app.include_router(rounds.router)
    app.include_router(ballot.router)
    app.include_router(evidence.router)
    app.include_router(api_corrections.router)
    app.include_router(panel.router)
    app.include_router(console_auth.router)
    app.include_router(console_studies.router)
    app.include_router(console_panel.router)
    app.include_router(console_rounds.router)
    app.include_router(console_imports.router)
    app.include_router(console_mail.router)
    app.include_router(console_evidence.router)
    app.include_router(console_corrections.router)
    app.include_router(console_grading.router)
    app.include_router(api_exports.router)
    app.include_router(console_exports.router)
    app.include_router(api_reports.router)
    app.include_router(console_reports.router)
    app.add_exception_handler(LoginRequired, _login_required)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfFailed, _csrf_failed)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, _integrity_error)  # type: ignore[arg-type]
    answer_outages(app)  # 503 with Retry-After while the database does not answer
    # Outermost last: bodies are read (with a time limit) before a request takes an admission slot.
    app.add_middleware(Admission, limit=settings.max_inflight_requests)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        upload_bytes=settings.max_upload_bytes,
        page=limit_page,
    )
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog)
    # Outermost: below it, a request's client is the right-most X-Forwarded-For entry that is not
    # a trusted proxy (entries a client writes itself sit further left), or the peer itself.
    # The app, not the server, applies this: `delphi serve` and gunicorn.conf.py turn theirs off.
    if settings.proxy_networks:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxy_networks)

    return app


async def _login_required(request: Request, exc: LoginRequired) -> Response:  # noqa: ARG001 (Starlette's handler signature)
    from urllib.parse import quote

    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)


async def _csrf_failed(request: Request, exc: CsrfFailed) -> Response:  # noqa: ARG001 (Starlette's handler signature)
    return render(
        "console/message.html",
        {
            "title": "This form has expired",
            "text": "Nothing was changed. Go back, reload the page and try again.",
        },
        language="en",
        status_code=403,
    )


async def _domain_error(request: Request, exc: DomainError) -> Response:
    if request.url.path.startswith("/console"):
        return render(
            "console/message.html",
            {"title": "That did not work", "text": exc.message},
            language="en",
            status_code=exc.status,
        )
    body: dict[str, object] = {"detail": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def _integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:  # noqa: ARG001 (Starlette's handler signature)
    """A constraint caught two changes racing; the transaction was rolled back whole."""
    return JSONResponse(
        {
            "detail": "This change clashed with another made at the same moment; nothing was "
            "saved. Reload and try again."
        },
        status_code=409,
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    if request.url.path.startswith("/console"):
        return render(
            "console/message.html",
            {"title": "Page not found", "text": "That address does not name a page here."},
            language="en",
            status_code=404,
        )
    errors = exc.errors()
    broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if broken is not None:
        reason = broken.get("ctx", {}).get("error", "")
        return JSONResponse(
            {"detail": f"The request body is not valid JSON ({reason}). Check quotes and commas."},
            status_code=400,
        )
    # The echoed input can be NaN, a huge number or bad Unicode: never send it back.
    cleaned = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in errors]
    return JSONResponse({"detail": jsonable_encoder(cleaned)}, status_code=422)
