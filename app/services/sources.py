"""Correcting the evidence library: a source rewritten or taken out, until the study is final."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.consensus.levels import check_pooled_levels
from app.consensus.sources import Source
from app.models import EvidenceLink, EvidenceSource, Statement, Study, User
from app.services import audit, text
from app.services.errors import Invalid
from app.services.evidence import MAX_CITATION
from app.services.studies import ensure_writable

# The fields a source is written with (SourceCreate's, its links aside), as an edit audits them.
FIELDS = (
    "citation",
    "doi",
    "pmid",
    "design",
    "pedro",
    "pedro_items",
    "amstar2",
    "amstar_score",
    "pooled_levels",
    "illustrative",
)


def _checked(study: Study, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as a new source would be stored, once its appraisal fits its design."""
    citation = str(fields.get("citation") or "")
    text.checked(citation, what="The citation", limit=MAX_CITATION)
    for name, limit in (("doi", 200), ("pmid", 20)):  # the widths of the columns in app.models
        if fields.get(name):
            text.checked(fields[name], what=f"The {name.upper()}", limit=limit)
    values: dict[str, Any] = {name: fields.get(name) for name in FIELDS}
    values["citation"] = citation.strip()
    values["pooled_levels"] = list(fields.get("pooled_levels") or [])
    values["illustrative"] = bool(fields.get("illustrative"))
    if not values["citation"]:
        raise Invalid("Give the source's citation (e.g. 'Smith 2019, J Pain Res').")
    try:
        source = Source(
            id=0,
            citation=values["citation"],
            design=values["design"],
            pedro=values["pedro"],
            pedro_items=(
                tuple(values["pedro_items"]) if values["pedro_items"] is not None else None
            ),
            amstar2=values["amstar2"],
            amstar_score=values["amstar_score"],
            pooled_levels=tuple(values["pooled_levels"]),
        )  # the constructor validates
        check_pooled_levels(source, study.evidence_scheme)  # type: ignore[arg-type]
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    return values


def _statement_ids(session: Session, study: Study, ids: Sequence[int]) -> list[int]:
    wanted = sorted(set(ids))
    query = select(Statement.id).where(Statement.study_id == study.id, Statement.id.in_(wanted))
    missing = [str(i) for i in sorted(set(wanted) - set(session.scalars(query)))]
    if missing:
        raise Invalid(f"Statement(s) {', '.join(missing)} are not in this study.")
    return wanted


def linked(session: Session, *, source: EvidenceSource) -> list[int]:
    """The statements a source supports, by id."""
    query = select(EvidenceLink.statement_id).where(EvidenceLink.source_id == source.id)
    return sorted(session.scalars(query))


def edit_source(
    session: Session,
    *,
    actor: User,
    study: Study,
    source: EvidenceSource,
    statement_ids: Sequence[int],
    **fields: Any,
) -> EvidenceSource:
    """Rewrite a source and what it supports, checked as a new one is; levels follow."""
    ensure_writable(study)
    after = _checked(study, fields)
    wanted = _statement_ids(session, study, statement_ids)
    changed = {
        name: [getattr(source, name), after[name]]
        for name in FIELDS
        if getattr(source, name) != after[name]
    }
    for name, (_, value) in changed.items():
        setattr(source, name, value)
    before = linked(session, source=source)
    added = sorted(set(wanted) - set(before))
    removed = sorted(set(before) - set(wanted))
    if removed:
        session.execute(
            delete(EvidenceLink).where(
                EvidenceLink.source_id == source.id, EvidenceLink.statement_id.in_(removed)
            )
        )
    session.add_all(EvidenceLink(source_id=source.id, statement_id=i) for i in added)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="evidence.edit",
        study_id=study.id,
        source=source.id,
        citation=source.citation,
        changed=changed,
        linked=added,
        unlinked=removed,
    )
    return source


def delete_source(session: Session, *, actor: User, study: Study, source: EvidenceSource) -> None:
    """Take a source out of the library with its links; the levels it gave are computed again."""
    ensure_writable(study)
    unlinked = linked(session, source=source)
    audit.record(
        session,
        actor=actor,
        action="evidence.delete",
        study_id=study.id,
        source=source.id,
        citation=source.citation,
        design=source.design,
        unlinked=unlinked,
    )
    session.execute(delete(EvidenceLink).where(EvidenceLink.source_id == source.id))
    session.execute(delete(EvidenceSource).where(EvidenceSource.id == source.id))
    session.expunge(source)
    session.flush()
