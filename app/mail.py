"""Sending one outbox message over SMTP, with failures sorted into "try again" and "give up".

The settings (app.settings) name the server: smtp_host, smtp_port, smtp_security (starttls, ssl
or none), smtp_user and smtp_password (login only when a user is set) and mail_sender (the From
header; its address is also the envelope sender). TLS verifies the server's certificate against
the system's trust store (SSL_CERT_FILE / SSL_CERT_DIR are honoured).

Nothing here touches the database: app.services.outbox decides when to call send() and records
what it returns or raises.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, make_msgid, parseaddr

from app.models import OutboxMessage, utcnow
from app.settings import Settings, get_settings

# Seconds for connecting and for each SMTP command; a send holds no database transaction.
TIMEOUT = 30.0
SECURITY = ("starttls", "ssl", "none")


class MailError(Exception):
    """A message was not accepted; str(error) is the detail kept in the delivery history."""


class TemporaryFailure(MailError):
    """Worth trying again later: a 4xx reply, a refused or dropped connection, a timeout."""


class PermanentFailure(MailError):
    """Trying again will not help: a 5xx reply (unknown mailbox, refused sender, bad login)."""


class NotConfigured(MailError):
    """No SMTP server is configured (settings.smtp_host is empty)."""


def build(message: OutboxMessage, *, settings: Settings | None = None) -> EmailMessage:
    """The e-mail as it goes on the wire: From, To, Subject, Date, Message-ID, UTF-8 text."""
    settings = settings or get_settings()
    email = EmailMessage()
    email["From"] = settings.mail_sender
    email["To"] = message.to_address
    email["Subject"] = " ".join(message.subject.split())  # never a line break in a header
    email["Date"] = format_datetime(utcnow())
    # The same Message-ID on every retry lets a receiving system recognise a repeat.
    domain = _address(settings.mail_sender).rpartition("@")[2] or "localhost"
    email["Message-ID"] = (
        f"<delphi-outbox-{message.id}.{message.created_at:%Y%m%d%H%M%S}@{domain}>"
        if message.id is not None and message.created_at is not None
        else make_msgid(domain=domain)
    )
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the study
    email["Content-Language"] = message.language
    # Quoted-printable keeps the body 7-bit, so any server carries it whatever its extensions.
    email.set_content(message.body, charset="utf-8", cte="quoted-printable")
    return email


def send(message: OutboxMessage) -> str:
    """Hand one message to the configured SMTP server; returns the server's reply to DATA.

    Raises TemporaryFailure (4xx, connection or TLS trouble, timeouts), PermanentFailure (5xx)
    or NotConfigured. Once the server has accepted the message, nothing that follows (QUIT, a
    dropped connection) turns success into an error: a retry would deliver it twice.
    """
    settings = get_settings()
    if not settings.smtp_host:
        raise NotConfigured("no SMTP server configured")
    security = settings.smtp_security.lower()
    if security not in SECURITY:
        raise PermanentFailure(
            f"smtp_security is '{settings.smtp_security}'; use one of {', '.join(SECURITY)}"
        )
    try:
        email = build(message, settings=settings)
    except ValueError as error:  # e.g. a line break smuggled into the address
        raise PermanentFailure(f"cannot build the message: {error}") from error
    sender = _address(settings.mail_sender)
    recipient = message.to_address
    international = not (sender + recipient).isascii()
    try:
        smtp = _connect(settings, security)
    except (OSError, smtplib.SMTPException) as error:
        raise _classify(error, "connecting") from error
    accepted = False
    try:
        smtp.ehlo_or_helo_if_needed()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        options: list[str] = []
        policy = SMTP
        if international:
            if not smtp.has_extn("smtputf8"):
                raise PermanentFailure(
                    f"the SMTP server cannot take the non-ASCII address {recipient!r} (no SMTPUTF8)"
                )
            options, policy = ["SMTPUTF8", "BODY=8BITMIME"], SMTPUTF8
        _expect(smtp.mail(sender, options), (250,), "MAIL FROM")
        _expect(smtp.rcpt(recipient), (250, 251), "RCPT TO")
        code, reply = smtp.data(email.as_bytes(policy=policy))
        _expect((code, reply), (250,), "DATA")
        accepted = True
        return _reply(code, reply)
    except MailError:
        raise
    except (OSError, smtplib.SMTPException) as error:
        raise _classify(error, "sending") from error
    finally:
        _close(smtp, polite=accepted)


def _connect(settings: Settings, security: str) -> smtplib.SMTP:
    host, port = settings.smtp_host or "", settings.smtp_port
    if security == "ssl":
        return smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=ssl.create_default_context())
    smtp = smtplib.SMTP(host, port, timeout=TIMEOUT)
    try:
        if security == "starttls":
            smtp.ehlo()
            if not smtp.has_extn("starttls"):
                raise TemporaryFailure(
                    f"{host}:{port} does not offer STARTTLS; set smtp_security to 'ssl' or 'none'"
                )
            _expect(smtp.starttls(context=ssl.create_default_context()), (220,), "STARTTLS")
            smtp.ehlo()
    except BaseException:
        _close(smtp, polite=False)
        raise
    return smtp


def _expect(response: tuple[int, bytes], codes: tuple[int, ...], command: str) -> None:
    code, reply = response
    if code in codes:
        return
    detail = f"{command}: {_reply(code, reply)}"
    raise (TemporaryFailure if 400 <= code < 500 else PermanentFailure)(detail)


def _classify(error: BaseException, doing: str) -> MailError:
    """smtplib's exceptions and socket errors, sorted by the SMTP reply code when there is one."""
    code: int | None = None
    reply: bytes | str = b""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        (code, reply), *_ = error.recipients.values()
    elif isinstance(error, smtplib.SMTPResponseException):
        code, reply = error.smtp_code, error.smtp_error
    if code is not None and code >= 500:
        return PermanentFailure(f"{doing}: {_reply(code, reply)}")
    if code is not None and code >= 400:
        return TemporaryFailure(f"{doing}: {_reply(code, reply)}")
    kind = type(error).__name__
    return TemporaryFailure(f"{doing}: {kind}: {error}" if str(error) else f"{doing}: {kind}")


def _close(smtp: smtplib.SMTP, *, polite: bool) -> None:
    try:
        if polite:
            smtp.quit()
        else:
            smtp.close()
    except Exception:  # the outcome is already decided; a failing QUIT changes nothing
        smtp.close()


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}".strip()


def _address(sender: str) -> str:
    return parseaddr(sender)[1] or sender
