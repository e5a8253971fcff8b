"""Engine and sessions: one transaction per request; SQLite tuned for concurrent writers."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

from app.settings import get_settings, normalise_database_url

# Passed to Session.connection() by writers: on SQLite a write transaction takes the database
# lock up front (BEGIN IMMEDIATE), so a read-then-write can never fail with a stale snapshot.
WRITE = {"sqlite_begin": "IMMEDIATE"}


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    settings = get_settings()
    url = normalise_database_url(url or settings.database_url)
    # Never fewer pooled connections than admitted requests (see app.middleware.Admission).
    kwargs.setdefault("pool_size", settings.max_inflight_requests)
    # Beyond them, one for each heavy request let in to look for its copy or to make it.
    kwargs.setdefault("max_overflow", 2 * settings.heavy_slots)
    kwargs.setdefault("pool_timeout", 60)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _tune_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # A server that vanished without a word (a failover, a cut network) is noticed in seconds,
    # and the request gets its 503 (app.web.unavailable) instead of hanging on.
    kwargs.setdefault(
        "connect_args",
        {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10},
    )
    return create_engine(url, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    timeout = get_settings().sqlite_busy_timeout_ms

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a 200 means the rating survives a power cut
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


_engine: Engine | None = None
_sessionmaker: sessionmaker[Session] | None = None


def get_engine() -> Engine:
    global _engine, _sessionmaker
    if _engine is None:
        _engine = make_engine()
        _sessionmaker = sessionmaker(_engine, expire_on_commit=False)
    return _engine


def set_engine(engine: Engine) -> None:
    """Point the app at another engine (tests, the CLI's --database option)."""
    global _engine, _sessionmaker
    _engine = engine
    _sessionmaker = sessionmaker(engine, expire_on_commit=False)


def new_session() -> Session:
    get_engine()
    assert _sessionmaker is not None
    return _sessionmaker()


T = TypeVar("T")

# Set on the session of a GET/HEAD request. On SQLite a read transaction that writes at its end
# fails at once with SQLITE_BUSY when anyone else wrote since it began (WAL cannot upgrade a stale
# snapshot; the busy timeout does not help), so a read request may not write in its transaction:
# its one write (an audit entry, a session's last-seen time) goes through write_now() instead.
READ_ONLY = "delphi_read_only"


class ReadRequestWrote(RuntimeError):
    """A read request tried to write in its read transaction (a bug: use write_now)."""


def write_now(session: Session, work: Callable[[Session], T]) -> T:
    """A read request's write, in a short writer's transaction of its own on the same connection.

    What was read so far is committed (nothing), the write lock is taken before anything is read
    again (BEGIN IMMEDIATE on SQLite, so it waits its turn instead of failing), the work is done
    and committed; the request then reads on in a fresh transaction. A request that already
    writes just does the work in its transaction.
    """
    if not session.info.get(READ_ONLY):
        return work(session)
    session.commit()
    session.info[READ_ONLY] = False
    try:
        begin_write(session)
        result = work(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info[READ_ONLY] = True
    return result


def _refuse_writes_on_read(session: Session, _flush: UOWTransaction, _instances: Any) -> None:
    if not session.info.get(READ_ONLY):
        return
    dirty = [o for o in session.dirty if session.is_modified(o)]  # set to the same value: no write
    if session.new or dirty or session.deleted:
        changed = [type(o).__name__ for o in (*session.new, *dirty, *session.deleted)]
        raise ReadRequestWrote(
            f"A read request changed {', '.join(sorted(set(changed)))} in its read transaction; "
            "write through app.db.write_now()."
        )


def _refuse_statements_on_read(state: ORMExecuteState) -> None:
    writes = state.is_insert or state.is_update or state.is_delete
    if writes and state.session.info.get(READ_ONLY):
        raise ReadRequestWrote(
            f"A read request ran {state.statement.__class__.__name__} in its read transaction; "
            "write through app.db.write_now()."
        )


event.listen(Session, "before_flush", _refuse_writes_on_read)
event.listen(Session, "do_orm_execute", _refuse_statements_on_read)


def begin_write(session: Session) -> None:
    """Start the session's transaction as a writer (see WRITE)."""
    session.connection(execution_options=WRITE)


def discard(session: Session) -> None:
    """Throw away what this request did so far, so a refused form is shown from what is stored."""
    session.rollback()


def needs_begin_write(session: Session) -> bool:
    """Only SQLite needs a writer's transaction started up front; elsewhere it starts lazily."""
    bind = session.get_bind()
    return bind.dialect.name == "sqlite"


@contextmanager
def transaction(*, write: bool = True) -> Iterator[Session]:
    """A unit of work outside HTTP (CLI, tick, benchmarks): commit on success, else roll back."""
    session = new_session()
    try:
        if write:
            begin_write(session)
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
