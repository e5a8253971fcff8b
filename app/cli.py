"""The `delphi` command: serve, migrate, seed the demo, make accounts, tick, simulate, back up."""

from pathlib import Path
from typing import Annotated, Any

import typer
from alembic.config import Config

from app.db import make_engine, set_engine, transaction
from app.models import Role, Study
from app.settings import ROOT, get_settings

cli = typer.Typer(help="Delphi consensus platform", no_args_is_help=True, add_completion=False)
db_cli = typer.Typer(help="Database schema", no_args_is_help=True)
cli.add_typer(db_cli, name="db")


def _alembic_config(url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url or get_settings().database_url)
    return config


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Bring the database schema up to date (alembic upgrade)."""
    from alembic import command

    command.upgrade(_alembic_config(), revision)
    typer.echo(f"Database at {revision}: {_safe_url()}")


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(get_settings().database_url).render_as_string(hide_password=True)


@cli.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    reload: bool = False,
    workers: int = 1,
) -> None:
    """Serve the web app and the JSON API with uvicorn."""
    import uvicorn

    from app.logs import configure_logging

    configure_logging(get_settings().log_level)  # JSON lines; uvicorn's raw access log stays off
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,  # the app believes only DELPHI_TRUSTED_PROXIES (app.main)
    )


def _require_schema() -> None:
    """Say what to do when the database has no tables yet, instead of a traceback."""
    from sqlalchemy import inspect

    from app.db import get_engine

    if not inspect(get_engine()).has_table("alembic_version"):
        typer.echo(
            f"The database {_safe_url()} has no tables yet; run `delphi db upgrade` first.",
            err=True,
        )
        raise typer.Exit(1)


@cli.command("create-coordinator")
def create_coordinator(
    email: Annotated[str, typer.Option(help="Login e-mail")],
    password: Annotated[str, typer.Option(help="At least 8 characters")],
    role: Role = Role.coordinator,
    print_token: Annotated[
        bool, typer.Option("--print-token", help="Print an API token last")
    ] = False,
) -> None:
    """Create a coordinator account (and optionally an API token, printed as the last line)."""
    from app.services import accounts
    from app.services.errors import DomainError

    _require_schema()
    try:
        with transaction() as session:
            user = accounts.create_user(session, email=email, password=password, role=role)
            token = (
                accounts.create_api_token(session, user=user, label="cli") if print_token else None
            )
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Created {role.value} {user.email}")
    if token:
        typer.echo(token)


@cli.command()
def demo() -> None:
    """Seed the demo study if it is missing; print the coordinator login, an API token and links."""
    from app.tools.demo import seed_or_refresh

    _require_schema()
    with transaction() as session:
        access = seed_or_refresh(session)
    base = get_settings().base_url.rstrip("/")
    typer.echo("")
    typer.echo(
        "Demo study "
        + ("created" if access.created else "ready")
        + ": Exercise for neuropathic pain"
    )
    typer.echo(f"  Open            {base}/")
    typer.echo(f"  API docs        {base}/docs")
    typer.echo(f"  Console         {base}/console")
    typer.echo(f"  Coordinator     {access.email} / {access.password}")
    typer.echo(f"  API token       {access.api_token}")
    for code, url in access.panelist_links:
        typer.echo(f"  Panelist {code}    {url}")
    typer.echo("  (links are re-issued at every start; earlier demo links stop working)")
    typer.echo("")


@cli.command()
def tick() -> None:
    """Close every open round whose deadline has passed (run it from cron or a timer)."""
    from app.scheduler import freeze_statistics
    from app.services.rounds import close_due_rounds

    _require_schema()
    with transaction() as session:
        closed = close_due_rounds(session)
    freeze_statistics(closed)
    typer.echo(
        f"Closed {len(closed)} round(s) whose deadline passed." if closed else "Nothing due."
    )


@cli.command()
def simulate(
    panelists: int = typer.Option(21, min=2, max=5000),
    statements: int = typer.Option(10, min=1, max=1000),
    rounds: int = typer.Option(3, min=1, max=10),
    seed: int = 1,
    scale: int = typer.Option(
        9, help="9 for 1..9 with COMET 70/15, 5 for 1..5 with 75 % agreement"
    ),
    database: Annotated[
        Path | None, typer.Option(help="SQLite file to keep the run in (default: a throwaway one)")
    ] = None,
    finalize: Annotated[
        bool, typer.Option("--finalize", help="Attach invented evidence, grade and finalize")
    ] = False,
) -> None:
    """Run a synthetic Delphi through the services and print each round's consensus.

    Long because it is the whole command: a throwaway database, the run, and its printout.
    """
    import tempfile

    from alembic import command

    if scale not in (5, 9):
        typer.echo("--scale takes 9 (1..9, COMET 70/15) or 5 (1..5, 75 % agreement).", err=True)
        raise typer.Exit(2)

    from app.models import User
    from app.services import accounts, rules
    from app.tools.simulation import simulate as run

    with tempfile.TemporaryDirectory() as tmp:
        path = database or Path(tmp) / "simulation.sqlite3"
        url = f"sqlite:///{path}"
        command.upgrade(_alembic_config(url), "head")
        set_engine(make_engine(url))
        with transaction() as session:
            from sqlalchemy import select

            user = session.scalar(select(User).where(User.email == "simulator@example.org"))
            if user is None:
                user = accounts.create_user(
                    session, email="simulator@example.org", password="simulator-only"
                )
            study, summaries = run(
                session,
                actor=user,
                panelists=panelists,
                statements_count=statements,
                rounds_count=rounds,
                seed=seed,
                scale=(1, 9) if scale == 9 else (1, 5),
            )
            digest, grades = _finalize(session, user, study, seed) if finalize else ("", [])
        typer.echo(study.title)
        typer.echo(f"Rule: {rules.rule_words(study)}")
        for summary in summaries:
            typer.echo(summary.line())
        left = summaries[-1].no_consensus if summaries else statements
        reached = statements - left
        typer.echo(
            f"After {len(summaries)} round(s): {reached} of {statements} statements "
            "reached consensus."
        )
        if finalize:
            for line in grades:
                typer.echo(line)
            typer.echo(f"Finalized; content hash (SHA-256) {digest}")


def _finalize(session: Any, user: Any, study: Study, seed: int) -> tuple[str, list[str]]:
    """Invented evidence for every statement, then finalization: the method's last step."""
    import random

    from app.services import finalization
    from app.tools.demo import _illustrative_evidence

    _illustrative_evidence(session, user=user, study=study, rng=random.Random(seed))
    digest = finalization.finalize(session, actor=user, study=study)
    lines = [
        f"  {f.content['key']}: evidence {f.content['level']['code']}, "
        f"{(f.content['classification'] or 'not rated').replace('_', ' ')} → "
        f"{f.content['grade_label']}"
        for f in finalization.finals(session, study=study)
    ]
    return digest, lines


@cli.command()
def backup(
    path: Annotated[Path, typer.Argument(help="File to write; must not exist yet")],
) -> None:
    """Copy the whole database to PATH while the app keeps serving (SQLite API, or pg_dump)."""
    from app import backup as backups
    from app.db import get_engine

    _require_schema()
    url = get_engine().url
    try:
        backups.backup(url=url, path=path)
    except backups.BackupError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    revision = backups.schema_revision(url)
    typer.echo(
        f"Backed up {url.render_as_string(hide_password=True)} (schema {revision}) "
        f"to {path} ({path.stat().st_size:,} bytes)."
    )


@cli.command()
def restore(
    path: Annotated[Path, typer.Argument(help="A file made by `delphi backup`")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Replace the database's contents without asking")
    ] = False,
) -> None:
    """Replace the database's contents with a backup (stop the app first; it cannot be undone)."""
    import sys

    from alembic.script import ScriptDirectory

    from app import backup as backups
    from app.db import get_engine

    url = get_engine().url
    shown = url.render_as_string(hide_password=True)
    try:
        backups.check_backup(url=url, path=path)
        if not yes and not sys.stdin.isatty():
            raise backups.BackupError(
                f"Restoring replaces every table of {shown}; add --yes to go ahead."
            )
        if not yes and not typer.confirm(f"Replace every table of {shown} with {path}?"):
            raise backups.BackupError("Not confirmed.")
        backups.restore(url=url, path=path)
    except backups.BackupError as exc:
        typer.echo(f"error: {exc.message} Nothing was changed.", err=True)
        raise typer.Exit(1) from exc
    revision = backups.schema_revision(url)
    typer.echo(f"Restored {path} into {shown}; schema at revision {revision}.")
    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    if revision not in heads:
        typer.echo(f"This version expects {', '.join(heads)}: run `delphi db upgrade` next.")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
