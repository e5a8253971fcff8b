"""The console's view of the outbox: scoped to the study, in a fixed number of queries, and held
messages queued again."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.delivery import deliver_due
from app.services import audit, deliveries, outbox
from tests.conftest import QueryCounter
from tests.mailing import (
    Recorder,
    add_emailed,
    bilingual_study,
    messages,
    outcomes,
    reload,
    running_smtp_server,
)
from tests.services.builders import build_study


@pytest.mark.usefixtures("no_smtp")
def test_history_is_scoped_to_the_study(session: Session) -> None:
    from app.services.errors import NotFound

    b, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    other = build_study(session, statements=1, panelists=1, email="other@example.org")
    with pytest.raises(NotFound):
        deliveries.history(session, message_id=message.id, study=other.study)
    assert deliveries.history(session, message_id=message.id, study=b.study) == []
    assert deliveries.messages_for(session, study=other.study) == []


@pytest.mark.usefixtures("no_smtp")
def test_the_outbox_lists_messages_in_a_fixed_number_of_queries(
    session: Session, queries: QueryCounter
) -> None:
    b = build_study(session, statements=1, panelists=1)
    outbox.enqueue_invitations(session, study=b.study, panelists=add_emailed(b, 8))
    session.commit()
    deliver_due()
    queries.reset()
    views = deliveries.messages_for(session, study=b.study)
    assert len(views) == 8
    assert all(len(v.attempts) == 1 for v in views)
    assert queries.count == 2


@pytest.mark.usefixtures("no_smtp")
def test_held_messages_can_all_be_queued_again(session: Session) -> None:
    b, people = bilingual_study(session)
    outbox.enqueue_invitations(session, study=b.study, panelists=list(people.values()))
    reload(session)
    assert deliver_due().held == 2
    assert deliveries.requeue_held(session, actor=b.user, study=b.study) == 2
    reload(session)
    assert {m.status for m in messages(session)} == {"queued"}
    with running_smtp_server() as recorder:
        assert deliver_due().sent == 2
    assert len(recorder.received) == 2


def test_failed_messages_of_a_kind_are_sent_again_and_keep_their_history(
    session: Session, smtp: Recorder
) -> None:
    b, people = bilingual_study(session)
    outbox.enqueue_invitations(session, study=b.study, panelists=list(people.values()))
    reload(session)
    smtp.unknown.update(people)  # the server refuses both addresses for good
    assert deliver_due().failed == 2
    assert deliveries.failed_counts(session, study=b.study) == {"invitation": 2}
    assert deliveries.requeue_failed(session, actor=b.user, study=b.study, kind="reminder") == 0

    smtp.unknown.clear()  # the addresses were fixed at the server's end
    assert deliveries.requeue_failed(session, actor=b.user, study=b.study, kind="invitation") == 2
    reload(session)
    assert {m.status for m in messages(session)} == {"queued"}
    assert deliver_due().sent == 2
    assert len(smtp.received) == 2
    reload(session)
    for message in messages(session):
        assert [o for o, _ in outcomes(session, message)] == ["failed", "sent"]
    (entry,) = (e for e in audit.entries(session, study_id=b.study.id) if "failed" in e.action)
    assert (entry.action, entry.detail) == (
        "outbox.requeue_failed",
        {"kind": "invitation", "count": 2},
    )


def test_only_known_kinds_of_failed_messages_are_sent_again(session: Session) -> None:
    from app.services.errors import Invalid

    b = build_study(session, statements=1, panelists=1)
    with pytest.raises(Invalid, match="Unknown kind"):
        deliveries.requeue_failed(session, actor=b.user, study=b.study, kind="spam")
