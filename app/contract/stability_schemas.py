"""Stability and attrition in a round's results (issue #7): when to stop, and who left."""

from pydantic import BaseModel, Field


class KendallW(BaseModel):
    w: float = Field(description="Kendall's coefficient of concordance, 0 (none) to 1 (complete).")
    chi2: float = Field(description="m (n - 1) W, the chi-square statistic.")
    df: int = Field(description="n - 1, with n the statements ranked.")
    p: float
    raters: int
    items: int
    tie_corrected: bool


class StatementStability(BaseModel):
    statement_id: int
    key: str | None
    pairs: int = Field(description="Panelists with a rating in both rounds.")
    changed: int
    pct_changed: float | None
    mean_abs_change: float | None
    mean_change: float | None = Field(description="Signed: this round minus the previous one.")
    wilcoxon_statistic: float | None
    wilcoxon_p: float | None = Field(
        description="Wilcoxon signed-rank test on the paired ratings (scipy.stats.wilcoxon); "
        "null when it cannot be computed, with the reason in note."
    )
    zero_method: str = Field(description="How zero differences are treated: wilcox or zsplit.")
    note: str | None
    stable: bool | None = Field(
        description="Fewer than the rule's share changed; null with too few pairs to judge."
    )
    previous_cv: float | None
    cv: float | None
    cv_change: float | None


class Stability(BaseModel):
    previous_round: int | None = Field(description="Null in round 1: nothing to compare with.")
    rule: dict[str, object] | None = Field(
        description="The pre-registered stability rule; null when stability is reported only."
    )
    rule_in_words: str
    kendall_w: KendallW | None = Field(
        description="Over the statements every responding panelist rated; tie-corrected unless "
        "?tie_correction=false. Null with fewer than 2 raters or statements."
    )
    kendall_raters: int
    kendall_items: int
    statements: list[StatementStability]


class GroupAttrition(BaseModel):
    before: int = Field(description="Answered the previous round.")
    left: int = Field(description="Answered the previous round but not this one.")
    now: int = Field(description="Answered this round.")


class AttritionBias(BaseModel):
    statement_id: int
    key: str | None
    left_n: int
    stayed_n: int
    left_median: float | None
    stayed_median: float | None
    median_gap: float | None = Field(description="Those who left minus those who stayed.")
    left_pct_agree: float | None
    stayed_pct_agree: float | None
    pct_agree_gap: float | None
    flagged: bool = Field(
        description="At least 2 left and they differed by >= 1 scale point in median or >= 20 "
        "percentage points in agreement, on the previous round's ratings."
    )


class Attrition(BaseModel):
    previous_round: int | None
    responded_before: int = 0
    responded_now: int = 0
    left: int
    joined: int
    by_group: dict[str, GroupAttrition]
    bias: list[AttritionBias]
