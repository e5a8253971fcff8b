"""Finished reports and workbooks, kept until their study changes: made once, served to everyone.

A copy is named by its study, kind (report.html, report.pdf, export.xlsx), language and `state`:
a digest of everything the copy shows, read in the same snapshot the copy is then made from, so
a copy never carries a state it was not made from. Copies are files in the database's renders
folder (app.heavy.directory), written whole and then renamed into place, so every process on the
machine serves them and none reads half a file. Making one takes a heavy slot (app.heavy).

What `state` covers, and why nothing a copy shows can change without it changing:
- every column of every row of the study's design and history that the report or the workbook
  reads (`shown`): the study; its statements and their versions; rounds, their items and frozen
  results; the panel's codes, groups, languages and dates; evidence sources, links and level
  overrides; final recommendations;
- ratings only where they can still change. A closed round's ratings are frozen (a save is
  refused once its round has closed, and the round's row says when it closed), and the report
  shows closed rounds only: panelists saving in an open round leave the report's copy in place.
  The workbook lists an open round's ratings too: each one's id and the time its save stamped on
  it (every save stamps `updated_at`; the largest stamp alone would not do, since a save that
  read the clock first can commit last), with its value, abstention and strength;
- the workbook's audit sheet: the log is append-only, so its length says whether it grew.
  Reports and exports taken are left out, so taking a copy does not retire it; a copy's audit
  sheet ends where the copy was made (its "Exported at");
- the code that renders (`renderer`), so a new release never serves an older one's copy.
`tests/reports/test_cache.py` holds every table of the schema to this list.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app import heavy
from app.models import (
    AuditEntry,
    EvidenceLink,
    EvidenceSource,
    FinalRecommendation,
    LevelOverride,
    Panelist,
    Rating,
    ResultSnapshot,
    Round,
    RoundItem,
    RoundStatus,
    Statement,
    StatementVersion,
    Study,
)
from app.reports import export_xlsx, report
from app.reports.exports import iso_utc, reading
from app.settings import ROOT

log = logging.getLogger("delphi.renders")

KINDS = ("report.html", "report.pdf", "export.xlsx")
TRAILER = 256  # bytes after a copy's body: what it is, how long, and a mark that it is whole
MARK = b"DELPHI-COPY-END\n"
PIECE = 1 << 16
LEFT_OVER_SECONDS = 3600  # a half-made copy older than this was abandoned by a dead process

# Tables whose rows a copy shows, each as the study's rows of it (see the module's docstring).
SHOWN_TABLES = (
    "studies",
    "statements",
    "statement_versions",
    "rounds",
    "round_items",
    "result_snapshots",
    "panelists",
    "evidence_sources",
    "evidence_links",
    "level_overrides",
    "final_recommendations",
    "ratings",
    "audit_log",
)
# Tables no copy reads, and why: a new table must join one of these two lists (a test checks).
NOT_SHOWN = {
    "users": "copies name no account (the audit sheet keeps the label written with the entry)",
    "api_tokens": "sign-in",
    "user_sessions": "sign-in",
    "login_attempts": "sign-in",
    "study_members": "who may read the study, not what it holds",
    "panelist_links": "personal links",
    "ballots": "when a ballot was saved or submitted is shown by no copy",
    "outbox": "mail",
    "delivery_attempts": "mail",
}


def shown(study_id: int) -> list[Select[Any]]:
    """The study's rows of every table a copy reads, whole (panelists: all but who they are)."""
    in_study = Statement.study_id == study_id
    in_rounds = Round.study_id == study_id
    return [
        select(Study.__table__).where(Study.id == study_id),
        select(Statement.__table__).where(in_study).order_by(Statement.id),
        select(StatementVersion.__table__)
        .join(Statement, Statement.id == StatementVersion.statement_id)
        .where(in_study)
        .order_by(StatementVersion.id),
        select(Round.__table__).where(in_rounds).order_by(Round.id),
        select(RoundItem.__table__)
        .join(Round, Round.id == RoundItem.round_id)
        .where(in_rounds)
        .order_by(RoundItem.round_id, RoundItem.statement_id),
        select(ResultSnapshot.__table__)
        .join(Round, Round.id == ResultSnapshot.round_id)
        .where(in_rounds)
        .order_by(ResultSnapshot.id),
        select(
            Panelist.id,
            Panelist.code,
            Panelist.group,
            Panelist.language,
            Panelist.created_at,
            Panelist.withdrawn_at,
        )
        .where(Panelist.study_id == study_id)
        .order_by(Panelist.id),
        select(EvidenceSource.__table__)
        .where(EvidenceSource.study_id == study_id)
        .order_by(EvidenceSource.id),
        select(EvidenceLink.__table__)
        .join(EvidenceSource, EvidenceSource.id == EvidenceLink.source_id)
        .where(EvidenceSource.study_id == study_id)
        .order_by(EvidenceLink.source_id, EvidenceLink.statement_id),
        select(LevelOverride.__table__)
        .join(Statement, Statement.id == LevelOverride.statement_id)
        .where(in_study)
        .order_by(LevelOverride.statement_id),
        select(FinalRecommendation.__table__)
        .where(FinalRecommendation.study_id == study_id)
        .order_by(FinalRecommendation.id),
    ]


def state_of(session: Session, *, study_id: int, kind: str) -> str:
    """A digest of everything a copy of `kind` shows of the study, as this snapshot sees it."""
    digest = hashlib.sha256(renderer().encode())
    for query in shown(study_id):
        for row in session.execute(query):
            digest.update(repr(tuple(row)).encode())
        digest.update(b"\x00")
    if kind == "export.xlsx":
        connection = session.connection()  # Core rows: no ORM bookkeeping per rating
        stamped = iso_utc(Rating.updated_at, connection.dialect.name)
        ratings = (
            select(Rating.id, stamped, Rating.value, Rating.abstain, Rating.strength)
            .join(Round, Round.id == Rating.round_id)
            .where(Round.study_id == study_id, Round.status != RoundStatus.closed)
            .order_by(Rating.round_id, Rating.panelist_id, Rating.statement_id)
        )
        for batch in connection.execute(ratings).partitions(5_000):
            digest.update(repr(batch).encode())
        grown = select(func.count(), func.max(AuditEntry.id)).where(
            AuditEntry.study_id == study_id, AuditEntry.action.not_like("export.%")
        )
        digest.update(repr(tuple(session.execute(grown).one())).encode())
    return digest.hexdigest()[:40]


@lru_cache(maxsize=1)
def renderer() -> str:
    """The code, templates and translations that make copies, as one digest (once a process)."""
    digest = hashlib.sha256()
    for folder in (ROOT / "app", ROOT / "templates"):
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".py", ".html", ".css", ".mo", ".svg"):
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


@dataclass(slots=True)
class Copy:
    """An open copy: its body's `size` bytes from the start of `file`, and what it is (`meta`)."""

    file: IO[bytes]
    size: int
    meta: dict[str, str]

    def read(self) -> bytes:
        with self.file:
            self.file.seek(0)
            return self.file.read(self.size)

    def chunks(self) -> Iterator[bytes]:
        """The body in pieces (a streamed download); the file is closed at the end."""
        with self.file:
            self.file.seek(0)
            left = self.size
            while left > 0 and (piece := self.file.read(min(PIECE, left))):
                left -= len(piece)
                yield piece


Maker = Callable[[Session, Study, str, IO[bytes]], dict[str, str]]


def _report_html(session: Session, study: Study, language: str, out: IO[bytes]) -> dict[str, str]:
    rendered = report.render_html(session, study=study, language=language)
    out.write(rendered.html.encode("utf-8"))
    return {"style_hash": rendered.style_hash}


def _report_pdf(session: Session, study: Study, language: str, out: IO[bytes]) -> dict[str, str]:
    rendered = report.render_html(session, study=study, language=language)
    out.write(report.render_pdf(rendered))
    return {}


def _workbook(session: Session, study: Study, _language: str, out: IO[bytes]) -> dict[str, str]:
    export_xlsx.write(session, study=study, out=out)
    return {}


MAKERS: dict[str, Maker] = {
    "report.html": _report_html,
    "report.pdf": _report_pdf,
    "export.xlsx": _workbook,
}


def copy_of(
    *, study_id: int, kind: str, language: str, deadline: float, may_make: bool = True
) -> Copy:
    """The copy of the study's current state: found, or made in a heavy slot (else Busy).

    Requests for the same copy take turns, so only the first makes it and the next ones find
    it; the wait for a turn and for a slot ends at `deadline` (app.heavy.deadline_of). The copy
    is made in a render process (app.heavy.run_apart); this thread only waits for it. Unless
    `may_make`, a copy that is not there raises NotMade before any wait (app.heavy.may_make).
    """
    folder = heavy.directory()
    shelf = folder / "copies" / f"study-{study_id}"
    with reading() as session:
        state = state_of(session, study_id=study_id, kind=kind)
    found = _open(shelf / _name(kind, language, state))
    if found is not None:
        return found
    if not may_make:
        raise heavy.NotMade()
    slots = heavy.Slots.here()
    with slots.turn(f"{study_id}/{kind}.{language}", deadline=deadline):
        found = _open(shelf / _name(kind, language, state))  # made by the one this waited for
        if found is not None:
            return found
        with slots.render(deadline=deadline):
            made, seconds = heavy.run_apart(
                make_copy, _database_url(), str(shelf), study_id, kind, language
            )
        if seconds is not None:
            log.info(
                "made %s of study %s (%s) in %.2f s",
                kind,
                study_id,
                language,
                seconds,
                extra={"kind": kind, "study_id": study_id, "language": language},
            )
        copy = _open(Path(made))
        if copy is None:
            raise RuntimeError(f"The copy just made at {made} cannot be read back.")
        _retire(Path(made))
        return copy


def make_copy(
    database_url: str, shelf: str, study_id: int, kind: str, language: str
) -> tuple[str, float | None]:
    """In a render process: the copy of the state it reads now, made unless it is there already.

    Returns the copy's path and the seconds it took to make (None: it was there). The database
    connection is closed after each render, so an idle render process holds none.
    """
    from app.db import get_engine

    _use_database(database_url)
    try:
        with reading() as session:
            study = session.get_one(Study, study_id)
            state = state_of(session, study_id=study_id, kind=kind)
            path = Path(shelf) / _name(kind, language, state)
            there = _open(path)
            if there is not None:
                there.file.close()
                return str(path), None
            started = time.perf_counter()
            _store(path, lambda out: MAKERS[kind](session, study, language, out))
            return str(path), time.perf_counter() - started
    finally:
        get_engine().dispose()


def _name(kind: str, language: str, state: str) -> str:
    return f"{kind}.{language}.{state}"


def _database_url() -> str:
    """The database this process uses, for a render process to open (password included)."""
    from app.db import get_engine

    return get_engine().url.render_as_string(hide_password=False)


_child_database: str | None = None


def _use_database(url: str) -> None:
    """A render process opens the database its server uses (tests point servers at several)."""
    global _child_database
    from app import db

    if _child_database != url:
        before = db.get_engine() if _child_database is not None else None
        db.set_engine(db.make_engine(url))
        _child_database = url
        if before is not None:
            before.dispose()


def _open(path: Path) -> Copy | None:
    """The copy at `path` if it is there and whole (a truncated file is removed, and made again)."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    try:
        total = os.fstat(handle.fileno()).st_size
        handle.seek(max(0, total - TRAILER))
        trailer = handle.read(TRAILER)
        if total < TRAILER or not trailer.endswith(MARK):
            raise ValueError("no end mark")
        meta = json.loads(trailer[: -len(MARK)].decode().strip())
        size = int(meta.pop("size"))
        if size != total - TRAILER:
            raise ValueError("cut short")
    except (ValueError, KeyError, UnicodeDecodeError):
        handle.close()
        path.unlink(missing_ok=True)
        return None
    return Copy(handle, size, {str(k): str(v) for k, v in meta.items()})


def _store(path: Path, make: Callable[[IO[bytes]], dict[str, str]]) -> None:
    """Make the copy in a file of its own, then rename it into place whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep(path.parent)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".making-", delete=False) as out:
        try:
            meta = make(out)
            size = out.tell()
            trailer = json.dumps({**meta, "size": size}).encode()
            out.write(trailer.ljust(TRAILER - len(MARK)) + MARK)
            out.flush()
            os.replace(out.name, path)
        except BaseException:
            Path(out.name).unlink(missing_ok=True)
            raise


def _retire(current: Path) -> None:
    """Remove the copies of older states (a reader that has one open keeps reading it)."""
    kind_and_language = current.name.rsplit(".", 1)[0] + "."
    for older in current.parent.iterdir():
        if older.name.startswith(kind_and_language) and older.name != current.name:
            older.unlink(missing_ok=True)


def _sweep(folder: Path) -> None:
    """Remove half-made copies a dead process left behind."""
    cutoff = time.time() - LEFT_OVER_SECONDS
    for left in folder.glob(".making-*"):
        try:
            if left.stat().st_mtime < cutoff:
                left.unlink()
        except FileNotFoundError:
            pass
