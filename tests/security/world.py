"""A small world of studies and people for access checks, and a way to put it back after a write.

Roles (the columns of the access matrix): anonymous; a panelist of study A; a panelist of study B;
an observer who is a member of A; a coordinator of B only; the coordinator of A; an administrator
who is a member of nothing. Study A has a closed round 1 and an open round 2; study D ("draft")
has a draft round 1 and unfrozen rules; study E has statements and a panel but no round yet;
study B belongs to the other coordinator and has an open round.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.models import ApiToken, Base, OutboxMessage, Role, Study, User
from app.services import accounts
from tests.factories import StudyRun, start_study

PASSWORD = "correct horse battery"
ROLES = ("anonymous", "panelist", "panelist_other", "observer", "coord_other", "coord", "admin")
ACCOUNTS = {  # role -> (e-mail, account role)
    "observer": ("watcher@example.org", Role.observer),
    "coord_other": ("rival@example.org", Role.coordinator),
    "coord": ("lead@example.org", Role.coordinator),
    "admin": ("root@example.org", Role.admin),
}
# Distinctive identities, so a scan for them cannot match anything else on a page.
NAMES = ["Ottoline Quarrington", "Benedikt Vasquez-Ilunga", "Saoirse Thackeray", "Yuki Oyelaran"]


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


@dataclass
class Visitor:
    """One role's browser cookies (console session or panel session), CSRF and bearer token."""

    role: str
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    bearer: str | None = None  # a coordinator's API token or a panelist's link token


@dataclass
class World:
    ids: dict[str, int]
    visitors: dict[str, Visitor]
    runs: dict[str, StudyRun]
    secrets: list[str]  # every token and password that must never show where it should not
    identities: list[str]  # panelists' names and e-mail addresses
    forms: dict[str, dict[str, str]] = field(default_factory=dict)

    def request(self, client: TestClient, role: str, method: str, url: str, **kwargs: Any) -> Any:
        """Send as `role`: their cookies only, their bearer token on the JSON API."""
        visitor = self.visitors[role]
        client.cookies.clear()
        for name, value in visitor.cookies.items():
            client.cookies.set(name, value)
        headers = dict(kwargs.pop("headers", {}) or {})
        if url.startswith("/api/") and visitor.bearer:
            headers["Authorization"] = f"Bearer {visitor.bearer}"
        return client.request(method, url, headers=headers, **kwargs)


def _account(session: Session, role: str) -> tuple[User, str]:
    email, kind = ACCOUNTS[role]
    user = accounts.create_user(session, email=email, password=PASSWORD, role=kind)
    token = accounts.create_api_token(session, user=user, label="access matrix")
    session.commit()
    return user, token


def _spread(run: StudyRun, round_id: int) -> None:
    """Ratings that leave every statement without consensus, so round 2 carries them all."""
    for index in range(len(run.panelists)):
        values = {s["id"]: (2, 8, 5, 9)[index % 4] for s in run.statements}
        run.rate(index, values, submit=True)
    run.close_round(round_id)


def _console_visitor(app: FastAPI, role: str) -> Visitor:
    web = TestClient(app, follow_redirects=False)
    login = web.get("/login")
    email = ACCOUNTS[role][0]
    response = web.post(
        "/login",
        data={"csrf_token": csrf_of(login.text), "email": email, "password": PASSWORD},
    )
    assert response.status_code == 303, response.text
    page = web.get("/console/tokens")
    assert page.status_code == 200
    cookies = {"delphi_console": web.cookies["delphi_console"]}
    return Visitor(role, cookies=cookies, csrf=csrf_of(page.text))


def _panel_visitor(app: FastAPI, role: str, token: str) -> Visitor:
    web = TestClient(app, follow_redirects=False)
    assert web.get(f"/p/{token}").status_code == 303
    page = web.get("/ballot")
    assert page.status_code == 200, page.text
    cookies = {"delphi_panel": web.cookies["delphi_panel"]}
    return Visitor(role, cookies=cookies, csrf=csrf_of(page.text), bearer=token)


def build_world(app: FastAPI, session: Session) -> World:
    client = TestClient(app)
    users, tokens = {}, {}
    for role in ACCOUNTS:
        users[role], tokens[role] = _account(session, role)

    study_a = start_study(client, tokens["coord"], statements=0, panelists=0)
    sid = study_a.study["id"]
    study_a.statements = study_a.call(
        "POST",
        f"/api/v1/studies/{sid}/statements",
        201,
        json=[{"text": f"Exercise statement {i}", "topic": "exercise"} for i in (1, 2, 3)],
    )
    study_a.panelists = study_a.call(
        "POST",
        f"/api/v1/studies/{sid}/panelists",
        201,
        json=[
            {"name": name, "email": f"{name.split()[0].lower()}@panel.example.org"}
            for name in NAMES
        ],
    )
    round1 = study_a.new_round()
    study_a.open_round(round1["id"])
    _spread(study_a, round1["id"])
    round2 = study_a.new_round()
    study_a.open_round(round2["id"])
    source = study_a.call(
        "POST",
        f"/api/v1/studies/{sid}/sources",
        201,
        json={
            "citation": "Smith 2019, a trial",
            "design": "rct",
            "pedro": 7,
            "statement_ids": [study_a.statements[0]["id"]],
        },
    )

    draft = start_study(client, tokens["coord"], statements=2, panelists=2)
    draft_round = draft.new_round()
    empty = start_study(client, tokens["coord"], statements=1, panelists=1)
    other = start_study(client, tokens["coord_other"], statements=2, panelists=2)
    other_round = other.new_round()
    other.open_round(other_round["id"])

    for study_id in (sid, draft.study["id"], empty.study["id"]):
        study = session.get(Study, study_id)
        assert study is not None
        accounts.add_member(
            session, actor=users["coord"], study=study, email=ACCOUNTS["observer"][0]
        )
    session.commit()
    token_id = session.scalar(
        select(func.min(ApiToken.id)).where(ApiToken.user_id == users["coord"].id)
    )
    assert token_id is not None
    # A message held for want of SMTP, for the console's "send again" (the first of study A's).
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.study_id == sid).order_by(OutboxMessage.id)
    ).first()
    assert message is not None
    message.status = "held"
    session.commit()

    visitors = {"anonymous": Visitor("anonymous")}
    for role in ACCOUNTS:
        visitors[role] = _console_visitor(app, role)
        visitors[role].bearer = tokens[role]
    visitors["panelist"] = _panel_visitor(app, "panelist", study_a.panelists[0]["token"])
    visitors["panelist_other"] = _panel_visitor(app, "panelist_other", other.panelists[0]["token"])
    ids = {
        "study": sid,
        "draft_study": draft.study["id"],
        "empty_study": empty.study["id"],
        "other_study": other.study["id"],
        "closed_round": round1["id"],
        "open_round": round2["id"],
        "draft_round": draft_round["id"],
        "other_round": other_round["id"],
        "statement": study_a.statements[0]["id"],
        "draft_statement": draft.statements[0]["id"],
        "other_statement": other.statements[0]["id"],
        "panelist": study_a.panelists[3]["id"],
        "other_panelist": other.panelists[0]["id"],
        "source": source["id"],
        "token_id": token_id,
        "message": message.id,
    }
    runs = {"study": study_a, "draft": draft, "empty": empty, "other": other}
    secrets = [PASSWORD, *tokens.values()]
    for run in runs.values():
        secrets += [p["token"] for p in run.panelists]
    identities = [p["name"] for p in study_a.panelists] + [p["email"] for p in study_a.panelists]
    return World(ids, visitors, runs, secrets, identities)


class Snapshot:
    """Every row of every table, to put the world back exactly as it was after a write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tables = Base.metadata.sorted_tables
        with engine.connect() as conn:
            self.rows = {
                t.name: [dict(r._mapping) for r in conn.execute(select(t).order_by(*t.primary_key))]
                for t in self.tables
            }

    def restore(self) -> None:
        postgres = self.engine.dialect.name == "postgresql"
        with self.engine.begin() as conn:
            if postgres:
                names = ", ".join(t.name for t in self.tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(self.tables):
                    conn.execute(table.delete())
            for table in self.tables:
                if self.rows[table.name]:
                    conn.execute(table.insert(), self.rows[table.name])
            if postgres:  # sequences continue after the restored ids, as they did before
                for table in self.tables:
                    if "id" in table.c and table.c.id.primary_key:
                        conn.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
                            )
                        )


def world_session(engine: Engine) -> Session:
    return sessionmaker(engine, expire_on_commit=False)()
