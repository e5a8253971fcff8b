"""Closing a round must cost about one GROUP BY whatever the panel size (docs/method.md §1)."""

from __future__ import annotations

import os
import random
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, TextClause, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app import db
from app.models import Rating, ResultSnapshot, Round, RoundStatus, User, utcnow
from app.services import accounts, panel, rounds, statements, studies
from app.settings import ROOT, normalise_database_url

PANELISTS = 2_000
STATEMENTS = 200
GROUPS = ("clinicians", "patients", "researchers")
ABSTAIN_SHARE = 0.03
CHUNK = 20_000
RUNS = 5  # timed runs of each query, after one warm-up, interleaved
TARGET = 1.5
SEED = 20_261_124
PG_DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_DATABASE = "delphi_bench"

BASELINE = text(
    "SELECT statement_id, value, count(*) FROM ratings WHERE round_id = :r "
    "GROUP BY statement_id, value"
)
# Reference only: the histogram query the tally runs for per-group figures (app/services/tally.py).
GROUPED = text(
    'SELECT r.statement_id, p."group", r.value, count(*) FROM ratings r '
    "JOIN panelists p ON p.id = r.panelist_id "
    "WHERE r.round_id = :r AND (r.value IS NOT NULL OR r.abstain) "
    'GROUP BY r.statement_id, p."group", r.value'
)


@dataclass(frozen=True, slots=True)
class Seeded:
    round_id: int
    actor: User  # detached, attributes loaded: close_round only reads its id and e-mail
    ratings: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Result:
    engine: str
    ratings: int
    seed_s: float
    baseline_ms: list[float]
    grouped_ms: list[float]
    close_ms: list[float]
    final_ms: float
    snapshots: int

    @property
    def baseline(self) -> float:
        return statistics.median(self.baseline_ms)

    @property
    def close(self) -> float:
        return statistics.median(self.close_ms)

    @property
    def ratio(self) -> float:
        return self.close / self.baseline

    @property
    def best_ratio(self) -> float:
        return min(self.close_ms) / min(self.baseline_ms)

    @property
    def verdict(self) -> str:
        return "PASS" if self.ratio <= TARGET else "MISS"


def migrate(url: str) -> None:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def seed(engine: Engine) -> Seeded:
    """The study, panel and round through the services; the 400,000 ratings in bulk."""
    started = perf_counter()
    with db.transaction() as session:
        actor = accounts.create_user(
            session, email="bench@example.org", password="bench-password", name="Bench"
        )
        study = studies.create_study(
            session,
            actor=actor,
            title="Close-round benchmark",
            scale_min=1,
            scale_max=9,
            rule={"rule": "comet_70_15"},
        )
        statements.add_statements(
            session,
            actor=actor,
            study=study,
            items=[statements.NewStatement(text=f"Statement {i}") for i in range(STATEMENTS)],
        )
        invitations = panel.add_panelists(
            session,
            actor=actor,
            study=study,
            items=[
                panel.NewPanelist(name=f"Panelist {i}", group=GROUPS[i % len(GROUPS)])
                for i in range(1, 1 + PANELISTS)
            ],
        )
        round_ = rounds.create_round(session, actor=actor, study=study)
        rounds.open_round(session, actor=actor, study=study, round_=round_)
        round_id = round_.id
        statement_ids = [item.statement_id for item in round_.items]
        panelist_ids = [invitation.panelist.id for invitation in invitations]
    # 2,000 panelists × save_ballot (one request-sized transaction each, with its checks) would
    # take minutes and measure the ballot path, not the close: insert the ratings in bulk instead.
    rng = random.Random(SEED)
    now = utcnow()
    count = 0
    chunk: list[dict[str, object]] = []
    with engine.begin() as conn:
        for panelist_id in panelist_ids:
            for statement_id in statement_ids:
                abstain = rng.random() < ABSTAIN_SHARE
                chunk.append(
                    {
                        "round_id": round_id,
                        "statement_id": statement_id,
                        "panelist_id": panelist_id,
                        "value": None if abstain else rng.randint(1, 9),
                        "abstain": abstain,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                if len(chunk) == CHUNK:
                    conn.execute(insert(Rating), chunk)
                    count += len(chunk)
                    chunk = []
        if chunk:
            conn.execute(insert(Rating), chunk)
            count += len(chunk)
    if engine.dialect.name == "postgresql":
        # VACUUM as well, so autovacuum does not wake up on the fresh 400k rows mid-timing.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return Seeded(round_id, actor, count, perf_counter() - started)


def time_query(engine: Engine, query: TextClause, round_id: int) -> float:
    with engine.connect() as conn:
        conn.begin()
        started = perf_counter()
        rows = conn.execute(query, {"r": round_id}).all()
        elapsed = perf_counter() - started
        conn.rollback()
    assert len(rows) >= STATEMENTS, rows[:5]
    return elapsed * 1000


def time_close(seeded: Seeded, *, commit: bool) -> float:
    """Close the round; roll back unless this is the final, real close (closing is one-way)."""
    session = db.new_session()
    try:
        db.begin_write(session)
        started = perf_counter()
        rounds.close_round(session, round_id=seeded.round_id, actor=seeded.actor)
        if commit:
            session.commit()
        else:
            session.flush()  # what commit would write, short of the commit itself
        elapsed = perf_counter() - started
        if not commit:
            session.rollback()
    finally:
        session.close()
    return elapsed * 1000


def run(name: str, engine: Engine) -> Result:
    db.set_engine(engine)
    print(f"\n[{name}] seeding {PANELISTS:,} panelists × {STATEMENTS} statements …", flush=True)
    seeded = seed(engine)
    print(f"[{name}] {seeded.ratings:,} ratings seeded in {seeded.seconds:.1f} s; timing …")
    time_query(engine, BASELINE, seeded.round_id)  # warm-up: caches, plans, pages
    time_query(engine, GROUPED, seeded.round_id)
    time_close(seeded, commit=False)
    baseline_ms, grouped_ms, close_ms = [], [], []
    for _ in range(RUNS):  # interleaved, so noise hits all
        baseline_ms.append(time_query(engine, BASELINE, seeded.round_id))
        grouped_ms.append(time_query(engine, GROUPED, seeded.round_id))
        close_ms.append(time_close(seeded, commit=False))
    final_ms = time_close(seeded, commit=True)
    with db.transaction(write=False) as session:
        snapshots = session.scalar(
            select(func.count()).where(ResultSnapshot.round_id == seeded.round_id)
        )
        status = session.scalar(select(Round.status).where(Round.id == seeded.round_id))
    assert status == RoundStatus.closed, status
    assert snapshots == STATEMENTS, f"{snapshots} result snapshots, expected {STATEMENTS}"
    return Result(
        name,
        seeded.ratings,
        seeded.seconds,
        baseline_ms,
        grouped_ms,
        close_ms,
        final_ms,
        snapshots or 0,
    )


def report(result: Result) -> None:
    def ms(values: list[float]) -> str:
        return f"{statistics.median(values):9.1f} ms   (best {min(values):.1f}, runs {len(values)})"

    rows = [
        ("ratings rows", f"{result.ratings:>9,}      (seeded in {result.seed_s:.1f} s)"),
        ("baseline GROUP BY", ms(result.baseline_ms)),
        (
            "  ref: + panelists join",
            ms(result.grouped_ms)
            + f"  {statistics.median(result.grouped_ms) / result.baseline:.2f}× baseline",
        ),
        ("close_round (rolled back)", ms(result.close_ms)),
        ("ratio close/baseline", f"{result.ratio:9.2f}      (median / median)"),
        ("  ratio, best runs", f"{result.best_ratio:9.2f}      (best / best)"),
        ("target", f"{'≤ ' + str(TARGET):>9}"),
        ("verdict", f"{result.verdict:>9}"),
        ("final close + commit", f"{result.final_ms:9.1f} ms   ({result.snapshots} snapshots)"),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"\n== {result.engine} ==")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    if result.verdict == "MISS":
        print(
            f"  *** MISS: closing takes {result.ratio:.2f}× the bare GROUP BY "
            f"(target ≤ {TARGET}) ***"
        )


def sqlite_result(directory: Path) -> Result:
    url = f"sqlite:///{directory / 'bench.sqlite3'}"
    migrate(url)
    engine = db.make_engine(url)
    try:
        return run("SQLite", engine)
    finally:
        engine.dispose()


def postgres_result() -> Result | None:
    env = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    server = normalise_database_url(env or PG_DEFAULT_URL)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            version = conn.exec_driver_sql("SHOW server_version").scalar()
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {PG_DATABASE}")
    except SQLAlchemyError as exc:
        admin.dispose()
        cause = exc.orig if isinstance(exc, DBAPIError) else None
        reason = str(cause or exc).strip().splitlines()[0]
        where = make_url(server).render_as_string()
        print(f"\n[PostgreSQL] skipped: {where} is unreachable ({reason})")
        return None
    url = make_url(server).set(database=PG_DATABASE).render_as_string(hide_password=False)
    try:
        migrate(url)
        engine = db.make_engine(url)
        try:
            return run(f"PostgreSQL {str(version).split()[0]}", engine)
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.dispose()


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="delphi-bench-") as directory:
        results.append(sqlite_result(Path(directory)))
    pg = postgres_result()
    if pg is not None:
        results.append(pg)
    for result in results:
        report(result)
    print(f"\n{'engine':<20} {'ratings':>9} {'baseline':>11} {'close':>11} {'ratio':>6}  verdict")
    for r in results:
        print(
            f"{r.engine:<20} {r.ratings:>9,} {r.baseline:>8.1f} ms {r.close:>8.1f} ms "
            f"{r.ratio:>6.2f}  {r.verdict} (target ≤ {TARGET})"
        )


if __name__ == "__main__":
    main()
