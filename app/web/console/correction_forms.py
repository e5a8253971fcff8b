"""The forms that correct a set-up mistake: a panelist's details (a source uses SourceForm)."""

from pydantic import Field

from app.contract.evidence_schemas import SourceCreate
from app.models import EvidenceSource
from app.web.console.evidence_form import SourceForm
from app.web.console.forms import ConsoleForm


class PanelistEditForm(ConsoleForm):
    """A panelist's details as corrected; what is left empty is cleared (the name is needed)."""

    name: str = Field("", title="Name")
    email: str = Field("", title="E-mail")
    group: str = Field("", title="Stakeholder group")
    language: str = Field("", title="Language")
    timezone: str = Field("", title="Time zone")

    def changes(self) -> dict[str, str | None]:
        """Every field as the service takes it: an empty one as None."""
        return {
            "name": self.name,
            "email": self.email or None,
            "group": self.group or None,
            "language": self.language,
            "timezone": self.timezone or None,
        }


def source_document(
    form: SourceForm, source: EvidenceSource, statement_ids: list[int]
) -> SourceCreate:
    """The corrected source as the API's document; what the form does not show is kept.

    The illustrative mark stays; PEDro's item ticks stay while the total typed is theirs.
    """
    body = form.document(statement_ids)
    items = source.pedro_items if body.pedro == source.pedro else None
    return body.model_copy(update={"pedro_items": items, "illustrative": source.illustrative})


def source_typed(source: EvidenceSource, linked: list[int]) -> dict[str, str]:
    """A source as its edit form's fields."""
    typed = {
        name: "" if getattr(source, name) is None else str(getattr(source, name))
        for name in ("citation", "design", "doi", "pmid", "pedro", "amstar2", "amstar_score")
    }
    typed["pooled_levels"] = ", ".join(source.pooled_levels or [])
    return typed | {f"for-{statement_id}": "on" for statement_id in linked}
