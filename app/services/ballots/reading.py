"""The ballot a panelist sees: this round's statements, their answers, and last round's feedback.

Saving answers is app.services.ballots.saving; this module only reads (it never writes), so the
page and the answer to a save are assembled the same way.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from app.consensus.disclosure import publishable_groups
from app.consensus.strength import STRENGTH_LABELS
from app.models import (
    Ballot,
    FinalRecommendation,
    Panelist,
    Rating,
    ResultSnapshot,
    Round,
    RoundItem,
    RoundStatus,
    Statement,
    StatementVersion,
    Study,
    utcnow,
)
from app.services import results
from app.services.errors import Conflict, Forbidden
from app.services.evidence import StatementEvidence, evidence_of_round

UNSET: Any = object()
RATINGS = cast(Table, Rating.__table__)


@dataclass(slots=True)
class Answer:
    value: int | None = None
    abstain: bool = False
    comment: str | None = None
    strength: str | None = None

    @property
    def rated(self) -> bool:
        return self.value is not None or self.abstain


@dataclass(slots=True)
class BallotItem:
    statement_id: int
    version_id: int
    key: str
    text: str
    answer: Answer
    rationale: str | None = None  # why this wording was revised, when it was
    feedback: dict[str, Any] | None = None
    feedback_hidden: bool = False
    evidence: StatementEvidence | None = None  # None: the study rates without seeing it


@dataclass(slots=True)
class BallotView:
    study: Study
    round: Round
    submitted_at: datetime | None
    items: list[BallotItem] = field(default_factory=list)

    @property
    def rated(self) -> int:
        return sum(item.answer.rated for item in self.items)

    @property
    def strength_choices(self) -> list[tuple[str, str]]:
        """The strength vote's choices with their labels (untranslated), in the ballot's order."""
        return list(STRENGTH_LABELS.items())


def ensure_active(panelist: Panelist) -> None:
    """A withdrawn panelist, or any panelist of a finalized study, has no ballot to read or save."""
    if panelist.withdrawn_at is not None:
        raise Forbidden("You have withdrawn from this study; your earlier answers are kept.")
    if panelist.study.finalized_at is not None:
        raise Conflict("The study is finalized; thank you, no more ratings are collected.")


NO_OPEN_ROUND = "No round is open right now; you will be told when the next one opens."


_CURRENT_ROUNDS = (
    select(Round)
    .where(Round.study_id == bindparam("study_id"), Round.status != RoundStatus.draft)
    .order_by(Round.number.desc())
    .limit(2)
    # A round already in the session (a save naming its round) may be stale: read it afresh.
    .execution_options(populate_existing=True)
)


def current_rounds(session: Session, *, study_id: int) -> tuple[Round, Round | None]:
    """The open round and the closed round before it (whose answers are the feedback): one read."""
    latest = list(session.scalars(_CURRENT_ROUNDS, {"study_id": study_id}))
    if not latest or latest[0].status != RoundStatus.open:
        raise Conflict(NO_OPEN_ROUND)
    return latest[0], _previous_of(latest[0], latest[1:])


def _previous_of(round_: Round, earlier: Sequence[Round]) -> Round | None:
    previous = earlier[0] if earlier else None
    if previous is None or previous.number != round_.number - 1:
        return None
    return previous if previous.status == RoundStatus.closed else None


def _answers(session: Session, *, round_id: int, panelist_id: int) -> dict[int, Answer]:
    rows = session.execute(
        select(
            Rating.statement_id, Rating.value, Rating.abstain, Rating.comment, Rating.strength
        ).where(Rating.round_id == round_id, Rating.panelist_id == panelist_id)
    ).all()
    return {
        sid: Answer(value, abstain, comment, strength)
        for sid, value, abstain, comment, strength in rows
    }


def get_ballot(session: Session, *, panelist: Panelist, now: datetime | None = None) -> BallotView:
    ensure_active(panelist)
    study = panelist.study
    round_, previous = current_rounds(session, study_id=study.id)
    ensure_before_deadline(round_, now or utcnow())
    return _view(session, panelist=panelist, study=study, round_=round_, previous=previous)


def ensure_before_deadline(round_: Round, now: datetime) -> None:
    """Past its deadline a round still open (not yet closed) neither shows nor takes ratings."""
    if round_.closes_at is not None and round_.closes_at <= now:
        raise Conflict(
            f"The deadline of round {round_.number} passed at "
            f"{round_.closes_at.isoformat()}; ratings are no longer accepted."
        )


@dataclass(frozen=True, slots=True)
class _Item:
    """A statement of the round with the wording frozen for it: plain columns, no ORM entity."""

    statement_id: int
    key: str
    version_id: int
    text: str
    translations: dict[str, Any]
    rationale: str | None

    def text_in(self, language: str) -> str:
        return str(self.translations.get(language) or self.text)


_MINE = RATINGS.alias("mine")
# Built once: constructing a SELECT costs about as much as running it on a warm connection.
_BALLOT_ROWS = (
    select(
        RoundItem.statement_id,
        Statement.key,
        StatementVersion.id,
        StatementVersion.text,
        StatementVersion.translations,
        StatementVersion.rationale,
        _MINE.c.id,
        _MINE.c.value,
        _MINE.c.abstain,
        _MINE.c.comment,
        _MINE.c.strength,
        # When the panelist submitted this round's ballot: the same on every row, read once.
        select(Ballot.submitted_at)
        .where(
            Ballot.round_id == bindparam("round_id"),
            Ballot.panelist_id == bindparam("panelist_id"),
        )
        .scalar_subquery(),
    )
    .join(Statement, Statement.id == RoundItem.statement_id)
    .join(StatementVersion, StatementVersion.id == RoundItem.version_id)
    .outerjoin(
        _MINE,
        (_MINE.c.round_id == RoundItem.round_id)
        & (_MINE.c.statement_id == RoundItem.statement_id)
        & (_MINE.c.panelist_id == bindparam("panelist_id")),
    )
    .where(RoundItem.round_id == bindparam("round_id"))
    .order_by(RoundItem.position)
)


@dataclass(frozen=True, slots=True)
class BallotRows:
    """One read of the ballot: its statements, the answers given and when it was submitted."""

    items: list[_Item]
    answers: dict[int, Answer]
    submitted_at: datetime | None


def ballot_rows(session: Session, *, round_id: int, panelist_id: int) -> BallotRows:
    """The round's statements in ballot order, the panelist's answers and submission: one read."""
    rows = session.execute(_BALLOT_ROWS, {"round_id": round_id, "panelist_id": panelist_id}).all()
    answers = {
        row[0]: Answer(value, bool(abstain), comment, strength)
        for row in rows
        for rating_id, value, abstain, comment, strength in [row[6:11]]
        if rating_id is not None
    }
    if rows:
        submitted_at = rows[0][11]
    else:  # a round without statements: no row carries it
        submitted_at = session.scalar(
            select(Ballot.submitted_at).where(
                Ballot.round_id == round_id, Ballot.panelist_id == panelist_id
            )
        )
    return BallotRows(
        items=[_Item(*row[:6]) for row in rows], answers=answers, submitted_at=submitted_at
    )


def _view(
    session: Session,
    *,
    panelist: Panelist,
    study: Study,
    round_: Round,
    language: str | None = None,
    previous: Round | None = UNSET,
) -> BallotView:
    """The ballot in `language` (default: the panelist's own) where translations exist."""
    ballot = ballot_rows(session, round_id=round_.id, panelist_id=panelist.id)
    if previous is UNSET:
        previous = _previous_of(
            round_,
            list(
                session.scalars(
                    select(Round).where(
                        Round.study_id == study.id, Round.number == round_.number - 1
                    )
                )
            ),
        )
    return assemble(
        session,
        panelist=panelist,
        study=study,
        round_=round_,
        previous=previous,
        items=ballot.items,
        answers=ballot.answers,
        submitted_at=ballot.submitted_at,
        language=language or panelist.language,
    )


def assemble(
    session: Session,
    *,
    panelist: Panelist,
    study: Study,
    round_: Round,
    previous: Round | None,
    items: list[_Item],
    answers: dict[int, Answer],
    submitted_at: datetime | None,
    language: str,
) -> BallotView:
    """The view from what the caller has already read (a save needs no second read)."""
    view = BallotView(study=study, round=round_, submitted_at=submitted_at)
    for item in items:
        view.items.append(
            BallotItem(
                statement_id=item.statement_id,
                version_id=item.version_id,
                key=item.key,
                text=item.text_in(language),
                answer=answers.get(item.statement_id, Answer()),
                rationale=item.rationale,
            )
        )
    if previous is not None:
        _attach_feedback(
            session, view=view, previous=previous, panelist=panelist, language=language
        )
    if study.show_evidence_on_ballot:
        evidence = evidence_of_round(session, study=study, round_id=round_.id)
        for ballot_item in view.items:
            ballot_item.evidence = evidence.get(ballot_item.statement_id)
    return view


def _attach_feedback(
    session: Session, *, view: BallotView, previous: Round, panelist: Panelist, language: str
) -> None:
    """The previous round's group answers per carried-forward statement (controlled feedback)."""
    snapshots = {
        s.statement_id: s
        for s in session.scalars(
            select(ResultSnapshot).where(ResultSnapshot.round_id == previous.id)
        )
    }
    mine = _answers(session, round_id=previous.id, panelist_id=panelist.id)
    comments = results.comments(session, round_id=previous.id)
    rated_versions = {
        v.id: v
        for v in session.scalars(
            select(StatementVersion).where(
                StatementVersion.id.in_({s.version_id for s in snapshots.values()})
            )
        )
    }
    for item in view.items:
        snapshot = snapshots.get(item.statement_id)
        if snapshot is None:
            continue
        # Anti-anchoring: the study may hold the group's answers back until a fresh rating.
        item.feedback_hidden = view.study.hide_feedback_until_rated and not item.answer.rated
        figures = snapshot.figures
        own = mine.get(item.statement_id)
        item.feedback = {
            "round": previous.number,
            "histogram": figures["histogram"],
            "n": figures["n"],
            "median": figures["median"],
            "q1": figures["q1"],
            "q3": figures["q3"],
            "iqr": figures["iqr"],
            "pct_agree": figures["pct_agree"],
            "agree_min": (previous.rule_snapshot or {}).get("agree_min_applied"),
            "scale_max": view.study.scale_max,
            "classification": snapshot.classification,
            "my_previous": own.value if own else None,
            "my_previous_abstained": bool(own and own.abstain),
            "comments": comments.get(item.statement_id, []),
            # The group rated other wording last round: say so, with the old text and why.
            "revised": snapshot.version_id != item.version_id,
            "previous_text": (
                rated_versions[snapshot.version_id].text_in(language)
                if snapshot.version_id != item.version_id
                else None
            ),
            "rationale": item.rationale if snapshot.version_id != item.version_id else None,
        }
        if view.study.feedback_by_group:
            item.feedback |= _group_feedback(figures)


def _group_feedback(figures: dict[str, Any]) -> dict[str, Any]:
    """Each group's answers where neither they nor the panel minus them can reveal a rating.

    Hidden groups are not named: a name beside "too few to show" says who the few are.
    """
    groups: dict[str, Any] = figures.get("groups") or {}
    published = publishable_groups(figures["n"], {name: g["n"] for name, g in groups.items()})
    shown = {
        name: {
            "histogram": g["histogram"],
            "n": g["n"],
            "median": g["median"],
            "pct_agree": g["pct_agree"],
            "classification": g["classification"],
        }
        for name, g in sorted(groups.items())
        if name in published
    }
    return {"groups": shown, "groups_withheld": len(shown) < len(groups)}


@dataclass(slots=True)
class PanelStatus:
    """What a panelist's page should show: their ballot, or why there is none right now."""

    kind: str  # withdrawn | finalized | waiting | deadline_passed | open
    study: Study
    latest: Round | None = None
    view: BallotView | None = None
    outcomes: list[tuple[str, str, str]] = field(default_factory=list)  # key, text, class


def status_for(
    session: Session,
    *,
    panelist: Panelist,
    language: str | None = None,
    now: datetime | None = None,
) -> PanelStatus:
    now = now or utcnow()
    language = language or panelist.language
    study = panelist.study
    if panelist.withdrawn_at is not None:
        return PanelStatus("withdrawn", study)
    latest = session.scalar(
        select(Round)
        .where(Round.study_id == study.id, Round.status != RoundStatus.draft)
        .order_by(Round.number.desc())
        .limit(1)
    )
    if study.finalized_at is not None:
        return PanelStatus("finalized", study, latest, outcomes=_outcomes(session, study, language))
    if latest is None or latest.status != RoundStatus.open:
        return PanelStatus("waiting", study, latest)
    if latest.closes_at is not None and latest.closes_at <= now:
        return PanelStatus("deadline_passed", study, latest)
    return PanelStatus(
        "open",
        study,
        latest,
        _view(session, panelist=panelist, study=study, round_=latest, language=language),
    )


def view_for_round(
    session: Session, *, panelist: Panelist, round_id: int, language: str | None = None
) -> BallotView | None:
    """The ballot as it was for a given round of the panelist's study (to show a stale form)."""
    round_ = session.get(Round, round_id)
    if round_ is None or round_.study_id != panelist.study_id or round_.status == RoundStatus.draft:
        return None
    return _view(session, panelist=panelist, study=panelist.study, round_=round_, language=language)


def _outcomes(session: Session, study: Study, language: str) -> list[tuple[str, str, str]]:
    """The finalized recommendations: key, text in the panelist's language, and the grade."""
    rows = session.scalars(
        select(FinalRecommendation)
        .where(FinalRecommendation.study_id == study.id)
        .order_by(FinalRecommendation.position)
    )
    out = []
    for row in rows:
        content = row.content
        text = (content.get("translations") or {}).get(language) or content["text"]
        label = str(content["grade_label"])
        out.append((content["key"], text, label[:1].upper() + label[1:]))
    return out
