"""E-mail through the outbox: rendered per language, sent through a real SMTP server (aiosmtpd),
retried with backoff, held without SMTP settings, with every attempt kept."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import mail
from app.models import OutboxMessage, Panelist, PanelistLink, Round, utcnow
from app.services import ballots, outbox, panel
from app.services.errors import Conflict
from app.settings import get_settings
from tests.services.builders import Built, build_study

TITLE_EN = "Exercise for neuropathic pain"
TITLE_ZH = "神经病理性疼痛的运动疗法"
SENDER = "Delphi study <delphi@example.org>"
LINK = re.compile(r"https?://\S+/p/([A-Za-z0-9_\-]+)")


# --- A real SMTP server ---------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    email: EmailMessage

    @property
    def to(self) -> str:
        return self.rcpt_tos[0]

    @property
    def subject(self) -> str:
        return str(self.email["Subject"])

    @property
    def body(self) -> str:
        return str(self.email.get_content())  # type: ignore[attr-defined]

    @property
    def token(self) -> str:
        found = LINK.search(self.body)
        assert found, self.body
        return found.group(1)


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps what arrives and can answer DATA with scripted failures."""

    received: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)  # answered before accepting, in order
    unknown: set[str] = field(default_factory=set)  # mailboxes refused with 550 at RCPT
    delay: float = 0.0  # seconds before answering DATA, so concurrent senders overlap
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address in self.unknown:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            parsed = message_from_bytes(envelope.content, policy=default_policy)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 2.0.0 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def mail_settings(**values: Any) -> Iterator[None]:
    """Point the app's (cached) settings at a mail server for a while, then put them back."""
    settings = get_settings()
    before = {name: getattr(settings, name) for name in values}
    for name, value in values.items():
        setattr(settings, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(settings, name, value)


@contextmanager
def running_smtp_server(
    recorder: Recorder | None = None, *, settings: dict[str, Any] | None = None, **controller: Any
) -> Iterator[Recorder]:
    """aiosmtpd on a free loopback port, and the settings pointing at it (plain SMTP, no login)."""
    recorder = recorder or Recorder()
    port = free_port()
    server = Controller(recorder, hostname="127.0.0.1", port=port, **controller)
    server.start()
    try:
        with mail_settings(
            **{
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_security": "none",
                "smtp_user": None,
                "smtp_password": None,
                "mail_sender": SENDER,
                **(settings or {}),
            }
        ):
            yield recorder
    finally:
        server.stop()


@pytest.fixture
def smtp() -> Iterator[Recorder]:
    with running_smtp_server() as recorder:
        yield recorder


@pytest.fixture
def no_smtp() -> Iterator[None]:
    with mail_settings(smtp_host=None):
        yield


# --- Arranging ------------------------------------------------------------------------------


def bilingual_study(session: Session, **fields: Any) -> tuple[Built, dict[str, Panelist]]:
    """A study in English and Chinese; its first panelist has no e-mail address."""
    b = build_study(
        session,
        statements=2,
        panelists=1,
        title=TITLE_EN,
        languages=["en", "zh-Hans"],
        translations={"zh-Hans": {"title": TITLE_ZH}},
        **fields,
    )
    invitations = panel.add_panelists(
        session,
        actor=b.user,
        study=b.study,
        items=[
            panel.NewPanelist(
                name="Ada Lovelace",
                email="ada@example.org",
                language="en",
                timezone="Europe/London",
            ),
            panel.NewPanelist(
                name="王伟", email="wang@example.org", language="zh-Hans", timezone="Asia/Shanghai"
            ),
        ],
    )
    people = {"nomail": b.panelists[0], **{i.panelist.email or "": i.panelist for i in invitations}}
    return b, people


def add_emailed(b: Built, count: int, start: int = 1) -> list[Panelist]:
    invitations = panel.add_panelists(
        b.session,
        actor=b.user,
        study=b.study,
        items=[
            panel.NewPanelist(name=f"Expert {i}", email=f"expert{i}@example.org")
            for i in range(start, start + count)
        ],
    )
    return [i.panelist for i in invitations]


def rate(session: Session, built: Built, panelist: Panelist, **answer: Any) -> None:
    entry = ballots.RatingInput(statement_id=built.statements[0].id, **answer)
    ballots.save_ballot(session, panelist=panelist, entries=[entry])


def reload(session: Session) -> None:
    """End the arranging transaction and forget cached rows, to see what the workers wrote."""
    session.commit()
    session.expire_all()


def messages(session: Session, **where: Any) -> list[OutboxMessage]:
    query = select(OutboxMessage).filter_by(**where).order_by(OutboxMessage.id)
    return list(session.scalars(query))


def outcomes(session: Session, message: OutboxMessage) -> list[tuple[str, str]]:
    return [(a.outcome, a.detail) for a in outbox.history(session, message_id=message.id)]


# --- Invitations ----------------------------------------------------------------------------


def test_invitations_arrive_in_each_panelists_language_with_a_link_that_opens_the_ballot(
    session, smtp, client
):
    b, people = bilingual_study(session)
    closes = utcnow() + timedelta(days=7)
    b.open_round(closes_at=closes)
    queued = outbox.enqueue_invitations(session, study=b.study, panelists=list(people.values()))
    assert {m.to_address for m in queued} == {"ada@example.org", "wang@example.org"}  # no e-mail
    reload(session)

    report = outbox.deliver_due()

    assert (report.sent, report.retried, report.failed, report.held) == (2, 0, 0, 0)
    assert len(smtp.received) == 2
    (en,) = smtp.to("ada@example.org")
    (zh,) = smtp.to("wang@example.org")
    assert en.mail_from == zh.mail_from == "delphi@example.org"
    assert en.email["From"] == SENDER
    assert en.subject == f'Invitation to the Delphi study "{TITLE_EN}"'
    assert "Dear Ada Lovelace," in en.body and TITLE_EN in en.body
    assert "Round 1 is open now." in en.body and "(Europe/London)" in en.body
    assert zh.subject == f"诚邀您参加德尔菲研究“{TITLE_ZH}”"
    assert "王伟，您好" in zh.body and TITLE_ZH in zh.body and TITLE_EN not in zh.body
    assert "第 1 轮现已开放" in zh.body and "(Asia/Shanghai)" in zh.body
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
        assert message.status == "sent" and message.sent_at is not None
        ((outcome, detail),) = outcomes(session, message)
        assert outcome == "sent" and detail.startswith("250 ")
        # Delivered: the raw token now lives only in the inbox, as the design wants.
        assert en.token not in message.body and zh.token not in message.body
        assert outbox.REDACTED in message.body
    assert all(v.link is None for v in outbox.messages_for(session, study=b.study))


def test_each_message_gets_a_fresh_link_and_skips_those_who_cannot_be_written_to(session):
    _, people = bilingual_study(session)
    ada = people["ada@example.org"]
    links = session.scalar(select(func.count()).select_from(PanelistLink))
    first = outbox.enqueue(session, kind="invitation", panelist=ada)
    second = outbox.enqueue(session, kind="invitation", panelist=ada)
    assert first is not None and second is not None
    tokens = [LINK.search(m.body).group(1) for m in (first, second)]  # type: ignore[union-attr]
    assert tokens[0] != tokens[1]
    assert all(panel.panelist_for_token(session, token=t).id == ada.id for t in tokens)
    assert outbox.enqueue(session, kind="invitation", panelist=people["nomail"]) is None
    people["wang@example.org"].withdrawn_at = utcnow()
    assert outbox.enqueue(session, kind="invitation", panelist=people["wang@example.org"]) is None
    assert session.scalar(select(func.count()).select_from(PanelistLink)) == links + 2


def test_a_dedupe_key_queues_one_message_and_leaves_no_stray_link(session, monkeypatch):
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
    assert again is None and checks == ["k1", "k1"]
    assert len(messages(session)) == 1
    assert session.scalar(select(func.count()).select_from(PanelistLink)) == links  # rolled back


def test_round_opened_goes_to_every_active_panelist_once(session, no_smtp):
    b, _ = bilingual_study(session)
    round_ = b.open_round()  # no deadline
    first = outbox.enqueue_round_opened(session, round_=round_)
    again = outbox.enqueue_round_opened(session, round_=round_)
    assert sorted(m.to_address for m in first) == ["ada@example.org", "wang@example.org"]
    assert again == []
    english = next(m for m in first if m.language == "en")
    assert english.subject == f'Round 1 of the Delphi study "{TITLE_EN}" is open'
    assert "no fixed deadline" in english.body


def test_closing_soon_goes_to_those_who_have_not_submitted(session, no_smtp):
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


def test_reminders_go_only_to_non_responders_at_72_and_24_hours_once_each(session, smtp):
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
    assert outbox.deliver_due(now=at_72).sent == 2
    assert due(closes - timedelta(hours=30)) == [0, 0, 0, 0]

    rate(session, b, commenter, value=4)  # answers between the reminders
    session.commit()
    at_24 = closes - timedelta(hours=24) + timedelta(minutes=1)
    assert due(at_24) == [1, 0, 0, 0]
    assert outbox.deliver_due(now=at_24).sent == 1
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


def test_only_the_latest_due_reminder_is_sent_and_none_from_before_the_round_opened(session):
    b = build_study(session, statements=1, panelists=1)
    add_emailed(b, 1)
    closes = utcnow() + timedelta(hours=48)  # the 72-hour point came before the opening
    b.open_round(closes_at=closes)
    assert outbox.enqueue_due_reminders(session, now=closes - timedelta(hours=30)) == 0
    late = closes - timedelta(hours=2)  # the scheduler was down through the 24-hour point
    assert outbox.enqueue_due_reminders(session, now=late) == 1
    assert outbox.enqueue_due_reminders(session, now=late) == 0
    (message,) = messages(session, kind="reminder")
    assert message.dedupe_key is not None and message.dedupe_key.endswith(":24")


def test_due_reminder_points(session):
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


# --- Delivery: held, retried, failed ----------------------------------------------------------


def test_without_smtp_settings_messages_are_held_with_their_link_and_history(
    session, no_smtp, client
):
    b, people = bilingual_study(session)
    b.open_round(closes_at=utcnow() + timedelta(days=2))
    outbox.enqueue_invitations(session, study=b.study, panelists=[people["ada@example.org"]])
    reload(session)

    report = outbox.deliver_due()
    assert report.held == 1 and report.sent == 0
    assert outbox.deliver_due().held == 0  # held stays held; no second attempt

    (view,) = outbox.messages_for(session, study=b.study)
    assert view.message.status == "held" and view.panelist_code == "P02"
    assert view.link is not None and view.link in view.message.body
    assert [a.outcome for a in view.attempts] == ["held"]
    assert "no SMTP server configured" in view.attempts[0].detail
    token = LINK.search(view.link).group(1)  # type: ignore[union-attr]
    response = client.get("/api/v1/ballot", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200

    # Once SMTP is configured, the coordinator can send it after all.
    with running_smtp_server() as recorder:
        outbox.requeue(session, actor=b.user, message_id=view.message.id, study=b.study)
        with pytest.raises(Conflict, match="is queued"):
            outbox.requeue(session, actor=b.user, message_id=view.message.id, study=b.study)
        reload(session)
        assert outbox.deliver_due().sent == 1
    assert [r.token for r in recorder.received] == [token]
    assert [o for o, _ in outcomes(session, view.message)] == ["held", "sent"]


def test_a_temporary_failure_is_retried_later_and_both_attempts_are_kept(session, smtp):
    _, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    reload(session)
    smtp.data_replies.append("451 4.3.0 Try later")
    t0 = utcnow()

    first = outbox.deliver_due(now=t0)
    assert (first.sent, first.retried) == (0, 1)
    reload(session)
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.next_attempt_at == t0 + outbox.BACKOFF[0]
    assert outbox.deliver_due(now=t0 + timedelta(seconds=30)).handled == 0  # not yet due
    assert smtp.received == []

    assert outbox.deliver_due(now=t0 + timedelta(minutes=2)).sent == 1
    assert len(smtp.received) == 1
    reload(session)
    assert (message.status, message.attempts) == ("sent", 2)
    (retry, retry_detail), (sent, sent_detail) = outcomes(session, message)
    assert retry == "retry" and "451" in retry_detail and "Try later" in retry_detail
    assert sent == "sent" and sent_detail.startswith("250")


def test_a_permanent_refusal_fails_at_once(session, smtp):
    _, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    reload(session)
    smtp.unknown.add("ada@example.org")

    report = outbox.deliver_due()
    assert (report.failed, report.retried) == (1, 0)
    reload(session)
    assert message.status == "failed"
    ((outcome, detail),) = outcomes(session, message)
    assert outcome == "failed" and "550" in detail and "No such mailbox" in detail
    assert outbox.deliver_due(now=utcnow() + timedelta(days=1)).handled == 0


def test_an_unreachable_server_is_retried_with_backoff_then_given_up(session):
    _, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    reload(session)
    at = utcnow()
    with mail_settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none"):
        for wait in (*outbox.BACKOFF, None):
            report = outbox.deliver_due(now=at)
            assert report.handled == 1
            if wait is not None:
                assert report.retried == 1
                at += wait
    assert report.failed == 1
    reload(session)
    assert (message.status, message.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    history = outcomes(session, message)
    assert [o for o, _ in history] == ["retry"] * 4 + ["failed"]
    assert all("connecting" in d for _, d in history)
    assert "gave up after 5 attempts" in history[-1][1]


def test_a_message_interrupted_mid_send_is_never_sent_again(session, smtp):
    _, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    # A worker claimed it, then died before recording what the SMTP server said.
    message.status, message.attempts = "sending", 1
    message.next_attempt_at = utcnow() + outbox.LEASE
    reload(session)
    assert outbox.deliver_due().interrupted == 0  # its lease has not run out yet

    report = outbox.deliver_due(now=utcnow() + outbox.LEASE + timedelta(seconds=1))
    assert report.interrupted == 1 and report.sent == 0
    assert smtp.received == []
    reload(session)
    assert message.status == "failed"
    ((outcome, detail),) = outcomes(session, message)
    assert outcome == "failed" and detail.startswith("interrupted")


def test_history_is_scoped_to_the_study(session, no_smtp):
    from app.services.errors import NotFound

    b, people = bilingual_study(session)
    message = outbox.enqueue(session, kind="invitation", panelist=people["ada@example.org"])
    assert message is not None
    other = build_study(session, statements=1, panelists=1, email="other@example.org")
    with pytest.raises(NotFound):
        outbox.history(session, message_id=message.id, study=other.study)
    assert outbox.history(session, message_id=message.id, study=b.study) == []
    assert outbox.messages_for(session, study=other.study) == []


def test_the_outbox_lists_messages_in_a_fixed_number_of_queries(session, queries, no_smtp):
    b = build_study(session, statements=1, panelists=1)
    outbox.enqueue_invitations(session, study=b.study, panelists=add_emailed(b, 8))
    session.commit()
    outbox.deliver_due()
    queries.reset()
    views = outbox.messages_for(session, study=b.study)
    assert len(views) == 8 and all(len(v.attempts) == 1 for v in views)
    assert queries.count == 2


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


def _authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"delphi",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_mail_goes_over_tls_with_a_login(session, certificate, security):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    tls = (
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
        assert outbox.deliver_due().sent == 1
        with mail_settings(smtp_password="wrong"):
            outbox.enqueue(session, kind="invitation", panelist=people["wang@example.org"])
            reload(session)
            refused = outbox.deliver_due()
    assert len(recorder.received) == 1
    assert recorder.received[0].subject == f"诚邀您参加德尔菲研究“{TITLE_ZH}”"
    assert refused.failed == 1  # 535: a refused login is permanent
    last = messages(session)[-1]
    assert "535" in outcomes(session, last)[0][1]


def test_header_injection_is_refused_before_anything_is_sent(smtp):
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


def test_held_messages_can_all_be_queued_again(session, no_smtp):
    b, people = bilingual_study(session)
    outbox.enqueue_invitations(session, study=b.study, panelists=list(people.values()))
    reload(session)
    assert outbox.deliver_due().held == 2
    assert outbox.requeue_held(session, actor=b.user, study=b.study) == 2
    reload(session)
    assert {m.status for m in messages(session)} == {"queued"}
    with running_smtp_server() as recorder:
        assert outbox.deliver_due().sent == 2
    assert len(recorder.received) == 2
