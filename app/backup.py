"""Backups: a consistent copy of the database while the app serves, and putting one back.

SQLite uses its online backup API (one step, so the copy is a single consistent snapshot even
while panelists rate). PostgreSQL uses pg_dump's custom format and pg_restore --clean --if-exists
in one transaction. A backup is written under a temporary name and renamed when complete, so a
file at the given path is always whole. Restore checks that a file is the kind it expects and
holds a Delphi schema before it touches anything.
"""

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def backup(*, url: URL, path: Path) -> None:
    """Write the whole database to `path`, which must not exist yet."""
    if path.exists():
        raise BackupError(f"{path} already exists; backups never overwrite, choose a new name.")
    if not path.parent.is_dir():
        raise BackupError(f"The folder {path.parent} does not exist.")
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        if _is_sqlite(url):
            _sqlite_backup(_sqlite_file(url), partial)
        else:
            dsn, env = _libpq(url)
            _run(
                [
                    _tool("pg_dump"),
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--file={partial}",
                    f"--dbname={dsn}",
                ],
                env,
            )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def check_backup(*, url: URL, path: Path) -> None:
    """Refuse a file that is missing, of the other engine, damaged or not a Delphi database."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    with path.open("rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    if _is_sqlite(url):
        if head.startswith(PG_DUMP_MAGIC):
            raise BackupError(
                f"{path} is a PostgreSQL dump, but the database is SQLite; "
                "set DATABASE_URL to the PostgreSQL database to restore it there."
            )
        if head != SQLITE_MAGIC:
            raise BackupError(f"{path} is not an SQLite database made by `delphi backup`.")
        _check_sqlite_backup(path)
        return
    if head == SQLITE_MAGIC:
        raise BackupError(
            f"{path} is an SQLite database, but the database is PostgreSQL; "
            "restore it with DATABASE_URL pointing at an SQLite file."
        )
    if not head.startswith(PG_DUMP_MAGIC):
        raise BackupError(f"{path} is not a pg_dump archive made by `delphi backup`.")
    listing = _run([_tool("pg_restore"), "--list", str(path)], dict(os.environ))
    if not re.search(r"\bTABLE \S+ alembic_version\b", listing):
        raise BackupError(f"{path} is a pg_dump archive but not of a Delphi database.")


def restore(*, url: URL, path: Path) -> None:
    """Replace every table's contents with the backup's; call check_backup first."""
    if _is_sqlite(url):
        target = _sqlite_file(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(_read_only(path), uri=True)
        try:
            destination = sqlite3.connect(target, timeout=30)
            try:
                source.backup(destination)  # one step: the whole copy or nothing
            finally:
                destination.close()
        finally:
            source.close()
        return
    dsn, env = _libpq(url)
    _run(
        [
            _tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={dsn}",
            str(path),
        ],
        env,
    )


def schema_revision(url: URL) -> str | None:
    """The Alembic revision the database is at (None without a schema)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()


def _is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def _sqlite_file(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite database has nothing to back up or restore.")
    return Path(url.database)


def _read_only(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


def _sqlite_backup(source_path: Path, target: Path) -> None:
    if not source_path.is_file():
        raise BackupError(f"The database file {source_path} does not exist; nothing to back up.")
    source = sqlite3.connect(source_path, timeout=30)
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
            destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            destination.close()
    finally:
        source.close()


def _check_sqlite_backup(path: Path) -> None:
    conn = sqlite3.connect(_read_only(path), uri=True)
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise BackupError(f"{path} is damaged (SQLite says: {verdict}).")
        named = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        if conn.execute(named).fetchone() is None:
            raise BackupError(f"{path} is an SQLite database but not a Delphi one.")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} cannot be read as an SQLite database ({exc}).") from exc
    finally:
        conn.close()


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, which goes in the environment instead of argv."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} was not found on PATH; install PostgreSQL's client programs "
            "(Debian/Ubuntu: apt-get install postgresql-client), of the server's version or newer."
        )
    return found


def _run(command: list[str], env: dict[str, str]) -> str:
    finished = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        tool = Path(command[0]).name
        said = finished.stderr.strip().splitlines()[-3:]
        raise BackupError(f"{tool} failed (exit {finished.returncode}): {' '.join(said)}")
    return finished.stdout
