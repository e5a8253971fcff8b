"""E-mail enqueued through the outbox: rendered per language, each with a fresh personal link,
once per dedupe key (reminders: test_reminders.py; the console's view: test_deliveries.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.delivery import deliver_due
from app.models import PanelistLink, utcnow
from app.services import ballots, deliveries, outbox, panel
from tests.mailing import (
    LINK,
    SENDER,
    TITLE_EN,
    TITLE_ZH,
    Recorder,
    bilingual_study,
    messages,
    outcomes,
    reload,
)

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
    assert all(v.link is None for v in deliveries.messages_for(session, study=b.study))


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
