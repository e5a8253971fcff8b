"""The published OpenAPI document: every body has an example, every JSON answer a schema."""

from typing import Any

import pytest

from app.main import create_app

SPEC = create_app().openapi()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, operations in SPEC["paths"].items()
    for method, operation in operations.items()
]


def _component(schema: dict[str, Any]) -> dict[str, Any]:
    """The named schema behind a body: a $ref, a list of them, or an optional one."""
    for candidate in [schema, schema.get("items", {}), *schema.get("anyOf", [])]:
        ref = candidate.get("$ref") or candidate.get("items", {}).get("$ref")
        if ref:
            return SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [op for op in OPERATIONS if "requestBody" in op[2]],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_request_body_shows_an_example(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert _component(schema).get("examples"), f"{method} {path} has no example body"


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [op for op in OPERATIONS if op[1].startswith("/api/v1")],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_json_answer_is_described_by_a_schema(
    method: str, path: str, operation: dict[str, Any]
) -> None:
    for code, response in operation["responses"].items():
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if not code.startswith("2") or schema is None:
            continue
        untyped = schema == {} or (schema.get("type") == "object" and "properties" not in schema)
        assert not untyped, f"{method} {path} answers {code} with JSON of no declared shape"


def test_the_evidence_endpoints_are_documented_with_examples() -> None:
    schemas = SPEC["components"]["schemas"]
    for name in ("GradingTableView", "FinalContent", "SourceCreate", "LevelOverride"):
        assert schemas[name].get("examples"), name
    finalize = SPEC["paths"]["/api/v1/studies/{study_id}/finalize"]["post"]
    shape = finalize["responses"]["200"]["content"]["application/json"]["schema"]
    assert shape["$ref"].endswith("/FinalizedStudy")
