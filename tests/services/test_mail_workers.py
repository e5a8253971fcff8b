"""Several app processes ticking at once: each reminder reaches the SMTP server exactly once.

Two workers are threads with their own sessions and connections, as two processes would have.
On SQLite the write lock serialises them; on PostgreSQL (TEST_DATABASE_URL) they really overlap,
which exercises the unique dedupe key (enqueue) and FOR UPDATE SKIP LOCKED (deliver_due).
"""

import threading
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from app.db import transaction
from app.models import DeliveryAttempt, OutboxMessage, PanelistLink, utcnow
from app.security import token_hash
from app.services import outbox
from tests.services.builders import build_study
from tests.services.test_outbox import add_emailed, rate, reload, running_smtp_server

WORKERS = 2


def run_workers(job: Any, *, workers: int = WORKERS, passes: int = 3) -> list[Any]:
    """Run job() `passes` times in each worker, all workers starting each pass together."""
    barrier = threading.Barrier(workers)
    results: list[Any] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(passes):
                barrier.wait(timeout=60)
                results.append(job())
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=work, name=f"worker-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a worker hung"
    assert not errors, errors
    return results


def tick(now: datetime) -> tuple[int, outbox.DeliveryReport]:
    """What each process does every tick: queue due reminders, commit, then deliver."""
    with transaction() as session:
        queued = outbox.enqueue_due_reminders(session, now=now)
    return queued, outbox.deliver_due(now=now)


def test_two_workers_send_each_due_reminder_exactly_once(session):
    b = build_study(session, statements=1, panelists=1)  # that panelist has no e-mail
    panelists = add_emailed(b, 8)
    closes = utcnow() + timedelta(days=5)
    round_ = b.open_round(closes_at=closes)
    for responder in panelists[:3]:
        rate(session, b, responder, value=8)
    session.commit()
    silent = [p.email for p in panelists[3:]]

    with running_smtp_server() as smtp:
        outbox.deliver_due()  # the "round opened" messages, queued when the round opened
        smtp.received.clear()
        earlier_links = set(session.scalars(select(PanelistLink.token_hash)))
        smtp.delay = 0.02
        for n, hours in enumerate((72, 24), start=1):
            now = closes - timedelta(hours=hours) + timedelta(minutes=1)
            results = run_workers(lambda now=now: tick(now))
            assert sum(queued for queued, _ in results) == len(silent)
            assert sum(report.sent for _, report in results) == len(silent)
            assert not any(r.retried or r.failed or r.held for _, r in results)
            arrived = Counter(r.to for r in smtp.received)
            assert arrived == dict.fromkeys(silent, n), arrived

    reload(session)
    reminders = list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder")))
    assert sorted(m.dedupe_key or "" for m in reminders) == sorted(
        f"reminder:{round_.id}:{p.id}:{h}" for p in panelists[3:] for h in (72, 24)
    )
    assert {(m.status, m.attempts) for m in reminders} == {("sent", 1)}
    attempts = session.execute(
        select(DeliveryAttempt.outcome, func.count())
        .where(DeliveryAttempt.message_id.in_([m.id for m in reminders]))
        .group_by(DeliveryAttempt.outcome)
    ).all()
    assert dict(attempts) == {"sent": len(reminders)}
    # The losing worker's links were rolled back with its savepoints: one link per message,
    # and each is the one that arrived.
    links = set(session.scalars(select(PanelistLink.token_hash))) - earlier_links
    assert links == {token_hash(r.token) for r in smtp.received}
    assert len(links) == len(reminders)


def test_concurrent_deliveries_never_send_a_message_twice(session):
    b = build_study(session, statements=1, panelists=1)
    queued = outbox.enqueue_invitations(session, study=b.study, panelists=add_emailed(b, 24))
    session.commit()

    with running_smtp_server() as smtp:
        smtp.delay = 0.01
        results = run_workers(lambda: outbox.deliver_due(limit=5), workers=4, passes=2)

    assert sum(r.sent for r in results) == len(queued) == len(smtp.received) == 24
    assert Counter(r.to for r in smtp.received) == {m.to_address: 1 for m in queued}
    reload(session)
    counts = session.execute(
        select(DeliveryAttempt.message_id, func.count()).group_by(DeliveryAttempt.message_id)
    ).all()
    assert len(counts) == 24 and {c for _, c in counts} == {1}
