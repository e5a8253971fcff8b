"""Saving a panelist's answers: checked all together, merged with what was saved, all or nothing.

The round is read under the study's ratings lock (app.services.locks), so a save and a round's
close never overlap; the rows are written by app.services.ballots.upserts.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.consensus.strength import STRENGTHS
from app.models import Panelist, Round, RoundStatus, Study, utcnow
from app.services import locks
from app.services.ballots.reading import (
    UNSET,
    Answer,
    BallotView,
    assemble,
    ballot_rows,
    current_rounds,
    ensure_active,
    ensure_before_deadline,
)
from app.services.ballots.upserts import touch_ballot, upsert_ratings
from app.services.errors import Conflict, Invalid
from app.services.text import NUL
from app.settings import get_settings


@dataclass(frozen=True, slots=True)
class RatingInput:
    """One answer as sent; UNSET fields leave what was saved before unchanged."""

    statement_id: int
    value: int | None = UNSET
    abstain: bool | None = UNSET
    comment: str | None = UNSET
    strength: str | None = UNSET


def _open_rounds_for_writing(
    session: Session, *, study_id: int, panelist_id: int
) -> tuple[Round, Round | None]:
    """As current_rounds, read under the study's ratings lock: no close can slip in until we
    commit, and one that committed before we got the lock is seen (app.services.locks)."""
    locks.hold_ratings(session, study_id=study_id, exclusive=False, panelist_id=panelist_id)
    return current_rounds(session, study_id=study_id)


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


def _fail(
    errors: list[dict[str, Any]], entry: RatingInput, message: str, code: str, **params: Any
) -> None:
    """`code` and its parameters let a page say the same thing in the panelist's language."""
    errors.append({"statement_id": entry.statement_id, "code": code, "message": message, **params})


def _validate(
    study: Study,
    round_: Round,
    item_keys: dict[int, str],
    entries: Sequence[RatingInput],
    unreadable: Collection[int] = (),
) -> list[dict[str, Any]]:
    """Every entry's problems at once, in the order sent, each check in the order a page shows.

    `unreadable`: statements whose rating the form could not even read (a tampered value).
    """
    errors: list[dict[str, Any]] = []
    seen: set[int] = set()
    limit = get_settings().max_comment_chars
    for entry in entries:
        label = item_keys.get(entry.statement_id, str(entry.statement_id))
        if entry.statement_id in seen:
            _fail(
                errors,
                entry,
                f"Statement {label} appears twice in one request; send it once.",
                "twice",
            )
            continue
        seen.add(entry.statement_id)
        if entry.statement_id not in item_keys:
            _fail(
                errors,
                entry,
                f"Statement {entry.statement_id} is not on this round's ballot.",
                "unknown",
            )
            continue
        if entry.statement_id in unreadable:
            _fail(
                errors,
                entry,
                f"Statement {label}: choose one of the points on the scale.",
                "unreadable",
            )
        _check_rating(errors, study, label, entry)
        _check_strength(errors, round_, label, entry)
        _check_comment(errors, label, entry, limit)
    return errors


def _check_rating(
    errors: list[dict[str, Any]], study: Study, label: str, entry: RatingInput
) -> None:
    """A value on the study's scale, or 'unable to rate' where the study allows it: not both."""
    if entry.value not in (UNSET, None):
        assert isinstance(entry.value, int)
        if not study.scale_min <= entry.value <= study.scale_max:
            _fail(
                errors,
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
            _fail(
                errors,
                entry,
                f"Statement {label}: give a rating or 'unable to rate', not both.",
                "both",
            )
        elif not study.allow_abstain:
            _fail(
                errors,
                entry,
                f"Statement {label}: this study asks for a rating on every statement.",
                "abstain_not_allowed",
            )


def _check_strength(
    errors: list[dict[str, Any]], round_: Round, label: str, entry: RatingInput
) -> None:
    """A strength only where the round asks for one, one of STRENGTHS, never with an abstention."""
    if entry.strength in (UNSET, None):
        return
    if not round_.asks_strength:
        _fail(
            errors,
            entry,
            f"Statement {label}: this round does not ask for the recommendation's "
            "strength; send the rating without it.",
            "strength_not_asked",
        )
    elif entry.strength not in STRENGTHS:
        _fail(
            errors,
            entry,
            f"Statement {label}: {entry.strength!r} is not a strength; choose one of "
            f"{', '.join(STRENGTHS)}.",
            "strength_unknown",
        )
    elif entry.abstain is True:
        _fail(
            errors,
            entry,
            f"Statement {label}: a statement you are unable to rate cannot be given a "
            "strength; choose one or the other.",
            "strength_with_abstain",
        )


def _check_comment(
    errors: list[dict[str, Any]], label: str, entry: RatingInput, limit: int
) -> None:
    """A comment within the length limit, without the NUL that pasted text sometimes brings."""
    if isinstance(entry.comment, str) and len(entry.comment) > limit:
        _fail(
            errors,
            entry,
            f"Statement {label}: the comment has {len(entry.comment):,} characters; "
            f"the limit is {limit:,}.",
            "comment_too_long",
            length=len(entry.comment),
            limit=limit,
        )
    if isinstance(entry.comment, str) and NUL in entry.comment:
        _fail(
            errors,
            entry,
            f"Statement {label}: the comment contains a NUL character (it often comes with "
            "pasted text); remove it.",
            "comment_nul",
        )


def save_ballot(
    session: Session,
    *,
    panelist: Panelist,
    entries: Sequence[RatingInput],
    submit: bool = False,
    round_id: int | None = None,
    now: datetime | None = None,
    unreadable: Collection[int] = (),
) -> BallotView:
    """Save answers for the open round; all or nothing, refused once the round closes.

    A form's `unreadable` ratings are refused with every other problem of the same save.
    """
    ensure_active(panelist)
    now = now or utcnow()
    study = panelist.study
    round_, previous = _round_to_write(session, panelist=panelist, round_id=round_id)
    ensure_before_deadline(round_, now)
    ballot = ballot_rows(session, round_id=round_.id, panelist_id=panelist.id)
    items, answers = ballot.items, ballot.answers
    item_keys = {item.statement_id: item.key for item in items}
    errors = _validate(study, round_, item_keys, entries, unreadable)
    if errors:
        raise Invalid(" ".join(e["message"] for e in errors), errors=errors)
    merged = {e.statement_id: _merge(answers.get(e.statement_id, Answer()), e) for e in entries}
    _refuse_strength_without_rating(item_keys, entries, merged)
    if submit:
        _refuse_incomplete(item_keys, {**answers, **merged})
    upsert_ratings(session, round_id=round_.id, panelist_id=panelist.id, merged=merged, now=now)
    submitted_at = touch_ballot(
        session, round_id=round_.id, panelist_id=panelist.id, submit=submit, now=now
    )
    return assemble(
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


def _round_to_write(
    session: Session, *, panelist: Panelist, round_id: int | None
) -> tuple[Round, Round | None]:
    """The open round (and the closed one before it), locked; the one the form named, if any."""
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
    return round_, previous


def _refuse_strength_without_rating(
    item_keys: dict[int, str], entries: Sequence[RatingInput], merged: dict[int, Answer]
) -> None:
    """A strength counts only beside a rating: refuse one left on an unrated statement."""
    unrated = [
        e
        for e in entries
        if e.strength not in (UNSET, None) and merged[e.statement_id].value is None
    ]
    if not unrated:
        return
    errors: list[dict[str, Any]] = [
        {
            "statement_id": e.statement_id,
            "code": "strength_with_abstain"
            if merged[e.statement_id].abstain
            else "strength_unrated",
            "message": f"Statement {item_keys[e.statement_id]}: "
            + (
                "you marked it 'unable to rate', so it cannot be given a strength; rate it first."
                if merged[e.statement_id].abstain
                else "give it a rating too; a strength counts only beside a rating."
            ),
        }
        for e in unrated
    ]
    raise Invalid(" ".join(e["message"] for e in errors), errors=errors)


def _refuse_incomplete(item_keys: dict[int, str], final: dict[int, Answer]) -> None:
    """A submitted ballot has every statement rated or marked 'unable to rate'."""
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
