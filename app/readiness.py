"""Whether the database answers and holds the schema this code was written for: asked by the
readiness probe (/readyz) on a one-connection pool of its own, with short timeouts, so a poll
neither waits behind nor takes from the requests it reports on."""

import threading
from functools import cache

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from app.db import get_engine, make_engine
from app.settings import ROOT

PROBE_TIMEOUT_SECONDS = 3


@cache
def _scripts() -> tuple[frozenset[str], frozenset[str]]:
    """The migration heads and every known revision; read once, the files don't change."""
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    known = frozenset(r.revision for r in script.walk_revisions())
    return frozenset(script.get_heads()), known


def readiness_problem() -> str | None:
    """A sentence saying why the app cannot serve yet, or None when it can."""
    try:
        with _probe_engine().connect() as conn:
            versioned = inspect(conn).has_table("alembic_version")
            query = text("SELECT version_num FROM alembic_version")
            current = frozenset(conn.scalars(query)) if versioned else frozenset()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        return f"The database cannot be reached ({type(cause).__name__}); check DATABASE_URL."
    heads, known = _scripts()
    if current == heads:
        return None
    if not current:
        return "The database has no schema yet; run `delphi db upgrade`."
    at, head = ", ".join(sorted(current)), ", ".join(sorted(heads))
    if current - known:
        return (
            f"The database schema is at revision {at}, which this version of the app does not "
            f"know (it expects {head}); deploy the matching version."
        )
    return f"The database schema is at revision {at}, not {head}; run `delphi db upgrade`."


_probe: tuple[str, Engine] | None = None
_probe_lock = threading.Lock()


def _probe_engine() -> Engine:
    """One pooled connection to the app's database, with short timeouts; remade if it moves."""
    global _probe
    url = get_engine().url
    key = url.render_as_string(hide_password=False)
    with _probe_lock:
        if _probe is None or _probe[0] != key:
            if _probe is not None:
                _probe[1].dispose()
            limits = {} if url.get_backend_name() == "sqlite" else _postgres_timeouts()
            engine = make_engine(
                key, pool_size=1, max_overflow=0, pool_timeout=PROBE_TIMEOUT_SECONDS, **limits
            )
            _probe = (key, engine)
        return _probe[1]


def _postgres_timeouts() -> dict[str, object]:
    ms = PROBE_TIMEOUT_SECONDS * 1000
    return {
        "connect_args": {
            "connect_timeout": PROBE_TIMEOUT_SECONDS,
            "options": f"-c statement_timeout={ms}",
        }
    }
