"""E-mail enqueued through the outbox: rendered per language, each with a fresh personal link,
once per dedupe key, reminders to non-responders, and the console's view of the messages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.delivery import deliver_due
from app.models import PanelistLink, Round, utcnow
from app.services import ballots, outbox, panel
from tests.conftest import QueryCounter
from tests.mailing import (
    LINK,
    SENDER,
    TITLE_EN,
    TITLE_ZH,
    Recorder,
    add_emailed,
    bilingual_study,
    mail_settings,
    messages,
    outcomes,
    rate,
    reload,
    running_smtp_server,
)
from tests.services.builders import build_study


@pytest.fixture
def smtp() -> Iterator[Recorder]:
    with running_smtp_server() as recorder:
        yield recorder


@pytest.fixture
def no_smtp() -> Iterator[None]:
    with mail_settings(smtp_host=None):
        yield


# --- Invitations ----------------------------------------------------------------------------


def test_invitations_arrive_in_each_panelists_language_with_a_link_that_opens_the_ballot(
    session: Session, smtp: Recorder, client: TestClient
) -> None:
    b, people = bilingual_study(session)
    closes = utcnow() + timedelta(days=7)
    b.open_round(closes_at=closes)
    queued = outbox.enqueue_invitations(session, study=b.study, panelists=list(people.values()))
    assert {m.to_address for m in queued} == {"ada@example.org", "wang@example.org"}  # no e-mail
    reload(session)

    report = deliver_due()

    assert (report.sent, report.retried, report.failed, report.held) == (2, 0, 0, 0)
    assert len(smtp.received) == 2
    (en,) = smtp.to("ada@example.org")
    (zh,) = smtp.to("wang@example.org")
    assert en.mail_from == zh.mail_from == "delphi@example.org"
    assert en.email["From"] == SENDER
    assert en.subject == f'Invitation to the Delphi study "{TITLE_EN}"'
    assert "Dear Ada Lovelace," in en.body
    assert TITLE_EN in en.body
    assert "Round 1 is open now." in en.body
    assert "(Europe/London)" in en.body
    assert zh.subject == f"诚邀您参加德尔菲研究“{TITLE_ZH}”"
    assert "王伟，您好" in zh.body
    assert TITLE_ZH in zh.body
    assert TITLE_EN not in zh.body
    assert "第 1 轮现已开放" in zh.body
    assert "(Asia/Shanghai)" in zh.body
    assert zh.email["Content-Type"].params["charset"] == "utf-8"
    assert en.email["Message-ID"] != zh.email["Message-ID"]

    for received, address in ((en, "ada@example.org"), (zh, "wang@example.org")):
        who = people[address]
        assert panel.panelist_for_token(session, token=received.token).id == who.id
        response = client.get(
            "/api/v1/ballot", headers={"Authorization": f"Bearer {received.token}"}
        )
        assert response.status_code == 200, response.text
        assert received.body.count(received.token) == 1
    assert en.token != zh.token

    for message in messages(session):
        assert message.status == "sent"
        assert message.sent_at is not None
        ((outcome, detail),) = outcomes(session, message)
        assert outcome == "sent"
        assert detail.startswith("250 ")
        # Delivered: the raw token now lives only in the inbox, as the design wants.
        assert en.token not in message.body
        assert zh.token not in message.body
        assert outbox.REDACTED in message.body
    assert all(v.link is None for v in outbox.messages_for(session, study=b.study))


def test_each_message_gets_a_fresh_link_and_skips_those_who_cannot_be_written_to(
    session: Session,
) -> None:
    _, people = bilingual_study(session)
    ada = people["ada@example.org"]
    links = session.execute(select(func.count()).select_from(PanelistLink)).scalar_one()
    first = outbox.enqueue(session, kind="invitation", panelist=ada)
    second = outbox.enqueue(session, kind="invitation", panelist=ada)
    assert first is not None
    assert second is not None
    tokens = [LINK.search(m.body).group(1) for m in (first, second)]  # type: ignore[union-attr]
    assert tokens[0] != tokens[1]
    assert all(panel.panelist_for_token(session, token=t).id == ada.id for t in tokens)
    assert outbox.enqueue(session, kind="invitation", panelist=people["nomail"]) is None
    people["wang@example.org"].withdrawn_at = utcnow()
    assert outbox.enqueue(session, kind="invitation", panelist=people["wang@example.org"]) is None
    assert session.scalar(select(func.count()).select_from(PanelistLink)) == links + 2


def test_a_dedupe_key_queues_one_message_and_leaves_no_stray_link(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    b, people = bilingual_study(session)
    round_ = b.open_round(closes_at=utcnow() + timedelta(days=3))
    ada = people["ada@example.org"]
    kept = outbox.enqueue(session, kind="reminder", panelist=ada, round_=round_, dedupe_key="k1")
    assert kept is not None
    assert (
        outbox.enqueue(session, kind="reminder", panelist=ada, round_=round_, dedupe_key="k1")
        is None
    )
    session.commit()
    links = session.scalar(select(func.count()).select_from(PanelistLink))

    # Another process enqueued it after our pre-check: the unique key refuses the insert.
    seen = outbox._enqueued
    checks: list[str] = []

    def late_check(s: Session, key: str) -> bool:
        checks.append(key)
        return len(checks) > 1 and seen(s, key)

    monkeypatch.setattr(outbox, "_enqueued", late_check)
    again = outbox.enqueue(session, kind="reminder", panelist=ada, round_=round_, dedupe_key="k1")
    assert again is None
    assert checks == ["k1", "k1"]
    assert len(messages(session)) == 1
    assert session.scalar(select(func.count()).select_from(PanelistLink)) == links  # rolled back


@pytest.mark.usefixtures("no_smtp")
def test_round_opened_goes_to_every_active_panelist_once(session: Session) -> None:
    b, _ = bilingual_study(session)
    round_ = b.open_round()  # no deadline
    first = outbox.enqueue_round_opened(session, round_=round_)
    again = outbox.enqueue_round_opened(session, round_=round_)
    assert sorted(m.to_address for m in first) == ["ada@example.org", "wang@example.org"]
    assert again == []
    english = next(m for m in first if m.language == "en")
    assert english.subject == f'Round 1 of the Delphi study "{TITLE_EN}" is open'
    assert "no fixed deadline" in english.body


@pytest.mark.usefixtures("no_smtp")
def test_closing_soon_goes_to_those_who_have_not_submitted(session: Session) -> None:
    b, people = bilingual_study(session)
    round_ = b.open_round(closes_at=utcnow() + timedelta(days=1))
    entry = ballots.RatingInput(statement_id=b.statements[0].id, value=5)
    ballots.save_ballot(
        session,
        panelist=people["wang@example.org"],
        entries=[
            entry,
            ballots.RatingInput(statement_id=b.statements[1].id, value=6),
        ],
        submit=True,
    )
    sent = outbox.enqueue_closing_soon(session, round_=round_)
    assert [m.to_address for m in sent] == ["ada@example.org"]
    assert "closes soon" in sent[0].subject


# --- Reminders ------------------------------------------------------------------------------


def test_reminders_go_only_to_non_responders_at_72_and_24_hours_once_each(
    session: Session, smtp: Recorder
) -> None:
    b = build_study(session, statements=1, panelists=1)  # its panelist has no e-mail
    rater, abstainer, commenter, silent, withdrawn = add_emailed(b, 5)
    closes = utcnow() + timedelta(days=5)
    round_ = b.open_round(closes_at=closes)
    rate(session, b, rater, value=7)
    rate(session, b, abstainer, abstain=True)
    rate(session, b, commenter, comment="I need more time")  # a comment alone is no answer
    withdrawn.withdrawn_at = utcnow()
    session.commit()

    def due(at: datetime, times: int = 4) -> list[int]:
        counts = [outbox.enqueue_due_reminders(session, now=at) for _ in range(times)]
        session.commit()
        return counts

    assert due(closes - timedelta(hours=73)) == [0, 0, 0, 0]
    at_72 = closes - timedelta(hours=72) + timedelta(minutes=1)
    assert due(at_72) == [2, 0, 0, 0]
    assert deliver_due(now=at_72).sent == 2
    assert due(closes - timedelta(hours=30)) == [0, 0, 0, 0]

    rate(session, b, commenter, value=4)  # answers between the reminders
    session.commit()
    at_24 = closes - timedelta(hours=24) + timedelta(minutes=1)
    assert due(at_24) == [1, 0, 0, 0]
    assert deliver_due(now=at_24).sent == 1
    assert due(closes - timedelta(hours=1)) == [0, 0, 0, 0]
    assert due(closes + timedelta(minutes=1)) == [0, 0, 0, 0]

    assert sorted(r.to for r in smtp.received) == [
        "expert3@example.org",
        "expert4@example.org",
        "expert4@example.org",
    ]
    assert all(r.subject.startswith("Reminder: round 1 of") for r in smtp.received)
    assert "You have not yet answered round 1" in smtp.received[0].body
    reload(session)
    assert sorted(m.dedupe_key or "" for m in messages(session, kind="reminder")) == [
        f"reminder:{round_.id}:{commenter.id}:72",
        f"reminder:{round_.id}:{silent.id}:24",
        f"reminder:{round_.id}:{silent.id}:72",
    ]


def test_only_the_latest_due_reminder_is_sent_and_none_from_before_the_round_opened(
    session: Session,
) -> None:
    b = build_study(session, statements=1, panelists=1)
    add_emailed(b, 1)
    closes = utcnow() + timedelta(hours=48)  # the 72-hour point came before the opening
    b.open_round(closes_at=closes)
    assert outbox.enqueue_due_reminders(session, now=closes - timedelta(hours=30)) == 0
    late = closes - timedelta(hours=2)  # the scheduler was down through the 24-hour point
    assert outbox.enqueue_due_reminders(session, now=late) == 1
    assert outbox.enqueue_due_reminders(session, now=late) == 0
    (message,) = messages(session, kind="reminder")
    assert message.dedupe_key is not None
    assert message.dedupe_key.endswith(":24")


def test_due_reminder_points() -> None:
    opened = utcnow()
    round_ = Round(opens_at=opened, closes_at=opened + timedelta(days=5))
    closes = round_.closes_at
    assert closes is not None
    hours = [72, 24, "1.5", "junk", None, 0]
    assert outbox.due_reminder(round_, hours, now=closes - timedelta(hours=80)) is None
    assert outbox.due_reminder(round_, hours, now=closes - timedelta(hours=72)) == 72
    assert outbox.due_reminder(round_, hours, now=closes - timedelta(hours=3)) == 24
    assert outbox.due_reminder(round_, hours, now=closes - timedelta(hours=1)) == 1.5
    assert outbox.due_reminder(round_, hours, now=closes) is None
    assert outbox.due_reminder(round_, [], now=closes - timedelta(hours=1)) is None


# --- The console ----------------------------------------------------------------------------


@pytest.mark.usefixtures("no_smtp")
def test_history_is_scoped_to_the_study(session: Session) -> None:
    from app.services.errors import NotFound

    b, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    other = build_study(session, statements=1, panelists=1, email="other@example.org")
    with pytest.raises(NotFound):
        outbox.history(session, message_id=message.id, study=other.study)
    assert outbox.history(session, message_id=message.id, study=b.study) == []
    assert outbox.messages_for(session, study=other.study) == []


@pytest.mark.usefixtures("no_smtp")
def test_the_outbox_lists_messages_in_a_fixed_number_of_queries(
    session: Session, queries: QueryCounter
) -> None:
    b = build_study(session, statements=1, panelists=1)
    outbox.enqueue_invitations(session, study=b.study, panelists=add_emailed(b, 8))
    session.commit()
    deliver_due()
    queries.reset()
    views = outbox.messages_for(session, study=b.study)
    assert len(views) == 8
    assert all(len(v.attempts) == 1 for v in views)
    assert queries.count == 2


@pytest.mark.usefixtures("no_smtp")
def test_held_messages_can_all_be_queued_again(session: Session) -> None:
    b, people = bilingual_study(session)
    outbox.enqueue_invitations(session, study=b.study, panelists=list(people.values()))
    reload(session)
    assert deliver_due().held == 2
    assert outbox.requeue_held(session, actor=b.user, study=b.study) == 2
    reload(session)
    assert {m.status for m in messages(session)} == {"queued"}
    with running_smtp_server() as recorder:
        assert deliver_due().sent == 2
    assert len(recorder.received) == 2
