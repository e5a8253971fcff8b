"""A panelist's ballot: what they rate this round, the group's feedback, and saving answers."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Boolean, Integer, String, Table, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.consensus.disclosure import publishable_groups
from app.consensus.strength import STRENGTHS
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
from app.services import locks, results
from app.services.errors import Conflict, Forbidden, Invalid
from app.services.text import NUL
from app.settings import get_settings

UNSET: Any = object()
RATINGS = cast(Table, Rating.__table__)


@dataclass(frozen=True, slots=True)
class RatingInput:
    """One answer as sent; UNSET fields leave what was saved before unchanged."""

    statement_id: int
    value: int | None = UNSET
    abstain: bool | None = UNSET
    comment: str | None = UNSET
    strength: str | None = UNSET


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


@dataclass(slots=True)
class BallotView:
    study: Study
    round: Round
    submitted_at: datetime | None
    items: list[BallotItem] = field(default_factory=list)

    @property
    def rated(self) -> int:
        return sum(item.answer.rated for item in self.items)


def _ensure_active(panelist: Panelist) -> None:
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


def _current_rounds(session: Session, *, study_id: int) -> tuple[Round, Round | None]:
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


def _open_rounds_for_writing(
    session: Session, *, study_id: int, panelist_id: int
) -> tuple[Round, Round | None]:
    """As _current_rounds, read under the study's ratings lock: no close can slip in until we
    commit, and one that committed before we got the lock is seen (app.services.locks)."""
    locks.hold_ratings(session, study_id=study_id, exclusive=False, panelist_id=panelist_id)
    return _current_rounds(session, study_id=study_id)


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
    _ensure_active(panelist)
    study = panelist.study
    round_, previous = _current_rounds(session, study_id=study.id)
    _ensure_before_deadline(round_, now or utcnow())
    return _view(session, panelist=panelist, study=study, round_=round_, previous=previous)


def _ensure_before_deadline(round_: Round, now: datetime) -> None:
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
class _BallotRows:
    items: list[_Item]
    answers: dict[int, Answer]
    submitted_at: datetime | None


def _ballot_rows(session: Session, *, round_id: int, panelist_id: int) -> _BallotRows:
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
    return _BallotRows(
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
    ballot = _ballot_rows(session, round_id=round_.id, panelist_id=panelist.id)
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
    return _assemble(
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


def _assemble(
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


def _merge(answer: Answer, entry: RatingInput) -> Answer:
    merged = Answer(answer.value, answer.abstain, answer.comment, answer.strength)
    if entry.value is not UNSET:
        merged.value = entry.value
        if entry.value is not None and entry.abstain is UNSET:
            merged.abstain = False
    if entry.abstain is not UNSET:
        merged.abstain = bool(entry.abstain)
        if merged.abstain and entry.value is UNSET:
            merged.value = None
    if entry.comment is not UNSET:
        merged.comment = (entry.comment or "").strip() or None
    if entry.strength is not UNSET:
        merged.strength = entry.strength or None
    if merged.abstain:  # 'unable to rate' cannot carry a strength (a CHECK forbids it too)
        merged.strength = None
    return merged


def _validate(
    study: Study, round_: Round, item_keys: dict[int, str], entries: Sequence[RatingInput]
) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    seen: set[int] = set()
    limit = get_settings().max_comment_chars

    def fail(entry: RatingInput, message: str, code: str, **params: Any) -> None:
        # `code` and its parameters let a page say the same thing in the panelist's language.
        errors.append(
            {"statement_id": entry.statement_id, "code": code, "message": message, **params}
        )

    for entry in entries:
        label = item_keys.get(entry.statement_id, str(entry.statement_id))
        if entry.statement_id in seen:
            fail(entry, f"Statement {label} appears twice in one request; send it once.", "twice")
            continue
        seen.add(entry.statement_id)
        if entry.statement_id not in item_keys:
            fail(entry, f"Statement {entry.statement_id} is not on this round's ballot.", "unknown")
            continue
        if entry.value not in (UNSET, None):
            assert isinstance(entry.value, int)
            if not study.scale_min <= entry.value <= study.scale_max:
                fail(
                    entry,
                    f"Statement {label}: {entry.value} is outside the scale "
                    f"{study.scale_min}–{study.scale_max}.",
                    "out_of_scale",
                    value=entry.value,
                    min=study.scale_min,
                    max=study.scale_max,
                )
        if entry.abstain is True:
            if entry.value not in (UNSET, None):
                fail(
                    entry,
                    f"Statement {label}: give a rating or 'unable to rate', not both.",
                    "both",
                )
            elif not study.allow_abstain:
                fail(
                    entry,
                    f"Statement {label}: this study asks for a rating on every statement.",
                    "abstain_not_allowed",
                )
        if entry.strength not in (UNSET, None):
            if not round_.asks_strength:
                fail(
                    entry,
                    f"Statement {label}: this round does not ask for the recommendation's "
                    "strength; send the rating without it.",
                    "strength_not_asked",
                )
            elif entry.strength not in STRENGTHS:
                fail(
                    entry,
                    f"Statement {label}: {entry.strength!r} is not a strength; choose one of "
                    f"{', '.join(STRENGTHS)}.",
                    "strength_unknown",
                )
            elif entry.abstain is True:
                fail(
                    entry,
                    f"Statement {label}: a statement you are unable to rate cannot be given a "
                    "strength; choose one or the other.",
                    "strength_with_abstain",
                )
        if isinstance(entry.comment, str) and len(entry.comment) > limit:
            fail(
                entry,
                f"Statement {label}: the comment has {len(entry.comment):,} characters; "
                f"the limit is {limit:,}.",
                "comment_too_long",
                length=len(entry.comment),
                limit=limit,
            )
        if isinstance(entry.comment, str) and NUL in entry.comment:
            fail(
                entry,
                f"Statement {label}: the comment contains a NUL character (it often comes with "
                "pasted text); remove it.",
                "comment_nul",
            )
    return errors


def save_ballot(
    session: Session,
    *,
    panelist: Panelist,
    entries: Sequence[RatingInput],
    submit: bool = False,
    round_id: int | None = None,
    now: datetime | None = None,
) -> BallotView:
    """Save answers for the open round; all or nothing, refused once the round closes."""
    _ensure_active(panelist)
    now = now or utcnow()
    study = panelist.study
    if round_id is not None:
        target = session.get(Round, round_id)
        if target is None or target.study_id != study.id:
            raise Invalid(f"Round {round_id} is not a round of your study.")
        if target.status != RoundStatus.open:
            raise Conflict(
                f"Round {target.number} is {target.status.value}; it does not accept ratings."
            )
    round_, previous = _open_rounds_for_writing(session, study_id=study.id, panelist_id=panelist.id)
    if round_id is not None and round_.id != round_id:  # it closed while this form was open
        raise Conflict(
            f"The round this form was for has closed; round {round_.number} is open now. "
            "Reload the ballot to answer it."
        )
    _ensure_before_deadline(round_, now)
    ballot = _ballot_rows(session, round_id=round_.id, panelist_id=panelist.id)
    items, answers = ballot.items, ballot.answers
    item_keys = {item.statement_id: item.key for item in items}
    errors = _validate(study, round_, item_keys, entries)
    if errors:
        raise Invalid(" ".join(e["message"] for e in errors), errors=errors)
    merged = {e.statement_id: _merge(answers.get(e.statement_id, Answer()), e) for e in entries}
    unrated = [
        e
        for e in entries
        if e.strength not in (UNSET, None) and merged[e.statement_id].value is None
    ]
    if unrated:
        errors = [
            {
                "statement_id": e.statement_id,
                "code": "strength_with_abstain"
                if merged[e.statement_id].abstain
                else "strength_unrated",
                "message": f"Statement {item_keys[e.statement_id]}: "
                + (
                    "you marked it 'unable to rate', so it cannot be given a strength; rate it "
                    "first."
                    if merged[e.statement_id].abstain
                    else "give it a rating too; a strength counts only beside a rating."
                ),
            }
            for e in unrated
        ]
        raise Invalid(" ".join(e["message"] for e in errors), errors=errors)
    if submit:
        final = {**answers, **merged}
        missing = [key for sid, key in item_keys.items() if not final.get(sid, Answer()).rated]
        if missing:
            raise Invalid(
                "Rate every statement (or choose 'unable to rate') before submitting; "
                f"still missing: {', '.join(sorted(missing))}.",
                errors=[
                    {
                        "statement_id": sid,
                        "code": "missing",
                        "message": "Rate this statement before submitting.",
                    }
                    for sid, key in item_keys.items()
                    if key in missing
                ],
            )
    _upsert(session, round_id=round_.id, panelist_id=panelist.id, merged=merged, now=now)
    submitted_at = _touch_ballot(
        session, round_id=round_.id, panelist_id=panelist.id, submit=submit, now=now
    )
    return _assemble(
        session,
        panelist=panelist,
        study=study,
        round_=round_,
        previous=previous,
        items=items,
        answers={**answers, **merged},  # exactly what is now stored: no second read
        submitted_at=submitted_at,
        language=panelist.language,
    )


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


ANSWER_COLUMNS = ("value", "abstain", "comment", "strength")


@cache
def _unnest_upsert() -> Any:
    """PostgreSQL: the ballot as arrays through unnest(), built once.

    A short statement, the same whatever the ballot's size, that psycopg caches and PostgreSQL
    prepares; a multi-row VALUES of 50 ratings is re-parsed on both sides on every save.
    """
    table = RATINGS
    arrays = [
        bindparam(name, type_=ARRAY(type_))
        for name, type_ in (
            ("statement_id", Integer()),
            ("value", Integer()),
            ("abstain", Boolean()),
            ("comment", Text()),
            ("strength", String()),
        )
    ]
    rows = (
        func.unnest(*arrays)
        .table_valued("statement_id", *ANSWER_COLUMNS)
        .render_derived(name="answers")
    )
    now = bindparam("now", type_=table.c.updated_at.type)
    source = select(
        bindparam("round_id", type_=Integer()),
        rows.c.statement_id,
        bindparam("panelist_id", type_=Integer()),
        *(rows.c[name] for name in ANSWER_COLUMNS),
        now,
        now,
    )
    columns = ["round_id", "statement_id", "panelist_id", *ANSWER_COLUMNS]
    return _on_conflict(
        pg_insert(table).from_select([*columns, "created_at", "updated_at"], source)
    )


def _upsert(
    session: Session, *, round_id: int, panelist_id: int, merged: dict[int, Answer], now: datetime
) -> None:
    """The whole ballot in one INSERT … ON CONFLICT, not one statement per rating.

    Rows go in one fixed order, so two saves of the same ballot never deadlock.
    """
    if not merged:
        return
    answers = sorted(merged.items())
    if session.get_bind().dialect.name == "postgresql":
        arrays = {name: [getattr(a, name) for _, a in answers] for name in ANSWER_COLUMNS}
        session.execute(
            _unnest_upsert(),
            {
                "round_id": round_id,
                "panelist_id": panelist_id,
                "now": now,
                "statement_id": [sid for sid, _ in answers],
                **arrays,
            },
        )
        return
    # Elsewhere RETURNING lets SQLAlchemy's "insertmanyvalues" batch the rows into multi-row
    # VALUES from one cached compilation; Core, as the ORM's bulk path adds per-row bookkeeping.
    statement = _on_conflict(sqlite_insert(RATINGS)).returning(RATINGS.c.id)
    session.connection().execute(
        statement,
        [
            {
                "round_id": round_id,
                "statement_id": sid,
                "panelist_id": panelist_id,
                "value": a.value,
                "abstain": a.abstain,
                "comment": a.comment,
                "strength": a.strength,
                "created_at": now,
                "updated_at": now,
            }
            for sid, a in answers
        ],
    )


def _on_conflict(statement: Any) -> Any:
    """A second save of a rating replaces the first (the unique round × statement × panelist)."""
    return statement.on_conflict_do_update(
        index_elements=["round_id", "panelist_id", "statement_id"],
        set_={name: getattr(statement.excluded, name) for name in (*ANSWER_COLUMNS, "updated_at")},
    )


def _touch_ballot(
    session: Session, *, round_id: int, panelist_id: int, submit: bool, now: datetime
) -> datetime | None:
    """Record the save (and the submission); returns when the ballot was submitted, if it was."""
    statement = _insert(session)(Ballot).values(
        round_id=round_id,
        panelist_id=panelist_id,
        submitted_at=now if submit else None,
        updated_at=now,
    )
    changes: dict[str, Any] = {"updated_at": statement.excluded.updated_at}
    if submit:
        changes["submitted_at"] = statement.excluded.submitted_at
    submitted_at: datetime | None = session.scalar(
        statement.on_conflict_do_update(
            index_elements=["round_id", "panelist_id"], set_=changes
        ).returning(Ballot.submitted_at)
    )
    return submitted_at


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
