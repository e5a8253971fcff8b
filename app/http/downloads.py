"""Exports and the consensus report as HTTP answers, shared by the API and the console.

Each export is recorded in the audit log in the request's transaction, which commits before the
body starts; the body then streams from a read transaction of its own (app.reports.exports),
whose first piece is read before the answer starts, so a database that does not answer then is
a 503 (app.web.unavailable), not a 200 cut off. A download's source (that transaction, or a
copy's file) is closed when the answer ends, also when the client left before it began.
The workbook and the report are heavy work: made once per state of the study (and language) in
one of a few slots, then served from that copy until the study changes (app.reports.cache), or
429 with Retry-After when the slots stay taken (app.heavy); each is audited once it is ready,
also when it was found ready.
"""

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app import heavy
from app.db import write_now
from app.models import Study, User, utcnow
from app.reports import cache, export_csv, export_json, export_xlsx, exports, report
from app.services import studies


@dataclass(frozen=True, slots=True)
class Export:
    what: str  # in the file name
    extension: str
    media_type: str
    body: Callable[..., Iterator[bytes]]


EXPORTS = {
    "csv": Export("ratings", "csv", "text/csv; charset=utf-8", export_csv.ratings_csv),
    "xlsx": Export(
        "data",
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        export_xlsx.xlsx,
    ),
    "json": Export("data", "json", "application/json", export_json.json_document),
    "panel": Export("panel-identities", "csv", "text/csv; charset=utf-8", export_csv.panel_csv),
    "audit": Export("audit-log", "csv", "text/csv; charset=utf-8", export_csv.audit_csv),
}


class Download(StreamingResponse):
    """A streamed attachment whose source is closed when the answer ends, however it ends."""

    def __init__(self, content: Iterator[bytes], *, close: Callable[[], Any], **kwargs: Any):
        super().__init__(content, **kwargs)
        self._close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(self._close)


def download(
    session: Session, *, actor: User, study: Study, kind: str, via: str, request: Request
) -> Response:
    """Audit the export, then stream it as an attachment (shared with the console)."""
    export = EXPORTS[kind]
    name = exports.filename(study, export.what, export.extension, on=utcnow())
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
    }
    if kind != "xlsx":
        write_now(
            session,
            lambda s: exports.record_export(s, actor=actor, study=study, kind=kind, via=via),
        )
        body = export.body(study_id=study.id)
        first = next(body, b"")  # its read transaction answers now: else a 503, not a cut 200
        close = body.close if isinstance(body, Generator) else lambda: None  # ends the reading
        return Download(
            chain((first,), body), close=close, media_type=export.media_type, headers=headers
        )
    copy = _audited_copy(
        request,
        session,
        study=study,
        kind="export.xlsx",
        language="any",
        record=lambda s: exports.record_export(s, actor=actor, study=study, kind=kind, via=via),
    )
    if isinstance(copy, Response):
        return copy
    headers["Content-Length"] = str(copy.size)
    return Download(
        copy.chunks(), close=copy.file.close, media_type=export.media_type, headers=headers
    )


def report_response(
    request: Request, session: Session, *, user: User, study_id: int, lang: str, kind: str
) -> Response:
    """Check access (404 for others' studies), find or make the copy, audit it, answer with it."""
    language = report.language_of(lang)
    study = studies.study_for(session, user=user, study_id=study_id)
    copy = _audited_copy(
        request,
        session,
        study=study,
        kind=f"report.{kind}",
        language=language,
        record=lambda s: report.record(s, actor=user, study=study, language=language, kind=kind),
    )
    if isinstance(copy, Response):
        return copy
    if kind == "html":
        csp = report.RenderedReport(html="", style_hash=copy.meta["style_hash"]).csp
        return Response(
            copy.read(),
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": csp},
        )
    name = f"delphi-report-study-{study.id}-{language}.pdf"
    return Response(
        copy.read(),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"'},
    )


def _audited_copy(
    request: Request,
    session: Session,
    *,
    study: Study,
    kind: str,
    language: str,
    record: Callable[[Session], None],
) -> cache.Copy | Response:
    """The ready or newly made copy, audited once; or the 429 when every heavy slot is taken."""
    session.commit()  # nothing to commit: its connection goes back to the pool meanwhile
    try:
        copy = cache.copy_of(
            study_id=study.id,
            kind=kind,
            language=language,
            deadline=heavy.deadline_of(request.state),
            may_make=heavy.may_make(request.state),
        )
    except heavy.Busy as busy:
        return heavy.busy_response(request.url.path, busy.retry_after)
    try:
        write_now(session, record)
    except BaseException:
        copy.file.close()
        raise
    return copy
