"""The grading table in the console: a preset or rows edited by hand, until round 1 opens."""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import Response

from app import models
from app.consensus import grading
from app.consensus.levels import SCHEME_CODES
from app.consensus.strength import STRENGTH_WORDS, STRENGTHS
from app.http.deps import SessionDep
from app.http.paths import PathId
from app.services import evidence, numbers, studies
from app.services.errors import DomainError, Invalid
from app.web.console.common import CheckedForm, ConsoleUser, done, page, refused

router = APIRouter(include_in_schema=False)

BLANK_ROWS = 2
MAX_ROWS = 40
MAX_ORDER = 999  # rows are ordered by whole numbers; gaps (10, 20 …) leave room to insert
CLASSIFICATIONS = {
    "for": ["consensus_for"],
    "against": ["consensus_against"],
    "either": None,
}


def presets(study: models.Study) -> dict[str, tuple[str, grading.GradingTable]]:
    """The shipped tables that fit the study's scheme, by the name of their button."""
    if study.evidence_scheme == "grade":
        found = {
            "grade": (
                "GRADE: strong or conditional, by certainty and agreement",
                grading.grade_table(),
            )
        }
        if study.strength_vote:
            found["grade_panel"] = (
                "GRADE: strong or conditional, by certainty and the panel's strength vote",
                grading.grade_table(panel_strength=True),
            )
        return found
    scheme = study.evidence_scheme
    return {"oxford": ("Grades A–D by evidence level", grading.oxford_2009_table(scheme))}  # type: ignore[arg-type]


def _typed_rows(table: grading.GradingTable) -> dict[str, str]:
    """A table as the form's fields, so the editor opens with the rows in force."""
    typed: dict[str, str] = {}
    for i, row in enumerate(table.rows):
        typed[f"row-{i}-order"] = str(i + 1)
        for code in row.level_in or []:
            typed[f"row-{i}-level-{code}"] = "on"
        classes = row.classification_in
        typed[f"row-{i}-classification"] = (
            "either" if classes is None or len(set(classes)) > 1 else classes[0].split("_")[1]
        )
        for name in ("min_pct_agree", "min_pct_disagree"):
            value = getattr(row, name)
            typed[f"row-{i}-{name}"] = "" if value is None else str(value)
        for choice in row.panel_strength_in or []:
            typed[f"row-{i}-strength-{choice}"] = "on"
        typed[f"row-{i}-grade"] = row.grade
        typed[f"row-{i}-label"] = row.label or ""
    return typed


def _codes(study: models.Study) -> tuple[str, ...]:
    return SCHEME_CODES[study.evidence_scheme]  # type: ignore[index]


def table_from_form(study: models.Study, values: dict[str, str]) -> dict[str, Any]:
    """The posted rows as a GradingTable body: blank or removed rows dropped, sorted by order."""
    rows: list[tuple[int, int, dict[str, Any]]] = []
    for i in range(MAX_ROWS):
        grade = values.get(f"row-{i}-grade", "").strip()
        if not grade or f"row-{i}-remove" in values:
            continue
        order_text = values.get(f"row-{i}-order", "").strip()
        order = (
            numbers.read_whole_number(
                order_text, what=f"Row {i + 1}: the order", low=1, high=MAX_ORDER
            )
            if order_text
            else i + 1
        )
        row: dict[str, Any] = {
            "grade": grade,
            "label": values.get(f"row-{i}-label", "").strip() or None,
        }
        levels = [c for c in _codes(study) if f"row-{i}-level-{c}" in values]
        if levels:
            row["level_in"] = levels
        consensus = values.get(f"row-{i}-classification", "either")
        if consensus not in CLASSIFICATIONS:
            raise Invalid(f"Row {i + 1}: choose for, against, or for or against.")
        classes = CLASSIFICATIONS[consensus]
        if classes is not None:
            row["classification_in"] = classes
        for name in ("min_pct_agree", "min_pct_disagree"):
            if values.get(f"row-{i}-{name}", "").strip():
                row[name] = values[f"row-{i}-{name}"].strip()
        chosen = [s for s in STRENGTHS if f"row-{i}-strength-{s}" in values]
        if chosen:
            row["panel_strength_in"] = chosen
        rows.append((order, i, row))
    if not rows:
        raise Invalid("Keep at least one row: give it a grade code.")
    return {"scheme": study.evidence_scheme, "rows": [row for _, _, row in sorted(rows)]}


NAMES = {
    "min_pct_agree": "at least % agree",
    "min_pct_disagree": "at least % disagree",
    "grade": "grade code",
    "level_in": "levels",
    "classification_in": "consensus",
    "panel_strength_in": "panel's choice",
}


def _messages(exc: ValidationError) -> str:
    out = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = f"Row {int(loc[1]) + 1}" if len(loc) > 1 and loc[0] == "rows" else "The table"
        field = next((NAMES[str(p)] for p in loc[2:] if str(p) in NAMES), None)
        message = str(error["msg"]).removeprefix("Value error, ")
        message = message.replace("Input should be", "must be")
        out.append(f"{where}{f' ({field})' if field else ''}: {message}")
    return " ".join(out)


def _context(_session: Session, study: models.Study) -> dict[str, Any]:
    table = evidence.table_of(study)
    return {
        "study": study,
        "table": table,
        "table_words": grading.describe_table(table),
        "custom": study.grading_table is not None,
        "presets": presets(study),
        "codes": _codes(study),
        "strengths": [(s, STRENGTH_WORDS[s]) for s in STRENGTHS],
        "row_count": min(len(table.rows) + BLANK_ROWS, MAX_ROWS),
        "rows_typed": _typed_rows(table),
        "typed": {},
        "failed": "",
    }


@router.get("/console/studies/{study_id}/grading")
def grading_page(
    study_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id)
    return page(request, "console/grading.html", _context(session, study), coordinator=me)


def _save(session: Session, me: Any, study: models.Study, table: dict[str, Any] | None) -> None:
    studies.update_study(session, actor=me.user, study=study, changes={"grading_table": table})


@router.post("/console/studies/{study_id}/grading")
def save_grading(
    study_id: PathId,
    request: Request,
    values: CheckedForm,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    preset = values.get("preset", "")
    try:
        if preset:
            if preset not in presets(study):
                raise Invalid(f"“{preset}” is not a preset for the {study.evidence_scheme} scheme.")
            label, table = presets(study)[preset]
            _save(session, me, study, table.model_dump(mode="json", exclude_none=True))
            message = f"The grading table is now the preset “{label}”."
        else:
            try:
                parsed = grading.GradingTable.model_validate(table_from_form(study, values))
            except ValidationError as exc:
                raise Invalid(_messages(exc)) from None
            _save(session, me, study, parsed.model_dump(mode="json", exclude_none=True))
            message = f"Grading table saved ({len(parsed.rows)} rows)."
    except DomainError as exc:
        return refused(
            request,
            session,
            me,
            study.id,
            exc,
            template="console/grading.html",
            build=_context,
            form="preset" if preset else "rows",
            typed=values,
        )
    return done(request, f"/console/studies/{study.id}/grading", message)
