"""Coordinator endpoints for the evidence library, levels, overrides and the grade preview."""

from typing import Any

from fastapi import APIRouter, status

from app.api.responses import ERRORS
from app.consensus import grading
from app.consensus.levels import Level
from app.contract import schemas
from app.contract.evidence_schemas import FinalContent, FinalizedStudy, GradingTableView
from app.http.deps import CurrentCoordinator, SessionDep
from app.http.paths import PathId
from app.models import EvidenceSource
from app.services import evidence, finalization, sources, statements, studies
from app.services.errors import Conflict

router = APIRouter(prefix="/api/v1", tags=["coordinator: evidence"], responses=ERRORS)


def _source(row: EvidenceSource, statement_ids: list[int]) -> schemas.Source:
    return schemas.Source(
        id=row.id,
        citation=row.citation,
        doi=row.doi,
        pmid=row.pmid,
        design=row.design,
        pedro=row.pedro,
        pedro_items=row.pedro_items,
        amstar2=row.amstar2,
        amstar_score=row.amstar_score,
        pooled_levels=row.pooled_levels,
        illustrative=row.illustrative,
        statement_ids=statement_ids,
    )


def _level(statement_id: int, level: Level) -> schemas.Level:
    return schemas.Level(
        statement_id=statement_id,
        scheme=level.scheme,
        code=level.code,
        label=level.label,
        reasons=level.reasons,
        overridden_from=level.overridden_from,
    )


@router.post(
    "/studies/{study_id}/sources",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.Source,
)
def add_source(
    study_id: PathId, body: schemas.SourceCreate, session: SessionDep, user: CurrentCoordinator
) -> Any:
    study = studies.study_for(session, user=user, study_id=study_id, write=True)
    fields = body.model_dump(exclude={"statement_ids"})
    row = evidence.add_source(
        session, actor=user, study=study, statement_ids=body.statement_ids, **fields
    )
    return _source(row, sorted(set(body.statement_ids)))


@router.get("/studies/{study_id}/sources", response_model=list[schemas.Source])
def list_sources(study_id: PathId, session: SessionDep, user: CurrentCoordinator) -> Any:
    study = studies.study_for(session, user=user, study_id=study_id)
    return [_source(row, ids) for row, ids in evidence.sources_of(session, study=study)]


@router.post("/sources/{source_id}/links", response_model=schemas.Source)
def link_source(
    source_id: PathId, body: schemas.LinkBody, session: SessionDep, user: CurrentCoordinator
) -> Any:
    row, study = evidence.source_for(session, user=user, source_id=source_id, write=True)
    evidence.link(session, actor=user, study=study, source=row, statement_ids=body.statement_ids)
    ids = dict((r.id, i) for r, i in evidence.sources_of(session, study=study))[row.id]
    return _source(row, ids)


@router.put("/sources/{source_id}", response_model=schemas.Source)
def edit_source(
    source_id: PathId, body: schemas.SourceCreate, session: SessionDep, user: CurrentCoordinator
) -> Any:
    """Rewrite a source, checked as a new one is; `statement_ids` replaces what it supports."""
    row, study = evidence.source_for(session, user=user, source_id=source_id, write=True)
    fields = body.model_dump(exclude={"statement_ids"})
    sources.edit_source(
        session, actor=user, study=study, source=row, statement_ids=body.statement_ids, **fields
    )
    return _source(row, sources.linked(session, source=row))


@router.delete("/sources/{source_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_source(source_id: PathId, session: SessionDep, user: CurrentCoordinator) -> None:
    """Take a source out of the library with its links (409 once the study is finalized)."""
    row, study = evidence.source_for(session, user=user, source_id=source_id, write=True)
    sources.delete_source(session, actor=user, study=study, source=row)


@router.get("/studies/{study_id}/levels", response_model=list[schemas.Level])
def list_levels(study_id: PathId, session: SessionDep, user: CurrentCoordinator) -> Any:
    study = studies.study_for(session, user=user, study_id=study_id)
    return [_level(sid, level) for sid, level in evidence.levels(session, study=study).items()]


@router.put("/statements/{statement_id}/level", response_model=schemas.Level)
def override_level(
    statement_id: PathId, body: schemas.LevelOverride, session: SessionDep, user: CurrentCoordinator
) -> Any:
    _, study = statements.statement_for(session, user=user, statement_id=statement_id, write=True)
    level = evidence.set_override(
        session,
        actor=user,
        study=study,
        statement_id=statement_id,
        code=body.code,
        justification=body.justification,
    )
    return _level(statement_id, level)


@router.get("/studies/{study_id}/grading-table", response_model=GradingTableView)
def get_grading_table(
    study_id: PathId, session: SessionDep, user: CurrentCoordinator
) -> dict[str, Any]:
    """The table in force (the study's own or its scheme's preset), also in plain words."""
    study = studies.study_for(session, user=user, study_id=study_id)
    table = evidence.table_of(study)
    return {"table": table.model_dump(mode="json"), "in_words": grading.describe_table(table)}


@router.get(
    "/studies/{study_id}/recommendations", response_model=list[schemas.RecommendationPreview]
)
def preview(study_id: PathId, session: SessionDep, user: CurrentCoordinator) -> Any:
    """What finalization would record now: level, last classification and grade per statement."""
    study = studies.study_for(session, user=user, study_id=study_id)
    return [
        schemas.RecommendationPreview(
            statement_id=r.statement_id,
            key=r.key,
            level=_level(r.statement_id, r.level),
            classification=r.classification,
            round=r.round,
            grade=r.grade.code if r.grade else None,
            grade_label=r.grade.label if r.grade else None,
            grade_reason=r.grade.reason if r.grade else None,
        )
        for r in evidence.recommendations(session, study=study)
    ]


@router.get(
    "/studies/{study_id}/finalization",
    response_model=list[FinalContent],
    response_model_exclude_unset=True,
)
def finalization_preview(
    study_id: PathId, session: SessionDep, user: CurrentCoordinator
) -> list[dict[str, Any]]:
    """Every statement's final text, figures, evidence level and grade, before freezing."""
    study = studies.study_for(session, user=user, study_id=study_id)
    return finalization.preview(session, study=study)


@router.post(
    "/studies/{study_id}/finalize",
    response_model=FinalizedStudy,
    response_model_exclude_unset=True,  # the frozen content verbatim, so its hash verifies
)
def finalize(study_id: PathId, session: SessionDep, user: CurrentCoordinator) -> dict[str, Any]:
    """Freeze the study (SHA-256 per statement and for the study); it is read-only afterwards."""
    study = studies.study_for(session, user=user, study_id=study_id, write=True)
    digest = finalization.finalize(session, actor=user, study=study)
    return {
        "content_hash": digest,
        "finalized_at": study.finalized_at.isoformat() if study.finalized_at else None,
        "recommendations": [
            {**f.content, "content_hash": f.content_hash}
            for f in finalization.finals(session, study=study)
        ],
    }


@router.get(
    "/studies/{study_id}/final", response_model=FinalizedStudy, response_model_exclude_unset=True
)
def final(study_id: PathId, session: SessionDep, user: CurrentCoordinator) -> dict[str, Any]:
    study = studies.study_for(session, user=user, study_id=study_id)
    if study.finalized_at is None:
        raise Conflict("The study is not finalized yet; see its finalization preview.")
    return {
        "content_hash": study.content_hash,
        "finalized_at": study.finalized_at.isoformat(),
        "recommendations": [
            {**f.content, "content_hash": f.content_hash}
            for f in finalization.finals(session, study=study)
        ],
    }
