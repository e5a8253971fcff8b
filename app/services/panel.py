"""The panel: pseudonymous panelists with personal links whose tokens are stored hashed."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import BindParameter, bindparam, func, select, union_all, update
from sqlalchemy.orm import Session, joinedload

from app.models import Panelist, PanelistLink, Role, Study, User, utcnow
from app.security import PANELIST_PREFIX, new_token, token_hash
from app.services import audit, locks
from app.services.errors import Conflict, Forbidden, Invalid, Unauthorized
from app.services.studies import ensure_writable, owner_of
from app.services.text import checked
from app.settings import get_settings


@dataclass(frozen=True, slots=True)
class NewPanelist:
    name: str
    email: str | None = None
    group: str | None = None
    language: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class Invitation:
    panelist: Panelist
    token: str

    @property
    def invite_url(self) -> str:
        return invite_url(self.token)


EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(\.[^@\s.]+)+")
MAX_NAME, MAX_EMAIL, MAX_GROUP = 200, 320, 100  # the widths of the columns in app.models


def valid_email(address: str) -> bool:
    return EMAIL.fullmatch(address) is not None


def invite_url(token: str) -> str:
    return f"{get_settings().base_url.rstrip('/')}/p/{token}"


def add_panelists(
    session: Session, *, actor: User, study: Study, items: Sequence[NewPanelist]
) -> list[Invitation]:
    locks.hold_study(session, study=study)  # pseudonyms P01, P02 … are numbered per study
    ensure_writable(study)
    if not items:
        raise Invalid("Send at least one panelist.")
    count = session.scalar(select(func.count()).where(Panelist.study_id == study.id)) or 0
    emails = {
        e for e in session.scalars(select(Panelist.email).where(Panelist.study_id == study.id)) if e
    }
    languages = study.languages or ["en"]
    invitations = []
    for index, item in enumerate(items, start=1):
        name = checked(item.name.strip(), what=f"Panelist {index}: the name", limit=MAX_NAME)
        if not name:
            raise Invalid(f"Panelist {index} has no name.")
        email = item.email.strip().lower() if item.email and item.email.strip() else None
        group = checked(
            (item.group or "").strip(),
            what=f"Panelist {index} ({name}): the group",
            limit=MAX_GROUP,
        )
        if email is not None:
            checked(email, what=f"Panelist {index} ({name}): the e-mail address", limit=MAX_EMAIL)
            if not valid_email(email):
                raise Invalid(f"Panelist {index} ({name}): '{email}' is not an e-mail address.")
            if email in emails:
                raise Conflict(f"Panelist {index} ({name}): {email} is already on the panel.")
            emails.add(email)
        language = item.language or languages[0]
        if language not in languages:
            raise Invalid(
                f"Panelist {index} ({name}): language '{language}' is not one of the study's "
                f"languages ({', '.join(languages)})."
            )
        if item.timezone and item.timezone not in available_timezones():
            raise Invalid(
                f"Panelist {index} ({name}): '{item.timezone}' is not a time zone name; "
                "use one like Europe/London or Asia/Shanghai."
            )
        token = new_token(PANELIST_PREFIX)
        panelist = Panelist(
            study=study,
            code=f"P{count + index:02d}",
            name=name,
            email=email,
            group=group or None,
            language=language,
            timezone=item.timezone or None,
            token_hash=token_hash(token),
        )
        session.add(panelist)
        invitations.append(Invitation(panelist=panelist, token=token))
    session.flush()
    audit.record(
        session, actor=actor, action="panel.add", study_id=study.id, count=len(invitations)
    )
    return invitations


def ensure_may_see_identities(user: User) -> None:
    """Names and e-mail addresses are for coordinators; observers see panelists by code only."""
    if user.role == Role.observer:
        raise Forbidden(
            "Observers cannot see panelists' names and e-mail addresses; results and exports "
            "show panelists by code only."
        )


def panelists_of(session: Session, *, study: Study) -> list[Panelist]:
    """The study's panelists in the order they joined."""
    return list(
        session.scalars(select(Panelist).where(Panelist.study_id == study.id).order_by(Panelist.id))
    )


def panelist_for(
    session: Session, *, user: User, panelist_id: int, write: bool = False
) -> tuple[Panelist, Study]:
    """The panelist and their study, if that is one of the user's; else one 404 for both cases."""
    panelist = session.get(Panelist, panelist_id)
    label = f"Panelist {panelist_id}"
    study = owner_of(session, user=user, record=panelist, label=label, write=write)
    assert panelist is not None  # owner_of refused a missing one
    return panelist, study


def _live(hashed: str | BindParameter[str]) -> Any:
    """The panelist whose first link, or a later link not yet revoked, has this hash.

    A UNION of two unique-index lookups: an OR across the two tables scans every panelist.
    """
    first = select(Panelist.id).where(Panelist.token_hash == hashed)
    later = select(PanelistLink.panelist_id).where(
        PanelistLink.token_hash == hashed, PanelistLink.revoked_at.is_(None)
    )
    return Panelist.id.in_(union_all(first, later))


# Built once: every panelist request starts here.
_BY_TOKEN = select(Panelist).where(_live(bindparam("hashed"))).options(joinedload(Panelist.study))


def panelist_for_token(session: Session, *, token: str) -> Panelist:
    panelist = session.scalar(_BY_TOKEN, {"hashed": token_hash(token)})
    if panelist is None:
        raise Unauthorized(
            "This personal link is not valid. Ask the study's coordinator for yours."
        )
    return panelist


def signed_in_panelist(session: Session, *, panelist_id: int, hashed: str) -> Panelist | None:
    """The panelist of a browser session, with their study, while its link is live."""
    panelist = session.scalar(
        select(Panelist).where(Panelist.id == panelist_id).options(joinedload(Panelist.study))
    )
    if panelist is None or not link_is_live(session, panelist_id=panelist.id, hashed=hashed):
        return None
    return panelist


def link_is_live(session: Session, *, panelist_id: int, hashed: str) -> bool:
    """Whether a browser session made with this link may go on (revoking ends it)."""
    query = select(Panelist.id).where(Panelist.id == panelist_id, _live(hashed))
    return session.scalar(query) is not None


def issue_link(session: Session, *, panelist: Panelist) -> str:
    """One more personal link (e.g. for an e-mail); earlier links keep working."""
    token = new_token(PANELIST_PREFIX)
    session.add(PanelistLink(panelist_id=panelist.id, token_hash=token_hash(token)))
    session.flush()
    return token


def reissue_link(session: Session, *, actor: User, study: Study, panelist: Panelist) -> Invitation:
    """A new personal link for a panelist who lost theirs; every older link stops working."""
    ensure_writable(study)
    token = new_token(PANELIST_PREFIX)
    panelist.token_hash = token_hash(token)
    session.execute(
        update(PanelistLink)
        .where(PanelistLink.panelist_id == panelist.id, PanelistLink.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    session.flush()
    audit.record(
        session, actor=actor, action="panel.reissue_link", study_id=study.id, code=panelist.code
    )
    return Invitation(panelist=panelist, token=token)


def withdraw(session: Session, *, actor: User, study: Study, panelist: Panelist) -> None:
    """Mark a panelist as withdrawn: no more ballots or e-mails; earlier answers are kept."""
    ensure_writable(study)
    if panelist.withdrawn_at is None:
        panelist.withdrawn_at = utcnow()
        session.flush()
        audit.record(
            session, actor=actor, action="panel.withdraw", study_id=study.id, code=panelist.code
        )


# What a coordinator may correct about a panelist; their code, link and ratings stay as they are.
EDITABLE = ("name", "email", "group", "language", "timezone")
# The audit log is read by observers and exported with the pseudonymised data: identities changed
# are recorded as changed, never written out (they are in the panel identities CSV).
IDENTITIES = ("name", "email")


def _corrected(
    session: Session, *, study: Study, panelist: Panelist, field: str, value: str | None
) -> str | None:
    """One field as it would be stored, checked as when the panelist was added."""
    value = (value or "").strip() or None
    if field == "name":
        if value is None:
            raise Invalid(f"{panelist.code}: give the panelist's name.")
        return checked(value, what=f"{panelist.code}: the name", limit=MAX_NAME)
    if field == "group":
        return checked(value or "", what=f"{panelist.code}: the group", limit=MAX_GROUP) or None
    if field == "email":
        return _corrected_email(session, study=study, panelist=panelist, email=value)
    if field == "language":
        languages = study.languages or ["en"]
        if value not in languages:
            raise Invalid(
                f"{panelist.code}: language '{value or ''}' is not one of the study's languages "
                f"({', '.join(languages)})."
            )
        return value
    if value is not None and value not in available_timezones():
        raise Invalid(
            f"{panelist.code}: '{value}' is not a time zone name; use one like Europe/London or "
            "Asia/Shanghai."
        )
    return value


def _corrected_email(
    session: Session, *, study: Study, panelist: Panelist, email: str | None
) -> str | None:
    if email is None:
        return None
    email = checked(email.lower(), what=f"{panelist.code}: the e-mail address", limit=MAX_EMAIL)
    if not valid_email(email):
        raise Invalid(f"{panelist.code}: '{email}' is not an e-mail address.")
    taken = session.scalar(
        select(Panelist.code).where(
            Panelist.study_id == study.id, Panelist.email == email, Panelist.id != panelist.id
        )
    )
    if taken is not None:
        raise Conflict(f"{email} is already on the panel, as {taken}.")
    return email


def edit_panelist(
    session: Session,
    *,
    actor: User,
    study: Study,
    panelist: Panelist,
    changes: dict[str, str | None],
) -> dict[str, list[Any]]:
    """Correct a panelist's name, e-mail, group, language or time zone; what changed, old → new.

    Their code, personal link and ratings stay theirs; later e-mails use the new address and
    language. Identities are audited as changed only (see IDENTITIES).
    """
    locks.hold_study(session, study=study)  # e-mail addresses are unique per study
    ensure_writable(study)
    stray = sorted(set(changes) - set(EDITABLE))
    if stray:
        raise Invalid(f"Only {', '.join(EDITABLE)} can be changed, not {', '.join(stray)}.")
    changed: dict[str, list[Any]] = {}
    for field, typed in changes.items():
        value = _corrected(session, study=study, panelist=panelist, field=field, value=typed)
        if value != getattr(panelist, field):
            changed[field] = [getattr(panelist, field), value]
    for field, (_, value) in changed.items():
        setattr(panelist, field, value)
    session.flush()
    if changed:
        audit.record(
            session,
            actor=actor,
            action="panel.edit",
            study_id=study.id,
            code=panelist.code,
            changed={f: "changed" if f in IDENTITIES else pair for f, pair in changed.items()},
        )
    return changed
