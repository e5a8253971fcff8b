"""The delivery worker (app/delivery.py): sent through a real SMTP server (aiosmtpd), retried
with backoff, held without SMTP settings, never sent twice, with every attempt kept.

Several app processes ticking at once are worker threads with their own sessions and
connections, as two processes would have. On SQLite the write lock serialises them; on
PostgreSQL (TEST_DATABASE_URL) they really overlap, which exercises the unique dedupe key
(enqueue) and FOR UPDATE SKIP LOCKED (deliver_due)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SMTPSession
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import delivery, mail
from app.db import transaction
from app.models import DeliveryAttempt, OutboxMessage, PanelistLink, utcnow
from app.security import token_hash
from app.services import deliveries, outbox, reminders
from app.services.errors import Conflict
from tests.mailing import (
    LINK,
    TITLE_ZH,
    Recorder,
    add_emailed,
    bilingual_study,
    free_port,
    mail_settings,
    messages,
    outcomes,
    rate,
    reload,
    running_smtp_server,
)
from tests.services.builders import build_study

# --- Held, retried, failed ------------------------------------------------------------------


@pytest.mark.usefixtures("no_smtp")
def test_without_smtp_settings_messages_are_held_with_their_link_and_history(
    session: Session, client: TestClient
) -> None:
    b, people = bilingual_study(session)
    b.open_round(closes_at=utcnow() + timedelta(days=2))
    outbox.enqueue_invitations(session, study=b.study, panelists=[people["ada@example.org"]])
    reload(session)

    report = delivery.deliver_due()
    assert report.held == 1
    assert report.sent == 0
    assert delivery.deliver_due().held == 0  # held stays held; no second attempt

    (view,) = deliveries.messages_for(session, study=b.study)
    assert view.message.status == "held"
    assert view.panelist_code == "P02"
    assert view.link is not None
    assert view.link in view.message.body
    assert [a.outcome for a in view.attempts] == ["held"]
    assert "no SMTP server configured" in view.attempts[0].detail
    token = LINK.search(view.link).group(1)  # type: ignore[union-attr]
    response = client.get("/api/v1/ballot", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200

    # Once SMTP is configured, the coordinator can send it after all.
    with running_smtp_server() as recorder:
        deliveries.requeue(session, actor=b.user, message_id=view.message.id, study=b.study)
        with pytest.raises(Conflict, match="is queued"):
            deliveries.requeue(session, actor=b.user, message_id=view.message.id, study=b.study)
        reload(session)
        assert delivery.deliver_due().sent == 1
    assert [r.token for r in recorder.received] == [token]
    assert [o for o, _ in outcomes(session, view.message)] == ["held", "sent"]


def test_a_temporary_failure_is_retried_later_and_both_attempts_are_kept(
    session: Session, smtp: Recorder
) -> None:
    _, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    reload(session)
    smtp.data_replies.append("451 4.3.0 Try later")
    t0 = utcnow()

    first = delivery.deliver_due(now=t0)
    assert (first.sent, first.retried) == (0, 1)
    reload(session)
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.next_attempt_at == t0 + delivery.BACKOFF[0]
    assert delivery.deliver_due(now=t0 + timedelta(seconds=30)).handled == 0  # not yet due
    assert smtp.received == []

    assert delivery.deliver_due(now=t0 + timedelta(minutes=2)).sent == 1
    assert len(smtp.received) == 1
    reload(session)
    assert (message.status, message.attempts) == ("sent", 2)
    (retry, retry_detail), (sent, sent_detail) = outcomes(session, message)
    assert retry == "retry"
    assert "451" in retry_detail
    assert "Try later" in retry_detail
    assert sent == "sent"
    assert sent_detail.startswith("250")


def test_a_permanent_refusal_fails_at_once(session: Session, smtp: Recorder) -> None:
    _, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    reload(session)
    smtp.unknown.add("ada@example.org")

    report = delivery.deliver_due()
    assert (report.failed, report.retried) == (1, 0)
    reload(session)
    assert message.status == "failed"
    ((outcome, detail),) = outcomes(session, message)
    assert outcome == "failed"
    assert "550" in detail
    assert "No such mailbox" in detail
    assert delivery.deliver_due(now=utcnow() + timedelta(days=1)).handled == 0


def test_an_unreachable_server_is_retried_with_backoff_then_given_up(session: Session) -> None:
    _, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    reload(session)
    at = utcnow()
    with mail_settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none"):
        for wait in (*delivery.BACKOFF, None):
            report = delivery.deliver_due(now=at)
            assert report.handled == 1
            if wait is not None:
                assert report.retried == 1
                at += wait
    assert report.failed == 1
    reload(session)
    assert (message.status, message.attempts) == ("failed", delivery.MAX_ATTEMPTS)
    history = outcomes(session, message)
    assert [o for o, _ in history] == ["retry"] * 4 + ["failed"]
    assert all("connecting" in d for _, d in history)
    assert "gave up after 5 attempts" in history[-1][1]


def test_a_message_interrupted_mid_send_is_never_sent_again(
    session: Session, smtp: Recorder
) -> None:
    _, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    # A worker claimed it, then died before recording what the SMTP server said.
    message.status, message.attempts = "sending", 1
    message.next_attempt_at = utcnow() + delivery.LEASE
    reload(session)
    assert delivery.deliver_due().interrupted == 0  # its lease has not run out yet

    report = delivery.deliver_due(now=utcnow() + delivery.LEASE + timedelta(seconds=1))
    assert report.interrupted == 1
    assert report.sent == 0
    assert smtp.received == []
    reload(session)
    assert message.status == "failed"
    ((outcome, detail),) = outcomes(session, message)
    assert outcome == "failed"
    assert detail.startswith("interrupted")


# --- TLS and login --------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 that the app's default TLS context trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return cert, key


def _authenticator(
    server: SMTP,  # noqa: ARG001 (aiosmtpd's authenticator signature)
    session: SMTPSession,  # noqa: ARG001
    envelope: Envelope,  # noqa: ARG001
    mechanism: str,  # noqa: ARG001
    auth_data: object,
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"delphi",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_mail_goes_over_tls_with_a_login(
    session: Session, certificate: tuple[Path, Path], security: str
) -> None:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    tls: dict[str, Any] = (
        {"tls_context": context, "require_starttls": True}
        if security == "starttls"
        # aiosmtpd does not count implicit TLS as TLS for AUTH; the connection is encrypted.
        else {"ssl_context": context, "auth_require_tls": False}
    )
    _, people = bilingual_study(session)
    outbox.enqueue(session, kind="invitation", panelist=people["wang@example.org"])
    reload(session)
    with running_smtp_server(
        settings={"smtp_security": security, "smtp_user": "delphi", "smtp_password": "s3cret"},
        authenticator=_authenticator,
        auth_required=True,
        **tls,
    ) as recorder:
        assert delivery.deliver_due().sent == 1
        with mail_settings(smtp_password="wrong"):
            outbox.enqueue(session, kind="invitation", panelist=people["wang@example.org"])
            reload(session)
            refused = delivery.deliver_due()
    assert len(recorder.received) == 1
    assert recorder.received[0].subject == f"诚邀您参加德尔菲研究“{TITLE_ZH}”"
    assert refused.failed == 1  # 535: a refused login is permanent
    last = messages(session)[-1]
    assert "535" in outcomes(session, last)[0][1]


def test_header_injection_is_refused_before_anything_is_sent(smtp: Recorder) -> None:
    message = OutboxMessage(
        id=1,
        to_address="ada@example.org\r\nBcc: eve@example.org",
        subject="Round 1\r\nBcc: eve@example.org",
        body="Hello\n",
        language="en",
        created_at=utcnow(),
    )
    with pytest.raises(mail.PermanentFailure, match="cannot build"):
        mail.send(message)
    assert smtp.received == []
    message.to_address = "ada@example.org"
    assert mail.build(message)["Subject"] == "Round 1 Bcc: eve@example.org"  # one line
    assert mail.send(message).startswith("250")
    (received,) = smtp.received
    assert received.rcpt_tos == ["ada@example.org"]


# --- Several workers at once ----------------------------------------------------------------


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


def tick(now: datetime) -> tuple[int, delivery.DeliveryReport]:
    """What each process does every tick: queue due reminders, commit, then deliver."""
    with transaction() as session:
        queued = reminders.enqueue_due_reminders(session, now=now)
    return queued, delivery.deliver_due(now=now)


def test_two_workers_send_each_due_reminder_exactly_once(session: Session) -> None:
    b = build_study(session, statements=1, panelists=1)  # that panelist has no e-mail
    panelists = add_emailed(b, 8)
    closes = utcnow() + timedelta(days=5)
    round_ = b.open_round(closes_at=closes)
    for responder in panelists[:3]:
        rate(session, b, responder, value=8)
    session.commit()
    silent = [p.email for p in panelists[3:]]

    with running_smtp_server() as smtp:
        delivery.deliver_due()  # the "round opened" messages, queued when the round opened
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


def test_concurrent_deliveries_never_send_a_message_twice(session: Session) -> None:
    b = build_study(session, statements=1, panelists=1)
    queued = outbox.enqueue_invitations(session, study=b.study, panelists=add_emailed(b, 24))
    session.commit()

    with running_smtp_server() as smtp:
        smtp.delay = 0.01
        results = run_workers(lambda: delivery.deliver_due(limit=5), workers=4, passes=2)

    assert sum(r.sent for r in results) == len(queued) == len(smtp.received) == 24
    assert Counter(r.to for r in smtp.received) == {m.to_address: 1 for m in queued}
    reload(session)
    counts = session.execute(
        select(DeliveryAttempt.message_id, func.count()).group_by(DeliveryAttempt.message_id)
    ).all()
    assert len(counts) == 24
    assert {c for _, c in counts} == {1}
