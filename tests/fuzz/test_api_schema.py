"""Schemathesis against the app's own /openapi.json, in-process, as a coordinator and a panelist.

Every generated request must get an answer that is not a 5xx, whose status and content type the
operation documents and whose body matches the documented schema. Path ids are often real ones
(ours, or another coordinator's), so the fuzz reaches the code behind the 404.
Bounded: a fixed seed, 20 examples per operation, Hypothesis derandomized.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis import APIOperation, Case, checks

from app.main import create_app
from tests.fuzz.seed import Seeded


def without_lifespan(app: Any) -> Any:
    """The app without startup: its periodic tick must not run beside the fuzz or later tests."""

    async def app_without_lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("lifespan is not supported")  # how an ASGI app declines it
        await app(scope, receive, send)

    return app_without_lifespan


APP = create_app()
SETTINGS: dict[str, Any] = {
    "seed": 8,
    "generation": {"max-examples": 20, "deterministic": True},
    # Boundary values of every valid input (invalid ones come from the fuzzing phase).
    "phases": {"coverage": {"generation": {"mode": "positive"}, "unexpected-methods": []}},
}
# Fewer examples where each answer is the same (a panelist's token on coordinator endpoints),
# or slow (WeasyPrint takes a second or two per PDF).
LIGHT = {
    **SETTINGS,
    "generation": {"max-examples": 4, "deterministic": True},
    "phases": {"coverage": {"enabled": False}},
}
BALLOT = "/api/v1/ballot"
PDF = "/api/v1/studies/{study_id}/report.pdf"


def load(settings: dict[str, Any]) -> Any:
    config = schemathesis.Config.from_dict(settings)
    return schemathesis.openapi.from_asgi("/openapi.json", without_lifespan(APP), config=config)


schema = load(SETTINGS)
light_schema = load(LIGHT)

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]

# Set per test by `tokens`; read while Hypothesis draws path parameters.
# A generated request; schemathesis leaves its operation's four type parameters open.
ApiCase = Case[APIOperation[Any, Any, Any, Any]]

KNOWN_IDS: dict[str, list[int]] = {}


def _often_known_ids(context: Any, path_parameters: dict[str, Any] | None) -> Any:  # noqa: ARG001 (schemathesis's hook signature)
    """Mostly ids that exist (the simplest examples first), else the ids as generated."""
    swaps = {
        name: st.sampled_from(KNOWN_IDS[name])
        for name in path_parameters or {}
        if KNOWN_IDS.get(name)
    }
    if not swaps:
        return st.just(path_parameters)
    known = st.fixed_dictionaries(swaps).map(lambda ids: {**(path_parameters or {}), **ids})
    return st.one_of(known, known, st.just(path_parameters))


schema.hook("flatmap_path_parameters")(_often_known_ids)
light_schema.hook("flatmap_path_parameters")(_often_known_ids)


@pytest.fixture
def tokens(seeded: Seeded) -> Iterator[dict[str, str]]:
    """A coordinator's API token and a panelist's (of the study in its second round)."""
    KNOWN_IDS.update(seeded.known_ids())
    yield {"coordinator": seeded.running.token, "panelist": seeded.running.panelists[0]["token"]}
    KNOWN_IDS.clear()


def call_as(case: ApiCase, token: str) -> None:
    headers = CaseInsensitiveDict(case.headers or {})
    headers["Authorization"] = f"Bearer {token}"
    case.headers = headers
    case.call_and_validate(checks=CHECKS)


@schema.exclude(path=PDF).parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_coordinator_gets_documented_answers_and_no_server_error(
    case: ApiCase, tokens: dict[str, str]
) -> None:
    call_as(case, tokens["coordinator"])


@schema.include(path=BALLOT).parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_panelist_gets_documented_answers_and_no_server_error(
    case: ApiCase, tokens: dict[str, str]
) -> None:
    call_as(case, tokens["panelist"])


@light_schema.include(path=PDF).parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_coordinator_gets_the_report_pdf_or_a_documented_refusal(
    case: ApiCase, tokens: dict[str, str]
) -> None:
    call_as(case, tokens["coordinator"])


@light_schema.exclude(path=BALLOT).parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_panelist_token_on_coordinator_endpoints_gets_documented_answers(
    case: ApiCase, tokens: dict[str, str]
) -> None:
    call_as(case, tokens["panelist"])
