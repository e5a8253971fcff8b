"""Modules fit on a few screens and functions on one, so a rule is found where its name says.

A module over MAX_MODULE_LINES is cut at a seam; a function over MAX_FUNCTION_LINES either is
cut too or says in its docstring why it is long ("Long because …").
"""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
MAX_MODULE_LINES = 520
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(APP.rglob("*.py"))


def test_no_module_is_over_the_cap() -> None:
    long = [
        f"{p.relative_to(APP.parent)}: {n} lines"
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, "Cut these modules at a seam:\n" + "\n".join(long)


def test_long_functions_say_why_they_are_long() -> None:
    unexplained = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            reason = "long because" in (ast.get_docstring(node) or "").lower()
            if length > MAX_FUNCTION_LINES and not reason:
                where = path.relative_to(APP.parent)
                unexplained.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    assert len(_modules()) > 100  # the walk found the app
    assert not unexplained, "Cut these, or say 'Long because …' in the docstring:\n" + "\n".join(
        unexplained
    )
