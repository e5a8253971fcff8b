"""Secrets are compared in constant time (issue #8, point 4).

Two ways are safe here: `hmac.compare_digest` (through app.security.same_secret) for CSRF tokens,
and a database lookup by the keyed hash of a bearer token, whose timing can only tell about the
HMAC of a guess, never about the secret itself. These tests read the code for anything else.
"""

import ast
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.main import create_app
from app.services import accounts
from tests.factories import start_study
from tests.security.world import csrf_of

APP = Path(__file__).resolve().parents[2] / "app"
SECRET_NAME = re.compile(r"token|csrf|password|passwd|secret|binding", re.IGNORECASE)
# Names that hold no secret although they match: ids, labels, counts, and public constants.
NOT_SECRET = re.compile(r"(_id|_ids|label|_at|_prefix|PREFIX|DEV_SECRET|_count)$")
EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


def _names(node: ast.AST) -> list[str]:
    return [
        n.id if isinstance(n, ast.Name) else n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Name | ast.Attribute)
    ]


def _secret_names(node: ast.AST) -> list[str]:
    """Variables and attributes that may hold a secret (model classes such as ApiToken aside)."""
    return [
        n
        for n in _names(node)
        if n[:1].islower() and SECRET_NAME.search(n) and not NOT_SECRET.search(n)
    ]


def _is_keyed_hash_lookup(left: ast.AST, right: ast.AST) -> bool:
    """`Model.token_hash == token_hash(token)` or `== hashed`: SQL, on the HMAC of the token."""
    column = (
        isinstance(left, ast.Attribute)
        and left.attr == "token_hash"
        and isinstance(left.value, ast.Name)
        and left.value.id[:1].isupper()
    )
    hashed = (
        isinstance(right, ast.Call)
        and isinstance(right.func, ast.Name)
        and right.func.id == "token_hash"
    ) or (isinstance(right, ast.Name) and "hash" in right.id)
    return column and hashed


def _comparisons() -> list[tuple[str, int, str, bool]]:
    found = []
    for path in sorted(APP.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, EQUALITY) for op in node.ops):
                continue
            if not _secret_names(node):
                continue
            safe = len(node.comparators) == 1 and _is_keyed_hash_lookup(
                node.left, node.comparators[0]
            )
            where = str(path.relative_to(APP.parent))
            found.append((where, node.lineno, ast.unparse(node), safe))
    return found


# `secret_key == DEV_SECRET` compares the configured key with a constant printed in the source
# code, to refuse it in production: nothing secret can leak through its timing.
KNOWN_PUBLIC = {("app/settings.py", "self.secret_key == DEV_SECRET")}


def test_no_secret_is_compared_with_equals() -> None:
    comparisons = _comparisons()
    lookups = [c for c in comparisons if c[3]]
    assert len(lookups) >= 4, "API tokens, console sessions and personal links are looked up"
    unsafe = [
        f"{where}:{line}: {text}"
        for where, line, text, safe in comparisons
        if not safe and (where, text) not in KNOWN_PUBLIC
    ]
    assert not unsafe, "compare secrets with app.security.same_secret:\n" + "\n".join(unsafe)


def _function(path: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    tree = ast.parse((APP.parent / path).read_text())
    defs = (ast.FunctionDef, ast.AsyncFunctionDef)
    found = [n for n in ast.walk(tree) if isinstance(n, defs) and n.name == name]
    assert len(found) == 1, (path, name)
    return found[0]


def _calls(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {ast.unparse(n.func) for n in ast.walk(function) if isinstance(n, ast.Call)}


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("app/web/console/common.py", "csrf_matches"),  # every console form, and the sign-in's
        ("app/web/session.py", "csrf_ok"),  # the ballot and language forms
    ],
)
def test_csrf_tokens_are_compared_in_constant_time(path: str, name: str) -> None:
    assert "same_secret" in _calls(_function(path, name))
    assert "hmac.compare_digest" in _calls(_function("app/security.py", "same_secret"))


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("app/web/console/common.py", "checked_form"),  # every console form
        ("app/web/console/auth.py", "login"),  # the sign-in form's own token, kept in a cookie
    ],
)
def test_console_forms_check_their_token_through_csrf_matches(path: str, name: str) -> None:
    assert "csrf_matches" in _calls(_function(path, name))


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("app/services/accounts.py", "user_for_token"),
        ("app/services/logins.py", "session_user"),
        ("app/services/panel.py", "panelist_for_token"),
    ],
)
def test_bearer_tokens_are_found_by_their_keyed_hash(path: str, name: str) -> None:
    assert "token_hash" in _calls(_function(path, name))


def test_a_csrf_token_with_any_characters_is_refused_not_a_crash(
    session: Session, coordinator_token: str
) -> None:
    """compare_digest refuses non-ASCII str; a form must answer 403 for it, never 500."""
    accounts.create_user(session, email="lead@example.org", password="a long passphrase")
    session.commit()
    web = TestClient(create_app(), follow_redirects=False, raise_server_exceptions=False)
    web.cookies.set("delphi_login_csrf", "plain-token")
    refused = web.post("/login", data={"csrf_token": "ü", "email": "a@b.org", "password": "x"})
    assert refused.status_code == 403
    web.cookies.delete("delphi_login_csrf")
    form = web.get("/login")
    web.post(
        "/login",
        data={
            "csrf_token": csrf_of(form.text),
            "email": "lead@example.org",
            "password": "a long passphrase",
        },
    )
    assert web.post("/console/tokens", data={"csrf_token": "名字"}).status_code == 403
    run = start_study(TestClient(create_app()), coordinator_token, statements=1, panelists=1)
    run.open_round(run.new_round()["id"])
    web.get(f"/p/{run.panelists[0]['token']}")
    assert web.post("/ballot", data={"csrf_token": "🙂"}).status_code == 403
    assert web.post("/language", data={"csrf_token": "ß", "language": "en"}).status_code == 403
