"""Turning loaded records into the API's schemas (no queries here: everything is preloaded).

Shared by the API's answers and the JSON export, which writes the study as the API shows it.
"""

from collections.abc import Callable

from app import models
from app.contract import schemas
from app.names import name_of
from app.services.ballots import BallotView
from app.services.evidence import StatementEvidence
from app.services.panel import Invitation
from app.services.rules import rule_words
from app.services.studies import rules_fingerprint


def study(s: models.Study) -> schemas.Study:
    return schemas.Study(
        id=s.id,
        title=s.title,
        instructions=s.instructions,
        scale=schemas.Scale(min=s.scale_min, max=s.scale_max, labels=s.scale_labels),
        consensus=s.rule,
        consensus_in_words=rule_words(s),
        quantile_method=s.quantile_method,
        max_rounds=s.max_rounds,
        allow_abstain=s.allow_abstain,
        hide_feedback_until_rated=s.hide_feedback_until_rated,
        languages=s.languages,
        translations=s.translations,
        groups=s.groups,
        reminder_hours=s.reminder_hours,
        evidence_scheme=s.evidence_scheme,
        grading_table=s.grading_table,
        strength_vote=s.strength_vote,
        stability_rule=s.stability_rule,
        feedback_by_group=s.feedback_by_group,
        show_evidence_on_ballot=s.show_evidence_on_ballot,
        rules_frozen_at=s.rules_frozen_at,
        rules_fingerprint=rules_fingerprint(s),
        finalized_at=s.finalized_at,
        created_at=s.created_at,
    )


def statement(s: models.Statement, v: models.StatementVersion | None = None) -> schemas.Statement:
    v = v or s.current
    return schemas.Statement(
        id=s.id,
        version_id=v.id,
        key=s.key,
        text=v.text,
        topic=s.topic,
        version=v.version,
        translations=v.translations,
        rationale=v.rationale,
        parent_version_id=v.parent_id,
        evidence_summary=s.evidence_summary or {},
    )


def panelist(p: models.Panelist, invitation: Invitation | None = None) -> schemas.Panelist:
    return schemas.Panelist(
        id=p.id,
        code=p.code,
        name=p.name,
        email=p.email,
        group=p.group,
        language=p.language,
        token=invitation.token if invitation else None,
        invite_url=invitation.invite_url if invitation else None,
    )


def round_(r: models.Round) -> schemas.Round:
    return schemas.Round(
        id=r.id,
        study_id=r.study_id,
        number=r.number,
        status=r.status.value,
        opens_at=r.opens_at,
        closes_at=r.closes_at,
        closed_at=r.closed_at,
        asks_strength=r.asks_strength,
        statements=[statement(item.statement, item.version) for item in r.items],
    )


def ballot_evidence(
    evidence: StatementEvidence,
    *,
    language: str,
    languages: list[str],
    gettext: Callable[[str], str],
) -> schemas.BallotEvidence:
    """A statement's evidence as the panelist reads it: designs in words of their language."""
    summary = evidence.summary_in(language, languages)
    return schemas.BallotEvidence(
        level_code=evidence.level.code,
        level_label=gettext(evidence.level.label),
        reasons=evidence.level.reasons,
        overridden_from=evidence.level.overridden_from,
        sources=[
            schemas.BallotSource(
                citation=source.citation,
                design=source.design,
                design_words=gettext(name_of("design", source.design)),
                pedro=source.pedro,
                amstar2=source.amstar2,
                amstar_score=source.amstar_score,
                doi=source.doi,
                pmid=source.pmid,
                url=source.url,
            )
            for source in evidence.sources
        ],
        summary=summary[1] if summary else None,
        summary_language=summary[0] if summary else None,
    )


def ballot(
    view: BallotView,
    *,
    language: str = "en",
    gettext: Callable[[str], str] = str,
    consensus_in_words: str | None = None,
) -> schemas.Ballot:
    """The ballot as the API shows it; words in `language` through its `gettext`."""
    return schemas.Ballot(
        round=schemas.BallotRound(
            id=view.round.id,
            number=view.round.number,
            closes_at=view.round.closes_at,
            asks_strength=view.round.asks_strength,
        ),
        submitted_at=view.submitted_at,
        rated=view.rated,
        total=len(view.items),
        items=[
            schemas.BallotItem(
                statement_id=item.statement_id,
                version_id=item.version_id,
                key=item.key,
                text=item.text,
                value=item.answer.value,
                abstain=item.answer.abstain,
                comment=item.answer.comment,
                strength=item.answer.strength,
                feedback=(
                    schemas.Feedback(**item.feedback)
                    if item.feedback and not item.feedback_hidden
                    else None
                ),
                feedback_hidden=item.feedback_hidden,
                evidence=(
                    ballot_evidence(
                        item.evidence,
                        language=language,
                        languages=view.study.languages,
                        gettext=gettext,
                    )
                    if item.evidence
                    else None
                ),
            )
            for item in view.items
        ],
        consensus_in_words=consensus_in_words,
        evidence_shown=view.study.show_evidence_on_ballot,
    )
