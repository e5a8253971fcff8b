"""The evidence library, levels, grading and finalization (their names are part of the API)."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.consensus.grading import GradingTable
from app.consensus.sources import Amstar2, Design
from app.contract.scalars import Id, Str

_LEVEL_EXAMPLE: dict[str, Any] = {
    "scheme": "pedro_scire",
    "code": "1a",
    "label": "Level 1a",
    "reasons": ["1a: two RCTs with PEDro ≥ 6: Smith 2019 (7), Li 2020 (8)"],
    "overridden_from": None,
}


class GradingTableView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "table": {
                        "scheme": "grade",
                        "rows": [
                            {
                                "level_in": ["high", "moderate"],
                                "classification_in": ["consensus_for"],
                                "min_pct_agree": 80,
                                "grade": "strong_for",
                                "label": "Strong recommendation for",
                            }
                        ],
                    },
                    "in_words": [
                        "Strong recommendation for when the certainty of evidence is high or "
                        "moderate, the panel reached consensus for and at least 80 % of ratings "
                        "agree",
                        "No recommendation when the panel reached no consensus, whatever the "
                        "evidence",
                    ],
                }
            ]
        }
    )

    table: GradingTable = Field(description="The study's own table, or its scheme's preset.")
    in_words: list[str] = Field(description="One sentence per row, in order, for a methods text.")


class FinalLevel(BaseModel):
    scheme: str
    code: str
    label: str
    reasons: list[str]
    overridden_from: str | None = None


class FinalContent(BaseModel):
    """What finalization freezes for one statement; content_hash is over exactly these fields."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "statement_id": 3,
                    "key": "S03",
                    "version": 2,
                    "text": "Aerobic exercise is recommended for painful diabetic neuropathy.",
                    "translations": {"zh-Hans": "推荐有氧运动用于痛性糖尿病周围神经病变。"},
                    "round": 2,
                    "classification": "consensus_for",
                    "figures": {"n": 21, "median": 8.0, "iqr": 1.0, "pct_agree": 85.7},
                    "strength_votes": None,
                    "panel_strength": None,
                    "level": _LEVEL_EXAMPLE,
                    "grade": "A",
                    "grade_label": "Grade A",
                    "grade_reason": "Row 1 is the first that matches (level 1a, consensus for, …)",
                }
            ]
        }
    )

    statement_id: int
    key: str
    version: int
    text: str
    translations: dict[str, str]
    round: int | None = Field(description="The last round that rated it; null: never rated.")
    classification: str | None
    figures: dict[str, Any] | None = Field(description="Every figure of that round's result.")
    strength_votes: dict[str, int] | None = None
    panel_strength: str | None = None
    level: FinalLevel
    grade: str
    grade_label: str
    grade_reason: str | None


class FinalRecommendation(FinalContent):
    content_hash: str = Field(
        description="SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of the "
        "other fields."
    )


class FinalizedStudy(BaseModel):
    content_hash: str | None = Field(
        description="SHA-256 over the study id and every recommendation's hash, in order."
    )
    finalized_at: str | None
    recommendations: list[FinalRecommendation]


class SourceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "citation": "Smith 2019, J Pain Res 12:1-9",
                    "design": "rct",
                    "pedro": 7,
                    "statement_ids": [1],
                }
            ]
        },
    )

    citation: Annotated[Str, Field(min_length=1, max_length=2_000)]
    doi: Annotated[Str, Field(max_length=200)] | None = None
    pmid: Annotated[Str, Field(pattern=r"^\d{1,12}$")] | None = None
    design: Design
    pedro: int | None = Field(None, ge=0, le=10)
    pedro_items: list[bool] | None = Field(None, min_length=11, max_length=11)
    amstar2: Amstar2 | None = None
    amstar_score: int | None = Field(None, ge=0, le=11)
    pooled_levels: list[Annotated[str, Field(max_length=20)]] = Field(default_factory=list)
    illustrative: bool = False
    statement_ids: list[Id] = Field(default_factory=list)


class Source(BaseModel):
    id: int
    citation: str
    doi: str | None
    pmid: str | None
    design: str
    pedro: int | None
    pedro_items: list[bool] | None
    amstar2: str | None
    amstar_score: int | None
    pooled_levels: list[str]
    illustrative: bool
    statement_ids: list[int]


class LinkBody(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"statement_ids": [3, 4]}]}
    )

    statement_ids: list[Id] = Field(min_length=1)


class Level(BaseModel):
    statement_id: int
    scheme: str
    code: str
    label: str
    reasons: list[str]
    overridden_from: str | None = None


class LevelOverride(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "2",
                    "justification": "The two trials used different exercise doses "
                    "(inconsistent); downgraded one level.",
                }
            ]
        },
    )

    code: Annotated[str, Field(min_length=1, max_length=20)]
    justification: Annotated[Str, Field(min_length=1, max_length=5_000)]


class RecommendationPreview(BaseModel):
    statement_id: int
    key: str
    level: Level
    classification: str | None
    round: int | None
    grade: str | None
    grade_label: str | None
    grade_reason: str | None
