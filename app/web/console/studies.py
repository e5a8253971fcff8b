"""Console pages for a study: create it, see its rules, statements, panel and rounds."""

from typing import Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from starlette.responses import Response

from app import models
from app.consensus import RULE_ADAPTER
from app.contract import schemas
from app.contract.fields import new_study_fields
from app.http.deps import SessionDep
from app.http.paths import PathId
from app.services import (
    accounts,
    advice,
    dashboard,
    panel,
    rounds,
    rules,
    stability,
    statements,
    studies,
)
from app.services.errors import DomainError
from app.web.console.common import (
    ConsoleUser,
    Coordinator,
    check_csrf,
    done,
    page,
    refused,
)
from app.web.forms import FormValues

router = APIRouter(include_in_schema=False)

ZONES = sorted(available_timezones())
RULE_PARAMS = {
    "comet_70_15": ("high_min", "low_max", "in_pct", "out_pct"),
    "percent_agreement": ("agree_min", "disagree_max", "threshold"),
    "median_iqr": ("median_min", "median_max_against", "iqr_max", "agree_min", "threshold"),
    "rand_ucla": (),
}


def _labels(text: str) -> dict[str, str]:
    """Lines like "1 = Strongly disagree" into {"1": "Strongly disagree"}."""
    labels = {}
    for line in text.splitlines():
        point, sep, label = line.partition("=")
        if sep and point.strip() and label.strip():
            labels[point.strip()] = label.strip()
    return labels


def study_body(values: dict[str, str]) -> dict[str, Any]:
    """The console's study form as the API's StudyCreate body, so both validate alike."""
    preset = values.get("scale", "1-9")
    low, high = {"1-9": ("1", "9"), "1-5": ("1", "5")}.get(
        preset, (values.get("scale_min", ""), values.get("scale_max", ""))
    )
    body: dict[str, Any] = {
        "title": values.get("title", ""),
        "instructions": values.get("instructions", ""),
        "scale": {"min": low, "max": high, "labels": _labels(values.get("labels", ""))},
        "quantile_method": values.get("quantile_method", "type7"),
        "max_rounds": values.get("max_rounds", "3"),
        "allow_abstain": "allow_abstain" in values,
        "hide_feedback_until_rated": "hide_feedback_until_rated" in values,
        "evidence_scheme": values.get("evidence_scheme", "pedro_scire"),
        "strength_vote": "strength_vote" in values,
        "feedback_by_group": "feedback_by_group" in values,
        "stability_rule": (
            {
                "max_pct_changed": values.get("stability_pct", "").strip() or 15,
                "min_pairs": values.get("stability_pairs", "").strip() or 5,
                "stop_carry_forward": True,
            }
            if "stability_on" in values
            else None
        ),
        "languages": [code for code in ("en", "zh-Hans") if f"lang_{code}" in values] or ["en"],
        "groups": [g.strip() for g in values.get("groups", "").split(",") if g.strip()],
        "reminder_hours": [
            h.strip() for h in values.get("reminder_hours", "").split(",") if h.strip()
        ],
    }
    rule = values.get("rule", "")
    if rule in RULE_PARAMS:
        consensus: dict[str, Any] = {"rule": rule}
        for name in RULE_PARAMS[rule]:
            if values.get(f"{rule}.{name}", "").strip():
                consensus[name] = values[f"{rule}.{name}"].strip()
        if values.get("min_responses", "").strip():
            consensus["min_responses"] = values["min_responses"].strip()
        consensus["require_all_groups"] = "require_all_groups" in values
        body["consensus"] = consensus
    return body


FIELD_NAMES = {
    "title": "Title",
    "scale": "Scale",
    "labels": "Labels",
    "min": "Scale from",
    "max": "Scale to",
    "consensus": "Consensus rule",
    "max_rounds": "Maximum number of rounds",
    "reminder_hours": "Reminders",
    "groups": "Stakeholder groups",
    "threshold": "Percentage",
    "in_pct": "Percentage rating high",
    "out_pct": "Percentage rating low",
    "high_min": "High ratings from",
    "low_max": "Low ratings up to",
    "agree_min": "Agree from",
    "disagree_max": "Disagree up to",
    "median_min": "Median at least",
    "median_max_against": "Median at most (against)",
    "iqr_max": "IQR at most",
    "min_responses": "Minimum number of ratings",
    "quantile_method": "Quantiles",
    "evidence_scheme": "Evidence levels",
    "max_pct_changed": "Stability: percentage that changed",
    "min_pairs": "Stability: fewest panelists in both rounds",
}


def _messages(exc: ValidationError) -> list[str]:
    """Pydantic's errors as sentences about the form's own fields."""
    out = []
    for error in exc.errors():
        names = [FIELD_NAMES[str(part)] for part in error["loc"] if str(part) in FIELD_NAMES]
        message = str(error["msg"]).removeprefix("Value error, ")
        message = message.replace("Input should be", "must be")
        out.append(f"{names[-1]}: {message}" if names else message)
    return out


@router.get("/console")
def studies_page(request: Request, session: SessionDep, me: ConsoleUser) -> Response:
    return page(
        request,
        "console/studies.html",
        {"studies": studies.visible_studies(session, user=me.user)},
        coordinator=me,
    )


@router.get("/console/studies/new")
def new_study_page(request: Request, me: ConsoleUser) -> Response:
    typed = {
        "scale": "1-9",
        "rule": "comet_70_15",
        "max_rounds": "3",
        "allow_abstain": "on",
        "lang_en": "on",
        "reminder_hours": "72, 24",
        "quantile_method": "type7",
        "evidence_scheme": "pedro_scire",
        "labels": "1 = Strongly disagree\n9 = Strongly agree",
    }
    return page(request, "console/study_new.html", {"typed": typed, "errors": []}, coordinator=me)


@router.post("/console/studies/new")
def create_study(
    request: Request, values: FormValues, session: SessionDep, me: ConsoleUser
) -> Response:
    check_csrf(me, values)
    try:
        body = schemas.StudyCreate.model_validate(study_body(values))
        study = studies.create_study(session, actor=me.user, **new_study_fields(body))
    except ValidationError as exc:
        return page(
            request,
            "console/study_new.html",
            {"typed": values, "errors": _messages(exc)},
            coordinator=me,
            status_code=422,
        )
    except DomainError as exc:
        session.rollback()
        return page(
            request,
            "console/study_new.html",
            {"typed": values, "errors": [exc.message]},
            coordinator=me,
            status_code=exc.status if exc.status != 400 else 422,
        )
    return done(
        request,
        f"/console/studies/{study.id}",
        "Study created. Add statements and panelists, then create round 1.",
    )


def _typed_from(study: models.Study) -> dict[str, str]:
    """A study's settings as the set-up form's fields, to edit them."""
    scale = {(1, 9): "1-9", (1, 5): "1-5"}.get((study.scale_min, study.scale_max), "custom")
    typed = {
        "title": study.title,
        "instructions": study.instructions,
        "scale": scale,
        "scale_min": str(study.scale_min),
        "scale_max": str(study.scale_max),
        "labels": "\n".join(f"{k} = {v}" for k, v in study.scale_labels.items()),
        "rule": study.rule["rule"],
        "quantile_method": study.quantile_method,
        "evidence_scheme": study.evidence_scheme,
        "max_rounds": str(study.max_rounds),
        "groups": ", ".join(study.groups),
        "reminder_hours": ", ".join(str(h) for h in study.reminder_hours),
    }
    if study.stability_rule is not None:
        typed["stability_pct"] = str(study.stability_rule.get("max_pct_changed", 15))
        typed["stability_pairs"] = str(study.stability_rule.get("min_pairs", 5))
    for name in RULE_PARAMS[study.rule["rule"]]:
        if study.rule.get(name) is not None:
            typed[f"{study.rule['rule']}.{name}"] = str(study.rule[name])
    if study.rule.get("min_responses"):
        typed["min_responses"] = str(study.rule["min_responses"])
    flags = {
        "require_all_groups": study.rule.get("require_all_groups"),
        "allow_abstain": study.allow_abstain,
        "hide_feedback_until_rated": study.hide_feedback_until_rated,
        "strength_vote": study.strength_vote,
        "feedback_by_group": study.feedback_by_group,
        "stability_on": study.stability_rule is not None,
        **{f"lang_{code}": code in study.languages for code in ("en", "zh-Hans")},
    }
    typed |= {name: "on" for name, on in flags.items() if on}
    return typed


@router.get("/console/studies/{study_id}/edit")
def edit_study_page(
    study_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    return page(
        request,
        "console/study_new.html",
        {"typed": _typed_from(study), "errors": [], "study": study},
        coordinator=me,
    )


@router.post("/console/studies/{study_id}/edit")
def edit_study(
    study_id: PathId,
    request: Request,
    values: FormValues,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    check_csrf(me, values)
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    context = {"typed": values, "study": study}
    try:
        body = schemas.StudyCreate.model_validate(study_body(values))
        fields = new_study_fields(body)
        fields.pop("translations", None)  # not on this form: keep the study's own
        studies.normalise_stability(fields)  # compare rules with their defaults spelled out
        if values.get("rule", "") == "":
            fields.pop("rule")  # "the usual rule" leaves the current one as it is
        if "rule" in fields:  # compare rules in one normal form, defaults spelled out
            fields["rule"] = RULE_ADAPTER.dump_python(
                RULE_ADAPTER.validate_python(fields["rule"]), mode="json"
            )
        changes = {k: v for k, v in fields.items() if getattr(study, k) != v}
        table_reset = (
            "evidence_scheme" in changes
            and study.grading_table is not None
            and study.grading_table.get("scheme") != changes["evidence_scheme"]
        )
        if table_reset:  # a table written for the old scheme cannot grade the new one's levels
            changes["grading_table"] = None
        if changes:
            studies.update_study(session, actor=me.user, study=study, changes=changes)
    except ValidationError as exc:
        return page(
            request,
            "console/study_new.html",
            {**context, "errors": _messages(exc)},
            coordinator=me,
            status_code=422,
        )
    except DomainError as exc:
        session.rollback()
        return page(
            request,
            "console/study_new.html",
            {**context, "errors": [exc.message]},
            coordinator=me,
            status_code=exc.status if exc.status != 400 else 422,
        )
    return done(
        request,
        f"/console/studies/{study.id}",
        ("Settings saved." if changes else "Nothing changed.")
        + (
            " The grading table went back to the preset for the new evidence scheme."
            if changes and table_reset
            else ""
        ),
    )


def _overview(session: Session, study: models.Study) -> dict[str, Any]:
    statement_rows = list(
        session.scalars(
            select(models.Statement)
            .where(models.Statement.study_id == study.id)
            .order_by(models.Statement.position)
            .options(selectinload(models.Statement.versions))
        )
    )
    panelists = list(
        session.scalars(
            select(models.Panelist)
            .where(models.Panelist.study_id == study.id)
            .order_by(models.Panelist.id)
        )
    )
    all_rounds = rounds.rounds_of(session, study=study)
    current = all_rounds[-1] if all_rounds else None
    last_closed = next((r for r in reversed(all_rounds) if r.status.value == "closed"), None)
    context: dict[str, Any] = {
        "study": study,
        "rule_words": rules.rule_words(study),
        "fingerprint": studies.rules_fingerprint(study),
        "statements": statement_rows,
        "panelists": panelists,
        "rounds": all_rounds,
        "current": current,
        "draft_items": set(),
        "next_items": [],
        "progress": None,
        "failed": "",
        "typed": {},
        "zones": ZONES,
    }
    if current is not None and current.status.value == "draft":  # the round being prepared
        context["draft_items"] = set(
            session.scalars(
                select(models.RoundItem.statement_id).where(models.RoundItem.round_id == current.id)
            )
        )
    room_for_more = len(all_rounds) < study.max_rounds
    if (current is None or current.status.value == "closed") and room_for_more:
        context["next_items"] = rounds.carry_forward_reasons(
            session, study=study, after=last_closed
        )
    if current is not None and current.status.value == "open":
        context["progress"] = dashboard.progress(session, study=study, round_=current)
    context["advice"] = None
    context["held_back"] = []
    if last_closed is not None and current is last_closed and study.finalized_at is None:
        context["advice"] = advice.after_round(session, study=study, round_=last_closed)
        context["held_back"] = rounds.held_back(session, study=study, after=last_closed)
    context["stability_words"] = stability.rule_in_words(study)
    return context


@router.get("/console/studies/{study_id}")
def study_page(
    study_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    study = studies.study_for(session, user=me.user, study_id=study_id)
    return page(request, "console/study.html", _overview(session, study), coordinator=me)


def _back(
    request: Request,
    session: Session,
    me: Coordinator,
    study: models.Study,
    exc: DomainError,
    *,
    form: str = "",
    typed: dict[str, str] | None = None,
) -> Response:
    """The study page again, with the reason the action was refused."""
    return refused(
        request,
        session,
        me,
        study.id,
        exc,
        template="console/study.html",
        build=_overview,
        form=form,
        typed=typed,
    )


@router.post("/console/studies/{study_id}/statements")
def add_statement(
    study_id: PathId,
    request: Request,
    values: FormValues,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    check_csrf(me, values)
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    translations = {"zh-Hans": values["text_zh-Hans"]} if values.get("text_zh-Hans") else {}
    try:
        statements.add_statements(
            session,
            actor=me.user,
            study=study,
            items=[
                statements.NewStatement(
                    text=values.get("text", ""),
                    topic=values.get("topic") or None,
                    key=values.get("key") or None,
                    translations=translations,
                )
            ],
        )
    except DomainError as exc:
        return _back(request, session, me, study, exc, form="statement", typed=values)
    return done(request, f"/console/studies/{study.id}#statements", "Statement added.")


@router.post("/console/statements/{statement_id}/revise")
def revise_statement(
    statement_id: PathId,
    request: Request,
    values: FormValues,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    check_csrf(me, values)
    statement = statements.get_statement(session, statement_id=statement_id)
    study = studies.owner_of(
        session, user=me.user, record=statement, label=f"Statement {statement_id}", write=True
    )
    translations = {"zh-Hans": values["text_zh-Hans"]} if values.get("text_zh-Hans") else None
    try:
        version = statements.revise_statement(
            session,
            actor=me.user,
            study=study,
            statement=statement,
            text=values.get("text", ""),
            rationale=values.get("rationale", ""),
            translations=translations,
        )
    except DomainError as exc:
        return _back(request, session, me, study, exc, form=f"revise-{statement.id}", typed=values)
    return done(
        request,
        f"/console/studies/{study.id}#statements",
        f"{statement.key} revised (version {version.version}); the next round uses it.",
    )


@router.post("/console/studies/{study_id}/panelists")
def add_panelist(
    study_id: PathId,
    request: Request,
    values: FormValues,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    check_csrf(me, values)
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        (invitation,) = panel.add_panelists(
            session,
            actor=me.user,
            study=study,
            items=[
                panel.NewPanelist(
                    name=values.get("name", ""),
                    email=values.get("email") or None,
                    group=values.get("group") or None,
                    language=values.get("language") or None,
                    timezone=values.get("timezone") or None,
                )
            ],
        )
    except DomainError as exc:
        return _back(request, session, me, study, exc, form="panelist", typed=values)
    return _links_page(request, me, study, invitation, heading=f"{invitation.panelist.code} added")


@router.post("/console/studies/{study_id}/members")
def add_member(
    study_id: PathId,
    request: Request,
    values: FormValues,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    check_csrf(me, values)
    study = studies.study_for(session, user=me.user, study_id=study_id, write=True)
    try:
        member = accounts.add_member(
            session, actor=me.user, study=study, email=values.get("email", "")
        )
    except DomainError as exc:
        return _back(request, session, me, study, exc)
    return done(request, f"/console/studies/{study.id}", f"{member.email} can now see this study.")


@router.get("/console/statements/{statement_id}")
def statement_page(
    statement_id: PathId, request: Request, session: SessionDep, me: ConsoleUser
) -> Response:
    """One statement's lineage: every wording with its rationale, and its figures per round."""
    from app.services.results import statement_history

    statement = statements.get_statement(session, statement_id=statement_id)
    study = studies.owner_of(
        session, user=me.user, record=statement, label=f"Statement {statement_id}"
    )
    versions = {v.id: v for v in statement.versions}
    return page(
        request,
        "console/statement.html",
        {
            "study": study,
            "statement": statement,
            "versions": versions,
            "history": statement_history(session, statement_id=statement.id),
        },
        coordinator=me,
    )


def _panelist(
    session: Session, me: Coordinator, panelist_id: int
) -> tuple[models.Panelist, models.Study]:
    member = session.get(models.Panelist, panelist_id)
    study = studies.owner_of(
        session, user=me.user, record=member, label=f"Panelist {panelist_id}", write=True
    )
    assert member is not None
    return member, study


@router.post("/console/panelists/{panelist_id}/link")
def new_link(
    panelist_id: PathId,
    request: Request,
    values: FormValues,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    check_csrf(me, values)
    member, study = _panelist(session, me, panelist_id)
    try:
        invitation = panel.reissue_link(session, actor=me.user, study=study, panelist=member)
    except DomainError as exc:
        return _back(request, session, me, study, exc)
    return _links_page(
        request,
        me,
        study,
        invitation,
        heading=f"New personal link for {member.code}",
        note="The old links stop working.",
    )


def _links_page(
    request: Request,
    me: Coordinator,
    study: models.Study,
    invitation: panel.Invitation,
    *,
    heading: str,
    note: str = "",
) -> Response:
    """A personal link is shown on the answer itself, never carried in the (signed) flash cookie."""
    return page(
        request,
        "console/import_links.html",
        {"study": study, "invitations": [invitation], "heading": heading, "note": note},
        coordinator=me,
        status_code=201,
    )


@router.post("/console/panelists/{panelist_id}/withdraw")
def withdraw(
    panelist_id: PathId,
    request: Request,
    values: FormValues,
    session: SessionDep,
    me: ConsoleUser,
) -> Response:
    check_csrf(me, values)
    member, study = _panelist(session, me, panelist_id)
    try:
        panel.withdraw(session, actor=me.user, study=study, panelist=member)
    except DomainError as exc:
        return _back(request, session, me, study, exc)
    return done(
        request,
        f"/console/studies/{study.id}#panel",
        f"{member.code} has withdrawn; their earlier answers are kept.",
    )
