"""Coordinator accounts and their personal API tokens."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiToken, Role, Study, StudyMember, User, utcnow
from app.security import COORDINATOR_PREFIX, hash_password, new_token, token_hash
from app.services import audit
from app.services.errors import Conflict, Invalid, NotFound, Unauthorized


def create_user(
    session: Session, *, email: str, password: str, role: Role = Role.coordinator, name: str = ""
) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise Invalid(f"'{email}' is not an e-mail address.")
    if len(password) < 8:
        raise Invalid("Choose a password of at least 8 characters.")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"An account for {email} already exists.")
    user = User(email=email, password_hash=hash_password(password), role=role, name=name)
    session.add(user)
    session.flush()
    return user


def create_api_token(session: Session, *, user: User, label: str = "") -> str:
    """Return the token once; only its keyed hash is kept."""
    token = new_token(COORDINATOR_PREFIX)
    session.add(ApiToken(user_id=user.id, token_hash=token_hash(token), label=label))
    session.flush()
    return token


def user_for_token(session: Session, *, token: str) -> User:
    row = session.execute(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        raise Unauthorized(
            "The API token is unknown or revoked; ask an administrator for a new one "
            "(or run `delphi create-coordinator --print-token`)."
        )
    return row


def api_tokens(session: Session, *, user: User) -> list[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    return list(session.scalars(query))


def revoke_api_token(session: Session, *, user: User, token_id: int) -> None:
    token = session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    )
    if token is None:
        raise NotFound("That API token does not exist or is not yours.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()


def all_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.email)))


def add_member(session: Session, *, actor: User, study: Study, email: str) -> User:
    """Give an existing account access to a study (coordinators and observers alike)."""
    member = session.scalar(select(User).where(User.email == email.strip().lower()))
    if member is None:
        raise Invalid(f"There is no account for {email}; an administrator can create one.")
    exists = session.get(StudyMember, (study.id, member.id))
    if exists is None:
        session.add(StudyMember(study_id=study.id, user_id=member.id))
        audit.record(
            session,
            actor=actor,
            action="study.add_member",
            study_id=study.id,
            email=member.email,
            role=member.role.value,
        )
        session.flush()
    return member
