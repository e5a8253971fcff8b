"""Who may do what: every route of the app against seven kinds of visitor (issue #8, point 4).

MATRIX states the intended answer of every route for each role, in this column order:

    anon   nobody signed in
    pan    a panelist of study A (personal-link cookie; their link token on the JSON API)
    pan_b  a panelist of study B
    obs    an observer who is a member of A (and of the draft studies D and E)
    co_b   a coordinator of B only: every id of A's must be 404, as if it did not exist
    co     the coordinator of A
    admin  an administrator, member of nothing

"login" means 303 to /login?next=…; any other 303 must go elsewhere. A route added to the app
without a row here fails test_every_route_has_a_row. Each cell is tried on the same world: a
write that went through is undone (tests/security/world.py Snapshot) before the next cell.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from app.main import create_app
from app.models import Rating, utcnow
from tests.dbstate import dump
from tests.factories import study_body
from tests.security.world import ROLES, Snapshot, World, build_world, world_session

LOGIN = "login"
PUBLIC = (200,) * 7
API_READ = (401, 401, 401, 200, 404, 200, 200)
API_COORD_ONLY = (401, 401, 401, 403, 404, 200, 200)  # identities: never observers
CONSOLE_READ = (LOGIN, LOGIN, LOGIN, 200, 404, 200, 200)
CONSOLE_COORD_ONLY = (LOGIN, LOGIN, LOGIN, 403, 404, 200, 200)
PANEL_PAGE = (401, 200, 200, 401, 401, 401, 401)
PANEL_FORM = (401, 303, 303, 401, 401, 401, 401)


def api_write(ok: int) -> tuple[Any, ...]:
    return (401, 401, 401, 403, 404, ok, ok)


def console_write(ok: int) -> tuple[Any, ...]:
    return (LOGIN, LOGIN, LOGIN, 403, 404, ok, ok)


MATRIX: dict[str, tuple[Any, ...]] = {
    # "METHOD path": (anon, pan, pan_b, obs, co_b, co, admin)
    "GET /": PUBLIC,
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/oauth2-redirect": PUBLIC,
    "GET /redoc": PUBLIC,
    # JSON API, coordinators (bearer API token); a panelist's token is not a coordinator's
    "GET /api/v1/studies": (401, 401, 401, 200, 200, 200, 200),
    "POST /api/v1/studies": (401, 401, 401, 403, 201, 201, 201),
    "GET /api/v1/studies/{study_id}": API_READ,
    "PATCH /api/v1/studies/{study_id}": api_write(200),
    "GET /api/v1/studies/{study_id}/statements": API_READ,
    "POST /api/v1/studies/{study_id}/statements": api_write(201),
    "PUT /api/v1/statements/{statement_id}": api_write(200),
    "DELETE /api/v1/statements/{statement_id}": api_write(204),  # a draft study's
    "GET /api/v1/studies/{study_id}/panelists": API_COORD_ONLY,
    "POST /api/v1/studies/{study_id}/panelists": api_write(201),
    "POST /api/v1/panelists/{panelist_id}/link": api_write(200),
    "PATCH /api/v1/panelists/{panelist_id}": api_write(200),
    "GET /api/v1/studies/{study_id}/rounds": API_READ,
    "POST /api/v1/studies/{study_id}/rounds": api_write(201),
    "GET /api/v1/rounds/{round_id}": API_READ,
    "PATCH /api/v1/rounds/{round_id}": api_write(200),
    "POST /api/v1/rounds/{round_id}/open": api_write(200),
    "DELETE /api/v1/rounds/{round_id}": api_write(204),
    "POST /api/v1/rounds/{round_id}/close": api_write(200),
    "GET /api/v1/rounds/{round_id}/results": API_READ,
    "POST /api/v1/studies/{study_id}/sources": api_write(201),
    "GET /api/v1/studies/{study_id}/sources": API_READ,
    "POST /api/v1/sources/{source_id}/links": api_write(200),
    "PUT /api/v1/sources/{source_id}": api_write(200),
    "DELETE /api/v1/sources/{source_id}": api_write(204),
    "GET /api/v1/studies/{study_id}/levels": API_READ,
    "PUT /api/v1/statements/{statement_id}/level": api_write(200),
    "PUT /api/v1/statements/{statement_id}/evidence-summary": api_write(200),
    "GET /api/v1/studies/{study_id}/grading-table": API_READ,
    "GET /api/v1/studies/{study_id}/recommendations": API_READ,
    "GET /api/v1/studies/{study_id}/finalization": API_READ,
    "POST /api/v1/studies/{study_id}/finalize": api_write(409),  # a round is still open
    "GET /api/v1/studies/{study_id}/final": (401, 401, 401, 409, 404, 409, 409),  # not yet
    "GET /api/v1/studies/{study_id}/export.csv": API_READ,
    "GET /api/v1/studies/{study_id}/export.xlsx": API_READ,
    "GET /api/v1/studies/{study_id}/export.json": API_READ,
    "GET /api/v1/studies/{study_id}/panel.csv": API_COORD_ONLY,
    "GET /api/v1/studies/{study_id}/report.html": API_READ,
    "GET /api/v1/studies/{study_id}/report.pdf": API_READ,
    # JSON API, panelists (their own ballot only: there is no id to guess)
    "GET /api/v1/ballot": PANEL_PAGE,
    "PUT /api/v1/ballot": PANEL_PAGE,
    # Panelist pages: the link is the credential, whoever holds it
    "GET /p/{token}": (303,) * 7,
    "GET /ballot": PANEL_PAGE,
    "POST /ballot": PANEL_FORM,
    "POST /language": PANEL_FORM,
    # Console: signing in and out, tokens, accounts
    "GET /login": PUBLIC,
    "POST /login": (401, 401, 401, 303, 303, 303, 303),
    "POST /logout": (LOGIN, LOGIN, LOGIN, 303, 303, 303, 303),
    "GET /console/tokens": (LOGIN, LOGIN, LOGIN, 200, 200, 200, 200),
    "POST /console/tokens": (LOGIN, LOGIN, LOGIN, 201, 201, 201, 201),
    "POST /console/tokens/{token_id}/revoke": (LOGIN, LOGIN, LOGIN, 404, 404, 303, 404),
    "GET /console/accounts": (LOGIN, LOGIN, LOGIN, 403, 403, 403, 200),
    "POST /console/accounts": (LOGIN, LOGIN, LOGIN, 403, 403, 403, 303),
    # Console: studies
    "GET /console": (LOGIN, LOGIN, LOGIN, 200, 200, 200, 200),
    "GET /console/studies/new": (LOGIN, LOGIN, LOGIN, 200, 200, 200, 200),  # observer: 403 on POST
    "POST /console/studies/new": (LOGIN, LOGIN, LOGIN, 403, 303, 303, 303),
    "GET /console/studies/{study_id}/edit": CONSOLE_COORD_ONLY,
    "POST /console/studies/{study_id}/edit": console_write(303),
    "GET /console/studies/{study_id}": CONSOLE_READ,
    "POST /console/studies/{study_id}/statements": console_write(303),
    "POST /console/statements/{statement_id}/revise": console_write(303),
    "POST /console/studies/{study_id}/panelists": console_write(201),
    "POST /console/studies/{study_id}/members": console_write(303),
    "GET /console/statements/{statement_id}": CONSOLE_READ,
    "POST /console/panelists/{panelist_id}/link": console_write(201),
    "POST /console/panelists/{panelist_id}/withdraw": console_write(303),
    "GET /console/panelists/{panelist_id}/edit": CONSOLE_COORD_ONLY,
    "POST /console/panelists/{panelist_id}/edit": console_write(303),
    "GET /console/statements/{statement_id}/delete": CONSOLE_COORD_ONLY,  # a draft study's
    "POST /console/statements/{statement_id}/delete": console_write(303),
    # Console: rounds
    "POST /console/studies/{study_id}/rounds": console_write(303),
    "POST /console/rounds/{round_id}/items": console_write(303),
    "POST /console/rounds/{round_id}/strength": console_write(303),
    "POST /console/rounds/{round_id}/delete": console_write(303),
    "POST /console/rounds/{round_id}/open": console_write(303),
    "POST /console/rounds/{round_id}/extend": console_write(303),
    "GET /console/rounds/{round_id}/close": CONSOLE_READ,
    "POST /console/rounds/{round_id}/close": console_write(303),
    "GET /console/rounds/{round_id}/results": CONSOLE_READ,
    "GET /console/studies/{study_id}/audit": CONSOLE_READ,
    "GET /console/studies/{study_id}/audit.csv": CONSOLE_READ,
    # Console: imports, e-mail (held messages carry personal links), evidence, grading
    "GET /console/studies/{study_id}/import": CONSOLE_COORD_ONLY,
    "POST /console/studies/{study_id}/import/{kind}": console_write(200),  # the preview
    "GET /console/studies/{study_id}/outbox": CONSOLE_COORD_ONLY,
    "POST /console/studies/{study_id}/outbox/invite": console_write(303),
    "POST /console/studies/{study_id}/outbox/closing-soon": console_write(303),
    "POST /console/studies/{study_id}/outbox/requeue": console_write(303),
    "POST /console/studies/{study_id}/outbox/retry-failed": console_write(303),
    "POST /console/studies/{study_id}/outbox/{message_id}/requeue": console_write(303),
    "POST /console/studies/{study_id}/links.csv": console_write(200),
    "GET /console/studies/{study_id}/evidence": CONSOLE_READ,
    "POST /console/studies/{study_id}/evidence/sources": console_write(303),
    "GET /console/sources/{source_id}/edit": CONSOLE_COORD_ONLY,
    "POST /console/sources/{source_id}/edit": console_write(303),
    "GET /console/sources/{source_id}/delete": CONSOLE_COORD_ONLY,
    "POST /console/sources/{source_id}/delete": console_write(303),
    "POST /console/statements/{statement_id}/level": console_write(303),
    "POST /console/statements/{statement_id}/evidence-summary": console_write(303),
    "POST /console/studies/{study_id}/finalize": console_write(409),  # a round is still open
    "GET /console/studies/{study_id}/grading": CONSOLE_READ,
    "POST /console/studies/{study_id}/grading": console_write(303),
    # Console: downloads
    "GET /console/studies/{study_id}/export.{kind}": CONSOLE_READ,
    "GET /console/studies/{study_id}/panel.csv": CONSOLE_COORD_ONLY,
    "GET /console/studies/{study_id}/report.html": CONSOLE_READ,
    "GET /console/studies/{study_id}/report.pdf": CONSOLE_READ,
}


@dataclass
class Call:
    """How to call a route: which of the world's ids fill its path, and what to send."""

    ids: dict[str, str] = field(default_factory=dict)  # path parameter -> key in World.ids
    json: Any = None
    json_for: Callable[[World, str], Any] | None = None  # a body that names the world's ids
    form: Callable[[World, str], dict[str, str]] | dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None


DEFAULT_IDS = {
    "study_id": "study",
    "round_id": "open_round",
    "statement_id": "statement",
    "panelist_id": "panelist",
    "source_id": "source",
    "token_id": "token_id",
    "message_id": "message",
}
DRAFT_ROUND = {"round_id": "draft_round"}


def _ballot_form(world: World, role: str) -> dict[str, str]:
    own = {
        "panelist": ("open_round", "statement"),
        "panelist_other": ("other_round", "other_statement"),
    }
    if role not in own:
        return {}
    round_key, statement_key = own[role]
    return {
        "round_id": str(world.ids[round_key]),
        f"rating-{world.ids[statement_key]}": "7",
        "action": "save",
    }


def _login_form(_world: World, role: str) -> dict[str, str]:
    from tests.security.world import ACCOUNTS, PASSWORD

    email = ACCOUNTS[role][0] if role in ACCOUNTS else "nobody@example.org"
    return {"email": email, "password": PASSWORD}


def _deadline() -> str:
    return (utcnow() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")


CALLS: dict[str, Call] = {
    "POST /api/v1/studies": Call(json=study_body()),
    "PATCH /api/v1/studies/{study_id}": Call(json={"title": "Renamed"}),
    "POST /api/v1/studies/{study_id}/statements": Call(json=[{"text": "Another statement"}]),
    "PUT /api/v1/statements/{statement_id}": Call(json={"text": "Reworded", "rationale": "Why"}),
    "POST /api/v1/studies/{study_id}/panelists": Call(json=[{"name": "New Person"}]),
    "DELETE /api/v1/statements/{statement_id}": Call(ids={"statement_id": "draft_statement"}),
    "PATCH /api/v1/panelists/{panelist_id}": Call(json={"group": "physiotherapists"}),
    "POST /api/v1/studies/{study_id}/rounds": Call(ids={"study_id": "empty_study"}, json={}),
    "PATCH /api/v1/rounds/{round_id}": Call(ids=DRAFT_ROUND, json={"asks_strength": False}),
    "POST /api/v1/rounds/{round_id}/open": Call(ids=DRAFT_ROUND, json={}),
    "DELETE /api/v1/rounds/{round_id}": Call(ids=DRAFT_ROUND),
    "GET /api/v1/rounds/{round_id}/results": Call(ids={"round_id": "closed_round"}),
    "POST /api/v1/studies/{study_id}/sources": Call(
        json={"citation": "Li 2020, a trial", "design": "rct", "pedro": 6}
    ),
    "POST /api/v1/sources/{source_id}/links": Call(
        json_for=lambda w, _: {"statement_ids": [w.ids["statement"]]}
    ),
    "PUT /api/v1/sources/{source_id}": Call(
        json={"citation": "Smith 2019, a trial", "design": "rct", "pedro": 6}
    ),
    "PUT /api/v1/statements/{statement_id}/level": Call(
        json={"code": "2", "justification": "The trials are small."}
    ),
    "PUT /api/v1/statements/{statement_id}/evidence-summary": Call(
        json={"summary": {"en": "Two small trials found less pain."}}
    ),
    "PUT /api/v1/ballot": Call(),  # the body is the panelist's own, see _ballot_json
    "POST /ballot": Call(form=_ballot_form),
    "POST /language": Call(form={"language": "en"}),
    "POST /login": Call(form=_login_form),
    "POST /console/tokens": Call(form={"label": "another"}),
    "POST /console/accounts": Call(
        form={"email": "new@example.org", "password": "long enough pass", "role": "coordinator"}
    ),
    "POST /console/studies/new": Call(
        form={
            "title": "Another study",
            "scale": "1-9",
            "rule": "comet_70_15",
            "max_rounds": "3",
            "lang_en": "on",
            "quantile_method": "type7",
        }
    ),
    "GET /console/studies/{study_id}/edit": Call(ids={"study_id": "draft_study"}),
    "POST /console/studies/{study_id}/edit": Call(
        ids={"study_id": "draft_study"},
        form={
            "title": "Renamed draft",
            "scale": "1-9",
            "rule": "",
            "max_rounds": "3",
            "allow_abstain": "on",
            "lang_en": "on",
            "quantile_method": "type7",
        },
    ),
    "POST /console/studies/{study_id}/statements": Call(form={"text": "Another statement"}),
    "POST /console/statements/{statement_id}/revise": Call(
        form={"text": "Reworded", "rationale": "Why"}
    ),
    "POST /console/studies/{study_id}/panelists": Call(form={"name": "New Person"}),
    "POST /console/panelists/{panelist_id}/edit": Call(
        form={"name": "Renamed Person", "language": "en"}
    ),
    "GET /console/statements/{statement_id}/delete": Call(ids={"statement_id": "draft_statement"}),
    "POST /console/statements/{statement_id}/delete": Call(ids={"statement_id": "draft_statement"}),
    "POST /console/sources/{source_id}/edit": Call(
        form={"citation": "Smith 2019, a trial", "design": "rct", "pedro": "6"}
    ),
    "POST /console/studies/{study_id}/outbox/retry-failed": Call(form={"kind": "invitation"}),
    "POST /console/studies/{study_id}/links.csv": Call(
        form=lambda w, _: {"links": f"http://testserver/p/{w.runs['study'].panelists[0]['token']}"}
    ),
    "POST /console/studies/{study_id}/members": Call(form={"email": "watcher@example.org"}),
    "POST /console/studies/{study_id}/rounds": Call(ids={"study_id": "empty_study"}),
    "POST /console/rounds/{round_id}/items": Call(
        ids=DRAFT_ROUND, form=lambda w, _: {f"item-{w.ids['draft_statement']}": "on"}
    ),
    "POST /console/rounds/{round_id}/strength": Call(ids=DRAFT_ROUND),
    "POST /console/rounds/{round_id}/delete": Call(ids=DRAFT_ROUND),
    "POST /console/rounds/{round_id}/open": Call(ids=DRAFT_ROUND),
    "POST /console/rounds/{round_id}/extend": Call(
        form=lambda _world, _role: {"closes_at": _deadline(), "timezone": "UTC"}
    ),
    "GET /console/rounds/{round_id}/results": Call(ids={"round_id": "closed_round"}),
    "POST /console/studies/{study_id}/import/{kind}": Call(
        files={"file": ("statements.csv", b"text\nAn imported statement\n", "text/csv")}
    ),
    "POST /console/studies/{study_id}/evidence/sources": Call(
        form={"citation": "Li 2020, a trial", "design": "rct", "pedro": "6"}
    ),
    "POST /console/statements/{statement_id}/level": Call(
        form={"code": "2", "justification": "The trials are small."}
    ),
    "POST /console/statements/{statement_id}/evidence-summary": Call(
        form={"summary-en": "Two small trials found less pain."}
    ),
    "POST /console/studies/{study_id}/finalize": Call(form={"confirm": "yes"}),
    "POST /console/studies/{study_id}/grading": Call(
        ids={"study_id": "draft_study"}, form={"row-0-grade": "A", "row-0-classification": "for"}
    ),
}
PATH_VALUES = {"kind": {"import": "statements", "export": "csv"}}


def _ballot_json(world: World, role: str) -> dict[str, Any]:
    statement = {"panelist": "statement", "panelist_other": "other_statement"}.get(role)
    if statement is None:
        return {"ratings": [{"statement_id": world.ids["statement"], "value": 7}]}
    return {"ratings": [{"statement_id": world.ids[statement], "value": 7}]}


def app_routes(app: FastAPI) -> set[str]:
    """Every "METHOD path" the app answers, static files aside (HEAD goes with GET)."""
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in sorted((route.methods or set()) - {"HEAD"}):
            found.add(f"{method} {route.path}")
    return found


def url_for(world: World, route: str, ids: dict[str, int] | None = None) -> str:
    path = route.split(" ", 1)[1]
    call = CALLS.get(route, Call())
    chosen = {**DEFAULT_IDS, **call.ids}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "token":
            return world.visitors["panelist"].bearer or ""
        if name == "kind":
            return PATH_VALUES["kind"]["import" if "import" in path else "export"]
        if ids is not None and name in ids:
            return str(ids[name])
        return str(world.ids[chosen[name]])

    return re.sub(r"\{(\w+)\}", fill, path)


@dataclass
class Observation:
    route: str
    role: str
    url: str
    status: int
    headers: list[tuple[str, str]]
    content_type: str
    body: bytes
    unchanged: bool | None  # for a refused write: the database as it was (None: not checked)

    @property
    def location(self) -> str:
        return dict(self.headers).get("location", "")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def set_cookies(self) -> list[str]:
        return [v for k, v in self.headers if k == "set-cookie"]


def send(client: TestClient, world: World, route: str, role: str, url: str) -> Any:
    """One request as `role`, with the body the route wants and the role's own CSRF token."""
    method = route.split(" ", 1)[0]
    if route == "POST /login":
        return _login(client, world, role)
    call = CALLS.get(route, Call())
    kwargs: dict[str, Any] = {}
    if route == "PUT /api/v1/ballot":
        kwargs["json"] = _ballot_json(world, role)
    elif call.json_for is not None:
        kwargs["json"] = call.json_for(world, role)
    elif call.json is not None:
        kwargs["json"] = call.json
    elif method != "GET" and not url.startswith("/api/"):
        form = call.form(world, role) if callable(call.form) else dict(call.form or {})
        kwargs["data"] = {**form, "csrf_token": world.visitors[role].csrf}
        if call.files:
            kwargs["files"] = call.files
    return world.request(client, role, method, url, **kwargs)


def _login(client: TestClient, world: World, role: str) -> Any:
    """The sign-in form as the login page would have set it up (its CSRF cookie and field)."""
    client.cookies.clear()
    for name, value in world.visitors[role].cookies.items():
        client.cookies.set(name, value)
    client.cookies.set("delphi_login_csrf", "matrix-login-csrf")
    return client.post(
        "/login", data={**_login_form(world, role), "csrf_token": "matrix-login-csrf"}
    )


IGNORED_TABLES = {"user_sessions", "login_attempts"}  # touched by sign-in and activity alone


def state(engine: Engine) -> dict[str, Any]:
    return {k: v for k, v in dump(engine).items() if k not in IGNORED_TABLES}


def observe_all(engine: Engine) -> tuple[World, list[Observation]]:
    app = create_app()
    with world_session(engine) as session:
        world = build_world(app, session)
    snapshot = Snapshot(engine)
    clean = state(engine)
    client = TestClient(app, follow_redirects=False)
    observations = []
    wrote = touched = False
    for route in sorted(MATRIX):
        method = route.split(" ", 1)[0]
        for role, expected in zip(ROLES, MATRIX[route], strict=True):
            if wrote or (touched and method != "GET"):
                snapshot.restore()
                wrote = touched = False
            url = url_for(world, route)
            response = send(client, world, route, role, url)
            refused = expected == LOGIN or (isinstance(expected, int) and expected >= 400)
            unchanged = None
            if method != "GET" and refused:
                unchanged = state(engine) == clean
                wrote = not unchanged
            elif method != "GET":
                wrote = True
            else:
                touched = True
            observations.append(
                Observation(
                    route=route,
                    role=role,
                    url=url,
                    status=response.status_code,
                    headers=[(k.lower(), v) for k, v in response.headers.multi_items()],
                    content_type=response.headers.get("content-type", ""),
                    body=response.content,
                    unchanged=unchanged,
                )
            )
    snapshot.restore()
    return world, observations


@pytest.fixture(scope="module")
def observed(module_engine: Engine) -> tuple[World, list[Observation]]:
    return observe_all(module_engine)


def answer(observation: Observation) -> Any:
    if observation.status == 303 and observation.location.startswith("/login?next="):
        return LOGIN
    return observation.status


def test_every_route_has_a_row() -> None:
    routes = app_routes(create_app())
    missing = sorted(routes - MATRIX.keys())
    assert not missing, f"routes without a row in the access matrix: {missing}"
    stale = sorted(MATRIX.keys() - routes)
    assert not stale, f"rows for routes the app no longer has: {stale}"


def test_each_role_gets_the_intended_answer(observed: tuple[World, list[Observation]]) -> None:
    _, observations = observed
    wrong = []
    for seen in observations:
        expected = MATRIX[seen.route][ROLES.index(seen.role)]
        if answer(seen) != expected:
            detail = seen.body[:160].decode("utf-8", "replace").replace("\n", " ")
            wrong.append(f"{seen.route} as {seen.role}: {answer(seen)} (want {expected}) {detail}")
    assert not wrong, "\n".join(wrong)
    assert len(observations) == len(MATRIX) * len(ROLES)


def test_refused_writes_change_nothing(observed: tuple[World, list[Observation]]) -> None:
    _, observations = observed
    checked = [o for o in observations if o.unchanged is not None]
    assert len(checked) > 200
    changed = [f"{o.route} as {o.role}" for o in checked if not o.unchanged]
    assert not changed, changed


def test_another_studys_ids_answer_exactly_like_ids_that_do_not_exist(
    observed: tuple[World, list[Observation]],
) -> None:
    """IDOR: a coordinator of B learns nothing about A's rounds, statements, panel or sources."""
    world, observations = observed
    client = TestClient(create_app(), follow_redirects=False)
    compared = 0
    for seen in observations:
        if seen.role != "coord_other" or not re.search(r"\{(\w+_id)\}", seen.route):
            continue
        if seen.route.startswith("POST /console/tokens"):
            continue  # a token id is the caller's own or nothing: covered by the matrix
        missing = {name: 999_999 for name in DEFAULT_IDS}
        probe = send(client, world, seen.route, "coord_other", url_for(world, seen.route, missing))
        assert (seen.status, probe.status_code) == (404, 404), seen.route
        same = re.sub(rb"\d+", b"N", seen.body) == re.sub(rb"\d+", b"N", probe.content)
        assert same, (seen.route, _words(seen.body), _words(probe.content))
        compared += 1
    assert compared > 50


def _words(body: bytes) -> str:
    """A page's text without markup, with every number as N: what a visitor reads."""
    text = re.sub(r"<[^>]+>", " ", body.decode("utf-8", "replace"))
    return " ".join(re.sub(r"\d+", "N", text).split())


def test_a_panelist_cannot_rate_another_studys_statements(
    observed: tuple[World, list[Observation]], module_engine: Engine
) -> None:
    world, _ = observed
    client = TestClient(create_app(), follow_redirects=False)
    before = state(module_engine)
    foreign = {"ratings": [{"statement_id": world.ids["statement"], "value": 7}]}
    by_api = world.request(client, "panelist_other", "PUT", "/api/v1/ballot", json=foreign)
    form = {
        "csrf_token": world.visitors["panelist_other"].csrf,
        "round_id": str(world.ids["open_round"]),
        f"rating-{world.ids['statement']}": "7",
    }
    by_form = world.request(client, "panelist_other", "POST", "/ballot", data=form)
    assert by_api.status_code in (404, 409, 422), by_api.text
    assert by_form.status_code in (404, 409, 422), by_form.text
    assert state(module_engine) == before
    with world_session(module_engine) as session:
        assert session.scalar(select(func.count()).select_from(Rating)) == len(
            world.runs["study"].panelists
        ) * len(world.runs["study"].statements), "only round 1's ratings"


def test_every_response_sends_the_security_headers(
    observed: tuple[World, list[Observation]],
) -> None:
    """Point 6: CSP with frame-ancestors 'none', nosniff and no referrer, whatever the answer."""
    _, observations = observed
    wrong = []
    for seen in observations:
        csp = seen.header("content-security-policy") or ""
        problems = [
            name
            for name, ok in (
                ("frame-ancestors", "frame-ancestors 'none'" in csp),
                ("default-src", "default-src" in csp),
                ("nosniff", seen.header("x-content-type-options") == "nosniff"),
                ("referrer", seen.header("referrer-policy") == "no-referrer"),
                ("x-frame-options", seen.header("x-frame-options") == "DENY"),
            )
            if not ok
        ]
        docs = seen.url.startswith(("/docs", "/redoc"))  # the API docs' own inline script
        if "'unsafe-eval'" in csp or (not docs and "'unsafe-inline'" in csp):
            problems.append("unsafe script")
        if problems:
            wrong.append(f"{seen.route} as {seen.role} ({seen.status}): {problems}")
    assert not wrong, "\n".join(wrong)


def test_every_cookie_is_httponly_and_same_site(
    observed: tuple[World, list[Observation]],
) -> None:
    _, observations = observed
    cookies = [(o.route, c) for o in observations for c in o.set_cookies()]
    assert len(cookies) > 50, "sign-in, panel sessions and one-time messages set cookies"
    wrong = [
        f"{route}: {cookie}"
        for route, cookie in cookies
        if "httponly" not in cookie.lower() or "samesite=" not in cookie.lower()
    ]
    assert not wrong, "\n".join(wrong)


def test_html_and_json_answers_declare_their_type_and_charset(
    observed: tuple[World, list[Observation]],
) -> None:
    _, observations = observed
    for seen in observations:
        if seen.status in (204, 303) or not seen.body:
            continue
        assert seen.content_type, f"{seen.route} as {seen.role} has no content type"
        if seen.content_type.startswith("text/html"):
            assert "charset=utf-8" in seen.content_type, seen.route


TEXT_TYPES = ("text/", "application/json")


def test_no_one_but_a_coordinator_sees_a_panelists_identity_or_a_secret(
    observed: tuple[World, list[Observation]],
) -> None:
    """Names and e-mail addresses of A's panel reach A's coordinator and the admin, no one else."""
    world, observations = observed
    outsiders = {"anonymous", "panelist", "panelist_other", "observer", "coord_other"}
    scanned = 0
    for seen in observations:
        if seen.role not in outsiders or not seen.content_type.startswith(TEXT_TYPES):
            continue
        text = seen.body.decode("utf-8", "replace") + seen.location
        leaked = [s for s in world.identities + world.secrets if s in text]
        assert not leaked, f"{seen.route} as {seen.role}: {leaked}"
        scanned += 1
    assert scanned > 300
    coordinator_pages = [
        o.body.decode("utf-8", "replace")
        for o in observations
        if o.role == "coord" and o.route == "GET /console/studies/{study_id}"
    ]
    assert world.identities[0] in coordinator_pages[0], "the scan looks for what is there"
