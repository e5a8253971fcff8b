"""The public JSON contract of API.md: names here are relied on by outside scripts.

The API answers with these documents, the console validates its forms with them and the JSON
export writes a round's results and the study as they are, so all three say the same thing.
The ballot's documents live in ballot_schemas, the evidence library's in evidence_schemas and
the values they are built from in scalars; every name is still importable from here.
"""

from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from app.consensus import ConsensusRule
from app.consensus.grading import GradingTable
from app.consensus.levels import Scheme
from app.consensus.stability import StabilityRule
from app.contract.ballot_schemas import Ballot as Ballot
from app.contract.ballot_schemas import BallotEvidence as BallotEvidence
from app.contract.ballot_schemas import BallotItem as BallotItem
from app.contract.ballot_schemas import BallotPut as BallotPut
from app.contract.ballot_schemas import BallotRound as BallotRound
from app.contract.ballot_schemas import BallotSource as BallotSource
from app.contract.ballot_schemas import Feedback as Feedback
from app.contract.ballot_schemas import GroupFeedback as GroupFeedback
from app.contract.ballot_schemas import RatingIn as RatingIn
from app.contract.evidence_schemas import Level as Level
from app.contract.evidence_schemas import LevelOverride as LevelOverride
from app.contract.evidence_schemas import LinkBody as LinkBody
from app.contract.evidence_schemas import RecommendationPreview as RecommendationPreview
from app.contract.evidence_schemas import Source as Source
from app.contract.evidence_schemas import SourceCreate as SourceCreate
from app.contract.scalars import MAX_ID as MAX_ID
from app.contract.scalars import Id as Id
from app.contract.scalars import Language as Language
from app.contract.scalars import Str as Str
from app.contract.scalars import Text as Text
from app.contract.scalars import Timestamp as Timestamp
from app.contract.stability_schemas import Attrition, Stability


class _NoNulls(BaseModel):
    """PATCH bodies: a field may be left out, but not set to null."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(k for k, v in data.items() if v is None)
            if nulls:
                raise ValueError(f"{', '.join(nulls)} cannot be null; leave the field out")
        return data


class Scale(BaseModel):
    min: int = Field(1, ge=-100, le=100)
    max: int = Field(9, ge=-100, le=100)
    labels: dict[str, Annotated[Str, Field(max_length=200)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _labels_on_scale(self) -> "Scale":
        if self.min >= self.max:
            raise ValueError("the scale's min must be below its max")
        points = {str(p) for p in range(self.min, self.max + 1)}
        stray = sorted(set(self.labels) - points)
        if stray:
            raise ValueError(f"labels {', '.join(stray)} are not points of the scale")
        return self


class StudyText(BaseModel):
    """A study's texts in another language, for panelists who read it."""

    model_config = ConfigDict(extra="forbid")

    title: Annotated[Str, Field(max_length=300)] | None = None
    instructions: Annotated[Str, Field(max_length=20_000)] | None = None
    labels: dict[str, Annotated[Str, Field(max_length=200)]] = Field(default_factory=dict)


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

    title: Annotated[Str, Field(min_length=1, max_length=300)]
    instructions: Annotated[Str, Field(max_length=20_000)] = ""
    scale: Scale = Field(default_factory=Scale)
    consensus: ConsensusRule | None = Field(
        None,
        description="Default: comet_70_15 on a 1..9 scale, percent_agreement (75 %) otherwise.",
    )
    quantile_method: Literal["type6", "type7"] = "type7"
    max_rounds: int = Field(3, ge=1, le=10)
    allow_abstain: bool = True
    hide_feedback_until_rated: bool = False
    languages: list[Language] = Field(default_factory=lambda: ["en"], min_length=1)
    translations: dict[Language, StudyText] = Field(
        default_factory=dict, description='e.g. {"zh-Hans": {"title": "…", "labels": {"1": "…"}}}'
    )
    groups: list[Annotated[Str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, description="Stakeholder groups; empty accepts any group name."
    )
    reminder_hours: list[Annotated[int, Field(ge=1, le=24 * 60)]] = Field(
        default_factory=lambda: [72, 24], description="Reminders, in hours before a deadline."
    )
    evidence_scheme: Scheme = "pedro_scire"
    grading_table: GradingTable | None = Field(
        None, description="Default: the preset for the scheme (Oxford A–D, or GRADE strengths)."
    )
    stability_rule: StabilityRule | None = Field(
        None,
        description='Pre-registered stability between rounds, e.g. {"max_pct_changed": 15}: '
        "a statement without consensus whose ratings are stable is not carried forward. "
        "Default: stability is reported only.",
    )
    feedback_by_group: bool = Field(
        False, description="Panelists' feedback shows each stakeholder group's answers too."
    )
    show_evidence_on_ballot: bool = Field(
        True,
        description="The ballot shows each statement's evidence (level, sources, summary); "
        "false for a study whose panel rates before seeing the evidence.",
    )
    strength_vote: bool = Field(
        False,
        description="Panelists also choose each recommendation's strength (strong / conditional, "
        "for / against) as they rate; a grading row may use the panel's choice (70 % of votes).",
    )


class StudyPatch(_NoNulls):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"title": "Exercise for neuropathic pain (round 2 wording)", "max_rounds": 4}
            ]
        },
    )

    title: Annotated[Str, Field(min_length=1, max_length=300)] | None = None
    instructions: Annotated[Str, Field(max_length=20_000)] | None = None
    scale: Scale | None = None
    consensus: ConsensusRule | None = None
    quantile_method: Literal["type6", "type7"] | None = None
    max_rounds: int | None = Field(None, ge=1, le=10)
    allow_abstain: bool | None = None
    hide_feedback_until_rated: bool | None = None
    languages: list[Language] | None = Field(None, min_length=1)
    translations: dict[Language, StudyText] | None = None
    groups: list[Annotated[Str, Field(min_length=1, max_length=100)]] | None = None
    reminder_hours: list[Annotated[int, Field(ge=1, le=24 * 60)]] | None = None
    evidence_scheme: Scheme | None = None
    grading_table: GradingTable | None = None
    strength_vote: bool | None = None
    stability_rule: StabilityRule | None = None
    feedback_by_group: bool | None = None
    show_evidence_on_ballot: bool | None = None


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
    translations: dict[str, Any]
    groups: list[str]
    reminder_hours: list[int]
    evidence_scheme: str
    grading_table: dict[str, Any] | None
    strength_vote: bool
    stability_rule: dict[str, Any] | None
    feedback_by_group: bool
    show_evidence_on_ballot: bool = True
    rules_frozen_at: Timestamp | None
    rules_fingerprint: str
    finalized_at: Timestamp | None
    created_at: Timestamp


class StatementCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "Aerobic exercise is recommended for painful diabetic neuropathy.",
                    "topic": "diabetic neuropathy",
                    "key": "S07",
                    "translations": {"zh-Hans": "推荐有氧运动用于痛性糖尿病周围神经病变。"},
                }
            ]
        },
    )

    text: Text
    topic: Annotated[Str, Field(max_length=200)] | None = None
    key: Annotated[Str, Field(min_length=1, max_length=40)] | None = None
    translations: dict[Language, Text] = Field(default_factory=dict)


class StatementRevise(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "Supervised aerobic exercise, 3 times a week, is recommended for "
                    "painful diabetic neuropathy.",
                    "rationale": "Panelists asked for the dose and supervision to be stated "
                    "(round 1 comments).",
                }
            ]
        },
    )

    text: Text
    rationale: Annotated[Str, Field(min_length=1, max_length=5_000)]
    translations: dict[Language, Text] | None = Field(
        None, description="Default: the previous version's translations are kept."
    )


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
    evidence_summary: dict[str, str] = Field(
        default_factory=dict,
        description="The coordinator's summary of the evidence, per language, shown on the ballot.",
    )


class EvidenceSummary(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "summary": {
                        "en": "Two good-quality trials found less pain after 12 weeks.",
                        "zh-Hans": "两项高质量试验发现12周后疼痛减轻。",
                    }
                }
            ]
        },
    )

    summary: dict[Language, Annotated[Str, Field(max_length=5_000)]] = Field(
        description="Per study language; an empty text removes that language's summary."
    )


class PanelistCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Dr Li Wei",
                    "email": "li.wei@example.org",
                    "group": "physiatrists",
                    "language": "zh-Hans",
                    "timezone": "Asia/Shanghai",
                }
            ]
        },
    )

    name: Annotated[Str, Field(min_length=1, max_length=200)]
    email: Annotated[Str, Field(max_length=320)] | None = None
    group: Annotated[Str, Field(max_length=100)] | None = None
    language: Language | None = None
    timezone: Annotated[Str, Field(max_length=64)] | None = Field(
        None, description="IANA time zone for deadlines, e.g. Asia/Shanghai"
    )


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
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"statement_ids": [1, 2, 5], "asks_strength": False}]},
    )

    statement_ids: list[Id] | None = Field(
        None, description="Default: every statement in round 1, the carried-forward ones later."
    )
    asks_strength: bool | None = Field(
        None,
        description="Ask each recommendation's strength in this round. Default: yes in the "
        "study's last allowed round when it holds a strength vote.",
    )


class RoundPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"asks_strength": True}]}
    )

    asks_strength: bool = Field(
        description="Make this draft the final round that asks for strength (or stop asking)."
    )


class RoundOpen(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"closes_at": "2026-12-15T17:00:00+08:00"}]}
    )

    closes_at: AwareDatetime | None = None


class Round(BaseModel):
    id: int
    study_id: int
    number: int
    status: Literal["draft", "open", "closed"]
    opens_at: Timestamp | None
    closes_at: Timestamp | None
    closed_at: Timestamp | None
    asks_strength: bool = Field(description="The ballot also asks each recommendation's strength.")
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
    rand: RandResult | None = Field(None, exclude_if=lambda v: v is None)
    groups: dict[str, Figures] = Field(default_factory=dict)
    strength_votes: dict[str, int] | None = Field(
        None,
        exclude_if=lambda v: v is None,
        description="Rounds that ask for strength: votes per choice (strong_for … strong_against).",
    )
    panel_strength: str | None = Field(
        None, description="The strength 70 % of voters chose; null when not asked or none did."
    )


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
    stability: Stability
    attrition: Attrition
