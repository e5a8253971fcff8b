"""Secrets: random bearer tokens stored only as keyed hashes, and argon2 password hashes."""

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.settings import get_settings

_hasher = PasswordHasher()

PANELIST_PREFIX = "dp_"
COORDINATOR_PREFIX = "dc_"


def new_token(prefix: str) -> str:
    """A bearer token with 192 random bits; the prefix tells a person which kind they hold."""
    return prefix + secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    """HMAC-SHA256 under the server's secret: a stolen database alone does not yield tokens."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def same_secret(expected: str, given: str) -> bool:
    """Constant-time comparison of a secret with what a client sent, whatever its characters."""
    return hmac.compare_digest(expected.encode(), given.encode())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
