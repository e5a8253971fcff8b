"""The demo study reads like a real one: panelists see varied comments, not one line repeated."""

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Rating
from app.tools.demo import seed_or_refresh


def test_demo_comments_are_never_repeated_across_statements(session: Session) -> None:
    seed_or_refresh(session, seed=2021)
    comments = session.execute(
        select(Rating.comment, Rating.statement_id).where(Rating.comment.is_not(None))
    ).all()
    said = Counter(text for text, _ in comments)
    assert len(comments) >= 5  # the first round's feedback shows some comments
    assert len({statement_id for _, statement_id in comments}) >= 3
    assert said.most_common(1)[0][1] == 1  # no sentence appears twice, on any statement
