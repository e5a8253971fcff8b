"""CSV exports, streamed: ratings in tidy long format (pseudonymised) and the panel's identities.

The ratings CSV is what R's read.csv or pandas' read_csv take as it is: RFC 4180, UTF-8, one
header row, one row per saved rating, empty cells for missing values, TRUE/FALSE, ISO 8601 times
with offset. The audit log's CSV has one row per entry, its detail as JSON. Text a spreadsheet
could run as a formula starts with a quote (OWASP), in every one of them.
"""

import codecs
import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from app.models import AuditEntry
from app.reports.exports import (
    BATCH,
    IDENTITY_COLUMNS,
    RATING_COLUMNS,
    identities,
    inert,
    rating_batches,
    reading,
)
from app.services import audit
from app.services.panel import Invitation

CHUNK_CHARS = 1 << 16  # flush to the client about every 64 KB
AUDIT_COLUMNS = ("id", "at", "who", "action", "detail")


def _identity(row: tuple[Any, ...]) -> tuple[Any, ...]:
    code, name, email, group, language, joined, withdrawn = row
    return (
        code,
        inert(name),
        inert(email) if email else email,
        inert(group) if group else group,
        language,
        joined.isoformat(),
        withdrawn.isoformat() if withdrawn else None,
    )


def _audit_row(entry: AuditEntry) -> tuple[Any, ...]:
    detail = json.dumps(entry.detail, ensure_ascii=False, sort_keys=True)
    return (
        entry.id,
        entry.at.isoformat(),
        inert(entry.actor_label),
        inert(entry.action),
        inert(detail),
    )


def _csv(header: Iterable[str], batches: Iterator[list[tuple[Any, ...]]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for batch in batches:
        writer.writerows(batch)
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def ratings_csv(*, study_id: int) -> Iterator[bytes]:
    """The study's ratings, one row per round × statement × panelist who answered it."""
    with reading() as session:
        # TRUE/FALSE: R's read.csv and pandas' read_csv both read it as logical.
        flags = ("FALSE", "TRUE")
        yield from _csv(
            RATING_COLUMNS, rating_batches(session, study_id=study_id, text=inert, flags=flags)
        )


def panel_csv(*, study_id: int) -> Iterator[bytes]:
    """Who each code stands for: names and e-mail addresses, for coordinators only."""
    with reading() as session:
        rows = map(_identity, identities(session, study_id=study_id))
        yield from _csv(IDENTITY_COLUMNS, iter(lambda: list(islice(rows, BATCH)), []))


def audit_csv(*, study_id: int) -> Iterator[bytes]:
    """The study's audit log, oldest entry first: who did what, when, and its detail as JSON."""
    with reading() as session:
        rows = map(_audit_row, audit.entries(session, study_id=study_id, newest_first=False))
        yield from _csv(AUDIT_COLUMNS, iter(lambda: list(islice(rows, BATCH)), []))


LINK_COLUMNS = ("code", "name", "email", "language", "link")


def links_csv(invitations: Sequence[Invitation]) -> bytes:
    """Personal links for a mail merge (app.services.link_sheet), quoted like every export.

    With a byte-order mark, unlike the data exports: mail merges start in Excel or Word, which
    read UTF-8 without one as the local code page and garble Chinese names.
    """
    rows = [
        (
            i.panelist.code,
            inert(i.panelist.name or ""),
            inert(i.panelist.email or ""),
            i.panelist.language or "",
            inert(i.invite_url),
        )
        for i in invitations
    ]
    return codecs.BOM_UTF8 + b"".join(_csv(LINK_COLUMNS, iter([rows])))
