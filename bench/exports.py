"""Exports of a 2,000 panelists × 200 statements × 3 rounds study (1.2 M ratings).

Each export runs in a fresh subprocess that reads its own peak RSS (ru_maxrss), so no
measurement inherits another's memory; the limit is 200 MB. The CSV export's rate is compared
with a baseline measured in the same run on the same database: the same rows fetched with the
bare DB-API cursor and written with the bare csv module (target: export ≥ 0.5 × baseline).
As a reference the run also times csv.writer alone on those rows already in memory.
"""

from __future__ import annotations

import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

from sqlalchemy import Engine, create_engine, insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from app import db
from app.models import Panelist, Rating, Study, User, utcnow
from app.services import accounts, panel, rounds, stability, statements, studies
from app.settings import ROOT, normalise_database_url

PANELISTS = 2_000
STATEMENTS = 200
ROUNDS = 3
GROUPS = ("clinicians", "patients", "researchers")
ABSTAIN_SHARE = 0.03
COMMENT_SHARE = 0.02
COMMENTS = ("Agree, with caveats.", "=cmd|' /C calc'!A0", "<b>needs evidence</b>", "-2+3")
CHUNK = 20_000
RUNS = 3  # timed CSV and baseline runs, interleaved
RSS_LIMIT_MB = 200
RATE_TARGET = 0.5
SEED = 20_261_124
PG_DATABASE = "delphi_bench_exports"

BASELINE_SQL = (
    'SELECT ro.number, ro.status, s.key, r.statement_id, v.version, p.code, p."group", r.value, '
    "r.abstain, r.strength, r.comment, r.created_at, r.updated_at "
    "FROM ratings r JOIN rounds ro ON ro.id = r.round_id "
    "JOIN statements s ON s.id = r.statement_id JOIN panelists p ON p.id = r.panelist_id "
    "JOIN round_items ri ON ri.round_id = r.round_id AND ri.statement_id = r.statement_id "
    "JOIN statement_versions v ON v.id = ri.version_id "
    "WHERE ro.study_id = {study} ORDER BY r.round_id, r.statement_id, r.panelist_id"
)


def seed(engine: Engine) -> tuple[int, int, float]:
    """Study, panel and rounds through the services; each round's 400,000 ratings in bulk."""
    started = perf_counter()
    with db.transaction() as session:
        actor = accounts.create_user(session, email="bench@example.org", password="bench-password")
        study = studies.create_study(
            session,
            actor=actor,
            title="Export benchmark",
            scale_min=1,
            scale_max=9,
            rule={"rule": "comet_70_15"},
            groups=list(GROUPS),
        )
        statements.add_statements(
            session,
            actor=actor,
            study=study,
            items=[statements.NewStatement(text=f"Statement {i}") for i in range(STATEMENTS)],
        )
        panel.add_panelists(
            session,
            actor=actor,
            study=study,
            items=[
                panel.NewPanelist(name=f"Panelist {i}", group=GROUPS[i % len(GROUPS)])
                for i in range(1, 1 + PANELISTS)
            ],
        )
        study_id = study.id
    rng = random.Random(SEED)
    count = 0
    for _ in range(ROUNDS):
        with db.transaction() as session:
            actor = session.get_one(User, 1)
            study = session.get_one(Study, study_id)
            round_ = rounds.create_round(session, actor=actor, study=study)
            rounds.open_round(session, actor=actor, study=study, round_=round_)
            round_id = round_.id
            statement_ids = [item.statement_id for item in round_.items]
            panelist_ids = sorted(
                p.id for p in session.query(Panelist).filter_by(study_id=study_id)
            )
        count += _insert_ratings(engine, rng, round_id, statement_ids, panelist_ids)
        with db.transaction() as session:
            rounds.close_round(session, round_id=round_id, actor=session.get_one(User, 1))
        with db.transaction() as session:  # as the API does once a close has committed
            stability.freeze(session, round_id=round_id)
    _analyze(engine)
    return study_id, count, perf_counter() - started


def _insert_ratings(
    engine: Engine,
    rng: random.Random,
    round_id: int,
    statement_ids: list[int],
    panelists: list[int],
) -> int:
    # Through save_ballot this would take many minutes and measure the ballot, not the export.
    now = utcnow()
    count = 0
    chunk: list[dict[str, object]] = []
    with engine.begin() as conn:
        for panelist_id in panelists:
            for statement_id in statement_ids:
                abstain = rng.random() < ABSTAIN_SHARE
                comment = rng.choice(COMMENTS) if rng.random() < COMMENT_SHARE else None
                chunk.append(
                    {
                        "round_id": round_id,
                        "statement_id": statement_id,
                        "panelist_id": panelist_id,
                        "value": None if abstain else rng.randint(1, 9),
                        "abstain": abstain,
                        "comment": comment,
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
    return count


def _analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


# ------------------------------------------------------------------ measured in a subprocess


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process. Not ru_maxrss: Linux carries that over
    from the parent across fork and exec, so a child would report the seeding parent's peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    """Start VmHWM afresh at the current RSS (Linux ≥ 4.0), so the peak is the export's own."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _export_body(kind: str, study_id: int) -> Iterator[bytes]:
    from app.reports import export_csv, export_json, export_xlsx

    bodies = {
        "csv": export_csv.ratings_csv,
        "xlsx": export_xlsx.xlsx,
        "json": export_json.json_document,
    }
    return bodies[kind](study_id=study_id)


def _baseline(url: str, study_id: int, *, in_memory: bool) -> tuple[float, int]:
    """The same rows from the bare DB-API cursor, written with the bare csv module."""
    engine = db.make_engine(url)
    raw = engine.raw_connection()
    try:
        connection: Any = raw.driver_connection
        server_side = engine.dialect.name == "postgresql" and not in_memory
        cursor = connection.cursor(name="baseline") if server_side else connection.cursor()
        with open(os.devnull, "w", newline="") as sink:
            writer = csv.writer(sink)
            started = perf_counter()
            cursor.execute(BASELINE_SQL.format(study=int(study_id)))
            if in_memory:  # reference: csv.writer alone, the rows fetched beforehand
                rows = cursor.fetchall()
                started = perf_counter()
                writer.writerows(rows)
                return perf_counter() - started, len(rows)
            count = 0
            while batch := cursor.fetchmany(5_000):
                writer.writerows(batch)
                count += len(batch)
            return perf_counter() - started, count
    finally:
        raw.close()
        engine.dispose()


def measure(kind: str, url: str, study_id: int) -> dict[str, float]:
    """One export (or baseline) in this process: seconds, bytes, RSS before and at its peak."""
    db.set_engine(db.make_engine(url))
    if kind == "idle_app":  # what a server process holds before any request
        import app.main  # noqa: F401

        return {"rss_mb": _status_mb("VmRSS"), "peak_mb": _status_mb("VmHWM")}
    if kind in ("baseline", "in_memory"):
        seconds, rows = _baseline(url, study_id, in_memory=kind == "in_memory")
        return {"seconds": seconds, "rows": rows}
    body = _export_body(kind, study_id)  # imports the export's modules, runs nothing yet
    import gc

    gc.collect()
    before = _status_mb("VmRSS")
    _reset_peak()
    size = 0
    started = perf_counter()
    with open(os.devnull, "wb") as sink:
        for piece in body:
            sink.write(piece)
            size += len(piece)
    seconds = perf_counter() - started
    return {"seconds": seconds, "bytes": size, "rss_mb": before, "peak_mb": _status_mb("VmHWM")}


def in_subprocess(kind: str, url: str, study_id: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.exports", "--measure", kind, url, str(study_id)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


# ------------------------------------------------------------------------------ the run


@dataclass(slots=True)
class Result:
    engine: str
    ratings: int
    seed_s: float
    csv_s: list[float]
    baseline_s: list[float]
    in_memory_s: float
    exports: dict[str, dict[str, float]]  # kind -> seconds, rss_mb (before), peak_mb
    app_mb: float  # RSS of a process that has imported the whole app

    @property
    def csv_rate(self) -> float:
        return self.ratings / statistics.median(self.csv_s)

    @property
    def baseline_rate(self) -> float:
        return self.ratings / statistics.median(self.baseline_s)

    @property
    def ratio(self) -> float:
        return self.csv_rate / self.baseline_rate


def run(name: str, url: str) -> Result:
    engine = db.make_engine(url)
    db.set_engine(engine)
    print(f"\n[{name}] seeding {PANELISTS:,} × {STATEMENTS} × {ROUNDS} rounds …", flush=True)
    study_id, ratings, seed_s = seed(engine)
    engine.dispose()
    print(f"[{name}] {ratings:,} ratings seeded in {seed_s:.1f} s; exporting …", flush=True)
    in_subprocess("baseline", url, study_id)  # warm-up: page cache, plans
    csv_s: list[float] = []
    baseline_s: list[float] = []
    exports: dict[str, dict[str, float]] = {}
    for _ in range(RUNS):  # interleaved, so noise hits both
        baseline_s.append(in_subprocess("baseline", url, study_id)["seconds"])
        measured = in_subprocess("csv", url, study_id)
        csv_s.append(measured["seconds"])
        if measured["peak_mb"] >= exports.get("csv", {}).get("peak_mb", 0.0):
            exports["csv"] = measured
        print(f"[{name}] csv {csv_s[-1]:.1f} s, baseline {baseline_s[-1]:.1f} s", flush=True)
    exports["csv"]["seconds"] = statistics.median(csv_s)
    in_memory = in_subprocess("in_memory", url, study_id)["seconds"]
    for kind in ("xlsx", "json"):
        exports[kind] = in_subprocess(kind, url, study_id)
        print(f"[{name}] {kind} {exports[kind]['seconds']:.1f} s", flush=True)
    app_mb = in_subprocess("idle_app", url, study_id)["rss_mb"]
    return Result(name, ratings, seed_s, csv_s, baseline_s, in_memory, exports, app_mb)


def report(r: Result) -> None:
    print(f"\n== {r.engine}: {r.ratings:,} ratings (seeded in {r.seed_s:.0f} s) ==")
    print("  each export in a fresh process that imports what the export needs;")
    print("  RSS before = after those imports; peak = highest RSS while exporting")
    for kind in ("csv", "xlsx", "json"):
        e = r.exports[kind]
        verdict = "PASS" if e["peak_mb"] < RSS_LIMIT_MB else "MISS"
        print(
            f"  {kind:<5} {e['seconds']:7.1f} s {r.ratings / e['seconds']:>9,.0f} rows/s   "
            f"RSS before {e['rss_mb']:4.0f} MB, peak {e['peak_mb']:4.0f} MB "
            f"(+{e['peak_mb'] - e['rss_mb']:.0f} MB; limit {RSS_LIMIT_MB}) {verdict}"
        )
    print(f"  ref: a process that imported the whole app (app.main) holds {r.app_mb:.0f} MB")
    print(f"  bare cursor + csv module   {r.baseline_rate:>9,.0f} rows/s (median of {RUNS})")
    print(f"  CSV export                 {r.csv_rate:>9,.0f} rows/s (median of {RUNS})")
    verdict = "PASS" if r.ratio >= RATE_TARGET else "MISS"
    print(f"  ratio export/baseline      {r.ratio:9.2f}  (target ≥ {RATE_TARGET}) {verdict}")
    pure = r.ratings / r.in_memory_s
    print(
        f"  ref: csv.writer alone on rows already in memory {pure:,.0f} rows/s "
        f"(export/that {r.csv_rate / pure:.2f}; no export that reads the database gets near it)"
    )


def postgres_url() -> str | None:
    from bench.close_round import PG_DEFAULT_URL

    env = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    server = normalise_database_url(env or PG_DEFAULT_URL)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {PG_DATABASE}")
    except SQLAlchemyError as exc:
        cause = exc.orig if isinstance(exc, DBAPIError) else None
        reason = str(cause or exc).strip().splitlines()[0]
        print(f"\n[PostgreSQL] skipped: {make_url(server).render_as_string()} ({reason})")
        return None
    finally:
        admin.dispose()
    return make_url(server).set(database=PG_DATABASE).render_as_string(hide_password=False)


def drop_postgres(url: str) -> None:
    admin = create_engine(
        make_url(url).set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
    admin.dispose()


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:
        kind, url, study_id = sys.argv[2], sys.argv[3], int(sys.argv[4])
        print(json.dumps(measure(kind, url, study_id)))
        return
    from bench.close_round import migrate  # Alembic: not in the measured processes

    results = []
    with tempfile.TemporaryDirectory(prefix="delphi-bench-exports-") as directory:
        url = f"sqlite:///{Path(directory) / 'bench.sqlite3'}"
        migrate(url)
        results.append(run("SQLite", url))
    pg = postgres_url()
    if pg is not None:
        try:
            migrate(pg)
            results.append(run("PostgreSQL", pg))
        finally:
            drop_postgres(pg)
    for result in results:
        report(result)


if __name__ == "__main__":
    main()
