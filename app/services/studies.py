"""Creating studies, who may see them, and the pre-registration that freezes their rules."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.consensus import RULE_ADAPTER, check_rule_for_scale, grading, stability
from app.models import Role, Round, RoundStatus, Study, StudyMember, User, utcnow
from app.names import name_of
from app.services import audit, locks
from app.services.errors import Conflict, Forbidden, Invalid, NotFound

# Fields that define the method: frozen when round 1 opens (docs/method.md §4).
PREREGISTERED = {
    "scale_min",
    "scale_max",
    "scale_labels",
    "rule",
    "quantile_method",
    "max_rounds",
    "allow_abstain",
    "hide_feedback_until_rated",
    "evidence_scheme",
    "grading_table",
    "strength_vote",
    "stability_rule",
    "feedback_by_group",
}


def rules_fingerprint(study: Study) -> str:
    """SHA-256 of the pre-registered method, so a report can prove which rules were applied."""
    method = {
        "scale": [study.scale_min, study.scale_max, study.scale_labels],
        "rule": study.rule,
        "quantile_method": study.quantile_method,
        "max_rounds": study.max_rounds,
        "allow_abstain": study.allow_abstain,
        "hide_feedback_until_rated": study.hide_feedback_until_rated,
        "evidence_scheme": study.evidence_scheme,
        "grading_table": study.grading_table,
    }
    # Only when set, so the fingerprints of studies without them do not change.
    if study.strength_vote:
        method["strength_vote"] = True
    if study.stability_rule is not None:
        method["stability_rule"] = study.stability_rule
    if study.feedback_by_group:
        method["feedback_by_group"] = True
    encoded = json.dumps(method, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def frozen_message(study: Study, fields: list[str]) -> str:
    """Why a frozen setting cannot change, in words (each field's name kept for API callers)."""
    assert study.rules_frozen_at is not None
    named = dict.fromkeys(f"{name_of('setting', f)} ({f})" for f in fields)
    return (
        "The study's method was frozen when round 1 opened, on "
        f"{study.rules_frozen_at:%Y-%m-%d at %H:%M} UTC, and can no longer change: "
        f"{', '.join(named)}."
    )


def _validated_rule(rule: dict[str, Any], scale_min: int, scale_max: int) -> dict[str, Any]:
    parsed = RULE_ADAPTER.validate_python(rule)
    try:
        check_rule_for_scale(parsed, scale_min, scale_max)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    return dict(RULE_ADAPTER.dump_python(parsed, mode="json"))


def _check_translations(fields: dict[str, Any]) -> None:
    languages = fields.get("languages") or ["en"]
    translations = fields.get("translations") or {}
    stray = sorted(set(translations) - set(languages))
    if stray:
        raise Invalid(
            f"Texts are given in {', '.join(stray)}, which is not among the study's languages "
            f"({', '.join(languages)}); add the language or drop the texts."
        )
    points = {str(p) for p in range(fields["scale_min"], fields["scale_max"] + 1)}
    for language, texts in sorted(translations.items()):
        off_scale = sorted(set((texts or {}).get("labels") or {}) - points)
        if off_scale:
            raise Invalid(
                f"The {language} labels name {', '.join(off_scale)}, which is not a point of the "
                f"scale {fields['scale_min']}–{fields['scale_max']}; label the scale's points only."
            )


def _check_grading(scheme: str, table: dict[str, Any] | None, strength_vote: bool) -> None:
    """A custom grading table must speak the study's evidence scheme and use only votes it holds."""
    if table is None:
        return
    parsed = grading.GradingTable.model_validate(table)
    if parsed.scheme != scheme:
        raise Invalid(
            f"The grading table is written for {parsed.scheme} levels but the study grades its "
            f"evidence with {scheme}; use a table for {scheme} or change the evidence scheme."
        )
    if parsed.uses_panel_strength and not strength_vote:
        raise Invalid(
            "The grading table uses the panel's strength vote, but the study does not hold one; "
            "turn on the strength vote or remove panel_strength_in from the table."
        )


def normalise_stability(fields: dict[str, Any]) -> None:
    """Store the rule with every default spelled out, so its fingerprint says what applies."""
    if fields.get("stability_rule") is not None:
        rule = stability.StabilityRule.model_validate(fields["stability_rule"])
        fields["stability_rule"] = rule.model_dump(mode="json")


def default_rule(scale_min: int, scale_max: int) -> dict[str, Any]:
    """The rule a new study gets when none is chosen: COMET's on 1..9, 75 % agreement otherwise."""
    nine_points = (scale_min, scale_max) == (1, 9)
    return {"rule": "comet_70_15" if nine_points else "percent_agreement"}


def create_study(session: Session, *, actor: User, **fields: Any) -> Study:
    if actor.role == Role.observer:
        raise Forbidden("Observers can read results but cannot create studies.")
    fields["title"] = fields["title"].strip()
    if not fields["title"]:
        raise Invalid("Give the study a title.")
    _check_translations(fields)
    if fields["scale_min"] >= fields["scale_max"]:
        raise Invalid("The scale's minimum must be below its maximum.")
    fields["rule"] = _validated_rule(fields["rule"], fields["scale_min"], fields["scale_max"])
    _check_grading(
        fields.get("evidence_scheme", "pedro_scire"),
        fields.get("grading_table"),
        fields.get("strength_vote", False),
    )
    normalise_stability(fields)
    study = Study(**fields)
    session.add(study)
    session.flush()
    session.add(StudyMember(study_id=study.id, user_id=actor.id))
    audit.record(session, actor=actor, action="study.create", study_id=study.id, title=study.title)
    session.flush()
    return study


def update_study(session: Session, *, actor: User, study: Study, changes: dict[str, Any]) -> Study:
    locks.hold_study(session, study=study)  # a rule change cannot slip past round 1 opening
    ensure_writable(study)
    frozen = sorted(PREREGISTERED & changes.keys())
    if frozen and study.rules_frozen_at is not None:
        raise Conflict(frozen_message(study, frozen))
    merged = {k: changes.get(k, getattr(study, k)) for k in ("scale_min", "scale_max", "rule")}
    if merged["scale_min"] >= merged["scale_max"]:
        raise Invalid("The scale's minimum must be below its maximum.")
    if PREREGISTERED & changes.keys():
        changes["rule"] = _validated_rule(merged["rule"], merged["scale_min"], merged["scale_max"])
        _check_grading(
            changes.get("evidence_scheme", study.evidence_scheme),
            changes.get("grading_table", study.grading_table),
            changes.get("strength_vote", study.strength_vote),
        )
    if "translations" in changes or "languages" in changes:
        _check_translations(
            {
                "languages": changes.get("languages", study.languages),
                "translations": changes.get("translations", study.translations),
                "scale_min": merged["scale_min"],
                "scale_max": merged["scale_max"],
            }
        )
    normalise_stability(changes)
    if "strength_vote" in changes:  # a draft follows the study: it asks only if the study votes
        session.execute(
            update(Round)
            .where(Round.study_id == study.id, Round.status == RoundStatus.draft)
            .values(asks_strength=bool(changes["strength_vote"]))
        )
    before = {k: getattr(study, k) for k in changes}
    for key, value in changes.items():
        setattr(study, key, value)
    audit.record(
        session,
        actor=actor,
        action="study.update",
        study_id=study.id,
        before=before,
        after=changes,
    )
    session.flush()
    return study


@dataclass(frozen=True, slots=True)
class SettingsChange:
    changed: bool  # something differed from what the study had
    table_reset: bool  # the grading table went back to the new evidence scheme's preset


def change_settings(
    session: Session, *, actor: User, study: Study, fields: dict[str, Any]
) -> SettingsChange:
    """A whole settings form saved: only what differs from the study is written (and audited).

    Rules are compared in one normal form, their defaults spelled out; a grading table written
    for another evidence scheme cannot grade the new scheme's levels, so it is dropped.
    """
    normalise_stability(fields)
    if "rule" in fields:
        rule = RULE_ADAPTER.validate_python(fields["rule"])
        fields["rule"] = RULE_ADAPTER.dump_python(rule, mode="json")
    changes = {k: v for k, v in fields.items() if getattr(study, k) != v}
    table_reset = (
        "evidence_scheme" in changes
        and study.grading_table is not None
        and study.grading_table.get("scheme") != changes["evidence_scheme"]
    )
    if table_reset:
        changes["grading_table"] = None
    if changes:
        update_study(session, actor=actor, study=study, changes=changes)
    return SettingsChange(changed=bool(changes), table_reset=table_reset)


def ensure_writable(study: Study) -> None:
    if study.finalized_at is not None:
        raise Conflict("The study is finalized and read-only; nothing in it can change.")


def visible_studies(session: Session, *, user: User) -> list[Study]:
    query = select(Study).order_by(Study.id)
    if user.role != Role.admin:
        query = query.join(StudyMember).where(StudyMember.user_id == user.id)
    return list(session.scalars(query))


def study_for(session: Session, *, user: User, study_id: int, write: bool = False) -> Study:
    """The study if the user belongs to it; otherwise 404, so ids reveal nothing."""
    query = select(Study).where(Study.id == study_id)
    if user.role != Role.admin:
        query = query.join(StudyMember).where(StudyMember.user_id == user.id)
    study = session.scalar(query)
    if study is None:
        raise NotFound(f"Study {study_id} does not exist or is not one of yours.")
    if write and user.role == Role.observer:
        raise Forbidden("Observers can read results but cannot change a study.")
    return study


def freeze_rules(study: Study) -> None:
    if study.rules_frozen_at is None:
        study.rules_frozen_at = utcnow()


class _InStudy(Protocol):
    study_id: int


def owner_of(
    session: Session, *, user: User, record: _InStudy | None, label: str, write: bool = False
) -> Study:
    """The study a record belongs to, if it is one of the user's; else one 404 for both cases."""
    missing = NotFound(f"{label} does not exist or is not one of yours.")
    if record is None:
        raise missing
    try:
        return study_for(session, user=user, study_id=record.study_id, write=write)
    except NotFound as exc:
        raise missing from exc
