"""The engine-specific upserts: a second save replaces a rating in place and keeps a submission."""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Ballot, Rating, utcnow
from app.services.ballots.reading import Answer
from app.services.ballots.upserts import touch_ballot, upsert_ratings
from tests.services.builders import build_study


def test_a_second_save_replaces_each_rating_in_place_and_touches_no_one_elses(
    session: Session,
) -> None:
    b = build_study(session, statements=3, panelists=2)
    round_id = b.open_round().id
    s1, s2, s3 = (s.id for s in b.statements)
    me, other = (p.id for p in b.panelists)
    first = utcnow()
    upsert_ratings(
        session,
        round_id=round_id,
        panelist_id=me,
        merged={s1: Answer(value=3), s2: Answer(value=5, comment="Dose?")},
        now=first,
    )
    upsert_ratings(
        session, round_id=round_id, panelist_id=other, merged={s1: Answer(value=9)}, now=first
    )
    found = session.execute(select(Rating.statement_id, Rating.id).filter_by(panelist_id=me))
    ids = {statement_id: rating_id for statement_id, rating_id in found}
    later = first + timedelta(minutes=1)
    upsert_ratings(
        session,
        round_id=round_id,
        panelist_id=me,
        merged={s2: Answer(abstain=True), s3: Answer(value=7, strength="strong_for")},
        now=later,
    )
    session.expire_all()
    mine = {r.statement_id: r for r in session.scalars(select(Rating).filter_by(panelist_id=me))}
    assert set(mine) == {s1, s2, s3}
    assert (mine[s1].value, mine[s1].updated_at) == (3, first)  # not in the second save: kept
    assert mine[s2].id == ids[s2]  # replaced in place
    assert (mine[s2].value, mine[s2].abstain, mine[s2].comment) == (None, True, None)
    assert (mine[s2].created_at, mine[s2].updated_at) == (first, later)
    assert (mine[s3].value, mine[s3].strength) == (7, "strong_for")
    (theirs,) = session.scalars(select(Rating).filter_by(panelist_id=other))
    assert (theirs.value, theirs.updated_at) == (9, first)


def test_a_save_after_submitting_keeps_when_the_ballot_was_submitted(session: Session) -> None:
    b = build_study(session, statements=1, panelists=1)
    round_id = b.open_round().id
    me = b.panelists[0].id
    saved, submitted, again = (utcnow() + timedelta(minutes=m) for m in (0, 1, 2))
    assert touch_ballot(session, round_id=round_id, panelist_id=me, submit=False, now=saved) is None
    assert (
        touch_ballot(session, round_id=round_id, panelist_id=me, submit=True, now=submitted)
        == submitted
    )
    assert (
        touch_ballot(session, round_id=round_id, panelist_id=me, submit=False, now=again)
        == submitted
    )
    session.expire_all()
    (ballot,) = session.scalars(select(Ballot).filter_by(panelist_id=me))
    assert (ballot.submitted_at, ballot.updated_at) == (submitted, again)
