"""Importing statements and panelists from CSV or XLSX: preview with row errors, then import."""

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile
from starlette.responses import Response

from app.api import schemas
from app.api.deps import SessionDep
from app.services import evidence_import, import_limits, imports, studies
from app.services.errors import DomainError, Invalid
from app.web.console.common import ConsoleUser, check_csrf, done, page

router = APIRouter(include_in_schema=False)
KINDS = {"statements": "Statements", "panelists": "Panelists", "evidence": "Evidence sources"}
MAX_FILE = import_limits.MAX_FILE_BYTES


async def upload(request: Request) -> tuple[dict[str, str], str, bytes | None]:
    """The form's text fields, and the uploaded (or carried-back) file's name and bytes."""
    form = await request.form(max_files=1, max_fields=20)
    values = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    file = form.get("file")
    if isinstance(file, UploadFile) and file.filename:
        return values, file.filename, await file.read(MAX_FILE + 1)
    try:
        carried = base64.b64decode(values.get("content", ""), validate=True)
    except (binascii.Error, ValueError):
        carried = b""
    return values, values.get("filename", ""), carried or None


Upload = Annotated[tuple[dict[str, str], str, bytes | None], Depends(upload)]


@router.get("/console/studies/{study_id}/import")
def import_page(
    study_id: schemas.PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    return page(request, "console/import.html", {"study": study, "kinds": KINDS}, coordinator=me)


@router.post("/console/studies/{study_id}/import/{kind}")
def import_file(
    study_id: schemas.PathId,
    kind: str,
    request: Request,
    sent: Upload,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    values, filename, content = sent
    check_csrf(me, values)
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    context = {"study": study, "kinds": KINDS, "kind": kind, "filename": filename}
    if kind not in KINDS:
        return page(
            request,
            "console/import.html",
            {**context, "error": "Choose statements or panelists."},
            coordinator=me,
            status_code=404,
        )
    if content is None or len(content) > MAX_FILE:
        shown = (
            {"error": "Choose a file to import."}
            if content is None
            else {
                "refusal": import_limits.Refused(
                    import_limits.FILE_SIZE, name=filename, limit=f"{MAX_FILE // 1000:,}"
                )
            }
        )
        return page(
            request, "console/import.html", {**context, **shown}, coordinator=me, status_code=422
        )
    preview_of: Any = {
        "statements": imports.preview_statements,
        "panelists": imports.preview_panelists,
        "evidence": evidence_import.preview_sources,
    }[kind]
    importer: Any = {
        "statements": imports.import_statements,
        "panelists": imports.import_panelists,
        "evidence": evidence_import.import_sources,
    }[kind]
    try:
        if values.get("action") != "import":
            preview = preview_of(session, study=study, filename=filename, content=content)
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
        made = importer(session, actor=me.user, study=study, filename=filename, content=content)
    except Invalid as exc:
        session.rollback()
        refused = (  # a limit's sentence is catalogued: the page shows it in its own language
            {"refusal": exc}
            if isinstance(exc, import_limits.Refused)
            else {"error": exc.message, "row_errors": exc.errors}
        )
        return page(
            request, "console/import.html", {**context, **refused}, coordinator=me, status_code=422
        )
    except DomainError as exc:
        session.rollback()
        return page(
            request,
            "console/import.html",
            {**context, "error": exc.message},
            coordinator=me,
            status_code=exc.status,
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
