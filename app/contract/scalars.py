"""The values every document is built from: ids, text a database can store, times with offsets."""

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer

MAX_ID = 2**31 - 1  # ids are INTEGER columns (int4 on PostgreSQL)


def _clean(value: str) -> str:
    """Refuse what no database can store faithfully: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


Str = Annotated[str, AfterValidator(_clean)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Text = Annotated[Str, Field(min_length=1, max_length=5_000)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$", max_length=10)]
# API.md writes times with an explicit offset (+00:00), not the "Z" shorthand.
Timestamp = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), when_used="json")]
