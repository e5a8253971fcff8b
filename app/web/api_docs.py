"""The API's interactive docs served from this server: hospital networks often block CDNs.

Swagger UI and ReDoc come from a packaged dependency (fastapi-standalone-docs ships their built
files); we only use its files, not its patching of FastAPI.
"""

from pathlib import Path

import fastapi_standalone_docs
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS = Path(fastapi_standalone_docs.__file__).resolve().parent / "static"
DOCS = "/docs"
REDOC = "/redoc"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"
FAVICON = "/static/favicon.svg"


def serve_api_docs(app: FastAPI) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, every file from this server."""
    app.mount(f"{DOCS}/assets", StaticFiles(directory=ASSETS / "swagger"), name="docs-assets")
    app.mount(f"{REDOC}/assets", StaticFiles(directory=ASSETS / "redoc"), name="redoc-assets")
    title = app.title

    @app.get(DOCS, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} · API",
            oauth2_redirect_url=OAUTH2_REDIRECT,
            swagger_js_url=f"{DOCS}/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS}/assets/swagger-ui.css",
            swagger_favicon_url=FAVICON,
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} · API",
            redoc_js_url=f"{REDOC}/assets/redoc.standalone.js",
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )
