"""Coordinator endpoints for studies, their statements and their panel."""

from typing import Any

from fastapi import APIRouter, status

from app.api.responses import ERRORS
from app.contract import present, schemas
from app.contract.fields import new_study_fields, study_fields
from app.http.deps import CurrentCoordinator, SessionDep
from app.http.paths import PathId
from app.services import evidence, panel, statements, studies

router = APIRouter(prefix="/api/v1", tags=["coordinator: studies"], responses=ERRORS)


@router.post("/studies", status_code=status.HTTP_201_CREATED, response_model=schemas.Study)
def create_study(
    body: schemas.StudyCreate, session: SessionDep, user: CurrentCoordinator
) -> schemas.Study:
    study = studies.create_study(session, actor=user, **new_study_fields(body))
    return present.study(study)


@router.get("/studies", response_model=list[schemas.Study])
def list_studies(session: SessionDep, user: CurrentCoordinator) -> list[schemas.Study]:
    return [present.study(s) for s in studies.visible_studies(session, user=user)]


@router.get("/studies/{study_id}", response_model=schemas.Study)
def get_study(study_id: PathId, session: SessionDep, user: CurrentCoordinator) -> schemas.Study:
    return present.study(studies.study_for(session, user=user, study_id=study_id))


@router.patch("/studies/{study_id}", response_model=schemas.Study)
def patch_study(
    study_id: PathId,
    body: schemas.StudyPatch,
    session: SessionDep,
    user: CurrentCoordinator,
) -> schemas.Study:
    study = studies.study_for(session, user=user, study_id=study_id, write=True)
    study = studies.update_study(session, actor=user, study=study, changes=study_fields(body))
    return present.study(study)


@router.get("/studies/{study_id}/statements", response_model=list[schemas.Statement])
def list_statements(
    study_id: PathId, session: SessionDep, user: CurrentCoordinator
) -> list[schemas.Statement]:
    study = studies.study_for(session, user=user, study_id=study_id)
    return [present.statement(s) for s in statements.statements_of(session, study=study)]


@router.post(
    "/studies/{study_id}/statements",
    status_code=status.HTTP_201_CREATED,
    response_model=list[schemas.Statement],
)
def add_statements(
    study_id: PathId,
    body: list[schemas.StatementCreate],
    session: SessionDep,
    user: CurrentCoordinator,
) -> list[schemas.Statement]:
    study = studies.study_for(session, user=user, study_id=study_id, write=True)
    created = statements.add_statements(
        session,
        actor=user,
        study=study,
        items=[statements.NewStatement(**item.model_dump()) for item in body],
    )
    return [present.statement(s) for s in created]


@router.put("/statements/{statement_id}", response_model=schemas.Statement)
def revise_statement(
    statement_id: PathId,
    body: schemas.StatementRevise,
    session: SessionDep,
    user: CurrentCoordinator,
) -> schemas.Statement:
    statement = statements.get_statement(session, statement_id=statement_id)
    study = studies.owner_of(
        session, user=user, record=statement, label=f"Statement {statement_id}", write=True
    )
    version = statements.revise_statement(
        session,
        actor=user,
        study=study,
        statement=statement,
        text=body.text,
        rationale=body.rationale,
        translations=body.translations,
    )
    return present.statement(statement, version)


@router.put("/statements/{statement_id}/evidence-summary", response_model=schemas.Statement)
def set_evidence_summary(
    statement_id: PathId,
    body: schemas.EvidenceSummary,
    session: SessionDep,
    user: CurrentCoordinator,
) -> schemas.Statement:
    """The coordinator's summary of the statement's evidence, per language, shown on the ballot."""
    statement = statements.get_statement(session, statement_id=statement_id)
    study = studies.owner_of(
        session, user=user, record=statement, label=f"Statement {statement_id}", write=True
    )
    evidence.set_summary(
        session, actor=user, study=study, statement=statement, summary=body.summary
    )
    return present.statement(statement)


@router.get("/studies/{study_id}/panelists", response_model=list[schemas.Panelist])
def list_panelists(
    study_id: PathId, session: SessionDep, user: CurrentCoordinator
) -> list[schemas.Panelist]:
    study = studies.study_for(session, user=user, study_id=study_id)
    panel.ensure_may_see_identities(user)
    return [present.panelist(p) for p in panel.panelists_of(session, study=study)]


@router.post(
    "/studies/{study_id}/panelists",
    status_code=status.HTTP_201_CREATED,
    response_model=list[schemas.Panelist],
)
def add_panelists(
    study_id: PathId,
    body: list[schemas.PanelistCreate],
    session: SessionDep,
    user: CurrentCoordinator,
) -> list[schemas.Panelist]:
    study = studies.study_for(session, user=user, study_id=study_id, write=True)
    invitations = panel.add_panelists(
        session,
        actor=user,
        study=study,
        items=[panel.NewPanelist(**item.model_dump()) for item in body],
    )
    return [present.panelist(i.panelist, i) for i in invitations]


@router.post("/panelists/{panelist_id}/link", response_model=schemas.Panelist)
def reissue_link(panelist_id: PathId, session: SessionDep, user: CurrentCoordinator) -> Any:
    """Issue a new personal link (shown once); the panelist's old link stops working."""
    panelist, study = panel.panelist_for(session, user=user, panelist_id=panelist_id, write=True)
    invitation = panel.reissue_link(session, actor=user, study=study, panelist=panelist)
    return present.panelist(panelist, invitation)
