"""A panelist's ballot: the ratings sent, and the ballot with its feedback read back."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict

from app.consensus.disclosure import GROUP_FEEDBACK_MIN
from app.contract.scalars import Id, Str, Timestamp


class RatingIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"statement_id": 1, "value": 8, "comment": "Only with supervision at first."}
            ]
        },
    )

    statement_id: Id
    value: Annotated[int, Strict(), Field(ge=-1000, le=1000)] | None = None
    abstain: bool | None = None
    comment: Str | None = None
    strength: Annotated[Str, Field(max_length=40)] | None = Field(
        None,
        description="Only in a round that asks for it (ballot.round.asks_strength): strong_for, "
        "conditional_for, conditional_against or strong_against; null clears it.",
    )


class BallotPut(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "ratings": [
                        {"statement_id": 1, "value": 8},
                        {"statement_id": 2, "abstain": True},
                        {"statement_id": 3, "value": 6, "comment": "Depends on the dose."},
                    ],
                    "submit": False,
                }
            ]
        },
    )

    ratings: list[RatingIn] = Field(default_factory=list, max_length=2_000)
    submit: bool = False
    round_id: Id | None = Field(
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
    agree_min: int | None = Field(None, description="pct_agree is the share rating agree_min…max")
    scale_max: int
    classification: str
    my_previous: int | None
    my_previous_abstained: bool
    comments: list[str]
    revised: bool = Field(False, description="The wording changed since the group rated it.")
    previous_text: str | None = None
    rationale: str | None = None
    groups: dict[str, "GroupFeedback"] | None = Field(
        None,
        description="Studies with feedback_by_group: the answers of each group shown apart, "
        f"none with fewer than {GROUP_FEEDBACK_MIN} ratings, and never leaving 1 to "
        f"{GROUP_FEEDBACK_MIN - 1} ratings when they are subtracted from the whole panel's.",
    )
    groups_withheld: bool | None = Field(
        None,
        description="True when some groups are not shown apart, so that no one's rating can "
        "be worked out; which groups is not said.",
    )


class GroupFeedback(BaseModel):
    histogram: dict[str, int]
    n: int
    median: float | None
    pct_agree: float | None
    classification: str


class BallotSource(BaseModel):
    citation: str
    design: str = Field(description="The design's code (rct, systematic_review …).")
    design_words: str = Field(description="The design in words, in the panelist's language.")
    pedro: int | None = None
    amstar2: str | None = None
    amstar_score: int | None = None
    doi: str | None = None
    pmid: str | None = None
    url: str | None = Field(None, description="https://doi.org/<doi>, else the PubMed page.")


class BallotEvidence(BaseModel):
    level_code: str
    level_label: str = Field(description="The computed (or overridden) level in words.")
    reasons: list[str] = Field(description="Why this level (generated, in English).")
    overridden_from: str | None = None
    sources: list[BallotSource]
    summary: str | None = Field(None, description="The coordinator's summary of the evidence.")
    summary_language: str | None = Field(
        None, description="The summary's language: the panelist's own when it exists in it."
    )


class BallotItem(BaseModel):
    statement_id: int
    version_id: int
    key: str
    text: str
    value: int | None
    abstain: bool
    comment: str | None
    strength: str | None = None
    feedback: Feedback | None = None
    feedback_hidden: bool = False
    evidence: BallotEvidence | None = Field(
        None, description="The statement's evidence; null when the study does not show it."
    )


class BallotRound(BaseModel):
    id: int
    number: int
    closes_at: Timestamp | None
    asks_strength: bool = False


class Ballot(BaseModel):
    round: BallotRound
    submitted_at: Timestamp | None
    rated: int
    total: int
    items: list[BallotItem]
    consensus_in_words: str | None = Field(
        None, description="The study's consensus rule in plain words, in the panelist's language."
    )
    evidence_shown: bool = Field(
        True, description="False when the study has panelists rate without seeing the evidence."
    )
