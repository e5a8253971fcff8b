"""The public JSON contract of API.md: names here are relied on by outside scripts."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict

from app.consensus import Comet7015, ConsensusRule

Text = Annotated[str, Field(min_length=1, max_length=5_000)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$", max_length=10)]


class Scale(BaseModel):
    min: int = Field(1, ge=-100, le=100)
    max: int = Field(9, ge=-100, le=100)
    labels: dict[str, Annotated[str, Field(max_length=200)]] = Field(default_factory=dict)


class StudyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Exercise for neuropathic pain",
                    "scale": {
                        "min": 1,
                        "max": 9,
                        "labels": {"1": "Strongly disagree", "9": "Strongly agree"},
                    },
                    "consensus": {"rule": "comet_70_15", "high_min": 7, "low_max": 3},
                    "quantile_method": "type7",
                    "max_rounds": 3,
                    "allow_abstain": True,
                }
            ]
        },
    )

    title: Annotated[str, Field(min_length=1, max_length=300)]
    instructions: Annotated[str, Field(max_length=20_000)] = ""
    scale: Scale = Field(default_factory=Scale)
    consensus: ConsensusRule = Field(default_factory=Comet7015)
    quantile_method: Literal["type6", "type7"] = "type7"
    max_rounds: int = Field(3, ge=1, le=10)
    allow_abstain: bool = True
    hide_feedback_until_rated: bool = False
    languages: list[Language] = Field(default_factory=lambda: ["en"], min_length=1)


class StudyPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    instructions: Annotated[str, Field(max_length=20_000)] | None = None
    scale: Scale | None = None
    consensus: ConsensusRule | None = None
    quantile_method: Literal["type6", "type7"] | None = None
    max_rounds: int | None = Field(None, ge=1, le=10)
    allow_abstain: bool | None = None
    hide_feedback_until_rated: bool | None = None
    languages: list[Language] | None = Field(None, min_length=1)


class Study(BaseModel):
    id: int
    title: str
    instructions: str
    scale: Scale
    consensus: dict[str, Any]
    consensus_in_words: str
    quantile_method: str
    max_rounds: int
    allow_abstain: bool
    hide_feedback_until_rated: bool
    languages: list[str]
    rules_frozen_at: datetime | None
    rules_fingerprint: str
    finalized_at: datetime | None
    created_at: datetime


class StatementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text
    topic: Annotated[str, Field(max_length=200)] | None = None
    key: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    translations: dict[Language, Text] = Field(default_factory=dict)


class StatementRevise(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Text
    rationale: Annotated[str, Field(min_length=1, max_length=5_000)]
    translations: dict[Language, Text] | None = None


class Statement(BaseModel):
    id: int
    version_id: int
    key: str
    text: str
    topic: str | None
    version: int
    translations: dict[str, str] = Field(default_factory=dict)
    rationale: str | None = None
    parent_version_id: int | None = None


class PanelistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(max_length=320)] | None = None
    group: Annotated[str, Field(max_length=100)] | None = None
    language: Language | None = None


class Panelist(BaseModel):
    id: int
    code: str
    name: str
    email: str | None
    group: str | None
    language: str
    token: str | None = Field(None, description="Shown once, when the panelist is added.")
    invite_url: str | None = Field(None, description="Shown once, when the panelist is added.")


class RoundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statement_ids: list[int] | None = Field(
        None, description="Default: every statement in round 1, the carried-forward ones later."
    )


class RoundOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")

    closes_at: AwareDatetime | None = None


class Round(BaseModel):
    id: int
    study_id: int
    number: int
    status: Literal["draft", "open", "closed"]
    opens_at: datetime | None
    closes_at: datetime | None
    closed_at: datetime | None
    statements: list[Statement]


class RandResult(BaseModel):
    ipr: float
    iprcp: float
    ai: float
    ipras: float
    disagreement_index: float
    disagreement: bool
    category: Literal["appropriate", "uncertain", "inappropriate"]


class Figures(BaseModel):
    n: int
    abstained: int
    histogram: dict[str, int]
    mean: float | None
    sd: float | None
    median: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    p30: float | None
    p70: float | None
    pct_agree: float | None
    pct_disagree: float | None
    cv: float | None
    classification: Literal["consensus_for", "consensus_against", "no_consensus"]


class StatementResult(Figures):
    statement_id: int
    version_id: int
    key: str | None = None
    rand: RandResult | None = None
    groups: dict[str, Figures] = Field(default_factory=dict)


class RoundHeader(BaseModel):
    id: int
    number: int
    status: Literal["draft", "open", "closed"]


class RoundResults(BaseModel):
    round: RoundHeader
    provisional: bool = Field(description="True while the round is open: figures may change.")
    invited: int
    responded: int
    response_rate: float
    rule: dict[str, Any]
    statements: list[StatementResult]


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    statement_id: int
    value: Annotated[int, Strict()] | None = None
    abstain: bool | None = None
    comment: str | None = None


class BallotPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ratings: list[RatingIn] = Field(default_factory=list, max_length=2_000)
    submit: bool = False
    round_id: int | None = Field(
        None, description="Optional: the round the form was made for; refused unless it is open."
    )


class Feedback(BaseModel):
    round: int
    histogram: dict[str, int]
    n: int
    median: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    pct_agree: float | None
    classification: str
    my_previous: int | None
    my_previous_abstained: bool
    comments: list[str]


class BallotItem(BaseModel):
    statement_id: int
    version_id: int
    key: str
    text: str
    value: int | None
    abstain: bool
    comment: str | None
    feedback: Feedback | None = None
    feedback_hidden: bool = False


class BallotRound(BaseModel):
    id: int
    number: int
    closes_at: datetime | None


class Ballot(BaseModel):
    round: BallotRound
    submitted_at: datetime | None
    rated: int
    total: int
    items: list[BallotItem]
