"""Text people type or paste, checked before it reaches a column every database can store."""

from app.services.errors import Invalid

NUL = "\x00"


def checked(text: str, *, what: str, limit: int) -> str:
    """Refuse a NUL (PostgreSQL cannot store it) or more characters than the column holds."""
    if NUL in text:
        raise Invalid(
            f"{what} contains a NUL character (it often comes with pasted text); remove it."
        )
    if len(text) > limit:
        raise Invalid(f"{what} has {len(text):,} characters; the limit is {limit:,}.")
    return text
