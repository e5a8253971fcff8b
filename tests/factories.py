"""Factories that build studies through the same services and API the product uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Role, User
from app.services import accounts


def coordinator(
    session: Session, *, email: str = "coord@example.org", role: Role = Role.coordinator
) -> tuple[User, str]:
    user = accounts.create_user(session, email=email, password="correct horse battery", role=role)
    token = accounts.create_api_token(session, user=user, label="tests")
    session.commit()
    return user, token


def study_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Exercise for neuropathic pain",
        "scale": {"min": 1, "max": 9, "labels": {"1": "Strongly disagree", "9": "Strongly agree"}},
        "consensus": {
            "rule": "comet_70_15",
            "high_min": 7,
            "low_max": 3,
            "in_pct": 70,
            "out_pct": 15,
        },
        "quantile_method": "type7",
        "max_rounds": 3,
        "allow_abstain": True,
    }
    body.update(overrides)
    return body


@dataclass
class StudyRun:
    """A study driven through the public API, as an outside script would."""

    client: TestClient
    token: str
    study: dict[str, Any]
    statements: list[dict[str, Any]] = field(default_factory=list)
    panelists: list[dict[str, Any]] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def as_panelist(self, index: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.panelists[index]['token']}"}

    def call(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", self.auth)
        response = self.client.request(method, path, **kwargs)
        assert response.status_code == expect, (response.status_code, response.text)
        return response.json() if response.content else None

    def new_round(self, **body: Any) -> dict[str, Any]:
        return self.call("POST", f"/api/v1/studies/{self.study['id']}/rounds", 201, json=body or {})

    def open_round(self, round_id: int, closes_at: datetime | None = None) -> dict[str, Any]:
        body = {"closes_at": closes_at.isoformat()} if closes_at else {}
        return self.call("POST", f"/api/v1/rounds/{round_id}/open", json=body)

    def close_round(self, round_id: int) -> dict[str, Any]:
        return self.call("POST", f"/api/v1/rounds/{round_id}/close")

    def results(self, round_id: int) -> dict[str, Any]:
        return self.call("GET", f"/api/v1/rounds/{round_id}/results")

    def rate(
        self,
        index: int,
        values: Mapping[int, int | None],
        *,
        submit: bool = False,
        expect: int = 200,
        **extra: Any,
    ) -> Any:
        ratings = [{"statement_id": sid, "value": v} for sid, v in values.items()]
        return self.call(
            "PUT",
            "/api/v1/ballot",
            expect,
            headers=self.as_panelist(index),
            json={"ratings": ratings, "submit": submit, **extra},
        )


def start_study(
    client: TestClient,
    token: str,
    *,
    statements: int = 3,
    panelists: int = 5,
    groups: list[str] | None = None,
    **study: Any,
) -> StudyRun:
    run = StudyRun(client=client, token=token, study={})
    run.study = run.call("POST", "/api/v1/studies", 201, json=study_body(**study))
    sid = run.study["id"]
    if not statements:
        return run
    run.statements = run.call(
        "POST",
        f"/api/v1/studies/{sid}/statements",
        201,
        json=[
            {"text": f"Statement number {i}", "topic": "exercise"} for i in range(1, statements + 1)
        ],
    )
    run.panelists = run.call(
        "POST",
        f"/api/v1/studies/{sid}/panelists",
        201,
        json=[
            {
                "name": f"Expert {i}",
                "email": f"expert{i}@example.org",
                **({"group": groups[i % len(groups)]} if groups else {}),
            }
            for i in range(panelists)
        ],
    )
    return run
