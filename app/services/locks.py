"""A per-study ratings lock that lets a close wait for ratings in flight without starving.

On PostgreSQL, raters hold a shared transaction-level advisory lock on their study's ratings
while they write and a close takes it exclusively. It is keyed by study, not round, so a rater
can take it before reading which round is open: that read then sees any close that committed
first, and no second read is needed. Unlike row locks (where new FOR SHARE lockers can
keep joining and starve a waiting UPDATE), the lock manager queues a new shared request behind
a waiting exclusive one, so the close gets in promptly and every later rating sees it closed.
On SQLite every write transaction already holds the database lock (BEGIN IMMEDIATE).
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Study

NAMESPACE = 0x44454C50  # "DELP": keeps our advisory locks apart from anyone else's


BALLOT_NAMESPACE = 0x44454C42  # "DELB": one panelist's ballot


def hold_ratings(
    session: Session, *, study_id: int, exclusive: bool, panelist_id: int | None = None
) -> None:
    """Take the lock on the study's ratings until the transaction ends.

    A saver also names its panelist: two saves of one ballot (two tabs, a retrying script) then
    take turns, so each reads the answers the other wrote. Both locks in one round trip.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    take = func.pg_advisory_xact_lock if exclusive else func.pg_advisory_xact_lock_shared
    locks = [take(NAMESPACE, study_id)]
    if panelist_id is not None:
        locks.append(func.pg_advisory_xact_lock(BALLOT_NAMESPACE, panelist_id))
    session.execute(select(*locks))


def hold_study(session: Session, *, study: Study) -> None:
    """Serialise a study's structural writers (open, rule change, numbering) on its row.

    PostgreSQL: SELECT … FOR UPDATE, then re-read the study so checks see the latest state.
    SQLite: the write transaction already holds the database lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Study.id).where(Study.id == study.id).with_for_update())
    session.refresh(study)
