"""The console's forms as Pydantic models, read by one function that says what is wrong in words."""

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from app.models import Role
from app.services.errors import Invalid

M = TypeVar("M", bound=BaseModel)


def _ticked(_value: object) -> bool:
    """A checkbox is ticked when the form sends it at all, whatever its value."""
    return True


# A checkbox field: True when sent (with any value), False when left out (its default).
Ticked = Annotated[bool, BeforeValidator(_ticked)]


class ConsoleForm(BaseModel):
    """A console form: its own fields, typed; anything else posted (csrf_token …) is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def in_words(error: ErrorDetails) -> str:
    """Pydantic's sentence about one field as the console says it: "must be …"."""
    message = str(error["msg"]).removeprefix("Value error, ")
    return message.replace("Input should be", "must be")


def _label(model: type[BaseModel], name: str) -> str:
    """The field's title as the page shows it, else its name as posted."""
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return info.title or name
    return name


def parse_form(model: type[M], values: Mapping[str, str]) -> M:
    """The posted form as `model`; else Invalid naming each wrong field and what is wrong."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        errors: list[dict[str, Any]] = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            label = _label(model, name) if name else ""
            message = in_words(error)
            errors.append({"field": name, "message": f"{label}: {message}" if label else message})
        raise Invalid(" ".join(e["message"] for e in errors), errors=errors) from None


class StatementForm(ConsoleForm):
    """A new statement: its wording, and optionally a topic, a key and a Chinese wording."""

    text: str = Field("", title="Statement")
    topic: str = Field("", title="Topic")
    key: str = Field("", title="Key")
    text_zh: str = Field("", alias="text_zh-Hans", title="Statement (Chinese)")

    def translations(self) -> dict[str, str]:
        return {"zh-Hans": self.text_zh} if self.text_zh else {}


class RevisionForm(ConsoleForm):
    """A statement's new wording, why it changed, and optionally its Chinese wording."""

    text: str = Field("", title="New wording")
    rationale: str = Field("", title="Why it changed")
    text_zh: str = Field("", alias="text_zh-Hans", title="New wording (Chinese)")

    def translations(self) -> dict[str, str] | None:
        """The Chinese wording when one was typed; None keeps the statement's own."""
        return {"zh-Hans": self.text_zh} if self.text_zh else None


class PanelistForm(ConsoleForm):
    """One panelist added by hand; what is left empty is not set."""

    name: str = Field("", title="Name")
    email: str = Field("", title="E-mail")
    group: str = Field("", title="Stakeholder group")
    language: str = Field("", title="Language")
    timezone: str = Field("", title="Time zone")


class MemberForm(ConsoleForm):
    """A coordinator's e-mail address, to let them see the study."""

    email: str = Field("", title="E-mail")


class LoginForm(ConsoleForm):
    """Signing in: an address and a password, within sane lengths before any hashing."""

    email: str = Field(min_length=3, max_length=320, title="E-mail")
    password: str = Field(min_length=1, max_length=1_000, title="Password")


class TokenForm(ConsoleForm):
    """A new personal API token and what its owner calls it."""

    label: str = Field("", title="Label")

    def name(self) -> str:
        """The label as typed (up to 200 characters), else "console"."""
        return self.label.strip()[:200] or "console"


class AccountForm(ConsoleForm):
    """A new account, made by an administrator."""

    email: str = Field("", title="E-mail")
    password: str = Field("", title="Password")
    role: str = Field("coordinator", title="Role")
    name: str = Field("", title="Name")

    def chosen_role(self) -> Role:
        """The role chosen; anything that is not a role makes a coordinator."""
        return Role(self.role) if self.role in Role.__members__ else Role.coordinator

    def shown_name(self) -> str:
        return self.name[:200]


class RetryFailedForm(ConsoleForm):
    """Which kind of failed message to send again (invitation, reminder …)."""

    kind: Literal["invitation", "round_opened", "reminder", "closing_soon"] = Field(
        title="Kind of message"
    )


class LinksForm(ConsoleForm):
    """The personal links a page shows, posted back to be downloaded as a CSV (link_sheet)."""

    links: str = Field("", title="Personal links")

    def urls(self) -> list[str]:
        """The links as posted, separated by spaces or line breaks."""
        return self.links.split()
