"""Routers are thin: no SQL, no session lookups, transactions or audit entries in app/api, app/web.

Every module there is parsed (ast) and each call that belongs in a service fails the test,
named by file and line: a `select(...)`, a `session.get/execute/scalar/scalars/rollback/begin`,
an `audit.record(...)`, SQL written out (`text(...)`) or a connection of its own
(`<engine>.connect()` / `.begin()`). A router calls one service function instead; throwing away
what a refused request did is `app.db.discard`.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUTERS = [ROOT / "app" / "api", ROOT / "app" / "web"]

# Routers still being cleaned, each with what it still does; the console's (issue #14) are done.
NOT_YET_THIN: set[str] = set()

SESSION_CALLS = {"get", "execute", "scalar", "scalars", "rollback", "begin", "begin_nested"}


def _name(node: ast.expr) -> str:
    """The last name of a receiver: `session`, `request.state.session` → "session"."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _offence(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name) and func.id in {"select", "text"}:
        return f"{func.id}(...)"
    if not isinstance(func, ast.Attribute):
        return None
    receiver = _name(func.value)
    if func.attr == "select" and receiver in {"sqlalchemy", "sa"}:
        return f"{receiver}.select(...)"
    if receiver.endswith("session") and func.attr in SESSION_CALLS:
        return f"{receiver}.{func.attr}(...)"
    if receiver == "audit" and func.attr == "record":
        return "audit.record(...)"
    if func.attr in {"connect", "begin"}:  # engine.connect(), get_engine().connect()
        made = isinstance(func.value, ast.Call)
        owner = _name(func.value.func) if isinstance(func.value, ast.Call) else receiver
        if "engine" in owner.lower():
            return f"{owner}{'()' if made else ''}.{func.attr}(...)"
    return None


def router_modules() -> Iterator[Path]:
    for folder in ROUTERS:
        yield from sorted(folder.rglob("*.py"))


def offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT).as_posix()
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (offence := _offence(node)) is not None:
            found.append(f"{where}:{node.lineno}: {offence}")
    return sorted(found, key=lambda line: int(line.split(":")[1]))


def test_routers_run_no_sql_and_leave_transactions_and_audit_to_services() -> None:
    checked = [p for p in router_modules() if p.relative_to(ROOT).as_posix() not in NOT_YET_THIN]
    assert any(p.name == "panel.py" for p in checked)
    assert len(checked) > 10
    found = [line for path in checked for line in offences(path)]
    assert not found, "Call a service instead (app/services), or app.db.discard:\n" + "\n".join(
        found
    )


def test_the_list_of_routers_still_to_clean_names_files_that_exist() -> None:
    missing = sorted(p for p in NOT_YET_THIN if not (ROOT / p).is_file())
    assert not missing, f"No such router (remove it from NOT_YET_THIN): {missing}"


def test_the_check_sees_what_a_router_must_not_do() -> None:
    source = (
        "def page(session, me):\n"
        "    row = session.get(Panelist, 1)\n"
        "    rows = session.scalars(select(Statement))\n"
        "    me.session.rollback()\n"
        "    audit.record(session, action='x')\n"
        "    with get_engine().connect() as conn:\n"
        "        conn.scalars(text('SELECT 1'))\n"
        "    return studies.study_for(session, user=me, study_id=1)\n"
    )
    calls = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)]
    found = sorted((c.lineno, o) for c in calls if (o := _offence(c)) is not None)
    assert found == [
        (2, "session.get(...)"),
        (3, "select(...)"),
        (3, "session.scalars(...)"),
        (4, "session.rollback(...)"),
        (5, "audit.record(...)"),
        (6, "get_engine().connect(...)"),
        (7, "text(...)"),
    ]
