"""The evidence page's forms; a new source is checked by the API's own SourceCreate document."""

from typing import Any

from pydantic import Field, ValidationError
from pydantic_core import ErrorDetails

from app.contract.evidence_schemas import SourceCreate
from app.services import evidence, numbers
from app.services.errors import Invalid
from app.web.console.forms import ConsoleForm, in_words

# The form's labels for SourceCreate's fields, to say which one a refusal is about.
SOURCE_FIELDS = {
    "citation": "Citation",
    "doi": "DOI",
    "pmid": "PMID",
    "design": "Design",
    "pedro": "PEDro",
    "amstar2": "AMSTAR 2",
    "amstar_score": "AMSTAR score",
    "pooled_levels": "Pooled levels",
    "statement_ids": "Statements",
}
# Said as the form asks for it, where the schema's own words would name a type or a pattern.
ASKED = {
    ("citation", "string_too_short"): "Give the source's citation (e.g. 'Smith 2019, J Pain Res').",
    ("design", "literal_error"): "Choose the source's design.",
    ("pmid", "string_pattern_mismatch"): "PMID: give the PubMed number in digits (up to 12).",
}


def _score(typed: str, name: str) -> int | None:
    """An appraisal score as typed, None when left empty; Invalid names the field otherwise."""
    if not typed.strip():
        return None
    what, high = evidence.SCORES[name]
    return numbers.read_whole_number(typed, what=what, low=0, high=high, field=name)


def _said(error: ErrorDetails) -> tuple[str, str]:
    """The field a schema error is about and what the form says about it."""
    name = str(error["loc"][0]) if error["loc"] else ""
    if (name, error["type"]) in ASKED:
        return name, ASKED[(name, error["type"])]
    label = SOURCE_FIELDS.get(name)
    return name, f"{label}: {in_words(error)}" if label else in_words(error)


class SourceForm(ConsoleForm):
    """A new source as typed; `document` makes it the API's SourceCreate, checked alike."""

    citation: str = ""
    design: str = ""
    doi: str = ""
    pmid: str = ""
    pedro: str = ""
    amstar2: str = ""
    amstar_score: str = ""
    pooled_levels: str = ""

    def document(self, statement_ids: list[int]) -> SourceCreate:
        """The API's document for this source, or Invalid saying beside each field what is wrong."""
        body: dict[str, Any] = {
            "citation": self.citation,
            "design": self.design,
            "doi": self.doi or None,
            "pmid": self.pmid or None,
            "pedro": _score(self.pedro, "pedro"),
            "amstar2": self.amstar2 or None,
            "amstar_score": _score(self.amstar_score, "amstar_score"),
            "pooled_levels": [c.strip() for c in self.pooled_levels.split(",") if c.strip()],
            "statement_ids": statement_ids,
        }
        try:
            return SourceCreate.model_validate(body)
        except ValidationError as exc:
            said = [_said(error) for error in exc.errors()]
            errors = [{"field": name, "message": message} for name, message in said]
            raise Invalid(" ".join(dict.fromkeys(m for _, m in said)), errors=errors) from None


class LevelForm(ConsoleForm):
    """A statement's level set by hand, and why."""

    code: str = Field("", title="Level")
    justification: str = Field("", title="Justification")


class SummaryForm(ConsoleForm):
    """A statement's evidence summary for the ballot, one text per study language."""

    summary_en: str = Field("", alias="summary-en", title="Evidence summary (English)")
    summary_zh: str = Field("", alias="summary-zh-Hans", title="Evidence summary (Chinese)")

    def summary(self, languages: list[str]) -> dict[str, str]:
        """The texts of the study's languages; an empty one removes that language's summary."""
        typed = {"en": self.summary_en, "zh-Hans": self.summary_zh}
        return {language: typed[language] for language in languages if language in typed}


class FinalizeForm(ConsoleForm):
    """Finalizing the study: only with the box ticked."""

    confirm: str = ""

    def confirmed(self) -> None:
        if self.confirm != "yes":
            raise Invalid("Tick the box to confirm: finalizing cannot be undone.")
