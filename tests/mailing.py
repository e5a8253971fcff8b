"""Mail in tests: a real SMTP server (aiosmtpd), the settings pointing at it, and a study whose
panelists have e-mail addresses; shared by the outbox (enqueueing) and delivery tests."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import OutboxMessage, Panelist
from app.services import ballots, deliveries, panel
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
        return str(self.email.get_content())

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

    async def handle_RCPT(
        self,
        server: SMTP,  # noqa: ARG002 (aiosmtpd's handler signature)
        session: SMTPSession,  # noqa: ARG002
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],  # noqa: ARG002
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self,
        server: SMTP,  # noqa: ARG002 (aiosmtpd's handler signature)
        session: SMTPSession,  # noqa: ARG002
        envelope: Envelope,
    ) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            assert isinstance(envelope.content, bytes)  # aiosmtpd leaves DATA undecoded
            assert envelope.mail_from is not None
            parsed = message_from_bytes(envelope.content, policy=default_policy)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
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
    return [(a.outcome, a.detail) for a in deliveries.history(session, message_id=message.id)]
