"""Structured logs: one JSON object per line, with secrets and identities redacted before writing.

Panelist tokens travel in `/p/<token>` paths and bearer headers, so the server's own access log
(uvicorn's and gunicorn's print the raw request line, query string included) is switched off and
replaced by `AccessLog`, which logs the method, the path with secrets cut out, the status and the
duration. Every line, whoever logged it, passes through `redact` as a last line of defence.
"""

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REDACTED = "[redacted]"
_SECRETS = [
    # A personal link's token, in a path or a whole URL.
    (re.compile(r"/p/[^/\s?#\"'<>]+"), "/p/" + REDACTED),
    # Panelist (dp_) and coordinator (dc_) tokens wherever they appear.
    (re.compile(r"\b(d[pc])_[A-Za-z0-9_\-]{8,}"), r"\1_" + REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), r"\1 " + REDACTED),
    (re.compile(r"(?i)(password|passwd|secret|cookie)([\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,&;]+)"),
     r"\1\2" + REDACTED),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
]  # fmt: skip
# Probes polled every few seconds would drown the requests that matter; they log at DEBUG.
QUIET_PATHS = {"/healthz", "/readyz"}
# Standard record fields, and uvicorn's copy of its message with terminal colours.
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "color_message",
}


def redact(text: str) -> str:
    """Cut tokens, credentials and e-mail addresses out of a line before it is written."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, any `extra=` fields, and the traceback, as one JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                line[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=lambda v: redact(str(v)))


class JsonHandler(logging.StreamHandler[TextIO]):
    """Ours, so that configuring again replaces it and leaves other handlers (pytest's) alone."""


def logging_config(level: str) -> dict[str, Any]:
    """The same set-up as a dictConfig, for gunicorn's master process (gunicorn.conf.py)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"json": {"class": "app.logs.JsonHandler", "formatter": "json"}},
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"handlers": [], "propagate": True},
            "gunicorn.access": {"handlers": [], "propagate": False},
        },
    }


def configure_logging(level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Send every logger's records to one JSON handler; silence the raw access logs."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, JsonHandler)]:
        root.removeHandler(handler)
    handler = JsonHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
    logging.getLogger("alembic").setLevel(max(root.level, logging.WARNING))  # /readyz's reads
    for name in ("uvicorn.access", "gunicorn.access"):
        raw = logging.getLogger(name)
        raw.handlers.clear()
        raw.propagate = False
        raw.disabled = True


access_log = logging.getLogger("delphi.access")


class AccessLog:
    """One line per request: method, path without query string or secrets, status, duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            path = redact(scope["path"])
            access_log.log(
                logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO,
                "%s %s %s",
                scope["method"],
                path,
                status,
                extra={
                    "method": scope["method"],
                    "path": path,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
