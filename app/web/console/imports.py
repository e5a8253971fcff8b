"""Importing statements and panelists from CSV or XLSX: preview with row errors, then import."""

import base64
import binascii
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from app.http.deps import SessionDep
from app.http.paths import PathId
from app.services import evidence_import, import_limits, panelist_import, statement_import, studies
from app.services.errors import DomainError, Invalid
from app.settings import get_settings
from app.web.console.common import (
    ConsoleUser,
    CsrfFailed,
    csrf_matches,
    done,
    page,
    show_again,
)

router = APIRouter(include_in_schema=False)
KINDS = {"statements": "Statements", "panelists": "Panelists", "evidence": "Evidence sources"}
PREVIEWS: dict[str, Any] = {
    "statements": statement_import.preview_statements,
    "panelists": panelist_import.preview_panelists,
    "evidence": evidence_import.preview_sources,
}
IMPORTERS: dict[str, Any] = {
    "statements": statement_import.import_statements,
    "panelists": panelist_import.import_panelists,
    "evidence": evidence_import.import_sources,
}


@dataclass(frozen=True, slots=True)
class Upload:
    """An import form as posted: whether to import or preview, and the file's name and bytes."""

    action: str
    filename: str
    content: bytes | None


async def upload(request: Request, me: ConsoleUser) -> Upload:
    """The uploaded (or carried-back) file, only when the form carries the coordinator's token."""
    # The confirm step carries the file back in a field (base64): the upload limit bounds it.
    most = get_settings().max_upload_bytes
    form = await request.form(max_files=1, max_fields=20, max_part_size=most)
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    if not csrf_matches(me.csrf, values):
        raise CsrfFailed()
    action = values.get("action", "")
    file = form.get("file")
    if isinstance(file, UploadFile) and file.filename:
        return Upload(action, file.filename, await file.read(import_limits.max_file_bytes() + 1))
    try:
        carried = base64.b64decode(values.get("content", ""), validate=True)
    except (binascii.Error, ValueError):
        carried = b""
    return Upload(action, values.get("filename", ""), carried or None)


CheckedUpload = Annotated[Upload, Depends(upload)]


@router.get("/console/studies/{study_id}/import")
def import_page(
    study_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    return page(request, "console/import.html", {"study": study, "kinds": KINDS}, coordinator=me)


@router.post("/console/studies/{study_id}/import/{kind}")
def import_file(
    study_id: PathId,
    kind: str,
    request: Request,
    sent: CheckedUpload,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    filename, content = sent.filename, sent.content
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    context = {"study": study, "kinds": KINDS, "kind": kind, "filename": filename}
    unread = _unreadable(kind, filename, content)
    if unread is not None or content is None:
        said, status = unread or ({}, 422)
        return page(
            request, "console/import.html", {**context, **said}, coordinator=me, status_code=status
        )
    try:
        if sent.action != "import":
            preview = PREVIEWS[kind](session, study=study, filename=filename, content=content)
            return page(
                request,
                "console/import_preview.html",
                {
                    **context,
                    "preview": preview,
                    "content": base64.b64encode(content).decode("ascii"),
                },
                coordinator=me,
                status_code=200 if preview.ok else 422,
            )
        made = IMPORTERS[kind](
            session, actor=me.user, study=study, filename=filename, content=content
        )
    except DomainError as exc:
        shown, status = _refused(exc)
        return show_again(
            request,
            session,
            me,
            exc,
            template="console/import.html",
            build=lambda: {**context, **shown},
            status_code=status,
        )
    if kind == "panelists" and made:
        return page(
            request,
            "console/import_links.html",
            {"study": study, "invitations": made},
            coordinator=me,
            status_code=201,
        )
    return done(
        request, f"/console/studies/{study.id}", f"Imported {len(made)} {kind} from {filename}."
    )


def _unreadable(
    kind: str, filename: str, content: bytes | None
) -> tuple[dict[str, Any], int] | None:
    """What the page says, and its status, when there is nothing to read: no such kind of import,
    no file, or one larger than any import may read; None when the file can be read."""
    if kind not in KINDS:
        return {"error": "Choose statements or panelists."}, 404
    if content is None or len(content) > import_limits.max_file_bytes():
        return _no_file(filename, content), 422
    return None


def _no_file(filename: str, content: bytes | None) -> dict[str, Any]:
    """What the page says when no file came, or one larger than any import may read."""
    if content is None:
        return {"error": "Choose a file to import."}
    return {
        "refusal": import_limits.Refused(
            import_limits.FILE_SIZE,
            name=filename,
            limit=f"{import_limits.max_file_bytes() // 1000:,}",
        )
    }


def _refused(exc: DomainError) -> tuple[dict[str, Any], int]:
    """What the page says about a file the import refused, and the status it answers with."""
    if isinstance(exc, import_limits.Refused):  # catalogued: the page says it in its language
        return {"refusal": exc}, 422
    if isinstance(exc, Invalid):
        return {"error": exc.message, "row_errors": exc.errors}, 422
    return {"error": exc.message}, exc.status
