"""Coordinator endpoints that correct set-up mistakes: a statement deleted, a panelist edited."""

from fastapi import APIRouter, status

from app.api.responses import ERRORS
from app.contract import present, schemas
from app.contract.panel_schemas import PanelistPatch
from app.http.deps import CurrentCoordinator, SessionDep
from app.http.paths import PathId
from app.services import panel, statements, studies

router = APIRouter(prefix="/api/v1", tags=["coordinator: studies"], responses=ERRORS)


@router.delete("/statements/{statement_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_statement(statement_id: PathId, session: SessionDep, user: CurrentCoordinator) -> None:
    """Delete a statement before any round opens (409 after); a draft round lets it go."""
    statement = statements.get_statement(session, statement_id=statement_id)
    study = studies.owner_of(
        session, user=user, record=statement, label=f"Statement {statement_id}", write=True
    )
    statements.delete_statement(session, actor=user, study=study, statement=statement)


@router.patch("/panelists/{panelist_id}", response_model=schemas.Panelist)
def edit_panelist(
    panelist_id: PathId, body: PanelistPatch, session: SessionDep, user: CurrentCoordinator
) -> schemas.Panelist:
    """Correct a panelist's name, e-mail, group, language or time zone; their link stays."""
    member, study = panel.panelist_for(session, user=user, panelist_id=panelist_id, write=True)
    changes = body.model_dump(exclude_unset=True)
    panel.edit_panelist(session, actor=user, study=study, panelist=member, changes=changes)
    return present.panelist(member)
