"""A burst of panelists against a real server: 1,000 fetch the ballot and save 50 ratings each.

The headline is a ratio measured in the same run: our throughput against a baseline route served
by the same server (same middleware, same body parsing) that returns without touching the
database. `make bench` runs it on SQLite (one worker) and on PostgreSQL (4 workers) when it is
reachable. Target: no errors, and at least half the baseline's throughput on PostgreSQL.

Machines here are noisy, so the two bursts alternate over RUNS pairs, each pair with its own
thousand panelists (every save is a first save), and the headline is the median of the ratios.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from app import db
from app.contract.schemas import BallotPut
from app.main import create_app
from app.services import accounts, panel, rounds, statements, studies
from app.settings import ROOT, normalise_database_url
from bench.close_round import PG_DEFAULT_URL, migrate

PANELISTS = int(os.environ.get("BENCH_PANELISTS", "1000"))
STATEMENTS = 50
CONCURRENCY = 50  # panelists in flight at once (a burst after the invitation e-mail)
TIME_LIMIT_S = 240.0  # per run; a run that takes longer is reported as such, not waited on
RUNS = int(os.environ.get("BENCH_RUNS", "3"))  # interleaved pairs of bursts
TARGET = 0.5
PG_DATABASE = "delphi_bench_load"


def baseline_app() -> FastAPI:
    """The app with two extra routes that parse like the ballot's and never touch the database."""
    app = create_app()

    @app.get("/bench/ballot")
    def ballot_baseline() -> dict[str, Any]:
        return {"round": {"id": 0, "number": 1}, "items": []}

    @app.put("/bench/ballot")
    def save_baseline(body: BallotPut) -> dict[str, Any]:
        return {"rated": len(body.ratings)}

    return app


def seed(url: str, panelists: int = PANELISTS) -> tuple[list[str], list[int]]:
    """A study with an open round, through the services; returns panel tokens and statement ids."""
    engine = db.make_engine(url)
    db.set_engine(engine)
    with db.transaction() as session:
        actor = accounts.create_user(session, email="load@example.org", password="load-password")
        study = studies.create_study(
            session,
            actor=actor,
            title="Load benchmark",
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
            items=[panel.NewPanelist(name=f"Panelist {i}") for i in range(panelists)],
        )
        round_ = rounds.create_round(session, actor=actor, study=study)
        rounds.open_round(session, actor=actor, study=study, round_=round_)
        tokens = [invitation.token for invitation in invitations]
        statement_ids = [item.statement_id for item in round_.items]
    engine.dispose()
    return tokens, statement_ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.send(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()

    def send(self, number: int) -> None:
        """To the whole process group: uvicorn's workers outlive a master killed on its own."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, number)

    def kill(self) -> None:
        """SIGKILL to the master and every worker at once, like a machine losing power."""
        self.send(signal.SIGKILL)
        self.process.wait(timeout=20)


def start_server(
    database_url: str, workers: int, *, factory: str = "bench.load:baseline_app"
) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DELPHI_TICK_SECONDS": "0",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            factory,
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
            # Longer than the client keeps a connection idle between a panelist's requests, so
            # the server never closes one the client is about to reuse (a keep-alive race).
            "--timeout-keep-alive",
            "75",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,  # its own process group, so stop() reaches every worker
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/favicon.ico", timeout=1)  # any answer: the server is up
            return Server(url, process)
        except httpx.HTTPError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"the server on {url} did not start within 60 s")


@dataclass
class Run:
    label: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    finished: bool = True

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def burst(
    base: str, tokens: list[str], statement_ids: list[int], *, baseline: bool, label: str
) -> Run:
    """Every panelist GETs the ballot, then PUTs 50 ratings; CONCURRENCY of them at a time."""
    run = Run(label)
    path = "/bench/ballot" if baseline else "/api/v1/ballot"
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    async def one(client: httpx.AsyncClient, index: int, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        body = {
            "ratings": [
                {"statement_id": sid, "value": 1 + (index + j) % 9}
                for j, sid in enumerate(statement_ids)
            ]
        }
        async with gate:
            for method, sent in (("GET", None), ("PUT", body)):
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, headers=headers, json=sent)
                    if response.status_code != 200:
                        run.errors.append(f"{method} {response.status_code} {response.text[:120]}")
                except httpx.HTTPError as exc:
                    run.errors.append(f"{method} {type(exc).__name__}: {exc}")
                run.latencies_ms.append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        started = time.perf_counter()
        tasks = [asyncio.create_task(one(client, i, t)) for i, t in enumerate(tokens)]
        _done, pending = await asyncio.wait(tasks, timeout=TIME_LIMIT_S)
        for task in pending:
            task.cancel()
        run.finished = not pending
        run.seconds = time.perf_counter() - started
    return run


def report(engine: str, workers: int, pairs: list[tuple[Run, Run]]) -> float:
    """Each pair's figures, then the median ratio: the headline."""
    ratios = [ours.throughput / base.throughput if base.throughput else 0.0 for ours, base in pairs]
    print(f"\n== {engine} ({workers} worker{'s' if workers > 1 else ''}) ==")
    for number, ((ours, base), ratio) in enumerate(zip(pairs, ratios, strict=True), 1):
        for run in (base, ours):
            print(
                f"  {number}. {run.label:<21} {run.requests:>6} requests in {run.seconds:6.1f} s  "
                f"{run.throughput:7.1f} req/s  p50 {run.percentile(0.50):6.1f} ms  "
                f"p95 {run.percentile(0.95):6.1f} ms  p99 {run.percentile(0.99):6.1f} ms  "
                f"errors {len(run.errors)}{'' if run.finished else '  (stopped at the time limit)'}"
            )
        print(f"     ratio {ratio:.2f}")
    errors = [error for ours, base in pairs for error in ours.errors + base.errors]
    for error in errors[:5]:
        print(f"    e.g. {error}")
    ratio = statistics.median(ratios)
    if engine.startswith("PostgreSQL"):
        ok = ratio >= TARGET and not errors and all(ours.finished for ours, _ in pairs)
        verdict = f"(target ≥ {TARGET}, no errors): {'PASS' if ok else 'MISS'}"
    else:
        verdict = "(for reference: the target is set for PostgreSQL)"
    spread = f"runs {min(ratios):.2f}–{max(ratios):.2f}"
    print(f"  throughput ratio ours/baseline, median of {len(ratios)}  {ratio:.2f}  ({spread})")
    print(f"  {verdict}")
    return ratio


def measure(engine: str, url: str, workers: int) -> float:
    migrate(url)
    tokens, statement_ids = seed(url, panelists=PANELISTS * RUNS)
    server = start_server(url, workers)
    pairs = []
    try:
        for number in range(RUNS):
            cohort = tokens[number * PANELISTS : (number + 1) * PANELISTS]
            runs = {}
            # Alternate which burst goes first, so a drift in the machine's speed hits both.
            for baseline in (True, False) if number % 2 == 0 else (False, True):
                label = "baseline (no DB)" if baseline else "ballot GET + PUT"
                runs[baseline] = asyncio.run(
                    burst(server.url, cohort, statement_ids, baseline=baseline, label=label)
                )
            pairs.append((runs[False], runs[True]))
    finally:
        server.stop()
    return report(engine, workers, pairs)


def postgres_url() -> str | None:
    env = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    server = normalise_database_url(env or PG_DEFAULT_URL)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            conn.exec_driver_sql(f"CREATE DATABASE {PG_DATABASE}")
    except Exception as exc:
        print(f"\n[PostgreSQL] skipped: {str(exc).splitlines()[0]}")
        return None
    finally:
        admin.dispose()
    return make_url(server).set(database=PG_DATABASE).render_as_string(hide_password=False)


def main() -> None:
    print(
        f"Load: {PANELISTS} panelists × (GET ballot + PUT {STATEMENTS} ratings), "
        f"{CONCURRENCY} at a time, against a real uvicorn on loopback"
    )
    with tempfile.TemporaryDirectory(prefix="delphi-load-") as directory:
        measure("SQLite", f"sqlite:///{Path(directory) / 'load.sqlite3'}", workers=1)
    url = postgres_url()
    if url is not None:
        measure("PostgreSQL", url, workers=4)


if __name__ == "__main__":
    main()
